package serve

import (
	"fmt"
	"net/http"
	"time"

	"github.com/layerq/layerq/internal/receiver"
)

// HTTPLimits bound what one HTTP connection may hold, so that slow or idle
// clients (with or without credentials) cannot pile up. Zero fields take
// the defaults: 10 s for the headers, 30 s for a whole request, 60 s to
// answer, 2 minutes idle, 64 KiB of headers.
type HTTPLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
}

// Server returns an HTTP server for h within the limits.
func (l HTTPLimits) Server(h http.Handler) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	maxHeader := l.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 64 << 10
	}
	return &http.Server{Handler: h,
		ReadHeaderTimeout: def(l.ReadHeader, 10*time.Second),
		ReadTimeout:       def(l.Read, 30*time.Second),
		WriteTimeout:      def(l.Write, 60*time.Second),
		IdleTimeout:       def(l.Idle, 2*time.Minute),
		MaxHeaderBytes:    maxHeader,
	}
}

// readyOnly serves the health endpoints of a worker-only process.
func readyOnly(checks []receiver.Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range checks {
			if err := c.Fn(r.Context()); err != nil {
				http.Error(w, c.Name+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

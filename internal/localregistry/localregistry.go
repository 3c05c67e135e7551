// Package localregistry runs the CNCF distribution registry in-process, with
// in-memory storage, on a loopback port: for the demo, where a real
// registry sends real webhooks, and for tests.
package localregistry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // the in-memory storage driver
	"github.com/sirupsen/logrus"
)

// Options configure the registry.
type Options struct {
	// CatalogMaxEntries caps a catalog page (default 1000, as distribution).
	CatalogMaxEntries int
	// Notify, when set, is the URL the registry sends its notifications to,
	// with Authorization: Bearer NotifyToken.
	Notify      string
	NotifyToken string
	// Configure may change the configuration further.
	Configure func(*configuration.Configuration)
	// Wrap, when set, wraps the registry's handler (request logs, faults).
	Wrap func(http.Handler) http.Handler
}

// Registry is a running registry.
type Registry struct {
	// Host is host:port, as references want it.
	Host string
	srv  *http.Server
}

// Config returns the distribution configuration Start uses.
func Config(opts Options) *configuration.Configuration {
	if opts.CatalogMaxEntries == 0 {
		opts.CatalogMaxEntries = 1000
	}
	cfg := &configuration.Configuration{Storage: configuration.Storage{
		"inmemory": configuration.Parameters{},
		"delete":   configuration.Parameters{"enabled": true},
	}}
	cfg.Catalog.MaxEntries = opts.CatalogMaxEntries
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	cfg.HTTP.Secret = "layerq-local"
	if opts.Notify != "" {
		cfg.Notifications.EventConfig.IncludeReferences = true
		cfg.Notifications.Endpoints = []configuration.Endpoint{{
			Name: "layerq", URL: opts.Notify, Timeout: 5 * time.Second, Threshold: 3, Backoff: 500 * time.Millisecond,
			Headers: http.Header{"Authorization": {"Bearer " + opts.NotifyToken}},
		}}
	}
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	return cfg
}

// Start starts the registry on a free loopback port.
func Start(ctx context.Context, opts Options) (*Registry, error) {
	// distribution logs through logrus' standard logger.
	logrus.SetOutput(io.Discard)
	var h http.Handler = handlers.NewApp(ctx, Config(opts))
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logrus.StandardLogger().Error(err)
		}
	}()
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() error { return r.srv.Close() }

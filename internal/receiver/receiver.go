// Package receiver is the HTTP side of the live path: it takes registry
// webhooks, checks who sent them, decodes them into events and publishes the
// events that need work, answering the registry only once they are stored.
//
// Answers (the CNCF distribution registry blocks its whole queue on any
// non-2xx, and retries it):
//
//	401  no or wrong credentials
//	413  body over 1 MiB
//	415  wrong content type
//	400  malformed body or wrong shape (one-line reason)
//	422  an event names a registry layerq is not configured for
//	503  the event stream is unavailable: retry later
//	200  stored (or nothing to do), with counts
//
// Except for 200, nothing is published.
package receiver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/webhook"
)

// MaxBody caps a webhook body.
const MaxBody = 1 << 20

// Publisher stores an event durably and says whether it was a duplicate.
type Publisher interface {
	Publish(ctx context.Context, ev webhook.Event) (duplicate bool, err error)
}

// Check is one readiness check (Postgres, NATS).
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Credentials accepted from one source: bearer tokens, and basic-auth
// user:password pairs. Several of each may be valid at once, for rotation.
type Credentials struct {
	Tokens []string
	Basic  []string // "user:password"
}

// Options configure a receiver.
type Options struct {
	// Credentials per source ("distribution", "harbor", "dockerhub",
	// "cloudevents"); "*" applies to every source.
	Credentials map[string]Credentials
	// InsecureNoAuth accepts webhooks without credentials.
	InsecureNoAuth bool
	Registries     *registries.Set
	Publisher      Publisher
	Ready          []Check
	Log            *slog.Logger
	// Telemetry receives a server span per webhook (joining the sender's
	// trace when it sends a traceparent header) and the request metrics.
	Telemetry telemetry.Providers
}

// Receiver is the webhook HTTP handler.
type Receiver struct {
	opts  Options
	mux   *http.ServeMux
	creds map[string][][32]byte // source -> sha256 of accepted Authorization headers
	stats Stats

	tracer   trace.Tracer
	requests metric.Int64Counter
	ignored  metric.Int64Counter
}

// Stats counts what the receiver did.
type Stats struct {
	mu        sync.Mutex
	Responses map[string]int // "<source> <status>"
	Published atomic.Int64
	Duplicate atomic.Int64
	Ignored   atomic.Int64
}

// Count returns how many requests from source got status.
func (s *Stats) Count(source string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Responses[fmt.Sprintf("%s %d", source, status)]
}

func (s *Stats) add(source string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Responses == nil {
		s.Responses = map[string]int{}
	}
	s.Responses[fmt.Sprintf("%s %d", source, status)]++
}

// ErrNoAuth means no credentials are configured and InsecureNoAuth is off.
var ErrNoAuth = errors.New("no webhook credentials configured: set --webhook-token (or LAYERQ_WEBHOOK_TOKENS), or pass --insecure-no-auth to accept unauthenticated webhooks")

// Sources are the webhook sources, each served at POST /webhooks/<source>.
var Sources = []string{webhook.SourceDistribution, webhook.SourceHarbor, webhook.SourceDockerHub, webhook.SourceCloudEvents}

// New builds a receiver. It refuses to run with no credentials unless
// InsecureNoAuth is set.
func New(opts Options) (*Receiver, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{opts: opts, mux: http.NewServeMux(), creds: map[string][][32]byte{}, tracer: opts.Telemetry.TracerFor()}
	m := opts.Telemetry.MeterFor()
	var err error
	if r.requests, err = m.Int64Counter("layerq.webhook.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Webhook requests by source and the status answered.")); err != nil {
		return nil, err
	}
	if r.ignored, err = m.Int64Counter("layerq.events.ignored", metric.WithUnit("{event}"),
		metric.WithDescription("Events in webhooks that need no work (blob pulls, pushes of blobs).")); err != nil {
		return nil, err
	}
	for src, c := range opts.Credentials {
		for _, t := range c.Tokens {
			if t != "" {
				r.creds[src] = append(r.creds[src], sha256.Sum256([]byte("Bearer "+t)))
			}
		}
		for _, b := range c.Basic {
			user, pass, ok := strings.Cut(b, ":")
			if !ok {
				return nil, fmt.Errorf("basic credentials for %s must be user:password", src)
			}
			req, _ := http.NewRequest(http.MethodPost, "/", nil)
			req.SetBasicAuth(user, pass)
			r.creds[src] = append(r.creds[src], sha256.Sum256([]byte(req.Header.Get("Authorization"))))
		}
	}
	if len(r.creds) == 0 && !opts.InsecureNoAuth {
		return nil, ErrNoAuth
	}
	for _, src := range Sources {
		r.mux.HandleFunc("POST /webhooks/"+src, func(w http.ResponseWriter, req *http.Request) { r.webhook(w, req, src) })
	}
	r.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	r.mux.HandleFunc("GET /readyz", r.ready)
	return r, nil
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() *Stats { return &r.stats }

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// authorized compares the Authorization header with every accepted one in
// constant time (over fixed-length digests, so lengths leak nothing).
func (r *Receiver) authorized(req *http.Request, source string) bool {
	if r.opts.InsecureNoAuth && len(r.creds) == 0 {
		return true
	}
	got := sha256.Sum256([]byte(req.Header.Get("Authorization")))
	ok := 0
	for _, want := range append(r.creds[source], r.creds["*"]...) {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

// answer is the JSON body of every webhook answer.
type answer struct {
	Status     int    `json:"-"`
	Error      string `json:"error,omitempty"`
	Published  int    `json:"published"`
	Duplicates int    `json:"duplicates"`
	Ignored    int    `json:"ignored"`
}

func (r *Receiver) webhook(w http.ResponseWriter, req *http.Request, source string) {
	ctx, span := r.tracer.Start(telemetry.Extract(req.Context(), req.Header), "webhook "+source,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("url.path", req.URL.Path)))
	defer span.End()
	a := r.handle(ctx, req, source)
	span.SetAttributes(attribute.Int("http.response.status_code", a.Status),
		attribute.Int("layerq.events.published", a.Published), attribute.Int("layerq.events.duplicates", a.Duplicates))
	if a.Status >= 500 {
		span.SetStatus(codes.Error, a.Error)
	}
	r.stats.add(source, a.Status)
	r.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source), attribute.String("code", strconv.Itoa(a.Status))))
	if a.Status != http.StatusOK {
		r.opts.Log.Warn("webhook refused", "source", source, "status", a.Status, "reason", a.Error, "remote", req.RemoteAddr)
	}
	w.Header().Set("Content-Type", "application/json")
	if a.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if a.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="layerq"`)
	}
	w.WriteHeader(a.Status)
	json.NewEncoder(w).Encode(a)
}

func (r *Receiver) handle(ctx context.Context, req *http.Request, source string) answer {
	if !r.authorized(req, source) {
		return answer{Status: http.StatusUnauthorized, Error: "missing or wrong credentials"}
	}
	if err := checkContentType(source, req.Header.Get("Content-Type")); err != nil {
		return answer{Status: http.StatusUnsupportedMediaType, Error: err.Error()}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return answer{Status: http.StatusRequestEntityTooLarge, Error: fmt.Sprintf("body over %d bytes", MaxBody)}
		}
		return answer{Status: http.StatusBadRequest, Error: "reading body: " + err.Error()}
	}
	res, err := webhook.Decode(source, body, req.Header)
	if err != nil {
		return answer{Status: http.StatusBadRequest, Error: err.Error()}
	}
	for _, ev := range res.Events {
		if _, err := r.opts.Registries.Lookup(ev.Registry); err != nil {
			return answer{Status: http.StatusUnprocessableEntity, Error: err.Error()}
		}
	}
	a := answer{Status: http.StatusOK, Ignored: res.Ignored}
	r.stats.Ignored.Add(int64(res.Ignored))
	r.ignored.Add(ctx, int64(res.Ignored), metric.WithAttributes(attribute.String("source", source)))
	for _, ev := range res.Events {
		dup, err := r.opts.Publisher.Publish(ctx, ev)
		if err != nil {
			return answer{Status: http.StatusServiceUnavailable, Error: err.Error()}
		}
		if dup {
			a.Duplicates++
			r.stats.Duplicate.Add(1)
		} else {
			a.Published++
			r.stats.Published.Add(1)
		}
	}
	return a
}

// checkContentType accepts what each source sends.
func checkContentType(source, ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	switch source {
	case webhook.SourceDistribution:
		if mt == webhook.DistributionMediaType || mt == "application/json" {
			return nil
		}
	case webhook.SourceCloudEvents:
		// Binary mode carries the event's own data content type.
		if mt != "" {
			return nil
		}
	default:
		if mt == "application/json" || strings.HasPrefix(mt, "application/cloudevents") {
			return nil
		}
	}
	return fmt.Errorf("content type %q is not what %s webhooks send", ct, source)
}

func (r *Receiver) ready(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
	defer cancel()
	for _, c := range r.opts.Ready {
		if err := c.Fn(ctx); err != nil {
			http.Error(w, c.Name+": "+strings.Join(strings.Fields(err.Error()), " "), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
}

// Package receiver is the HTTP side of the live path: it takes registry
// webhooks, checks who sent them, decodes them into events, attributes each
// event to a configured registry, and publishes the events that need work,
// answering the registry only once they are stored.
//
// A registry's events are known by how they reached layerq: its own
// endpoint, POST /webhooks/<source>/<registry name>, or webhook credentials
// bound to it. On a source's shared endpoint, POST /webhooks/<source>, an
// event is attributed by the host it names (the registry's host or an
// alias), else to the only registry that takes that source's events. The
// host an event names is kept on it (Event.Host), and a host the registry
// did not list is recorded as an alias when the event is applied.
//
// The CNCF distribution registry blocks its whole queue on any non-2xx
// answer and retries it, so one event layerq cannot use must not be
// refused: from an authenticated request whose body is within the cap,
// every event that can be used is published, and every one that cannot (an
// event of no configured registry, a malformed event in a good envelope, a
// body that does not parse, a JSON body of a media type the source does not
// send) is stored in the quarantine, then the answer is 200 with counts.
// Answers:
//
//	401  no or wrong credentials (nothing is read)
//	413  body over 1 MiB (nothing is kept)
//	415  a Content-Type that is not JSON at all (nothing is kept)
//	503  the stream is unavailable: the events and quarantine items
//	     stored before the failure stay stored; the sender's retry
//	     stores them again as duplicates (same ids), so nothing is twice
//	200  {"published","duplicates","ignored","quarantined"}
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/quarantine"
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

// Quarantiner stores an item durably (on the stream) before the sender is
// answered, and says whether it held it already.
type Quarantiner interface {
	Quarantine(ctx context.Context, it quarantine.Item) (duplicate bool, err error)
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
	// "cloudevents"); "*" applies to every source. Credentials bound to
	// one registry come from Registries (webhook_tokens, webhook_basic).
	Credentials map[string]Credentials
	// InsecureNoAuth accepts webhooks without credentials.
	InsecureNoAuth bool
	Registries     *registries.Set
	Publisher      Publisher
	Quarantine     Quarantiner
	Ready          []Check
	Log            *slog.Logger
	// Telemetry receives a server span per webhook (joining the sender's
	// trace when it sends a traceparent header) and the request metrics.
	Telemetry telemetry.Providers
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// credential is one accepted Authorization header, by its digest, and the
// registry it is bound to ("" for a source-wide one).
type credential struct {
	sum      [32]byte
	registry string
}

// Receiver is the webhook HTTP handler.
type Receiver struct {
	opts Options
	mux  *http.ServeMux
	// shared[source] are the credentials accepted on a source's shared
	// endpoint (the source's, "*", and every registry-bound one);
	// bound[source][registry] those on a registry's own endpoint. Built
	// once, read only.
	shared   map[string][]credential
	bound    map[string]map[string][]credential
	anyCreds bool
	stats    Stats

	tracer      trace.Tracer
	requests    metric.Int64Counter
	ignored     metric.Int64Counter
	quarantined metric.Int64Counter
}

// Stats counts what the receiver did.
type Stats struct {
	mu          sync.Mutex
	Responses   map[string]int // "<source> <status>"
	Published   atomic.Int64
	Duplicate   atomic.Int64
	Ignored     atomic.Int64
	Quarantined atomic.Int64
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

// Sources are the webhook sources, each served at POST /webhooks/<source>
// and POST /webhooks/<source>/<registry name>.
var Sources = []string{webhook.SourceDistribution, webhook.SourceHarbor, webhook.SourceDockerHub, webhook.SourceCloudEvents}

// bearerSum and basicSum are the digests of the Authorization header a
// credential is sent as.
func bearerSum(token string) [32]byte { return sha256.Sum256([]byte("Bearer " + token)) }

func basicSum(userPass string) ([32]byte, error) {
	user, pass, ok := strings.Cut(userPass, ":")
	if !ok {
		return [32]byte{}, errors.New("basic credentials must be user:password")
	}
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.SetBasicAuth(user, pass)
	return sha256.Sum256([]byte(req.Header.Get("Authorization"))), nil
}

// canonicalScheme spells an Authorization header's scheme as the
// accepted digests were made with it: the scheme is case-insensitive (RFC
// 9110, 11.1), its credentials are not.
func canonicalScheme(h string) string {
	scheme, rest, ok := strings.Cut(h, " ")
	switch {
	case !ok:
		return h
	case strings.EqualFold(scheme, "Bearer"):
		return "Bearer " + rest
	case strings.EqualFold(scheme, "Basic"):
		return "Basic " + rest
	}
	return h
}

// sums turns credentials into accepted digests bound to registry.
func sums(c Credentials, registry string) ([]credential, error) {
	var out []credential
	for _, t := range c.Tokens {
		if t != "" {
			out = append(out, credential{sum: bearerSum(t), registry: registry})
		}
	}
	for _, b := range c.Basic {
		sum, err := basicSum(b)
		if err != nil {
			return nil, fmt.Errorf("%w (for %s)", err, registryOr(registry, "a source"))
		}
		out = append(out, credential{sum: sum, registry: registry})
	}
	return out, nil
}

func registryOr(r, alt string) string {
	if r == "" {
		return alt
	}
	return "registry " + r
}

// New builds a receiver. It refuses to run with no credentials unless
// InsecureNoAuth is set.
func New(opts Options) (*Receiver, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registries == nil {
		return nil, errors.New("receiver: no registries configured")
	}
	r := &Receiver{opts: opts, mux: http.NewServeMux(), shared: map[string][]credential{},
		bound: map[string]map[string][]credential{}, tracer: opts.Telemetry.TracerFor()}
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
	if r.quarantined, err = m.Int64Counter("layerq.events.quarantined", metric.WithUnit("{event}"),
		metric.WithDescription("Events and bodies from authenticated senders kept in the quarantine instead of refused, by source and reason.")); err != nil {
		return nil, err
	}
	for _, src := range Sources {
		for _, reason := range quarantine.Reasons {
			r.quarantined.Add(context.Background(), 0, metric.WithAttributes(attribute.String("source", src), attribute.String("reason", string(reason))))
		}
	}
	// Source-wide credentials, then registry-bound ones; each list is
	// built here once and only read afterwards.
	wide := map[string][]credential{}
	for src, c := range opts.Credentials {
		cs, err := sums(c, "")
		if err != nil {
			return nil, err
		}
		wide[src] = cs
	}
	var boundAll []credential
	perRegistry := map[string][]credential{}
	for _, reg := range opts.Registries.All() {
		cs, err := sums(Credentials{Tokens: reg.WebhookTokens, Basic: reg.WebhookBasic}, reg.Name)
		if err != nil {
			return nil, err
		}
		perRegistry[reg.Name] = cs
		boundAll = append(boundAll, cs...)
	}
	for _, src := range Sources {
		base := append(append([]credential{}, wide[src]...), wide["*"]...)
		r.shared[src] = append(append([]credential{}, base...), boundAll...)
		r.bound[src] = map[string][]credential{}
		for name, cs := range perRegistry {
			r.bound[src][name] = append(append([]credential{}, base...), cs...)
		}
		if len(r.shared[src]) > 0 {
			r.anyCreds = true
		}
	}
	if !r.anyCreds && !opts.InsecureNoAuth {
		return nil, ErrNoAuth
	}
	for _, src := range Sources {
		r.mux.HandleFunc("POST /webhooks/"+src, func(w http.ResponseWriter, req *http.Request) { r.webhook(w, req, src, "") })
		r.mux.HandleFunc("POST /webhooks/"+src+"/{registry}", func(w http.ResponseWriter, req *http.Request) {
			r.webhook(w, req, src, req.PathValue("registry"))
		})
	}
	r.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	r.mux.HandleFunc("GET /readyz", r.ready)
	r.mux.HandleFunc("/", r.elsewhere)
	return r, nil
}

// elsewhere answers a request no endpoint takes, as a webhook answer (JSON
// with the reason, counted and logged like every refusal): a sender
// pointed at a wrong path or method is held up, and must show. A webhook
// URL given with a trailing slash is taken as without it.
func (r *Receiver) elsewhere(w http.ResponseWriter, req *http.Request) {
	// The path as sent: an escaped slash (%2F) is no separator.
	rest, isWebhook := strings.CutPrefix(req.URL.EscapedPath(), "/webhooks/")
	source, registry, _ := strings.Cut(rest, "/")
	known := isWebhook && slices.Contains(Sources, source)
	// An endpoint's path, but for a trailing slash or the method.
	endpoint := known && !strings.Contains(strings.TrimSuffix(registry, "/"), "/")
	switch {
	case endpoint && req.Method == http.MethodPost && (registry == "" || strings.HasSuffix(registry, "/")):
		r.webhook(w, req, source, strings.TrimSuffix(registry, "/"))
		return
	case endpoint && req.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		r.respond(req.Context(), w, req, source, registry, answer{Status: http.StatusMethodNotAllowed,
			Error: fmt.Sprintf("%s %s: webhooks are POSTed", req.Method, req.URL.EscapedPath())})
		return
	}
	if !known {
		source = "unknown"
	}
	r.respond(req.Context(), w, req, source, registry, answer{Status: http.StatusNotFound,
		Error: fmt.Sprintf("no endpoint at %s: webhooks go to POST /webhooks/SOURCE or /webhooks/SOURCE/REGISTRY, SOURCE one of %s",
			req.URL.EscapedPath(), strings.Join(Sources, ", "))})
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() *Stats { return &r.stats }

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// authorize compares the Authorization header with every credential
// accepted on the endpoint, in constant time over fixed-length digests (so
// lengths leak nothing), and returns the registry the matching credential
// is bound to ("" for a source-wide one).
func (r *Receiver) authorize(req *http.Request, source, endpointRegistry string) (registry string, ok bool) {
	if r.opts.InsecureNoAuth && !r.anyCreds {
		return "", true
	}
	accepted := r.shared[source]
	if endpointRegistry != "" {
		if cs, known := r.bound[source][endpointRegistry]; known {
			accepted = cs
		} else {
			// A registry that is not configured: source-wide credentials
			// only (its events are then quarantined).
			accepted = r.sourceWide(source)
		}
	}
	got := sha256.Sum256([]byte(canonicalScheme(req.Header.Get("Authorization"))))
	match := -1
	for i, want := range accepted {
		if subtle.ConstantTimeCompare(got[:], want.sum[:]) == 1 && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return accepted[match].registry, true
}

// sourceWide returns the source's own and "*" credentials.
func (r *Receiver) sourceWide(source string) []credential {
	var out []credential
	for _, c := range r.shared[source] {
		if c.registry == "" {
			out = append(out, c)
		}
	}
	return out
}

// answer is the JSON body of every webhook answer.
type answer struct {
	Status      int    `json:"-"`
	Error       string `json:"error,omitempty"`
	Published   int    `json:"published"`
	Duplicates  int    `json:"duplicates"`
	Ignored     int    `json:"ignored"`
	Quarantined int    `json:"quarantined"`
	// Reasons say why items were quarantined, one each, for the sender's
	// delivery log as for layerq's.
	Reasons []string `json:"reasons,omitempty"`
}

func (r *Receiver) webhook(w http.ResponseWriter, req *http.Request, source, endpointRegistry string) {
	ctx, span := r.tracer.Start(telemetry.Extract(req.Context(), req.Header), "webhook "+source,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("url.path", req.URL.Path)))
	defer span.End()
	a := r.handle(ctx, req, source, endpointRegistry)
	span.SetAttributes(attribute.Int("http.response.status_code", a.Status),
		attribute.Int("layerq.events.published", a.Published), attribute.Int("layerq.events.duplicates", a.Duplicates),
		attribute.Int("layerq.events.quarantined", a.Quarantined))
	if a.Status >= 500 {
		span.SetStatus(codes.Error, a.Error)
	}
	r.respond(ctx, w, req, source, endpointRegistry, a)
}

// respond counts, logs and writes a webhook answer.
func (r *Receiver) respond(ctx context.Context, w http.ResponseWriter, req *http.Request, source, endpointRegistry string, a answer) {
	r.stats.add(source, a.Status)
	r.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source), attribute.String("code", strconv.Itoa(a.Status))))
	switch {
	case a.Status != http.StatusOK:
		r.opts.Log.Warn("webhook refused", "source", source, "status", a.Status, "reason", a.Error, "remote", req.RemoteAddr)
	case a.Quarantined > 0:
		r.opts.Log.Warn("webhook events quarantined (see layerq-ingest quarantine list)", "source", source, "registry", endpointRegistry,
			"quarantined", a.Quarantined, "published", a.Published, "reasons", strings.Join(a.Reasons, "; "), "remote", req.RemoteAddr)
	}
	w.Header().Set("Content-Type", "application/json")
	if a.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if a.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="layerq"`)
	}
	w.WriteHeader(a.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // reasons name endpoints: /webhooks/distribution/<registry name>
	enc.Encode(a)
}

func (r *Receiver) handle(ctx context.Context, req *http.Request, source, endpointRegistry string) answer {
	credRegistry, ok := r.authorize(req, source, endpointRegistry)
	if !ok {
		return answer{Status: http.StatusUnauthorized, Error: "missing or wrong credentials"}
	}
	mt, err := checkContentType(source, req.Header.Get("Content-Type"))
	if err != nil {
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
	// The registry the sender is known by: its endpoint, else the one its
	// credentials are bound to.
	bound := endpointRegistry
	if bound == "" {
		bound = credRegistry
	}
	a := answer{Status: http.StatusOK}
	kept := webhook.KeptHeader(req.Header)
	keep := func(reason quarantine.Reason, detail, kind string, data []byte, header map[string]string) error {
		it := quarantine.Item{Source: source, Registry: bound, Reason: reason, Detail: detail, Kind: kind, Data: data,
			Header: header, ReceivedAt: r.opts.Now().UTC()}
		it.ID = quarantine.NewID(it.Source, it.Registry, it.Kind, it.Data, it.Header)
		if r.opts.Quarantine == nil {
			return errors.New("no quarantine configured")
		}
		if _, err := r.opts.Quarantine.Quarantine(ctx, it); err != nil {
			return err
		}
		a.Quarantined++
		a.Reasons = append(a.Reasons, string(reason)+": "+detail)
		r.stats.Quarantined.Add(1)
		r.quarantined.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source), attribute.String("reason", string(reason))))
		return nil
	}
	unavailable := func(err error) answer {
		return answer{Status: http.StatusServiceUnavailable, Error: err.Error()}
	}
	res, err := webhook.Decode(source, body, req.Header)
	if err != nil {
		reason := quarantine.UnparseableBody
		if !expectedMediaType(source, mt) {
			reason = quarantine.UnsupportedMediaType
		}
		if err := keep(reason, oneLine(err.Error()), quarantine.KindBody, body, kept); err != nil {
			return unavailable(err)
		}
		return a
	}
	a.Ignored = res.Ignored
	r.stats.Ignored.Add(int64(res.Ignored))
	r.ignored.Add(ctx, int64(res.Ignored), metric.WithAttributes(attribute.String("source", source)))
	for _, ev := range res.Events {
		ev, err := r.attribute(ev, bound)
		if err != nil {
			data, _ := json.Marshal(ev)
			if err := keep(quarantine.UnknownRegistry, oneLine(err.Error()), quarantine.KindEvent, data, nil); err != nil {
				return unavailable(err)
			}
			continue
		}
		dup, err := r.opts.Publisher.Publish(ctx, ev)
		if err != nil {
			return unavailable(err)
		}
		if dup {
			a.Duplicates++
			r.stats.Duplicate.Add(1)
		} else {
			a.Published++
			r.stats.Published.Add(1)
		}
	}
	for _, rej := range res.Rejected {
		if err := keep(quarantine.MalformedEvent, oneLine(rej.Reason), quarantine.KindBody, rej.Body, kept); err != nil {
			return unavailable(err)
		}
	}
	return a
}

// Attribute gives ev to the configured registry the sender is known by
// (bound, a registry name, when its endpoint or credentials say), else to
// the one its host names, else to the only registry of its source; the
// host the event named is kept in ev.Host.
func Attribute(regs *registries.Set, ev webhook.Event, bound string) (webhook.Event, error) {
	host := ev.Host
	if host == "" {
		host = ev.Registry
	}
	reg, err := regs.Attribute(ev.Source, host, bound)
	if err != nil {
		return ev, err
	}
	ev.Host, ev.Registry = host, reg.Name
	return ev, nil
}

func (r *Receiver) attribute(ev webhook.Event, bound string) (webhook.Event, error) {
	return Attribute(r.opts.Registries, ev, bound)
}

// oneLine folds a reason onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkContentType refuses a Content-Type that is not JSON at all (nor,
// for CloudEvents' binary mode, any type): a sender misconfigured, not an
// event. It returns the media type.
func checkContentType(source, ct string) (string, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	switch {
	case source == webhook.SourceCloudEvents && mt != "":
		// Binary mode carries the event's own data content type.
		return mt, nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return mt, nil
	}
	return mt, fmt.Errorf("content type %q is not what %s webhooks send (JSON)", ct, source)
}

// expectedMediaType reports whether a source sends bodies of media type mt.
func expectedMediaType(source, mt string) bool {
	switch source {
	case webhook.SourceDistribution:
		return mt == webhook.DistributionMediaType || mt == "application/json"
	case webhook.SourceCloudEvents:
		return true
	default:
		return mt == "application/json" || strings.HasPrefix(mt, "application/cloudevents")
	}
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

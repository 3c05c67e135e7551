// Package worker applies registry events from the stream to the graph: a
// push is walked and written, a delete marks what it deletes. An event is
// acknowledged only after its writes are committed; a transient failure is
// retried later with a growing delay, and after MaxDeliver deliveries moved
// to the deferred stream, where it is retried at the capped delay until it
// is applied (a long outage of the database or a registry then holds up
// nothing behind it, and loses nothing); a permanent failure is recorded in
// ingest_failures, and an event of a registry no longer configured in the
// quarantine. An event is terminated only once it is durably recorded
// elsewhere: if the record cannot be written, the event is retried.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/settle"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
	"github.com/layerq/layerq/internal/webhook"
)

// Options configure a Worker.
type Options struct {
	Store *graph.Store
	// Walkers fetch from the registries an event may name.
	Walkers *walker.Walkers
	// Concurrency is how many events are handled at once (default 4).
	Concurrency int
	// MaxDeliver is how many deliveries an event gets on the event stream
	// before a transient failure moves it to Deferred (default 10).
	MaxDeliver int
	// MaxDelay caps the delay between deliveries (default 2 minutes).
	MaxDelay time.Duration
	// Deferred takes events that still fail after MaxDeliver deliveries;
	// without it they are retried on the event stream at MaxDelay.
	Deferred Deferrer
	// AckWait must match the consumer's; long walks tell the server they
	// are in progress at a third of it.
	AckWait time.Duration
	Log     *slog.Logger
	// Layers, when set, is given the layers of each pushed image that are
	// not indexed yet, while the image is written; a failure to queue them
	// retries the event.
	Layers LayerQueue
	// Telemetry receives a consumer span per event, in the trace of the
	// webhook that published it, with the walk and the write under it,
	// and the event metrics.
	Telemetry telemetry.Providers

	// Committed, when set, is called after each event's writes commit
	// (serve wakes the aggregate folder with it).
	Committed func()

	// FaultExitAfterCommits, when above 0, ends the process (exit status 3)
	// right after its FaultExitAfterCommits-th commit, before the ack: the
	// worst moment for a crash, for failure testing (serve sets it from
	// LAYERQ_FAULT_EXIT_AFTER_COMMITS). The event is then redelivered.
	FaultExitAfterCommits int

	// afterCommit, in tests, runs between the commit and the ack; returning
	// true drops the event unacknowledged, as a crash there would.
	afterCommit func(webhook.Event) bool
}

// Deferrer stores an event's message on the deferred stream;
// *stream.Publisher is one.
type Deferrer interface {
	// Defer returns once the message is stored durably, or fails.
	Defer(ctx context.Context, ev webhook.Event, data []byte, header nats.Header, reason string) error
}

// LayerQueue takes layer blobs for indexing; *stream.Publisher is one.
type LayerQueue interface {
	// PublishLayers stores the jobs durably, or fails.
	PublishLayers(ctx context.Context, jobs []stream.LayerJob) error
}

// Worker consumes events.
type Worker struct {
	opts  Options
	stats Stats

	tracer     trace.Tracer
	processed  metric.Int64Counter
	latency    metric.Float64Histogram
	walkErrors metric.Int64Counter

	// events and deferredEvents settle the messages of the event stream
	// and of the deferred stream.
	events, deferredEvents *settle.Loop[webhook.Event]
}

// Stats counts what a worker did.
type Stats struct {
	mu                                     sync.Mutex
	Acked, Naked, Termed, Failed, Deferred int
}

// DeferredCount returns how many events were moved to the deferred stream.
func (s *Stats) DeferredCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Deferred
}

// Snapshot returns the counts.
func (s *Stats) Snapshot() (acked, naked, termed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Acked, s.Naked, s.Termed
}

// New returns a Worker.
func New(opts Options) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if n := int64(opts.FaultExitAfterCommits); n > 0 && opts.afterCommit == nil {
		var commits atomic.Int64
		opts.afterCommit = func(ev webhook.Event) bool {
			if commits.Add(1) >= n {
				opts.Log.Warn("fault injection: exiting between commit and ack", "id", ev.ID)
				os.Exit(3)
			}
			return false
		}
	}
	w := &Worker{opts: opts, tracer: opts.Telemetry.TracerFor()}
	m := opts.Telemetry.MeterFor()
	// The instrument options are fixed and valid: errors cannot happen.
	w.processed, _ = m.Int64Counter("layerq.events.processed", metric.WithUnit("{event}"),
		metric.WithDescription("Events settled by workers, by action and outcome (applied, retried, failed)."))
	w.latency, _ = m.Float64Histogram("layerq.ingest.latency", metric.WithUnit("s"), telemetry.LatencyBuckets,
		metric.WithDescription("Time from an event being stored on the stream to its graph write being committed."))
	w.walkErrors, _ = m.Int64Counter("layerq.walk.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed manifest walks by class (retried or not)."))
	// Every class is served from the start, at zero, so a rate over it
	// reads 0 rather than no data.
	for _, c := range []walker.Class{walker.Registry, walker.NotFound, walker.Unauthorized, walker.TooLarge, walker.Invalid, walker.Unsupported} {
		w.walkErrors.Add(context.Background(), 0, metric.WithAttributes(attribute.String("class", string(c))))
	}
	w.events, w.deferredEvents = w.loop("events", false), w.loop("deferred events", true)
	return w
}

// Stats returns the worker's counters.
func (w *Worker) Stats() *Stats { return &w.stats }

// Run consumes events from cons until ctx ends, then drains: it stops
// fetching, finishes the events in hand, and returns.
func (w *Worker) Run(ctx context.Context, cons jetstream.Consumer) error {
	return w.events.Run(ctx, cons)
}

// RunDeferred consumes the deferred stream's events as Run does, except
// that a transient failure is retried at MaxDelay for as long as it lasts.
func (w *Worker) RunDeferred(ctx context.Context, cons jetstream.Consumer) error {
	return w.deferredEvents.Run(ctx, cons)
}

// loop returns the settle loop of one stream of events.
func (w *Worker) loop(name string, deferred bool) *settle.Loop[webhook.Event] {
	so := settle.Options{Concurrency: w.opts.Concurrency, MaxDeliver: w.opts.MaxDeliver, MaxDelay: w.opts.MaxDelay,
		AckWait: w.opts.AckWait, Log: w.opts.Log, Tracer: w.tracer}
	l := &settle.Loop[webhook.Event]{Name: name, Item: "an event", Decode: stream.Decode, Handler: eventHandler{w: w, deferred: deferred}, Options: so}
	if deferred {
		l.Options.Concurrency = 1
	} else if w.opts.Deferred != nil {
		l.Deferrer = w.opts.Deferred
	}
	return l
}

// eventHandler is the worker's part of settling an event.
type eventHandler struct {
	w        *Worker
	deferred bool
}

// Handle applies the event, in the span of its delivery.
func (h eventHandler) Handle(ctx context.Context, ev webhook.Event) error {
	w := h.w
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("messaging.message.id", ev.ID),
		attribute.String("layerq.registry", ev.Registry), attribute.String("layerq.repository", ev.Repository),
		attribute.String("layerq.action", string(ev.Action)), attribute.Bool("layerq.deferred", h.deferred))
	err := w.Handle(ctx, ev)
	var we *walker.Error
	if errors.As(err, &we) {
		w.walkErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("class", string(we.Class))))
	}
	if err == nil && w.opts.Committed != nil {
		w.opts.Committed()
	}
	if err == nil && w.opts.afterCommit != nil && w.opts.afterCommit(ev) {
		return settle.ErrUnsettled
	}
	return err
}

// Permanent reports whether an event failing with err can never be
// applied: a walk that cannot succeed, data the graph refuses, or a
// registry no longer configured.
func (eventHandler) Permanent(err error) bool {
	var we *walker.Error
	return errors.As(err, &we) && we.Permanent() || graph.IsDataError(err) || errors.Is(err, registries.ErrUnknown)
}

// Record keeps an event of a registry that is not configured in the
// quarantine, for a replay once the configuration is fixed, and records
// any other event that can never be applied in ingest_failures.
func (h eventHandler) Record(ctx context.Context, ev webhook.Event, data []byte, err error, delivered uint64) error {
	if errors.Is(err, registries.ErrUnknown) {
		// The registry was configured when the event was received, and is
		// not now.
		if qerr := h.w.quarantine(ctx, ev, data, err); qerr != nil {
			return fmt.Errorf("quarantining it: %w", qerr)
		}
		return nil
	}
	if ferr := h.w.fail(ctx, ev, data, class(err), err.Error(), int(delivered)); ferr != nil {
		return fmt.Errorf("recording the failure: %w", ferr)
	}
	return nil
}

// Settled counts how an event was settled, says so on its span, and logs
// retries and deferrals.
func (h eventHandler) Settled(ctx context.Context, ev webhook.Event, s settle.Settlement) {
	w := h.w
	outcome := ""
	switch s.Outcome {
	case settle.Done:
		outcome = "applied"
		w.count(func(s *Stats) { s.Acked++ })
		if !s.Stored.IsZero() {
			w.latency.Record(ctx, time.Since(s.Stored).Seconds(), metric.WithAttributes(attribute.String("action", string(ev.Action))))
		}
	case settle.Released:
		outcome = "retried"
	case settle.Retried:
		outcome = "retried"
		w.opts.Log.Info("event will be retried", "id", ev.ID, "delivery", s.Delivered, "delay", s.Delay, "err", s.Err)
		w.count(func(s *Stats) { s.Naked++ })
	case settle.Failed:
		outcome = "failed"
		w.count(func(s *Stats) { s.Termed++ })
	case settle.Deferred:
		outcome = "deferred"
		w.opts.Log.Warn("event deferred: retried on the deferred stream until it can be applied", "id", ev.ID, "deliveries", s.Delivered, "err", s.Err)
		w.count(func(s *Stats) { s.Deferred++ })
	}
	w.processed.Add(ctx, 1, metric.WithAttributes(attribute.String("action", string(ev.Action)), attribute.String("outcome", outcome)))
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("layerq.outcome", outcome))
}

// quarantine keeps an event of a registry that is not configured.
func (w *Worker) quarantine(ctx context.Context, ev webhook.Event, data []byte, cause error) error {
	it := quarantine.Item{Source: ev.Source, Reason: quarantine.UnknownRegistry, Detail: strings.Join(strings.Fields(cause.Error()), " "),
		Kind: quarantine.KindEvent, Data: data, ReceivedAt: ev.Time}
	it.ID = quarantine.NewID(it.Source, it.Registry, it.Kind, it.Data, nil)
	w.opts.Log.Warn("event quarantined: its registry is not configured", "id", ev.ID, "registry", ev.Registry)
	return w.opts.Store.SaveQuarantine(ctx, it)
}

func (w *Worker) count(f func(*Stats)) {
	w.stats.mu.Lock()
	defer w.stats.mu.Unlock()
	f(&w.stats)
}

func class(err error) string {
	var we *walker.Error
	switch {
	case errors.As(err, &we):
		return string(we.Class)
	case errors.Is(err, registries.ErrUnknown):
		return "unknown_registry"
	default:
		return "invalid"
	}
}

// fail records an event that cannot be applied.
func (w *Worker) fail(ctx context.Context, ev webhook.Event, payload []byte, class, reason string, attempts int) error {
	ref := ev.Digest
	if ref == "" {
		ref = ev.Tag
	}
	// The graph names a registry as configured (its rows, and the
	// ClearFailures of a later success, use that name), not by the host
	// the event used; an unknown one is recorded as sent.
	registry := ev.Registry
	if r, err := w.opts.Walkers.Registries().Lookup(ev.Registry); err == nil && r.Name != "" {
		registry = r.Name
	}
	f := graph.Failure{Registry: registry, Repository: ev.Repository, Reference: ref, Source: ev.Source, Class: class, Reason: reason}
	if json.Valid(payload) {
		f.Payload = payload
	}
	if f.Source == "" {
		f.Source = "stream"
	}
	w.count(func(s *Stats) { s.Failed++ })
	w.opts.Log.Warn("event failed", "id", ev.ID, "class", class, "reason", reason, "attempts", attempts)
	if err := w.opts.Store.RecordFailure(ctx, f); err != nil {
		w.opts.Log.Error("recording a failed event: it will be retried", "id", ev.ID, "err", err)
		return err
	}
	return nil
}

// Handle applies one event to the graph. Applying the same event twice
// leaves the graph as applying it once.
func (w *Worker) Handle(ctx context.Context, ev webhook.Event) error {
	wk, reg, err := w.opts.Walkers.For(ev.Registry)
	if err != nil {
		return err
	}
	if err := w.seeHost(ctx, reg, ev.Host); err != nil {
		return err
	}
	switch ev.Action {
	case webhook.Push:
		ref := ev.Digest
		if ref == "" {
			ref = ev.Tag
		}
		wctx, span := w.tracer.Start(ctx, "walk", trace.WithAttributes(attribute.String("layerq.reference", ref)))
		obs, err := wk.Walk(wctx, reg.Host, ev.Repository, ref)
		if err == nil {
			span.SetAttributes(attribute.Int("layerq.manifests", len(obs.Manifests)))
		}
		telemetry.End(span, err)
		if err != nil {
			return err
		}
		obs.Registry, obs.Tag, obs.Source, obs.EventID, obs.ObservedAt = reg.Name, ev.Tag, ev.Source, ev.ID, ev.Time
		// The layer jobs are stored while the graph is written (a job for a
		// write that then fails is harmless: indexing a blob is idempotent);
		// the event is acked only once both are durable.
		queued := make(chan error, 1)
		go func() { queued <- w.queueLayers(ctx, reg.Name, obs) }()
		pctx, span := w.tracer.Start(ctx, "persist", trace.WithAttributes(attribute.String("layerq.digest", obs.Root().Digest)))
		err = w.opts.Store.Ingest(pctx, []image.Observation{obs})
		telemetry.End(span, err)
		if err != nil {
			<-queued
			return fmt.Errorf("writing %s/%s@%s: %w", reg.Name, ev.Repository, obs.Root().Digest, err)
		}
		if err := <-queued; err != nil {
			return err
		}
		return w.opts.Store.ClearFailures(ctx, reg.Name, ev.Repository, []string{ref})
	case webhook.Delete:
		ctx, span := w.tracer.Start(ctx, "persist", trace.WithAttributes(attribute.String("layerq.digest", ev.Digest)))
		_, _, err := w.opts.Store.DeleteManifest(ctx, reg.Name, ev.Repository, ev.Digest, ev.Time, ev.Source, ev.ID)
		telemetry.End(span, err)
		return err
	case webhook.TagDelete:
		pctx, span := w.tracer.Start(ctx, "persist", trace.WithAttributes(attribute.String("layerq.tag", ev.Tag)))
		_, err := w.opts.Store.DeleteTags(pctx, reg.Name, ev.Repository, []string{ev.Tag}, ev.Time, ev.Source, ev.ID)
		telemetry.End(span, err)
		if err != nil {
			return err
		}
		return w.manifestGone(ctx, wk, reg, ev)
	}
	return fmt.Errorf("unknown action %q", ev.Action)
}

// manifestGone checks, after a tag delete, whether the registry still has
// the manifest the tag named, and marks it deleted from the repository
// when it does not: some registries (zot) delete a manifest with its last
// tag, and say only that the tag was deleted.
func (w *Worker) manifestGone(ctx context.Context, wk *walker.Walker, reg registries.Registry, ev webhook.Event) error {
	digest := ev.Digest
	if digest == "" {
		d, err := w.opts.Store.TagDigest(ctx, reg.Name, ev.Repository, ev.Tag)
		if errors.Is(err, graph.ErrNotFound) {
			return nil // a tag the graph never saw
		}
		if err != nil {
			return err
		}
		digest = d
	}
	hctx, span := w.tracer.Start(ctx, "walk", trace.WithAttributes(attribute.String("layerq.reference", digest)))
	exists, err := wk.Exists(hctx, reg.Host, ev.Repository, digest)
	telemetry.End(span, err)
	if err != nil || exists {
		return err
	}
	marked, err := w.opts.Store.DeleteMembership(ctx, reg.Name, ev.Repository, digest, ev.Time)
	if marked {
		w.opts.Log.Info("the registry deleted the manifest with its last tag", "registry", reg.Name, "repository", ev.Repository, "digest", digest)
	}
	return err
}

// seeHost records a host an event named for reg that its configuration
// does not list, and says so the first time.
func (w *Worker) seeHost(ctx context.Context, reg registries.Registry, host string) error {
	if host == "" || reg.Knows(host) || strings.EqualFold(host, reg.Name) {
		return nil
	}
	first, err := w.opts.Store.SeeAlias(ctx, reg.Name, strings.ToLower(host))
	if err != nil {
		return fmt.Errorf("recording host %s of registry %s: %w", host, reg.Name, err)
	}
	if first {
		w.opts.Log.Info("registry reached through another name: recorded as an alias (fetching still goes to its configured host)",
			"registry", reg.Name, "alias", host, "host", reg.Host)
	}
	return nil
}

// queueLayers hands the layers of obs that are not indexed yet to the layer
// queue, naming the registry by its configured name.
func (w *Worker) queueLayers(ctx context.Context, name string, obs image.Observation) error {
	if w.opts.Layers == nil {
		return nil
	}
	// The walk already knows every layer: ask the index only which are new.
	byDigest := map[string]image.Layer{}
	var digests []string
	for _, m := range obs.Manifests {
		if m.Kind != image.KindImage {
			continue
		}
		for _, l := range m.Layers {
			if _, seen := byDigest[l.Digest]; seen || l.DiffID == "" || outsideRegistry(l.MediaType) {
				continue
			}
			byDigest[l.Digest] = l
			digests = append(digests, l.Digest)
		}
	}
	if len(digests) == 0 {
		return nil
	}
	todo, err := w.opts.Store.UnindexedLayers(ctx, digests)
	if err != nil || len(todo) == 0 {
		return err
	}
	var jobs []stream.LayerJob
	for _, d := range digests {
		if l := byDigest[d]; todo[d] {
			// Fetch from the repository pushed to: credentials may be scoped to it.
			jobs = append(jobs, stream.LayerJob{Registry: name, Repository: obs.Repository, Digest: d, DiffID: l.DiffID, Size: l.Size})
		}
	}
	if err := w.opts.Layers.PublishLayers(ctx, jobs); err != nil {
		return fmt.Errorf("queueing %d layers of %s/%s for indexing: %w", len(jobs), name, obs.Repository, err)
	}
	return nil
}

// outsideRegistry reports whether a layer media type says the blob lives
// elsewhere (Windows foreign layers, OCI non-distributable layers), as
// layers_pending.sql leaves them out.
func outsideRegistry(mediaType string) bool {
	return strings.Contains(mediaType, "foreign") || strings.Contains(mediaType, "nondistributable")
}

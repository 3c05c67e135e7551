package layerindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
)

// Consumer indexes the layers queued on the layer-scan stream. A job is
// acknowledged once its index or rejection is committed; a fetch that may
// heal (the registry or the database unreachable) is retried with a growing
// delay, and after MaxDeliver deliveries moved to the deferred layer stream,
// where it is retried at MaxDelay until it succeeds; a permanent failure is
// recorded in ingest_failures and then terminated (retried while the record
// cannot be written).
type Consumer struct {
	Indexer    *Indexer
	Registries *registries.Set
	// Concurrency is how many layers are scanned at once (default 1).
	Concurrency int
	// MaxDeliver is how many deliveries a failing job gets before it moves
	// to Deferred (default 10); MaxDelay caps the delay between two
	// (default 2 minutes). AckWait must match the consumer's (60s).
	MaxDeliver int
	MaxDelay   time.Duration
	AckWait    time.Duration
	// Deferred takes jobs still failing after MaxDeliver deliveries;
	// without it they are retried on the layer stream.
	Deferred LayerDeferrer
	Log      *slog.Logger

	once sync.Once // fills in the defaults
}

// LayerDeferrer stores a layer job's message on the deferred layer stream;
// *stream.Publisher is one.
type LayerDeferrer interface {
	DeferLayer(ctx context.Context, j stream.LayerJob, data []byte, header nats.Header, reason string) error
}

// Run consumes jobs until ctx ends, then drains: it fetches nothing more
// and finishes the layers in hand.
func (c *Consumer) Run(ctx context.Context, cons jetstream.Consumer) error {
	c.defaults()
	return stream.Consume(ctx, cons, c.Concurrency, "layer jobs", c.Log, func(msg jetstream.Msg) { c.process(ctx, msg, false) })
}

// RunDeferred consumes the deferred layer stream as Run does, one job at a
// time, retrying a transient failure at MaxDelay for as long as it lasts.
func (c *Consumer) RunDeferred(ctx context.Context, cons jetstream.Consumer) error {
	c.defaults()
	return stream.Consume(ctx, cons, 1, "deferred layer jobs", c.Log, func(msg jetstream.Msg) { c.process(ctx, msg, true) })
}

func (c *Consumer) defaults() { c.once.Do(c.fillDefaults) }

func (c *Consumer) fillDefaults() {
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 2 * time.Minute
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

func (c *Consumer) process(ctx context.Context, msg jetstream.Msg, deferred bool) {
	ctx, span := c.Indexer.Telemetry.TracerFor().Start(telemetry.Extract(ctx, msg.Headers()), "process "+msg.Subject(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", msg.Subject())))
	var err error
	defer func() { telemetry.End(span, err) }()
	job, err := stream.DecodeLayerJob(msg.Data())
	if err != nil {
		c.Log.Warn("dropping an invalid layer job", "err", err)
		c.settle(msg.Term())
		return
	}
	delivered := stream.Delivered(msg)
	stop := stream.KeepAlive(msg, c.AckWait)
	l, f, err := c.layer(job)
	if err == nil {
		var o Outcome
		// A layer in hand is finished even when shutdown begins: a
		// multi-gigabyte blob would otherwise start again from zero.
		o, err = c.Indexer.Index(context.WithoutCancel(ctx), f, l)
		if err == nil {
			c.Log.Info("layer "+o.String(), "digest", l.Digest, "repository", l.Repository)
		}
	}
	stop()

	var fe *FetchError
	switch {
	case err == nil:
		c.settle(msg.Ack())
	case ctx.Err() != nil:
		c.settle(msg.Nak())
	case errors.Is(err, registries.ErrUnknown), errors.As(err, &fe) && fe.Permanent():
		c.terminate(ctx, msg, l, err, delivered)
	case !deferred && delivered >= uint64(c.MaxDeliver) && c.Deferred != nil:
		reason := fmt.Sprintf("still failing after %d deliveries: %v", delivered, err)
		if derr := c.Deferred.DeferLayer(context.WithoutCancel(ctx), job, msg.Data(), msg.Headers(), reason); derr != nil {
			c.retry(msg, l, delivered, fmt.Errorf("%v; deferring it: %w", err, derr))
			return
		}
		c.Log.Warn("layer deferred: retried on the deferred layer stream until it can be indexed", "digest", l.Digest, "deliveries", delivered, "err", err)
		c.settle(msg.Term())
	default:
		c.retry(msg, l, delivered, err)
	}
}

// layer resolves a job's registry host to what the graph calls it and the
// walker that fetches from it.
func (c *Consumer) layer(j stream.LayerJob) (Layer, Fetcher, error) {
	l := Layer{Registry: j.Registry, Host: j.Registry, Repository: j.Repository, Digest: j.Digest, DiffID: j.DiffID, Size: j.Size}
	wk, reg, err := c.Registries.Walker(j.Registry)
	if err != nil {
		return l, nil, err
	}
	l.Registry, l.Host = reg.Name, reg.Host
	return l, wk, nil
}

// retry hands the job back after the backoff delay.
func (c *Consumer) retry(msg jetstream.Msg, l Layer, delivered uint64, err error) {
	delay := stream.Settings{MaxDelay: c.MaxDelay}.Backoff(delivered)
	c.Log.Info("layer will be retried", "digest", l.Digest, "delivery", delivered, "delay", delay, "err", err)
	c.settle(msg.NakWithDelay(delay))
}

// terminate records a layer that failed for good, then terminates its job
// (the next `scan --layers` tries it again); while the record cannot be
// written, the job is retried instead.
func (c *Consumer) terminate(ctx context.Context, msg jetstream.Msg, l Layer, err error, delivered uint64) {
	if rerr := c.fail(ctx, l, err); rerr != nil {
		c.retry(msg, l, delivered, fmt.Errorf("%v; recording the failure: %w", err, rerr))
		return
	}
	c.settle(msg.Term())
}

func (c *Consumer) fail(ctx context.Context, l Layer, err error) error {
	class := "invalid"
	var fe *FetchError
	switch {
	case errors.As(err, &fe):
		class = fe.Class()
	case errors.Is(err, registries.ErrUnknown):
		class = "unknown_registry"
	}
	c.Log.Warn("layer failed", "digest", l.Digest, "class", class, "err", err)
	if rerr := c.Indexer.Store.RecordFailure(context.WithoutCancel(ctx), graph.Failure{
		Registry: l.Registry, Repository: l.Repository, Reference: l.Digest, Source: Source, Class: class, Reason: err.Error(),
	}); rerr != nil {
		c.Log.Error("recording a failed layer: it will be retried", "digest", l.Digest, "err", rerr)
		return rerr
	}
	return nil
}

func (c *Consumer) settle(err error) {
	if err != nil {
		c.Log.Warn("settling a layer job with the stream", "err", err)
	}
}

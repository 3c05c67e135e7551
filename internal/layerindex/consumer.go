package layerindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/settle"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/walker"
)

// Consumer indexes the layers queued on the layer-scan stream. A job is
// acknowledged once its index or rejection is committed; a fetch that may
// heal (the registry or the database unreachable) is retried with a growing
// delay, and after MaxDeliver deliveries moved to the deferred layer stream,
// where it is retried at MaxDelay until it succeeds; a job that can never
// succeed (a permanent fetch failure, a registry no longer configured, data
// the graph refuses, a message that is not a job) is recorded in
// ingest_failures and then terminated (retried while the record cannot be
// written).
type Consumer struct {
	Indexer *Indexer
	// Walkers fetch the layers from the registry a job names.
	Walkers *walker.Walkers
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

	once           sync.Once // makes the loops
	jobs, deferred *settle.Loop[stream.LayerJob]
}

// LayerDeferrer stores a layer job's message on the deferred layer stream;
// *stream.Publisher is one.
type LayerDeferrer interface {
	DeferLayer(ctx context.Context, j stream.LayerJob, data []byte, header nats.Header, reason string) error
}

// Run consumes jobs until ctx ends, then drains: it fetches nothing more
// and finishes the layers in hand.
func (c *Consumer) Run(ctx context.Context, cons jetstream.Consumer) error {
	c.once.Do(c.loops)
	return c.jobs.Run(ctx, cons)
}

// RunDeferred consumes the deferred layer stream as Run does, one job at a
// time, retrying a transient failure at MaxDelay for as long as it lasts.
func (c *Consumer) RunDeferred(ctx context.Context, cons jetstream.Consumer) error {
	c.once.Do(c.loops)
	return c.deferred.Run(ctx, cons)
}

// loops makes the settle loops of the layer stream and of the deferred
// layer stream, from the consumer's fields as they are at its first run.
func (c *Consumer) loops() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	so := settle.Options{Concurrency: c.Concurrency, MaxDeliver: c.MaxDeliver, MaxDelay: c.MaxDelay,
		AckWait: c.AckWait, Log: c.Log, Tracer: c.Indexer.Telemetry.TracerFor()}
	c.jobs = &settle.Loop[stream.LayerJob]{Name: "layer jobs", Item: "a layer job", Decode: stream.DecodeLayerJob, Handler: jobHandler{c}, Options: so}
	if c.Deferred != nil {
		c.jobs.Deferrer = deferrer{c.Deferred}
	}
	c.deferred = &settle.Loop[stream.LayerJob]{Name: "deferred layer jobs", Item: "a layer job", Decode: stream.DecodeLayerJob, Handler: jobHandler{c}, Options: so}
	c.deferred.Options.Concurrency = 1
}

// jobHandler is the consumer's part of settling a layer job.
type jobHandler struct{ c *Consumer }

// Handle indexes the job's layer.
func (h jobHandler) Handle(ctx context.Context, j stream.LayerJob) error {
	c := h.c
	l, f, err := c.layer(j)
	if err != nil {
		return err
	}
	// A layer in hand is finished even when shutdown begins: a
	// multi-gigabyte blob would otherwise start again from zero.
	o, err := c.Indexer.Index(context.WithoutCancel(ctx), f, l)
	if err != nil {
		return err
	}
	c.Log.Info("layer "+o.String(), "digest", l.Digest, "repository", l.Repository)
	return nil
}

// Permanent reports whether a job failing with err can never succeed: the
// blob cannot be fetched (gone, or the registry serves other bytes), its
// registry is no longer configured, or the graph refuses its data.
func (jobHandler) Permanent(err error) bool {
	var fe *FetchError
	return errors.Is(err, registries.ErrUnknown) || errors.As(err, &fe) && fe.Permanent() || graph.IsDataError(err)
}

// Record records a layer that failed for good in ingest_failures (the next
// `scan --layers` tries it again), and a message that is not a job with
// its body.
func (h jobHandler) Record(ctx context.Context, j stream.LayerJob, data []byte, err error, _ uint64) error {
	c := h.c
	f := graph.Failure{Source: Source, Class: "invalid", Reason: err.Error()}
	if j == (stream.LayerJob{}) {
		c.Log.Warn("dropping an invalid layer job", "err", err)
		if json.Valid(data) {
			f.Payload = data
		}
	} else {
		l, _, _ := c.layer(j)
		f.Registry, f.Repository, f.Reference = l.Registry, l.Repository, l.Digest
		var fe *FetchError
		switch {
		case errors.As(err, &fe):
			f.Class = fe.Class()
		case errors.Is(err, registries.ErrUnknown):
			f.Class = "unknown_registry"
		}
		c.Log.Warn("layer failed", "digest", l.Digest, "class", f.Class, "err", err)
	}
	if rerr := c.Indexer.Store.RecordFailure(ctx, f); rerr != nil {
		c.Log.Error("recording a failed layer: it will be retried", "digest", f.Reference, "err", rerr)
		return fmt.Errorf("recording the failure: %w", rerr)
	}
	return nil
}

// Settled logs retries and deferrals.
func (h jobHandler) Settled(_ context.Context, j stream.LayerJob, s settle.Settlement) {
	switch s.Outcome {
	case settle.Retried:
		h.c.Log.Info("layer will be retried", "digest", j.Digest, "delivery", s.Delivered, "delay", s.Delay, "err", s.Err)
	case settle.Deferred:
		h.c.Log.Warn("layer deferred: retried on the deferred layer stream until it can be indexed", "digest", j.Digest, "deliveries", s.Delivered, "err", s.Err)
	}
}

// deferrer moves layer jobs to the deferred layer stream.
type deferrer struct{ LayerDeferrer }

// Defer stores the job's message on the deferred layer stream.
func (d deferrer) Defer(ctx context.Context, j stream.LayerJob, data []byte, header nats.Header, reason string) error {
	return d.DeferLayer(ctx, j, data, header, reason)
}

// layer resolves a job's registry host to what the graph calls it and the
// walker that fetches from it.
func (c *Consumer) layer(j stream.LayerJob) (Layer, Fetcher, error) {
	l := Layer{Registry: j.Registry, Host: j.Registry, Repository: j.Repository, Digest: j.Digest, DiffID: j.DiffID, Size: j.Size}
	wk, reg, err := c.Walkers.For(j.Registry)
	if err != nil {
		return l, nil, err
	}
	l.Registry, l.Host = reg.Name, reg.Host
	return l, wk, nil
}

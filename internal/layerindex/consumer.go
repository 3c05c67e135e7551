package layerindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/stream"
)

// Consumer indexes the layers queued on the layer-scan stream. A job is
// acknowledged once its index or rejection is committed; a fetch that may
// heal is retried with a growing delay; a permanent failure, or the last
// delivery, is recorded in ingest_failures and terminated.
type Consumer struct {
	Indexer    *Indexer
	Registries *registries.Set
	// Concurrency is how many layers are scanned at once (default 1).
	Concurrency int
	// MaxDeliver and AckWait must match the consumer's (defaults 10, 60s).
	MaxDeliver int
	AckWait    time.Duration
	Log        *slog.Logger
}

// Run consumes jobs until ctx ends, then drains: it fetches nothing more
// and finishes the layers in hand.
func (c *Consumer) Run(ctx context.Context, cons jetstream.Consumer) error {
	n := max(c.Concurrency, 1)
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	var subs []jetstream.ConsumeContext
	for range n {
		cc, err := cons.Consume(func(msg jetstream.Msg) { c.process(ctx, msg) },
			jetstream.PullMaxMessages(1),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if ctx.Err() == nil {
					c.Log.Warn("consuming layer jobs", "err", err)
				}
			}))
		if err != nil {
			for _, s := range subs {
				s.Stop()
			}
			return fmt.Errorf("subscribing to %s: %w", stream.LayersConsumer, err)
		}
		subs = append(subs, cc)
	}
	<-ctx.Done()
	for _, s := range subs {
		s.Drain()
	}
	for _, s := range subs {
		<-s.Closed()
	}
	return nil
}

func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	job, err := stream.DecodeLayerJob(msg.Data())
	if err != nil {
		c.Log.Warn("dropping an invalid layer job", "err", err)
		c.settle(msg.Term())
		return
	}
	delivered := uint64(1)
	if meta, err := msg.Metadata(); err == nil {
		delivered = meta.NumDelivered
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(c.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	l, err := c.layer(job)
	if err == nil {
		var o Outcome
		o, err = c.Indexer.Index(ctx, c.fetcher(job), l)
		if err == nil {
			c.Log.Info("layer "+o.String(), "digest", l.Digest, "repository", l.Repository)
		}
	}
	close(done)

	var fe *FetchError
	switch {
	case err == nil:
		c.settle(msg.Ack())
	case ctx.Err() != nil:
		c.settle(msg.Nak())
	case errors.Is(err, registries.ErrUnknown), errors.As(err, &fe) && fe.Permanent():
		c.fail(ctx, l, err)
		c.settle(msg.Term())
	case delivered >= uint64(c.MaxDeliver):
		c.fail(ctx, l, fmt.Errorf("still failing after %d deliveries: %w", delivered, err))
		c.settle(msg.Term())
	default:
		delay := min(time.Duration(1<<min(delivered-1, 7))*time.Second, 2*time.Minute)
		c.Log.Info("layer will be retried", "digest", l.Digest, "delivery", delivered, "delay", delay, "err", err)
		c.settle(msg.NakWithDelay(delay))
	}
}

// layer resolves a job's registry host to what the graph calls it.
func (c *Consumer) layer(j stream.LayerJob) (Layer, error) {
	l := Layer{Registry: j.Registry, Host: j.Registry, Repository: j.Repository, Digest: j.Digest, DiffID: j.DiffID, Size: j.Size}
	reg, err := c.Registries.Lookup(j.Registry)
	if err != nil {
		return l, err
	}
	l.Registry, l.Host = reg.Name, reg.Host
	return l, nil
}

func (c *Consumer) fetcher(j stream.LayerJob) Fetcher {
	wk, _, err := c.Registries.Walker(j.Registry)
	if err != nil {
		return failingFetcher{err}
	}
	return wk
}

type failingFetcher struct{ err error }

func (f failingFetcher) Blob(context.Context, string, string, string) (io.ReadCloser, error) {
	return nil, f.err
}

func (c *Consumer) fail(ctx context.Context, l Layer, err error) {
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
		c.Log.Error("recording a failed layer", "digest", l.Digest, "err", rerr)
	}
}

func (c *Consumer) settle(err error) {
	if err != nil {
		c.Log.Warn("settling a layer job with the stream", "err", err)
	}
}

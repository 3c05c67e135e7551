package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/settle"
	"github.com/layerq/layerq/internal/stream"
)

// QuarantineStore keeps quarantined items; *graph.Store is one.
type QuarantineStore interface {
	// SaveQuarantine stores the item once per id.
	SaveQuarantine(ctx context.Context, it quarantine.Item) error
}

// KeepQuarantine moves the receivers' quarantined items from the stream
// into the quarantine table until ctx ends: each is acknowledged once it is
// stored, retried while the database is down, and dropped (with a log
// line) only when it is not an item at all.
func KeepQuarantine(ctx context.Context, cons jetstream.Consumer, store QuarantineStore, maxDelay time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &settle.Loop[quarantine.Item]{Name: "quarantine", Item: "a quarantined item", Decode: stream.DecodeQuarantine,
		Handler: keeper{store: store, log: log}, Options: settle.Options{Concurrency: 1, MaxDelay: maxDelay, Log: log}}
	return l.Run(ctx, cons)
}

// keeper is the quarantine keeper's part of settling an item.
type keeper struct {
	store QuarantineStore
	log   *slog.Logger
}

// Handle stores the item; an item in hand is stored even when shutdown
// begins.
func (k keeper) Handle(ctx context.Context, it quarantine.Item) error {
	return k.store.SaveQuarantine(context.WithoutCancel(ctx), it)
}

// Permanent is false: an item is kept until it is stored.
func (keeper) Permanent(error) bool { return false }

// Record drops a message that is not an item, saying so.
func (k keeper) Record(_ context.Context, _ quarantine.Item, _ []byte, err error, _ uint64) error {
	k.log.Error("dropping a message of the quarantine stream that is not an item", "err", err)
	return nil
}

// Settled logs the items stored and the retries.
func (k keeper) Settled(_ context.Context, it quarantine.Item, s settle.Settlement) {
	switch s.Outcome {
	case settle.Done:
		k.log.Warn("quarantined", "id", it.ID, "source", it.Source, "registry", it.Registry, "reason", it.Reason, "detail", it.Detail)
	case settle.Retried:
		k.log.Warn("keeping a quarantined item: retried", "id", it.ID, "delay", s.Delay, "err", s.Err)
	}
}

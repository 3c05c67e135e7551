package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/quarantine"
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
	settings := stream.Settings{MaxDelay: maxDelay}
	return stream.Consume(ctx, cons, 1, "quarantine", log, func(msg jetstream.Msg) {
		it, err := stream.DecodeQuarantine(msg.Data())
		if err != nil {
			log.Error("dropping a message of the quarantine stream that is not an item", "err", err)
			_ = msg.Term()
			return
		}
		if err := store.SaveQuarantine(context.WithoutCancel(ctx), it); err != nil {
			if ctx.Err() != nil {
				_ = msg.Nak()
				return
			}
			delay := settings.Backoff(stream.Delivered(msg))
			log.Warn("keeping a quarantined item: retried", "id", it.ID, "delay", delay, "err", err)
			_ = msg.NakWithDelay(delay)
			return
		}
		log.Warn("quarantined", "id", it.ID, "source", it.Source, "registry", it.Registry, "reason", it.Reason, "detail", it.Detail)
		_ = msg.Ack()
	})
}

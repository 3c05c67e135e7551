package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/webhook"
)

// ErrStillUnusable means a quarantined item cannot be used with the
// configuration now either.
var ErrStillUnusable = errors.New("still cannot be used")

// Replay decodes a quarantined item with the configuration the worker has
// now, attributes its events to registries as the receiver would have, and
// applies each to the graph. It returns how many events it applied; an
// item that still cannot be used is an ErrStillUnusable saying why.
func (w *Worker) Replay(ctx context.Context, it quarantine.Item) (applied int, err error) {
	var events []webhook.Event
	switch it.Kind {
	case quarantine.KindEvent:
		ev, err := stream.Decode(it.Data)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrStillUnusable, err)
		}
		events = []webhook.Event{ev}
	case quarantine.KindBody:
		res, err := webhook.Decode(it.Source, it.Data, webhook.Header(it.Header))
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrStillUnusable, err)
		}
		if len(res.Rejected) > 0 {
			var reasons []string
			for _, r := range res.Rejected {
				reasons = append(reasons, r.Reason)
			}
			return 0, fmt.Errorf("%w: %s", ErrStillUnusable, strings.Join(reasons, "; "))
		}
		events = res.Events
	default:
		return 0, fmt.Errorf("%w: unknown kind %q", ErrStillUnusable, it.Kind)
	}
	for _, ev := range events {
		ev, err := receiver.Attribute(w.opts.Walkers.Registries(), ev, it.Registry)
		if err != nil {
			return applied, fmt.Errorf("%w: %v", ErrStillUnusable, err)
		}
		if err := w.Handle(ctx, ev); err != nil {
			return applied, fmt.Errorf("applying event %s: %w", ev.ID, err)
		}
		applied++
	}
	return applied, nil
}

// Replayed is what replaying one quarantined item did: the events it
// applied, and Err when the item is left in quarantine (with why).
type Replayed struct {
	ID     string
	Events int
	Note   string
	Err    error
}

// ReplayQuarantined replays items in order (Replay), marks each in the
// store as replayed with what it applied or as left with why, and calls
// done after each. It stops at the first error of the store itself.
func (w *Worker) ReplayQuarantined(ctx context.Context, items []graph.Quarantined, done func(Replayed)) error {
	for _, q := range items {
		n, err := w.Replay(ctx, q.Item)
		r := Replayed{ID: q.ID, Events: n, Err: err}
		if err != nil {
			r.Note = strings.Join(strings.Fields(err.Error()), " ")
		} else {
			r.Note = fmt.Sprintf("applied %d events", n)
		}
		if err := w.opts.Store.MarkReplayed(ctx, q.ID, r.Err == nil, r.Note); err != nil {
			return err
		}
		done(r)
	}
	return nil
}

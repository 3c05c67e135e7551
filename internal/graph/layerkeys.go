package graph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// layerKeysBatch is how many queued layer blobs one transaction of
// ApplyLayerKeys takes at most (the migration that first wrote the keys
// took 1,000).
const layerKeysBatch = 500

// ErrLayerKeysReadOnly means the database role may not write the
// near-duplicate keys (a read-only role such as layerq_reader, or any role
// on a standby): `duplicates --kind layer` reads the pairs as the last
// writer left them. It is an ErrReadOnly.
var ErrLayerKeysReadOnly = fmt.Errorf("%w: it may not work out the near-duplicate keys of newly indexed layers", ErrReadOnly)

// ApplyLayerKeys works out the near-duplicate keys and pairs (what
// `layerq duplicates --kind layer` reads) of the layer blobs queued when
// it starts, first queued first, a batch per transaction, and says how
// many it took. Indexing a layer only queues its blob: in the index's
// transaction the keys made every indexer wait for every other one's.
// Callers take turns; one that waited takes what is left. Blobs queued
// while it works wait for the next call, so it ends however fast layers
// are indexed. A batch that fails is tried again in halves down to one
// blob; a blob that fails alone goes to the end of the queue, to be tried
// again by the next call, and the others go on; the first such error is
// returned. A role that may not write the keys gets ErrLayerKeysReadOnly
// before it waits for anything.
func (s *Store) ApplyLayerKeys(ctx context.Context) (int, error) {
	may, err := queries.LayerKeysMayApply(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("checking the right to write near-duplicate keys: %w", err)
	}
	if may.Standby || !may.MayApply {
		return 0, ErrLayerKeysReadOnly
	}
	q, err := queries.LayerKeysQueued(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("looking at the near-duplicate keys' queue: %w", err)
	}
	total, batch := 0, int32(layerKeysBatch)
	var failed error
	for q.Queued > 0 {
		n, err := queries.ApplyLayerKeys(ctx, s.pool, dbsqlc.ApplyLayerKeysParams{Batch: batch, Upto: q.LastSeq})
		switch {
		case err != nil && ctx.Err() != nil:
			return total, err
		case err != nil && batch > 1:
			batch /= 2
			continue
		case err != nil:
			moved, merr := queries.RequeueLayerKeys(ctx, s.pool, q.LastSeq)
			if merr != nil {
				return total, fmt.Errorf("writing near-duplicate keys of layers: %w", errors.Join(err, merr))
			}
			if failed == nil {
				failed = fmt.Errorf("writing near-duplicate keys of layer %s: %w", moved, err)
			}
			batch = layerKeysBatch
			continue
		}
		total += int(n)
		if n < batch {
			break
		}
	}
	return total, failed
}

// QueuedLayerKeys is how many indexed layer blobs wait for their
// near-duplicate keys.
func (s *Store) QueuedLayerKeys(ctx context.Context) (int64, error) {
	q, err := queries.LayerKeysQueued(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("looking at the near-duplicate keys' queue: %w", err)
	}
	return q.Queued, nil
}

// KeepLayerKeys runs ApplyLayerKeys every interval until ctx is done,
// telling report its errors (a read-only role's once).
func (s *Store) KeepLayerKeys(ctx context.Context, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	readOnly := false
	for {
		_, err := s.ApplyLayerKeys(ctx)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, ErrReadOnly):
			if !readOnly && report != nil {
				report(err)
			}
			readOnly = true
		case report != nil:
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

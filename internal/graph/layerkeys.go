package graph

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// layerKeysBatch is how many queued layer blobs one transaction of
// ApplyLayerKeys takes (the migration that first wrote the keys took 1,000).
const layerKeysBatch = 500

// ApplyLayerKeys works out the near-duplicate keys and pairs (what
// `layerq duplicates --kind layer` reads) of every layer blob indexed since
// the last call, a batch per transaction, and says how many blobs it took.
// Indexing a layer only queues its blob: the keys took turns across every
// indexer, in each index's transaction. Callers take turns too; one that
// waited takes what is left. A role that may not write them gets
// ErrReadOnly (ErrStandby on a standby) before it waits for anything.
func (s *Store) ApplyLayerKeys(ctx context.Context) (int, error) {
	may, err := queries.LayerKeysMayApply(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("checking the right to write near-duplicate keys: %w", err)
	}
	switch {
	case may.Standby:
		return 0, ErrStandby
	case !may.MayApply:
		return 0, ErrReadOnly
	}
	total := 0
	for {
		n, err := queries.ApplyLayerKeys(ctx, s.pool, layerKeysBatch)
		if err != nil {
			return total, fmt.Errorf("writing near-duplicate keys of layers: %w", err)
		}
		total += int(n)
		if n < layerKeysBatch {
			return total, nil
		}
	}
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

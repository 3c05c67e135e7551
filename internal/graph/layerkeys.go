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
// near-duplicate keys (a read-only role such as layerq_reader):
// `duplicates --kind layer` reads the pairs as the last writer left them.
// It is an ErrReadOnly. On a standby ApplyLayerKeys returns ErrStandby.
var ErrLayerKeysReadOnly = fmt.Errorf("%w: it may not work out the near-duplicate keys of newly indexed layers", ErrReadOnly)

// LayerKeysFailedError says that the near-duplicate keys of some queued
// layers failed on their own data (each then went to the end of the
// queue, to be tried again alone by a later call), while every other
// layer got its keys.
type LayerKeysFailedError struct {
	Layers    int64  // layers whose keys failed, still queued
	First     string // the first of them by digest
	LastError string // its error, the last time
}

func (e *LayerKeysFailedError) Error() string {
	layers := fmt.Sprintf("%d layers", e.Layers)
	if e.Layers == 1 {
		layers = "1 layer"
	}
	return fmt.Sprintf("working out the near-duplicate keys of %s failed; queued to be tried again (layer %s: %s)", layers, e.First, e.LastError)
}

// ApplyLayerKeys works out the near-duplicate keys and pairs (what
// `layerq duplicates --kind layer` reads) of the layer blobs queued when
// it starts, first queued first, a batch per transaction, and says how
// many blobs it took. Indexing a layer only queues its blob: in the
// index's transaction the keys made every indexer wait for every other
// one's. Callers take turns; one that waited takes what is left. Blobs
// queued while it works wait for the next call, so it ends however fast
// layers are indexed. A layer whose keys fail on its own data goes to the
// end of the queue and the others go on: the call then returns a
// *LayerKeysFailedError with what it took. Any other error stops it. A
// role that may not write the keys gets ErrLayerKeysReadOnly (ErrStandby
// on a standby) before it waits for anything.
func (s *Store) ApplyLayerKeys(ctx context.Context) (int, error) {
	return s.ApplyLayerKeysProgress(ctx, nil)
}

// ApplyLayerKeysProgress is ApplyLayerKeys telling progress, when it is
// not nil, how many of the queued blobs it has taken: once before the
// first batch (0 of queued, when any are queued) and after each batch.
// Tens of thousands of layers indexed at once take minutes.
func (s *Store) ApplyLayerKeysProgress(ctx context.Context, progress func(taken int, queued int64)) (int, error) {
	may, err := queries.LayerKeysMayApply(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("checking the right to write near-duplicate keys: %w", err)
	}
	switch {
	case may.Standby:
		return 0, ErrStandby
	case !may.MayApply:
		return 0, ErrLayerKeysReadOnly
	}
	q, err := queries.LayerKeysQueued(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("looking at the near-duplicate keys' queue: %w", err)
	}
	if q.Queued == 0 {
		return 0, nil
	}
	total := 0
	if progress != nil {
		progress(0, q.Queued)
	}
	for {
		n, err := queries.ApplyLayerKeys(ctx, s.pool, dbsqlc.ApplyLayerKeysParams{Batch: layerKeysBatch, Upto: q.LastSeq})
		if err != nil {
			return total, fmt.Errorf("writing near-duplicate keys of layers: %w", err)
		}
		total += int(n)
		if progress != nil {
			progress(total, q.Queued)
		}
		if n < layerKeysBatch {
			break
		}
	}
	failed, err := queries.LayerKeysFailed(ctx, s.pool)
	if err != nil {
		return total, fmt.Errorf("looking at the near-duplicate keys' queue: %w", err)
	}
	if failed.Failed > 0 {
		return total, &LayerKeysFailedError{Layers: failed.Failed, First: failed.BlobDigest, LastError: failed.LastError}
	}
	return total, nil
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
// telling report its errors: a read-only role's once, layers whose keys
// fail when what fails changes.
func (s *Store) KeepLayerKeys(ctx context.Context, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last string // the last error reported
	for {
		_, err := s.ApplyLayerKeys(ctx)
		var failed *LayerKeysFailedError
		switch {
		case err == nil, ctx.Err() != nil:
			last = ""
		case errors.Is(err, ErrReadOnly), errors.As(err, &failed):
			if err.Error() != last && report != nil {
				report(err)
			}
			last = err.Error()
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

package graph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// The aggregates the reports read (storage, top-shared, bases, cache) are
// kept from a queue: the graph's triggers append each membership change and
// tag push or delete to aggregate_queue, and ApplyAggregates folds the queue
// in.
// Ingest pays one queue row per change; the folding is set-based and runs
// off the ingest path (Aggregate), and reports apply what is queued before
// they read, so their figures are exact.

// The session advisory lock (classid 'lq', objid 1) that keeps to one
// applier at a time; the SQL checks for it by the same numbers.
const aggregatesLockClass, aggregatesLockID = 0x6c71, 1

// ErrReadOnly means the database role may read the graph but not fold the
// aggregates (layerq_reader): the aggregates are as of the last fold by a
// writer (serve folds every second).
var ErrReadOnly = errors.New("this database role may not fold the aggregates (a read-only role such as layerq_reader)")

// ErrStandby means the database is a standby (a read replica): the
// aggregates are as of the last fold on the primary, replayed there. It is
// an ErrReadOnly.
var ErrStandby = fmt.Errorf("%w: the server is a standby", ErrReadOnly)

// StandbyLag is how far the standby the store reads is behind its primary
// (0 when it has replayed all it received).
func (s *Store) StandbyLag(ctx context.Context) (time.Duration, error) {
	secs, err := queries.StandbyLag(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("reading the standby's lag: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// QueuedAggregates is how many changes wait to be folded into the
// aggregates (one an applier is folding counts until it commits).
func (s *Store) QueuedAggregates(ctx context.Context) (int64, error) {
	n, err := queries.AggregatesQueuedCount(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("counting the aggregates' queue: %w", err)
	}
	return n, nil
}

// ApplyAggregates folds every queued change into the aggregates and says
// how many queue rows it took in. Appliers take turns: one waits for the
// other to finish, then applies what is left. A role that may not fold
// gets ErrReadOnly before it waits for anything.
func (s *Store) ApplyAggregates(ctx context.Context) (int, error) {
	may, err := queries.AggregatesMayFold(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("checking the right to fold the aggregates: %w", err)
	}
	switch {
	case may.Standby:
		return 0, ErrStandby
	case !may.MayFold:
		return 0, ErrReadOnly
	}
	// Nothing queued, nothing to wait for: every committed change is
	// folded (one an applier is folding stays queued until it commits).
	// This spares a command that reads the aggregates the lock and the
	// fold's transaction.
	if may.MayPeek {
		queued, err := queries.AggregatesQueued(ctx, s.pool)
		if err != nil {
			return 0, fmt.Errorf("looking at the aggregates' queue: %w", err)
		}
		if !queued {
			return 0, nil
		}
	}
	return s.applyAggregates(ctx, true)
}

// applyAggregates is ApplyAggregates; without wait, it applies nothing
// when another applier is at work (which will take in what is queued).
func (s *Store) applyAggregates(ctx context.Context, wait bool) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	// The lock is taken before the transaction, so the applier's snapshot
	// (REPEATABLE READ: one for the whole fold) is taken after the last
	// applier committed; inside it, the queue and the graph agree.
	if wait {
		if err := queries.AggregatesLock(ctx, conn, dbsqlc.AggregatesLockParams{Class: aggregatesLockClass, ID: aggregatesLockID}); err != nil {
			return 0, fmt.Errorf("waiting for the aggregates lock: %w", err)
		}
	} else {
		got, err := queries.AggregatesTryLock(ctx, conn, dbsqlc.AggregatesTryLockParams{Class: aggregatesLockClass, ID: aggregatesLockID})
		if err != nil {
			return 0, fmt.Errorf("trying the aggregates lock: %w", err)
		}
		if !got {
			return 0, nil
		}
	}
	defer func() {
		// Unlock even if ctx is done; if that fails, the connection is
		// closed, which releases the lock.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := queries.AggregatesUnlock(uctx, conn, dbsqlc.AggregatesUnlockParams{Class: aggregatesLockClass, ID: aggregatesLockID}); err != nil {
			conn.Hijack().Close(uctx)
		}
	}()
	var n int
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		applied, err := queries.AggregatesFold(ctx, tx)
		n = int(applied)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("applying queued changes to the aggregates: %w", err)
	}
	return n, nil
}

// Aggregate applies queued changes every interval, and when wake (which
// may be nil) says something was written, until ctx is done, so that
// dashboards reading the aggregate views directly lag by about interval at
// most. Woken, it waits after a fold that folded changes four times as
// long as that fold took: under a burst of writes folding takes at most a
// fifth of the time and folds in batches, while a lone write is folded at
// once. A round on which another applier is at work is skipped: that one
// folds the queue. After a round that folded changes, folded (which may be
// nil) is called.
// Errors go to report (which may be nil) and are retried on the next round.
func (s *Store) Aggregate(ctx context.Context, interval time.Duration, wake <-chan struct{}, report func(error), folded func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var next time.Time // a wake folds no sooner
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
		}
		began := time.Now()
		n, err := s.applyAggregates(ctx, false)
		if err != nil && ctx.Err() == nil && report != nil {
			report(err)
		}
		if n > 0 {
			end := time.Now()
			next = end.Add(4 * end.Sub(began))
			if folded != nil {
				folded()
			}
		}
	}
}

package report_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// A --since window over every repository reads what the fold keeps per
// repository and day (CacheSinceKept); it gives the rows, row for row and
// in their order, that counting the window's comparisons one by one gives
// (CacheSince, as a --repo filter runs it), for windows that start before
// the history, at midnight UTC, in the middle of a day, on a month's first
// day, in the last hour and after the history, and the top and busters
// cut anywhere.
func TestCacheWindowFromTheKeptSums(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk = 900, 15, 4, 200
	opts.FoldEachChunk = true // the sums worked out again from later days on, as serve folds
	sum, err := synth.Generate(ctx, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	q := dbsqlc.New()
	until := sum.Until.UTC()
	midnight := until.Truncate(24 * time.Hour)
	month := time.Date(until.Year(), until.Month()-2, 1, 0, 0, 0, 0, time.UTC)
	var busy time.Time // the start of the day with the most comparisons
	if err := pool.QueryRow(ctx, `SELECT date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM cache_transitions
		GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`).Scan(&busy); err != nil {
		t.Fatal(err)
	}
	windows := []time.Time{
		until.AddDate(-2, 0, 0), until.AddDate(0, 0, -30), midnight.AddDate(0, 0, -30), midnight.AddDate(0, 0, -30).Add(-time.Microsecond),
		month, month.Add(13*time.Hour + 7*time.Minute), busy.Add(11 * time.Hour), busy.Add(-time.Second),
		until.Add(-time.Hour), until.Add(time.Hour),
	}
	for _, since := range windows {
		for _, cut := range []struct{ top, busters int }{{20, 10}, {0, 100}, {1, 1}, {3, 2}} {
			want, err := q.CacheSince(ctx, pool, dbsqlc.CacheSinceParams{Since: since, Top: int32(cut.top), Busters: int64(cut.busters)})
			if err != nil {
				t.Fatal(err)
			}
			kept, err := q.CacheSinceKept(ctx, pool, dbsqlc.CacheSinceKeptParams{Since: since, Top: int32(cut.top), Busters: int64(cut.busters)})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]dbsqlc.CacheSinceRow, len(kept))
			for i, r := range kept {
				got[i] = dbsqlc.CacheSinceRow(r)
			}
			if !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Errorf("since %s, top %d, busters %d: %d rows kept, %d counted; first difference at %d:\n%s\n%s", since.Format(time.RFC3339Nano),
					cut.top, cut.busters, len(got), len(want), i, rowAt(got, i), rowAt(want, i))
			}
			if since.Before(until) && len(want) < 3 {
				t.Errorf("since %s: %d rows; the window should hold comparisons", since.Format(time.RFC3339Nano), len(want))
			}
		}
	}
}

func rowAt(rows []dbsqlc.CacheSinceRow, i int) string {
	if i >= len(rows) {
		return "(none)"
	}
	return fmt.Sprintf("%+v", rows[i])
}

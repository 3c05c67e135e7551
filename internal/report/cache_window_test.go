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
	// Two repositories whose builds in the last hours pushed the same,
	// most, bytes (ranked by name at the --top cut), and one step that
	// first changed a base layer in one and an own layer in the other
	// (two busters of the same text and counts, ranked by base_changed).
	if _, err := pool.Exec(ctx, `
		WITH r AS (INSERT INTO repositories (registry, name) VALUES ('ties.test', 'ties/b'), ('ties.test', 'ties/a') RETURNING id, name)
		INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at,
			reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step, from_bytes)
		SELECT r.id, 'created', 'linux/amd64', 'linux/amd64', r.name || '-' || k, r.name || '-' || (k + 1), $1::timestamptz - k * interval '1 hour',
			0, 3, 0, 1000000000000000, CASE WHEN k = 1 THEN (CASE WHEN r.name = 'ties/a' THEN 0 ELSE 2 END) END,
			CASE WHEN k = 1 THEN 'RUN tie' END, 0
		FROM r, generate_series(1, 2) k`, sum.Until); err != nil {
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
	// The busters cut between the two of the same text.
	all, err := q.CacheSince(ctx, pool, dbsqlc.CacheSinceParams{Since: windows[1], Top: 1, Busters: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tie, top := 0, ""
	for _, r := range all {
		switch {
		case r.What == "step" && r.Step == "RUN tie" && tie == 0:
			tie = int(r.Rank)
		case r.What == "repository":
			top = r.Repository
		}
	}
	if tie == 0 || top != "ties/a" {
		t.Fatalf("over the last 30 days: buster RUN tie at %d, the top repository %q; want one, and ties/a", tie, top)
	}
	for _, since := range windows {
		for _, cut := range []struct{ top, busters int }{{20, 10}, {0, 100}, {1, 1}, {3, 2}, {1, tie}} {
			want, err := q.CacheSince(ctx, pool, dbsqlc.CacheSinceParams{Since: since, Top: int32(cut.top), Busters: int64(cut.busters)})
			if err != nil {
				t.Fatal(err)
			}
			// The first day's part read before the window's start and from
			// it (the report picks the smaller), each the same.
			for _, late := range []bool{false, true} {
				kept, err := q.CacheSinceKept(ctx, pool, dbsqlc.CacheSinceKeptParams{Since: since, Top: int32(cut.top), Busters: int64(cut.busters), Late: late})
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
					t.Errorf("since %s, top %d, busters %d, late %v: %d rows kept, %d counted; first difference at %d:\n%s\n%s", since.Format(time.RFC3339Nano),
						cut.top, cut.busters, late, len(got), len(want), i, rowAt(got, i), rowAt(want, i))
				}
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

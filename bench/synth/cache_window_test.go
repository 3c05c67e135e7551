package synth_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

// cache --since D on a registry with weeks of pushes: its figures per
// repository (the comparisons of the kind each repository's figures use,
// and its builds), its totals and its busters are those of the window's
// comparisons counted one by one, for windows that start inside a day, at
// midnight UTC, before the first push and after the last; and again after
// pushes arrive late (moves of new tags, days before the pushes they
// repeat).
func TestCacheWindow(t *testing.T) {
	// Each repository with the stream kind its figures use: tag once a
	// tag of it moved (a tag comparison exists), created before.
	const kinds = `
		WITH k AS (
			SELECT r.id, r.name,
				CASE WHEN EXISTS (SELECT FROM cache_transitions x WHERE x.repository_id = r.id AND x.stream_kind = 'tag')
				     THEN 'tag' ELSE 'created' END AS kind
			FROM repositories r)`
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk = 900, 15, 4, 500
	pool, sum := generate(t, opts)
	ctx := context.Background()
	midnight := sum.Until.UTC().Truncate(24 * time.Hour)
	sinces := []time.Time{
		sum.Until.Add(-20*24*time.Hour - 7*time.Hour - 13*time.Minute), // inside a day
		midnight.Add(-9 * 24 * time.Hour),                              // at midnight UTC
		sum.Until.Add(-time.Hour),
		sum.Until.Add(-5 * 365 * 24 * time.Hour), // before every push
		sum.Until.Add(time.Second),               // after the last
	}
	globs := []struct{ glob, where string }{
		{"", "true"},
		{"ns02/**", "k.name LIKE 'ns02/%'"},
		{"ns03/app-00003", "k.name = 'ns03/app-00003'"},
		{"ns00/created-only", "k.name = 'ns00/created-only'"},
	}
	check := func(when string) {
		t.Helper()
		for _, since := range sinces {
			for _, g := range globs {
				// The window's comparisons of the kind each repository's
				// figures use, and its builds: tag pushes' per platform
				// (as the fold keeps them per push, checked against
				// tag_events by internal/graph's aggregates test), or
				// images built in it.
				want := rowsOf(t, pool, fmt.Sprintf(kinds+`
					SELECT k.name, k.kind, count(*), sum(t.reused_layers)::bigint, sum(t.total_layers)::bigint, sum(t.reused_bytes)::bigint, sum(t.total_bytes)::bigint,
						CASE WHEN k.kind = 'tag'
						     THEN (SELECT coalesce(sum(p.builds), 0)::bigint FROM cache_push_builds p WHERE p.repository_id = k.id AND p.occurred_at >= '%[1]s')
						     ELSE (SELECT count(*) FROM repository_manifests rm JOIN manifests m ON m.digest = rm.manifest_digest
						           WHERE rm.repository_id = k.id AND m.kind = 'image' AND m.layer_count > 0
						             AND CASE WHEN m.created >= '2013-01-01 00:00:00+00' THEN m.created ELSE rm.first_seen END >= '%[1]s') END
					FROM k JOIN cache_transitions t ON t.repository_id = k.id AND t.stream_kind = k.kind AND t.occurred_at >= '%[1]s'
					WHERE %[2]s
					GROUP BY k.id, k.name, k.kind`, since.Format(time.RFC3339Nano), g.where))
				slices.Sort(want)
				// Every glob holds comparisons since before the first
				// push, and the registry in the first two windows.
				if len(want) == 0 && (since.Equal(sinces[3]) || g.glob == "" && since.Before(sinces[2])) {
					t.Fatalf("%s: --repo %q --since %s: no comparison in the window; the test needs some", when, g.glob, since.Format(time.RFC3339))
				}
				got, err := report.LoadCache(ctx, pool, report.CacheOptions{Repositories: repoglob.Compile(g.glob), Since: since, Busters: 1000})
				if err != nil {
					t.Fatal(err)
				}
				var rows []string
				var total report.CacheTotal
				for _, r := range got.Repositories {
					rows = append(rows, fmt.Sprint([]any{r.Repository, r.StreamKind, r.Compared, r.ReusedLayers, r.TotalLayers, r.ReusedBytes, r.TotalBytes, r.Builds}))
					total.Repositories++
					total.Builds, total.Compared = total.Builds+r.Builds, total.Compared+r.Compared
					total.ReusedLayers, total.TotalLayers = total.ReusedLayers+r.ReusedLayers, total.TotalLayers+r.TotalLayers
					total.ReusedBytes, total.TotalBytes = total.ReusedBytes+r.ReusedBytes, total.TotalBytes+r.TotalBytes
				}
				slices.Sort(rows)
				if !slices.Equal(rows, want) {
					t.Errorf("%s: --repo %q --since %s: repositories\n  %v\nwant\n  %v", when, g.glob, since.Format(time.RFC3339), rows, want)
				}
				if got.Total.Repositories != total.Repositories || got.Total.Compared != total.Compared || got.Total.Builds != total.Builds ||
					got.Total.TotalBytes != total.TotalBytes || got.Total.ReusedBytes != total.ReusedBytes ||
					got.Total.TotalLayers != total.TotalLayers || got.Total.ReusedLayers != total.ReusedLayers {
					t.Errorf("%s: --repo %q --since %s: total %+v, the repositories sum to %+v", when, g.glob, since.Format(time.RFC3339), got.Total, total)
				}
				wantBusters := rowsOf(t, pool, fmt.Sprintf(kinds+`
					SELECT t.step, t.first_changed_position = 0 OR t.base_moved, count(*), count(DISTINCT t.repository_id)
					FROM k JOIN cache_transitions t ON t.repository_id = k.id AND t.stream_kind = k.kind AND t.occurred_at >= '%[1]s'
					WHERE t.step IS NOT NULL AND %[2]s
					GROUP BY 1, 2`, since.Format(time.RFC3339Nano), g.where))
				slices.Sort(wantBusters)
				var busters []string
				for _, b := range got.Busters {
					busters = append(busters, fmt.Sprint([]any{b.Step, b.BaseChanged, b.Busts, b.Repositories}))
				}
				slices.Sort(busters) // steps of equal counts come in either order
				if !slices.Equal(busters, wantBusters) {
					t.Errorf("%s: --repo %q --since %s: busters %v, want %v", when, g.glob, since.Format(time.RFC3339), busters, wantBusters)
				}
			}
		}
	}
	var windowed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM cache_transitions WHERE occurred_at >= $1`, sinces[0]).Scan(&windowed); err != nil {
		t.Fatal(err)
	}
	var days int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date) FROM cache_transitions`).Scan(&days); err != nil {
		t.Fatal(err)
	}
	if windowed < 100 || days < 25 {
		t.Fatalf("%d comparisons in the first window, over %d days: the test needs weeks of pushes", windowed, days)
	}
	// A repository no tag of which moved: its figures are its created
	// streams' (its images in the order their configs were created), its
	// builds the images built in the window.
	if _, err := pool.Exec(ctx, `WITH r AS (INSERT INTO repositories (registry, name)
			SELECT registry, 'ns00/created-only' FROM repositories WHERE name = 'ns02/app-00002' RETURNING id)
		INSERT INTO repository_manifests (repository_id, manifest_digest, first_seen, observed_at)
		SELECT r.id, rm.manifest_digest, now(), now()
		FROM r, repository_manifests rm JOIN repositories s ON s.id = rm.repository_id
		WHERE s.name = 'ns02/app-00002' AND rm.deleted_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	fold(t, pool)
	created, err := report.LoadCache(ctx, pool, report.CacheOptions{Repositories: repoglob.Compile("ns00/created-only"), Since: sinces[3], Busters: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Repositories) != 1 || created.Repositories[0].StreamKind != report.StreamCreated || created.Repositories[0].Compared < 5 ||
		created.Repositories[0].Builds != created.Repositories[0].Compared+1 {
		t.Fatalf("ns00/created-only: %+v; want its created stream, one build more than its comparisons", created.Repositories)
	}
	check("as written")

	// Pushes arriving late: a seventh of the tag moves again, under new
	// tags, three days and five hours before the first time, then folded.
	tag, err := pool.Exec(ctx, `INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source)
		SELECT repository_id, tag || '-late', 'push', manifest_digest, previous_digest, occurred_at - interval '3 days 5 hours', 'test'
		FROM tag_events WHERE action = 'push' AND previous_digest IS NOT NULL AND previous_digest <> manifest_digest AND id % 7 = 0`)
	if err != nil || tag.RowsAffected() < 20 {
		t.Fatalf("late pushes: %d, %v", tag.RowsAffected(), err)
	}
	fold(t, pool)
	var late int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM cache_transitions WHERE stream LIKE '%-late'`).Scan(&late); err != nil || late < 20 {
		t.Fatalf("%d comparisons of the late pushes (%v)", late, err)
	}
	check("after late pushes")
}

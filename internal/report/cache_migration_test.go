package report_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// cachePlatformsVersion is the migration that files builds under their
// index's platforms and counts them.
const cachePlatformsVersion = 8

// A graph whose streams mixed platforms before the migration has them
// apart after it, with the builds counted; Down restores functions that
// go on folding, and Up again gives the same figures.
func TestCacheMigrationRebuildsStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)
	if err := migrate.RunTo(ctx, url, cachePlatformsVersion-1); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := &cacheRegistry{reg: registrytest.NewDistribution(t, registrytest.DistributionOptions{}), pool: pool}
	m := newMultiPlatform(t)
	c.reg.PushIndex(t, "team-c/multi:1", m.i1)
	c.reg.PushIndex(t, "team-c/multi-tag:latest", m.i1)
	c.reg.PushImage(t, "team-c/multi-tag:latest-arm64", m.arm1)
	c.rescan(t)
	// The old streams: both children under their configs' linux/amd64.
	if got := c.transitions(t, "team-c/multi", "created"); got["linux/amd64"] != 1 {
		t.Fatalf("before the migration the created streams are %v; the test expects the mixed stream it fixes", got)
	}
	c.reg.PushIndex(t, "team-c/multi:2", m.i2)
	c.reg.PushIndex(t, "team-c/multi-tag:latest", m.i2)
	c.reg.PushImage(t, "team-c/multi-tag:latest-arm64", m.arm2)
	c.rescan(t)

	check := func(when string) {
		t.Helper()
		for _, repo := range []string{"team-c/multi", "team-c/multi-tag"} {
			if got := c.transitions(t, repo, "created"); len(got) != 1 || got["linux/arm64"] != 1 {
				t.Errorf("%s: %s created transitions per platform %v, want one under linux/arm64", when, repo, got)
			}
		}
		if got := c.transitions(t, "team-c/multi-tag", "tag"); len(got) != 2 || got["linux/arm64"] != 2 || got["linux/amd64"] != 1 {
			t.Errorf("%s: team-c/multi-tag tag transitions per platform %v, want linux/arm64 2, linux/amd64 1", when, got)
		}
		// The rollups the report reads (the report's own queries need the
		// latest schema: they run at the end).
		for _, w := range []struct {
			repo, kind      string
			builds, compare int
		}{{"team-c/multi", "created", 3, 1}, {"team-c/multi-tag", "tag", 6, 3}} {
			var builds, compared int
			if err := pool.QueryRow(ctx, `SELECT b.builds, t.pushes FROM repositories r
				JOIN cache_builds b ON b.repository_id = r.id AND b.stream_kind = $2
				JOIN cache_totals t ON t.repository_id = r.id AND t.stream_kind = $2 WHERE r.name = $1`, w.repo, w.kind).Scan(&builds, &compared); err != nil ||
				builds != w.builds || compared != w.compare {
				t.Errorf("%s: %s %d builds, %d compared (%s streams, %v); want %d, %d", when, w.repo, builds, compared, w.kind, err, w.builds, w.compare)
			}
		}
	}

	if err := migrate.RunTo(ctx, url, cachePlatformsVersion); err != nil {
		t.Fatal(err)
	}
	check("after the migration")

	// Down, a push folded by the functions as they were, Up again.
	if err := migrate.DownTo(ctx, url, cachePlatformsVersion-1); err != nil {
		t.Fatal(err)
	}
	c.reg.PushImage(t, "team-d/other:1", m.amd1)
	c.rescan(t)
	if err := migrate.RunTo(ctx, url, cachePlatformsVersion); err != nil {
		t.Fatal(err)
	}
	check("down and up again")
	var builds int
	if err := pool.QueryRow(ctx, `SELECT b.builds FROM cache_builds b JOIN repositories r ON r.id = b.repository_id
		WHERE r.name = 'team-d/other' AND b.stream_kind = 'created'`).Scan(&builds); err != nil || builds != 1 {
		t.Errorf("team-d/other holds %d created builds (%v), want 1", builds, err)
	}

	// The report, on the latest schema.
	if _, err := migrate.Run(ctx, url); err != nil {
		t.Fatal(err)
	}
	got, err := report.LoadCache(ctx, pool, report.CacheOptions{Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r := repository(t, got, "team-c/multi"); r.Builds != 3 || r.Compared != 1 || r.StreamKind != "created" {
		t.Errorf("team-c/multi %d builds, %d compared (%s); want 3, 1 (created)", r.Builds, r.Compared, r.StreamKind)
	}
	if r := repository(t, got, "team-c/multi-tag"); r.Builds != 6 || r.Compared != 3 || r.StreamKind != "tag" {
		t.Errorf("team-c/multi-tag %d builds, %d compared (%s); want 6, 3 (tag)", r.Builds, r.Compared, r.StreamKind)
	}
}

package graph_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// membershipTables are the aggregates the fold keeps from the memberships
// (layerq_apply_membership_blobs, layerq_apply_content and, for the bases,
// layerq_apply_base_membership), whole: every row and column.
var membershipTables = []string{"manifest_refs", "repository_blobs", "repository_usage", "namespace_usage",
	"namespace_blobs", "blob_usage", "registry_blobs", "registry_usage", "registry_contents",
	"repository_contents", "namespace_contents", "content_usage", "content_totals", "base_repositories"}

// A graph written with nothing folded (a first scan) is folded by counting
// the memberships once (layerq_load_membership): the membership aggregates
// come out row for row as the same history upserted change by change, and
// equal to their definitions; the folds after it go on from there.
func TestFirstFoldCountsTheMembershipsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	counted, upserted := pgtest.NewPool(t), pgtest.NewPool(t)
	// The fold before 00033, every change upserted: the graph is never
	// taken as unfolded.
	if _, err := upserted.Exec(ctx, `CREATE OR REPLACE FUNCTION layerq_membership_unfolded() RETURNS boolean LANGUAGE sql AS 'SELECT false'`); err != nil {
		t.Fatal(err)
	}
	// The first fold of counted must not upsert a membership: the
	// upserting functions refuse while it runs.
	refuse := `CREATE OR REPLACE FUNCTION %[1]s(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
		LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%[1]s called on the first fold'; END; $$`
	saved := map[string]string{}
	for _, fn := range []string{"layerq_apply_membership_blobs", "layerq_apply_content"} {
		var def string
		if err := counted.QueryRow(ctx, `SELECT pg_get_functiondef($1::regproc)`, fn).Scan(&def); err != nil {
			t.Fatal(err)
		}
		saved[fn] = def
		if _, err := counted.Exec(ctx, fmt.Sprintf(refuse, fn)); err != nil {
			t.Fatal(err)
		}
	}

	for _, pool := range []*pgxpool.Pool{counted, upserted} {
		writeHistory(t, graph.New(pool), 1, 240)
		var unfolded bool
		var queued int
		if err := pool.QueryRow(ctx, `SELECT layerq_membership_unfolded(), (SELECT count(*) FROM aggregate_queue WHERE delta IS NOT NULL)`).Scan(&unfolded, &queued); err != nil {
			t.Fatal(err)
		}
		if unfolded != (pool == counted) || queued < 100 {
			t.Fatalf("before the first fold: unfolded = %v, %d membership changes queued; want %v and the history's", unfolded, queued, pool == counted)
		}
		if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
	}
	compareTables(t, counted, upserted, ", after the first fold")
	compareAggregates(t, counted, nil, ", after the first fold")
	var live, deleted, registries, indexes int
	if err := counted.QueryRow(ctx, `SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL),
		(SELECT count(DISTINCT registry) FROM registry_usage WHERE physical_bytes > 0),
		(SELECT count(*) FROM manifests m WHERE m.kind = 'index' AND EXISTS (SELECT 1 FROM manifest_refs r WHERE r.manifest_digest = m.digest))
		FROM repository_manifests`).Scan(&live, &deleted, &registries, &indexes); err != nil {
		t.Fatal(err)
	}
	if live < 20 || deleted < 5 || registries != 2 || indexes != 1 {
		t.Fatalf("%d live memberships, %d deleted, %d registries holding blobs, %d live indexes: the history should leave each to check", live, deleted, registries, indexes)
	}

	// Later folds upsert what changed, onto what was counted.
	for fn, def := range saved {
		if _, err := counted.Exec(ctx, def); err != nil {
			t.Fatalf("restoring %s: %v", fn, err)
		}
	}
	for _, pool := range []*pgxpool.Pool{counted, upserted} {
		writeHistory(t, graph.New(pool), 2, 120)
		if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
	}
	compareTables(t, counted, upserted, ", after a second history folded")
	compareAggregates(t, counted, nil, ", after a second history folded")
}

// compareTables fails unless the membership aggregates of a and b hold the
// same rows.
func compareTables(t *testing.T, a, b *pgxpool.Pool, after string) {
	t.Helper()
	for _, table := range membershipTables {
		q := `SELECT * FROM ` + table
		ra, rb := rows(t, a, q), rows(t, b, q)
		slices.Sort(ra)
		slices.Sort(rb)
		if !slices.Equal(ra, rb) {
			t.Errorf("%s%s: counted once and upserted differ\ncounted:\n  %s\nupserted:\n  %s", table, after, strings.Join(ra, "\n  "), strings.Join(rb, "\n  "))
		} else if len(ra) == 0 && table != "registry_contents" {
			t.Errorf("%s%s: empty; the history should fill it", table, after)
		}
	}
}

// writeHistory writes steps of one writer's history, the same for a seed:
// the corpus (an index among them), then builds pushed on shared bases in
// two registries, some recompressed or with a foreign layer, deletes of
// manifests, tags and whole repositories. Nothing is folded.
func writeHistory(t *testing.T, store *graph.Store, seed uint64, steps int) {
	t.Helper()
	ctx := context.Background()
	if seed == 1 {
		if err := store.Ingest(ctx, corpus()); err != nil {
			t.Fatal(err)
		}
	}
	bases := [][]string{{"os1"}, {"os1", "py"}, {"os2"}, {"os2", "node", "npm"}}
	repos := []string{"team-a/api", "team-a/web", "team-b/api", "tools", "team-b/batch/worker"}
	registries := []string{"reg.test", "other.test"}
	rng := rand.New(rand.NewPCG(seed, 33))
	at := t0.Add(time.Duration(seed) * 24 * time.Hour)
	for s := range steps {
		at = at.Add(time.Hour)
		reg := registries[rng.IntN(len(registries))]
		repo := repos[rng.IntN(len(repos))]
		var err error
		switch op := rng.IntN(10); {
		case op < 7:
			base := bases[rng.IntN(len(bases))]
			layers := append(slices.Clone(base), fmt.Sprintf("app-%d", rng.IntN(12)))
			foreign := rng.IntN(6) == 0
			if foreign {
				layers = append(layers, fmt.Sprintf("foreign-%d", rng.IntN(3)))
			}
			m := imageOf(strings.Join(layers, "+"), layers...)
			if foreign {
				m.Layers[len(m.Layers)-1].MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
			}
			if rng.IntN(3) == 0 {
				m = imageOf(strings.Join(base, "+"), base...)
				repo = "library/" + base[len(base)-1]
			}
			switch rng.IntN(5) {
			case 0:
				m = zstdCopy(m)
			case 1:
				m = recompressed(m, "gzip -9", 9, 10, "application/vnd.oci.image.layer.v1.tar+gzip")
			}
			o := obs(repo, fmt.Sprintf("t%d", rng.IntN(3)), at, m)
			o.Registry = reg
			err = store.Ingest(ctx, []image.Observation{o})
		case op < 9:
			layers := append(slices.Clone(bases[rng.IntN(len(bases))]), fmt.Sprintf("app-%d", rng.IntN(12)))
			_, _, err = store.DeleteManifest(ctx, reg, repo, imageOf(strings.Join(layers, "+"), layers...).Digest, at, "test", fmt.Sprint(seed, s))
		case rng.IntN(4) == 0:
			_, _, err = store.DeleteRepository(ctx, reg, repo, at, "test")
		default:
			_, err = store.DeleteTags(ctx, reg, repo, []string{"t0"}, at, "test", fmt.Sprint(seed, s))
		}
		if err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
	}
}

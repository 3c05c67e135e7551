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
// (layerq_apply_membership_blobs, layerq_apply_content,
// layerq_apply_image_layers and, for the bases,
// layerq_apply_base_membership), whole: every row and column.
var membershipTables = []string{"manifest_refs", "repository_blobs", "repository_usage", "namespace_usage",
	"namespace_blobs", "blob_usage", "registry_blobs", "registry_usage", "registry_contents",
	"namespace_duplicate_blobs", "repository_contents", "namespace_contents", "content_usage", "content_totals", "base_repositories",
	"live_image_layers"}

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
	for _, fn := range []string{"layerq_apply_membership_blobs", "layerq_apply_content", "layerq_apply_image_layers"} {
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
	var live, deleted, registries, indexes, artifacts, noDiffID int
	if err := counted.QueryRow(ctx, `SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL),
		(SELECT count(DISTINCT registry) FROM registry_usage WHERE physical_bytes > 0),
		(SELECT count(*) FROM manifests m WHERE m.kind = 'index' AND EXISTS (SELECT 1 FROM manifest_refs r WHERE r.manifest_digest = m.digest AND r.repositories > 0)),
		(SELECT count(*) FROM manifests m WHERE m.kind = 'artifact' AND EXISTS (SELECT 1 FROM manifest_refs r WHERE r.manifest_digest = m.digest AND r.repositories > 0)),
		(SELECT count(*) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE b.diff_id IS NULL AND rb.image_refs > 0)
		FROM repository_manifests`).Scan(&live, &deleted, &registries, &indexes, &artifacts, &noDiffID); err != nil {
		t.Fatal(err)
	}
	if live < 20 || deleted < 5 || registries != 2 || indexes != 1 || artifacts != 1 || noDiffID == 0 {
		t.Fatalf("%d live memberships, %d deleted, %d registries holding blobs, %d live indexes, %d live artifacts, %d image blobs held without a diff_id: the history should leave each to check",
			live, deleted, registries, indexes, artifacts, noDiffID)
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
		} else if len(ra) == 0 && table != "registry_contents" && table != "namespace_duplicate_blobs" {
			t.Errorf("%s%s: empty; the history should fill it", table, after)
		}
	}
}

// writeHistory writes steps of one writer's history, the same for a seed:
// the corpus (an index among them) and blobs held oddly (writeOddBlobs) for
// seed 1, then builds pushed on shared bases in
// two registries, some recompressed or with a foreign layer, deletes of
// manifests, tags and whole repositories. Nothing is folded.
func writeHistory(t *testing.T, store *graph.Store, seed uint64, steps int) {
	t.Helper()
	ctx := context.Background()
	if seed == 1 {
		if err := store.Ingest(ctx, corpus()); err != nil {
			t.Fatal(err)
		}
		writeOddBlobs(t, store)
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

// writeOddBlobs pushes blobs held in the ways the counts must not trip
// over: a config of no bytes, a layer without a diff_id, a blob twice in one image, an
// uncompressed layer (its digest its diff_id, another image's layer
// compressed), an artifact's layers (one an image's, one with no diff_id),
// a layer in three encodings, manifests in several repositories of a
// namespace and of two registries, deleted and pushed again.
func writeOddBlobs(t *testing.T, store *graph.Store) {
	t.Helper()
	ctx := context.Background()
	a := imageOf("odd-a", "os1", "shared", "app-a")
	z := imageOf("odd-z", "os2", "zz")
	z.ConfigSize = 0
	d := imageOf("odd-d", "os1", "dup")
	d.Layers = append(d.Layers, d.Layers[1])
	d.Layers[2].ChainID = digest("chain dup2")
	n := imageOf("odd-n", "os2", "nodiff") // a layer no config names: its content is its blob
	n.Layers[1].DiffID = ""
	u := imageOf("odd-u", "os1", "unc")
	u.Layers[1].Digest = u.Layers[1].DiffID
	u2 := imageOf("odd-u2", "os1", "unc")
	art := image.Manifest{Digest: digest("artifact x"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 400,
		Kind: image.KindArtifact, ConfigDigest: digest("artifact config"), ConfigSize: 2, ArtifactType: "application/x-test",
		Layers: []image.Layer{
			{Digest: a.Layers[1].Digest, Size: a.Layers[1].Size, MediaType: "application/octet-stream", HistoryIndex: -1},
			{Digest: digest("artifact blob"), Size: 33, MediaType: "application/octet-stream", HistoryIndex: -1},
		}}
	zs := zstdCopy(a)
	gz := recompressed(a, "gzip -9", 9, 10, "application/vnd.oci.image.layer.v1.tar+gzip")
	in := func(reg, repo, tag string, at time.Time, m image.Manifest) image.Observation {
		o := obs(repo, tag, at, m)
		o.Registry = reg
		return o
	}
	if err := store.Ingest(ctx, []image.Observation{
		in("reg.test", "odd/one", "a", t0, a), in("reg.test", "odd/two", "a", t0, a), in("reg.test", "odd/two", "zs", t0, zs),
		in("reg.test", "other/x", "gz", t0, gz), in("reg.test", "solo", "z", t0, z), in("reg.test", "solo", "d", t0, d), in("reg.test", "solo", "n", t0, n), in("reg.test", "odd/one", "u", t0, u),
		in("reg.test", "odd/two", "u2", t0, u2), in("reg.test", "odd/one", "art", t0, art), in("reg.test", "arts", "art", t0, art),
		in("other.test", "odd/one", "a", t0, a), in("other.test", "odd/one", "art", t0, art), in("other.test", "odd/one", "zs", t0, zs),
	}); err != nil {
		t.Fatal(err)
	}
	for _, del := range []struct{ reg, repo, digest string }{{"reg.test", "odd/two", a.Digest}, {"reg.test", "arts", art.Digest}, {"other.test", "odd/one", zs.Digest}} {
		if _, _, err := store.DeleteManifest(ctx, del.reg, del.repo, del.digest, t0.Add(time.Minute), "test", "odd "+del.repo); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Ingest(ctx, []image.Observation{in("reg.test", "odd/two", "a", t0.Add(2*time.Minute), a)}); err != nil {
		t.Fatal(err)
	}
}

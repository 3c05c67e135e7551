package graph_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/migrate"
)

// namespaceBacklogVersion is the migration that keeps the layers each
// namespace waits for (namespace_backlog).
const namespaceBacklogVersion = 22

// The live layers with no file index each namespace holds: moved by the
// fold as layers are pushed, shared across namespaces, indexed, refused
// and deleted, and built by their migration from a graph folded before it
// (with the per-namespace content sums of the migration after it, which
// checkAggregates checks too).
func TestNamespaceBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := migratedTo(t, 0)
	store := graph.New(pool)
	at := t0
	push := func(repo string, layers ...string) image.Manifest {
		t.Helper()
		at = at.Add(time.Minute)
		m := imageOf(repo, layers...)
		if err := store.Ingest(ctx, []image.Observation{obs(repo, "1", at, m)}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	fold := func() {
		t.Helper()
		if _, err := store.ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(when string, want ...string) {
		t.Helper()
		got := rows(t, pool, `SELECT registry, namespace, unindexed FROM namespace_backlog WHERE unindexed <> 0`)
		if slices.Sort(want); !slices.Equal(got, want) {
			t.Errorf("%s: layers not indexed per namespace\n  %s\nwant\n  %s", when, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}

	push("library/os", "os1")
	api := push("team-a/api", "os1", "api-1")
	web := push("team-a/web", "os1", "web-1", "shared")
	push("team-b/job", "os1", "job-1", "shared")
	fold()
	expect("pushed", "[reg.test library 1]", "[reg.test team-a 4]", "[reg.test team-b 3]")

	// api-1 and the layer two namespaces share indexed, job-1 refused
	// (it counts until indexed, as over the registry).
	for _, l := range []string{"api-1", "shared"} {
		idx := &fileindex.Index{Compression: "gzip", Entries: []fileindex.Entry{{Path: "etc/" + l, Type: fileindex.File, Size: 3}}}
		if _, err := store.SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: digest("blob " + l), CompressedSize: 100, Index: idx}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.RejectLayer(ctx, graph.LayerRejection{BlobDigest: digest("blob job-1"), Registry: "reg.test", Repository: "team-b/job",
		Class: "test", Reason: "refused by the test"}); err != nil {
		t.Fatal(err)
	}
	fold()
	expect("indexed and refused", "[reg.test library 1]", "[reg.test team-a 2]", "[reg.test team-b 2]")

	// web-1 leaves team-a with its only image; os1 stays (api holds it).
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "team-a/web", web.Digest, at.Add(time.Minute), "test", "d1"); err != nil {
		t.Fatal(err)
	}
	push("team-c/new", "new-1")
	// The same image in a second repository of its namespace.
	if err := store.Ingest(ctx, []image.Observation{obs("team-a/copy", "1", at.Add(time.Minute), api)}); err != nil {
		t.Fatal(err)
	}
	fold()
	var shared int
	if err := pool.QueryRow(ctx, `SELECT shared_manifests FROM namespace_usage WHERE registry = 'reg.test' AND namespace = 'team-a'`).Scan(&shared); err != nil || shared != 1 {
		t.Errorf("team-a has %d manifests in two of its repositories (%v), want 1", shared, err)
	}
	want := []string{"[reg.test library 1]", "[reg.test team-a 1]", "[reg.test team-b 2]", "[reg.test team-c 1]"}
	expect("deleted", want...)
	checkAggregates(t, pool)

	// Down and up again: the migration counts the graph as the fold left it.
	if err := migrate.DownTo(ctx, url, namespaceBacklogVersion-1); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('namespace_backlog') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("namespace_backlog still there after migrating down (%v)", err)
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	expect("migrated down and up", want...)
	checkAggregates(t, pool)
}

// Migrations that run in one go leave the fold a stub until the last has
// run, so changes committed meanwhile wait in the queue: what a migration
// counts must be the graph as the fold left it, or the fold counts those
// changes twice. A manifest in two repositories of a namespace, deleted
// from one while the migrations run, and a push.
func TestNamespaceSharingMigrationWithQueuedChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := migratedTo(t, 0)
	store := graph.New(pool)
	m := imageOf("shared", "os1", "app")
	for _, repo := range []string{"team-a/api", "team-a/web"} {
		if err := store.Ingest(ctx, []image.Observation{obs(repo, "1", t0, m)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	if err := migrate.DownTo(ctx, url, namespaceBacklogVersion-1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "team-a/web", m.Digest, t0.Add(time.Minute), "test", "d1"); err != nil {
		t.Fatal(err)
	}
	// And a push, which every per-namespace count takes in.
	if err := store.Ingest(ctx, []image.Observation{obs("team-a/job", "1", t0.Add(2*time.Minute), imageOf("job", "os1", "job"))}); err != nil {
		t.Fatal(err)
	}
	var queued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM aggregate_queue WHERE delta IS NOT NULL`).Scan(&queued); err != nil || queued == 0 {
		t.Fatalf("%d membership changes queued (%v), want the delete", queued, err)
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
}

package graph_test

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/migrate"
	sqlfiles "github.com/layerq/layerq/sql"
)

// stampedBuilds are a repository's builds under tags that never move (a
// created stream), pushed a day apart: one dated by its builder, then
// three stamped with the fixed dates reproducible builders give
// (Buildpacks' 1980-01-01T00:00:01Z, Bazel's and ko's epoch), each pushed
// at its time.
func stampedBuilds() (images []image.Manifest, pushed []time.Time) {
	buildpacks := time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)
	epoch := time.Unix(0, 0).UTC()
	stamps := []time.Time{t0.Add(-time.Hour), buildpacks, epoch, buildpacks}
	for i, stamp := range stamps {
		m := imageOf(fmt.Sprintf("stamped-%d", i), "os1", fmt.Sprintf("app-stamped-%d", i))
		m.Created = &stamp
		images = append(images, m)
		pushed = append(pushed, t0.Add(time.Duration(i)*24*time.Hour))
	}
	return images, pushed
}

func pushStamped(t *testing.T, pool *pgxpool.Pool) []image.Manifest {
	t.Helper()
	store := graph.New(pool)
	ctx := context.Background()
	images, pushed := stampedBuilds()
	for i, m := range images {
		if err := store.Ingest(ctx, []image.Observation{obs("team/stamped", fmt.Sprintf("sha-%d", i), pushed[i], m)}); err != nil {
			t.Fatal(err)
		}
		// The graph takes the time it first held a manifest from its own
		// clock: here, the push's.
		if _, err := pool.Exec(ctx, `UPDATE repository_manifests SET first_seen = $1 WHERE manifest_digest = $2`, pushed[i], m.Digest); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	return images
}

// createdComparisons are the repository's created stream as "from → to at
// time", in the order of the earlier build's place in images.
func createdComparisons(t *testing.T, pool *pgxpool.Pool, images []image.Manifest) []string {
	t.Helper()
	name := map[string]string{}
	for i, m := range images {
		name[m.Digest] = fmt.Sprint(i)
	}
	var out []string
	for _, r := range rows(t, pool, `SELECT t.from_digest || ' ' || t.to_digest || ' ' || to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
		FROM cache_transitions t JOIN repositories r ON r.id = t.repository_id
		WHERE r.name = 'team/stamped' AND t.stream_kind = 'created'`) {
		f := strings.Fields(strings.Trim(r, "[]"))
		out = append(out, name[f[0]]+" → "+name[f[1]]+" at "+f[2]+" "+f[3])
	}
	slices.Sort(out) // rows sorts its rows: by the earlier build's place here
	return out
}

// wantStamped: each build compared with the one pushed before it, at its
// push, the stamped ones too.
func wantStamped() []string {
	_, pushed := stampedBuilds()
	var want []string
	for i := 1; i < len(pushed); i++ {
		want = append(want, fmt.Sprintf("%d → %d at %s", i-1, i, pushed[i].Format("2006-01-02 15:04")))
	}
	return want
}

// A build stamped with a reproducible builder's fixed date (before Docker
// existed) is ordered and dated in its created stream by when the registry
// was first seen holding it: the stream is the push order, its comparisons
// fall in the windows of their pushes, and its repository's window sums
// span the days of those pushes, not every day since 1970.
func TestBuildsStampedBeforeDockerAreDatedWhenSeen(t *testing.T) {
	t.Parallel()
	_, pool := migratedTo(t, 0)
	images := pushStamped(t, pool)
	if got, want := createdComparisons(t, pool, images), wantStamped(); !slices.Equal(got, want) {
		t.Errorf("created stream:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if got := rows(t, pool, `SELECT count(*), min(day)::text, max(day)::text FROM cache_window_days d
		JOIN repositories r ON r.id = d.repository_id WHERE r.name = 'team/stamped'`); !slices.Equal(got, []string{"[3 2025-03-02 2025-03-04]"}) {
		t.Errorf("window sums (rows, first day, last day) = %v; want a row for each of the three days with a comparison", got)
	}
	compareAggregates(t, pool, nil, "")
}

// Migration 00034 dates the comparisons a graph already holds as a fold
// after it would, and puts their stream in push order; the rollups follow
// and the builds counted stay.
func TestBuiltAtMigrationDatesStampedBuildsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := migratedTo(t, 33)
	// The fold as a binary of schema 33 ran it: its function files (the
	// dates came from the view 00034 replaces). Today's files also use
	// tables and a queue column later migrations add (00037, 00039,
	// 00040, 00041): empty stand-ins for them here, dropped before those
	// migrations run.
	if _, err := pool.Exec(ctx, `CREATE TABLE namespace_duplicate_blobs (registry text, namespace text, content text,
		encodings integer, stored_bytes bigint, extra_bytes bigint, PRIMARY KEY (registry, namespace, content));
		ALTER TABLE aggregate_queue ADD COLUMN relabeled boolean NOT NULL DEFAULT false;
		CREATE TABLE live_image_layers (layer uuid, repository_id bigint, image uuid, position integer,
		PRIMARY KEY (layer, repository_id, image, position));
		CREATE TABLE repository_waste (repository_id bigint, manifest_digest text, wasted_bytes bigint, PRIMARY KEY (repository_id, manifest_digest))`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(sqlfiles.Functions, "functions/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(sqlfiles.Functions, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	images := pushStamped(t, pool)
	before := createdComparisons(t, pool, images)
	if slices.Equal(before, wantStamped()) || !strings.Contains(strings.Join(before, " "), "1980-01-01") {
		t.Fatalf("before 00034 the stream was %v; want the stamped builds dated 1980 (the test checks the migration changes that)", before)
	}
	builds := rows(t, pool, `SELECT repository_id, stream_kind, builds FROM cache_builds ORDER BY 1, 2`)
	if err := migrate.RunTo(ctx, url, 34); err != nil {
		t.Fatal(err)
	}
	if got, want := createdComparisons(t, pool, images), wantStamped(); !slices.Equal(got, want) {
		t.Errorf("created stream after 00034:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if got := rows(t, pool, `SELECT repository_id, stream_kind, builds FROM cache_builds ORDER BY 1, 2`); !slices.Equal(got, builds) {
		t.Errorf("builds counted after 00034: %v; before: %v", got, builds)
	}
	// The binary of schema 33 folds what it queued and stops; the later
	// migrations find its fold stubbed, as each of them leaves it, and
	// the stand-ins gone.
	if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DROP TABLE namespace_duplicate_blobs, live_image_layers, repository_waste; ALTER TABLE aggregate_queue DROP COLUMN relabeled;
		CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END; $$`); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, url); err != nil { // the function files, as a real migrate applies them
		t.Fatal(err)
	}
	compareAggregates(t, pool, nil, ", after 00034")
}

package migrate_test

import (
	"context"
	"io/fs"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	sqlfiles "github.com/layerq/layerq/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestUpFromEmptyTwice(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	ctx := context.Background()
	pending, err := migrate.Pending(ctx, url)
	if err != nil || !pending {
		t.Fatalf("Pending on an empty database = %v, %v; want true", pending, err)
	}
	files, err := fs.Glob(sqlfiles.Migrations, "migrations/*.sql")
	if err != nil || len(files) < 7 {
		t.Fatalf("migration files %v, %v", files, err)
	}
	n := int64(len(files)) // numbered 1 to n, one file each
	res, err := migrate.Run(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(res.Applied)) != n || res.Applied[0] != 1 || res.Applied[n-1] != n || res.Version != n {
		t.Fatalf("first run = %+v; want versions 1 to %d applied", res, n)
	}
	res, err = migrate.Run(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Version != n {
		t.Fatalf("second run = %+v; want nothing applied", res)
	}
	if pending, err := migrate.Pending(ctx, url); err != nil || pending {
		t.Fatalf("Pending after Up = %v, %v", pending, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
		AND table_name IN ('repositories','manifests','repository_manifests','tags','tag_events','index_children',
		'blobs','manifest_layers','config_history','ingest_failures','scans','scan_repositories',
		'layer_indexes','layer_files','layer_file_types','layer_rejections','live_layers',
		'manifest_refs','repository_blobs','namespace_blobs','registry_blobs','blob_usage','repository_usage',
		'namespace_usage','registry_usage','image_bases','image_tops',
		'base_repositories','cache_transitions','quarantine','registry_aliases','repository_contents','content_usage')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 33 {
		t.Fatalf("%d of 33 graph tables exist", tables)
	}
}

// Several processes migrating at once (replicas starting together) apply
// each migration once.
func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	var wg sync.WaitGroup
	applied := make(chan int, 4)
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := migrate.Run(context.Background(), url)
			if err != nil {
				errs <- err
				return
			}
			applied <- len(res.Applied)
		}()
	}
	wg.Wait()
	close(applied)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for n := range applied {
		total += n
	}
	files, err := fs.Glob(sqlfiles.Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if total != len(files) {
		t.Fatalf("migrations applied in all = %d, want %d (each migration file once)", total, len(files))
	}
}

// PendingOn (one query on the command's own connection) says what goose's
// Pending says: on an empty database, one migration short of this binary,
// and migrated.
func TestPendingOnAgreesWithGoose(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	files, err := fs.Glob(sqlfiles.Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, want bool) {
		t.Helper()
		goose, err := migrate.Pending(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := migrate.PendingOn(ctx, conn)
		if err != nil || got != want || goose != want {
			t.Fatalf("%s: PendingOn = %v, %v; goose's Pending = %v; want %v", when, got, err, goose, want)
		}
	}
	check("empty", true)
	if err := migrate.RunTo(ctx, url, int64(len(files)-1)); err != nil {
		t.Fatal(err)
	}
	check("one migration short", true)
	if _, err := migrate.Run(ctx, url); err != nil {
		t.Fatal(err)
	}
	check("migrated", false)

	// CurrentOn: what Up's fast path takes as current, and only that.
	current := func(when string, want bool) {
		t.Helper()
		if got, err := migrate.CurrentOn(ctx, conn); err != nil || got != want {
			t.Fatalf("%s: CurrentOn = %v, %v; want %v", when, got, err, want)
		}
	}
	current("migrated", true)
	if _, err := conn.Exec(ctx, `COMMENT ON FUNCTION layerq_apply_pending() IS 'layerq functions sha256:other'`); err != nil {
		t.Fatal(err)
	}
	current("functions from other files", false)
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	current("after Up", true)
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	sqlfiles "github.com/layerq/layerq/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The tests here run the command line one at a time: urfave/cli shares its
// help flag between apps, and parsing it is not safe in parallel.

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = clierr.Run(context.Background(), newApp(&out, &errOut), append([]string{"layerq-ingest"}, args...))
	return out.String(), errOut.String(), err
}

func TestMigrateIsIdempotent(t *testing.T) {
	url := pgtest.NewEmptyDatabase(t)
	files, err := fs.Glob(sqlfiles.Migrations, "migrations/*.sql")
	if err != nil || len(files) < 7 {
		t.Fatalf("migration files %v, %v", files, err)
	}
	n := len(files) // numbered 1 to n
	out, _, err := runCLI(t, "--database-url", url, "migrate")
	if err != nil || out != fmt.Sprintf("applied %d migrations; schema at version %d\n", n, n) {
		t.Fatalf("first migrate: %q, %v", out, err)
	}
	out, _, err = runCLI(t, "--database-url", url, "migrate")
	if err != nil || out != fmt.Sprintf("schema up to date at version %d\n", n) {
		t.Fatalf("second migrate: %q, %v", out, err)
	}
}

func TestScanCommand(t *testing.T) {
	url := pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: []sample.File{{Path: "x", Content: []byte("x")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app:1", img)
	reg.PushImage(t, "team/app:2", img)
	out, stderr, err := runCLI(t, "--database-url", url, "scan", "--registry", reg.Host, "--jobs", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "scanned "+reg.Host+": 1 repository, 2 tags, 1 manifest, 1 layer, 0 unchanged, 0 tags deleted, 0 errors in ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("summary = %q", out)
	}
	// Not a terminal: plain log lines.
	if stderr != "scanning 1 repository\nrepository team/app: 2 tags, 2 walked, 0 unchanged, 0 tags deleted, 0 errors\n" {
		t.Fatalf("progress = %q", stderr)
	}
	// A --repo that matches nothing (team without /**) says so.
	out, stderr, err = runCLI(t, "--database-url", url, "scan", "--registry", reg.Host, "--repo", "team")
	if err != nil || !strings.HasPrefix(out, "scanned "+reg.Host+": 0 repositories,") ||
		!strings.HasSuffix(stderr, "layerq-ingest: --repo \"team\" matches no repository of "+reg.Host+"'s catalog (* matches within a path segment, ** across)\n") {
		t.Fatalf("scan --repo team = %q / %q, %v", out, stderr, err)
	}
	ls, _ := img.Layers()
	size, _ := ls[0].Size()
	out, stderr, err = runCLI(t, "--database-url", url, "scan", "--registry", reg.Host, "--layers-only")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("layers: 1 indexed (%d bytes read), 0 already indexed, 0 rejected, 0 failed (see ingest_failures)\n", size); out != want || stderr != fmt.Sprintf("indexing 1 layer (%d bytes)\n"+
		// team/app:1 and :2 are one image.
		"working out the waste of the images whose layers are all indexed\nwaste of 1 image worked out\n"+
		"working out the near-duplicate keys of 1 layer\n", size) {
		t.Fatalf("scan --layers-only = %q / %q, want %q", out, stderr, want)
	}
	out, _, err = runCLI(t, "--database-url", url, "scan", "--registry", reg.Host, "--layers")
	if err != nil || !strings.HasSuffix(out, "\nlayers: 0 indexed (0 bytes read), 0 already indexed, 0 rejected, 0 failed (see ingest_failures)\n") {
		t.Fatalf("scan --layers again = %q, %v", out, err)
	}

	// The caps are the user's: a layer over them is rejected, with a reason.
	url2 := pgtest.NewDatabase(t)
	out, stderr, err = runCLI(t, "--database-url", url2, "scan", "--registry", reg.Host, "--layers", "--layer-max-bytes", "1000")
	if err != nil || !strings.HasSuffix(out, "\nlayers: 0 indexed (0 bytes read), 0 already indexed, 1 rejected, 0 failed (see ingest_failures)\n") ||
		!strings.Contains(stderr, "rejected: layer "+mustDigest(t, ls[0])+" of team/app (see layer_rejections)\n") {
		t.Fatalf("scan --layers --layer-max-bytes 1000 = %q / %q, %v", out, stderr, err)
	}
}

func mustDigest(t *testing.T, l interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestScanRefusesOldSchema(t *testing.T) {
	url := pgtest.NewEmptyDatabase(t)
	_, _, err := runCLI(t, "--database-url", url, "scan", "--registry", "localhost:1")
	if err == nil || err.Error() != "the database schema is older than this layerq; run `layerq-ingest migrate`" {
		t.Fatalf("err = %v", err)
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "scan needs --registry HOST[:PORT] (or LAYERQ_REGISTRY), e.g. --registry registry.example.com"},
		{[]string{"scan", "--registry", "r", "--jobs", "0"}, "--jobs and --batch-size must be at least 1"},
		{[]string{"scan", "--jobs", "many"}, `--jobs "many": give a whole number (see layerq-ingest scan --help)`},
		{[]string{"scan", "--nope"}, "flag provided but not defined: -nope (see layerq-ingest scan --help)"},
		{[]string{"scan", "--registry", "r", "--layer-max-entries", "0"}, "--layer-max-bytes and --layer-max-entries must be at least 1"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (see layerq-ingest --help)`},
		{[]string{"scan", "--registry", "http://127.0.0.1:5000"}, `--registry "http://127.0.0.1:5000": give the registry as HOST[:PORT], without scheme or path (127.0.0.1:5000; for plain HTTP, set insecure)`},
		{[]string{"scan", "--registry", "127.0.0.1:5000/"}, `--registry "127.0.0.1:5000/": give the registry as HOST[:PORT], without scheme or path (127.0.0.1:5000; for plain HTTP, set insecure)`},
		{[]string{"scan", "--registry", "r", "team-a/**"}, `scan takes no arguments (got ["team-a/**"]): the registry is --registry, the repositories --repo`},
		{[]string{"migrate", "now"}, `migrate takes no arguments (got ["now"])`},
		{[]string{"--database-url", "postgres://nobody@127.0.0.1:1/x", "migrate"}, "cannot use postgres://nobody@127.0.0.1:1/x: connection refused (check --database-url or DATABASE_URL)"},
	}
	for _, c := range cases {
		out, stderr, err := runCLI(t, c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
		if out != "" || stderr != "" {
			t.Errorf("%v printed %q / %q; want nothing but the error", c.args, out, stderr)
		}
	}
}

// A scan that leaves a large fold says so before it folds, with the
// number of changes queued (counted here by a trigger of the test's own).
func TestScanSaysLargeFold(t *testing.T) {
	defer func(n int64) { foldSays = n }(foldSays)
	foldSays = 1 // the test's registry is small
	url := pgtest.NewDatabase(t)
	if out, _, err := runCLI(t, "--database-url", url, "migrate"); err != nil {
		t.Fatal(out, err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE queued_seen (n bigint NOT NULL);
		INSERT INTO queued_seen VALUES (0);
		CREATE FUNCTION count_queued() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN UPDATE queued_seen SET n = n + 1; RETURN NULL; END $$;
		CREATE TRIGGER count_queued AFTER INSERT ON aggregate_queue FOR EACH ROW EXECUTE FUNCTION count_queued();`); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t)
	for i, tag := range []string{"1", "2", "3"} {
		img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: []sample.File{{Path: "x", Content: []byte{byte(i)}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		reg.PushImage(t, "team/app:"+tag, img)
	}
	_, stderr, err := runCLI(t, "--database-url", url, "scan", "--registry", reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	var seen, left int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT n FROM queued_seen), (SELECT count(*) FROM aggregate_queue)`).Scan(&seen, &left); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("folding %d queued changes into the aggregates (the reports wait for it)\n", seen); seen == 0 || left != 0 || !strings.HasSuffix(stderr, want) {
		t.Errorf("stderr %q; want it to end %q (%d left queued)", stderr, want, left)
	}
	// Under the threshold, nothing more is said.
	foldSays = seen + 1_000_000
	reg.PushImage(t, "team/app:4", mustImage(t, 9))
	if _, stderr, err := runCLI(t, "--database-url", url, "scan", "--registry", reg.Host); err != nil || strings.Contains(stderr, "folding") {
		t.Errorf("a small fold: %q, %v", stderr, err)
	}
}

func mustImage(t *testing.T, b byte) v1.Image {
	t.Helper()
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: []sample.File{{Path: "x", Content: []byte{b}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

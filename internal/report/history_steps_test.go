package report_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
	sqlfiles "github.com/layerq/layerq/sql"
)

// layerSteps are the steps the graph gives each layer, and each manifest's
// history_mismatch, as one comparable text.
func layerSteps(t *testing.T, db report.DB) string {
	t.Helper()
	rows, err := db.Query(context.Background(), `
		SELECT ml.manifest_digest, ml.position, coalesce(ml.history_index, -1), coalesce(ml.created_by, ''),
			coalesce(ml.created::text, ''), coalesce(ml.comment, ''), coalesce(m.history_mismatch, '')
		FROM manifest_layers ml JOIN manifests m ON m.digest = ml.manifest_digest
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var digest, createdBy, created, comment, mismatch string
	var pos, idx int
	if _, err := pgx.ForEachRow(rows, []any{&digest, &pos, &idx, &createdBy, &created, &comment, &mismatch}, func() error {
		fmt.Fprintf(&b, "%s #%d: entry %d %q %s %q; %q\n", digest, pos, idx, createdBy, created, comment, mismatch)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Migration 00009 gives the layers of a graph ingested before the walker
// re-attributed steps what the walker gives them now; histories that map
// right stay as they are.
func TestHistoryStepsMigration(t *testing.T) {
	t.Parallel()
	c := setupDebian(t)
	ctx := context.Background()
	// More histories, each taking another way through the rules: the
	// nearest entry above, an entry two layers contend for, BuildKit's
	// spelling, and layers that stay (an empty one, WORKDIR's directory).
	files := func(p string) []sample.File { return []sample.File{file(p, 3000)} }
	more := map[string][]sample.Step{
		"above": {
			{CreatedBy: "LABEL a=b", Files: files("a")},
			{CreatedBy: "RUN /bin/sh -c make # buildkit", Empty: true},
		},
		"contended": {
			{CreatedBy: "CMD a", Files: files("a")},
			{CreatedBy: "|1 V=2 /bin/sh -c make", Empty: true},
			{CreatedBy: "CMD b", Files: files("b")},
		},
		"buildkit-spelling": {
			{CreatedBy: "COPY /out/app /app # buildkit", Empty: true},
			{CreatedBy: "ENV MODE=prod", Empty: true},
			{CreatedBy: `ENTRYPOINT ["/app"]`, Files: files("app")},
		},
		"stays": {
			{CreatedBy: "ADD rootfs.tar / # buildkit", Files: files("etc/os-release")},
			{CreatedBy: "RUN /bin/sh -c true # buildkit", Empty: true},
			{CreatedBy: "WORKDIR /srv/app", Files: []sample.File{dir("srv"), dir("srv/app")}},
			{CreatedBy: "RUN /bin/sh -c true # buildkit", Empty: true},
			{CreatedBy: "LABEL version=1"},
		},
	}
	reg := registrytest.New(t)
	for name, steps := range more {
		reg.PushImage(t, "steps/"+name+":1", mustBuild(t, sample.Spec{Steps: steps}))
	}
	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scan.Run(ctx, graph.New(c.pool), w, scan.Options{Registry: reg.Host, Name: "other.test", Repositories: repoglob.Compile("**")}); err != nil {
		t.Fatal(err)
	}
	var moved int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM manifests WHERE history_mismatch LIKE '%which makes no layer%'`).Scan(&moved); err != nil || moved != 4+3 {
		t.Fatalf("%d manifests with steps re-attributed (%v); want debian, api and its two copies, and above, contended, buildkit-spelling", moved, err)
	}

	// What the walker stored, checked by hand for the base and the
	// classic image.
	var debianBy string
	var debianIdx int
	var debianMis *string
	dd, _ := c.debian.Digest()
	if err := c.pool.QueryRow(ctx, `SELECT ml.history_index, ml.created_by, m.history_mismatch FROM manifest_layers ml
		JOIN manifests m ON m.digest = ml.manifest_digest WHERE ml.manifest_digest = $1 AND ml.position = 0`, dd.String()).
		Scan(&debianIdx, &debianBy, &debianMis); err != nil {
		t.Fatal(err)
	}
	if debianIdx != 0 || debianBy != debianADD || debianMis == nil || *debianMis != debianMismatch {
		t.Fatalf("ingested debian layer 0: entry %d %q; mismatch %v", debianIdx, debianBy, debianMis)
	}
	var classic string
	cd, _ := c.classic.Digest()
	if err := c.pool.QueryRow(ctx, `SELECT string_agg(ml.history_index::text || ' ' || ml.created_by, ' | ' ORDER BY ml.position)
		|| coalesce(' ! ' || m.history_mismatch, '') FROM manifest_layers ml JOIN manifests m ON m.digest = ml.manifest_digest
		WHERE ml.manifest_digest = $1 GROUP BY m.history_mismatch`, cd.String()).Scan(&classic); err != nil {
		t.Fatal(err)
	}
	if want := "0 " + classicSteps[0].CreatedBy + " | 2 " + classicSteps[2].CreatedBy; classic != want {
		t.Fatalf("classic layers %q, want %q", classic, want)
	}
	want := layerSteps(t, c.pool)

	// The graph as an older layerq stored it: each layer the entry the
	// spec's mapping gives (the non-empty entries in order), no mismatch.
	if _, err := c.pool.Exec(ctx, `
		WITH spec AS (
			SELECT m.digest, e.position, e.created_by, e.created, e.comment,
				(row_number() OVER (PARTITION BY m.digest ORDER BY e.position) - 1)::integer AS layer
			FROM manifests m JOIN config_history e ON e.config_digest = m.config_digest
			WHERE NOT e.empty_layer
		)
		UPDATE manifest_layers ml SET history_index = s.position, created_by = s.created_by, created = s.created, comment = s.comment
		FROM spec s WHERE s.digest = ml.manifest_digest AND s.layer = ml.position`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.pool.Exec(ctx, `UPDATE manifests SET history_mismatch = NULL`); err != nil {
		t.Fatal(err)
	}
	if err := c.pool.QueryRow(ctx, `SELECT created_by FROM manifest_layers WHERE manifest_digest = $1 AND position = 0`, dd.String()).Scan(&debianBy); err != nil || debianBy != debianCMD {
		t.Fatalf("reset debian layer 0: %q, %v; want the CMD", debianBy, err)
	}

	up := migrationUp(t, "00009_history_steps.sql")
	if err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, up)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := layerSteps(t, c.pool); got != want {
		t.Errorf("after the migration:\n%s\nwant (as ingested):\n%s", got, want)
	}
}

// migrationUp is the Up part of an embedded migration.
func migrationUp(t *testing.T, name string) string {
	t.Helper()
	b, err := sqlfiles.Migrations.ReadFile("migrations/" + name)
	if err != nil {
		t.Fatal(err)
	}
	_, up, ok := strings.Cut(string(b), "-- +goose Up")
	if !ok {
		t.Fatalf("%s has no Up", name)
	}
	up, _, _ = strings.Cut(up, "-- +goose Down")
	return up
}

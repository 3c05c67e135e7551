package database_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/database"
)

// The local default: a persistent cluster under the data dir, started on
// first use, found running on the next, migrated, and stopped on demand.
func TestLocalDefault(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "layerq-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	// Run as root, the server runs as an unprivileged user, who must be able
	// to reach the directory.
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var notices bytes.Buffer
	pool, err := database.Open(ctx, database.Options{DataDir: dataDir, Notices: &notices})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.StopLocal(context.Background(), dataDir) })
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'manifest_layers'`).Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("migrated? %d, %v", tables, err)
	}
	pool.Close()
	want := "layerq: no database URL given; using the local Postgres in " + dataDir + "/postgres (started; stop it with `layerq-ingest local stop`)\n"
	if notices.String() != want {
		t.Fatalf("notice = %q, want %q", notices.String(), want)
	}
	notices.Reset()
	pool, err = database.Open(ctx, database.Options{DataDir: dataDir, Notices: &notices})
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	if !strings.Contains(notices.String(), "(running;") {
		t.Fatalf("second notice = %q", notices.String())
	}
	if err := database.StopLocal(ctx, dataDir); err != nil {
		t.Fatal(err)
	}
	if err := database.StopLocal(ctx, dataDir); err == nil || !strings.Contains(err.Error(), "no local Postgres runs in") {
		t.Fatalf("second stop: %v", err)
	}
}

func TestUnreachableIsOneLine(t *testing.T) {
	_, err := database.Open(context.Background(), database.Options{URL: "postgres://u:secret@127.0.0.1:1/db"})
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if got := err.Error(); got != "cannot use postgres://u:xxxxx@127.0.0.1:1/db: connection refused (check --database-url or DATABASE_URL)" {
		t.Fatalf("err = %q", got)
	}
}

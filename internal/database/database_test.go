package database_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/database"
)

// The local default: a persistent cluster under the data dir, started on
// first use, found running on the next, migrated, and stopped on demand.
func TestLocalDefault(t *testing.T) {
	// A data dir yet to be made, in a directory as a machine has them
	// (0755; os.MkdirTemp makes it 0700).
	parent, err := os.MkdirTemp("", "layerq-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(parent, "layerq")
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
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && fi.Mode().Perm() != 0o711 {
		t.Fatalf("data dir made as root has mode %v, want 0711", fi.Mode().Perm())
	}
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
	// The database gone from the running server (dropped by hand, or a
	// start cut short before it was made): made and migrated again.
	admin, err := pgx.Connect(ctx, strings.Replace(localURL(t, ctx, dataDir), "/layerq?", "/postgres?", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE layerq"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	pool, err = database.Open(ctx, database.Options{DataDir: dataDir})
	if err != nil {
		t.Fatalf("open after the database was dropped: %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'manifest_layers'`).Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("migrated again? %d, %v", tables, err)
	}
	pool.Close()
	if err := database.StopLocal(ctx, dataDir); err != nil {
		t.Fatal(err)
	}
	if err := database.StopLocal(ctx, dataDir); err == nil || !strings.Contains(err.Error(), "no local Postgres runs in") {
		t.Fatalf("second stop: %v", err)
	}
}

// localURL is the URL of the layerq database of the local cluster under
// dataDir, as the migrate command takes it.
func localURL(t *testing.T, ctx context.Context, dataDir string) string {
	t.Helper()
	url, err := database.Local(ctx, dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return url
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

// EnsureDataDir makes the data dir and its missing parents with the data
// dir mode whatever the umask, leaves a directory it did not make alone, and
// repairs one only an older layerq could have made (0700, root's, holding
// only nats/ or demo/).
func TestEnsureDataDir(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	root := os.Geteuid() == 0
	mode := os.FileMode(0o700)
	if root {
		mode = 0o711
	}
	modeOf := func(t *testing.T, p string) os.FileMode {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	mkdirs := func(t *testing.T, dir string, perm os.FileMode, entries ...string) {
		t.Helper()
		for _, p := range append([]string{dir}, entries...) {
			if p != dir {
				p = filepath.Join(dir, p)
			}
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, perm); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("fresh", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "a", "b")
		for range 2 {
			if err := database.EnsureDataDir(dir); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{filepath.Join(base, "a"), dir} {
				if got := modeOf(t, p); got != mode {
					t.Errorf("%s: mode %v, want %v", p, got, mode)
				}
			}
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := database.EnsureDataDir(f); err == nil || !strings.Contains(err.Error(), "is not a directory") {
			t.Fatalf("err = %v", err)
		}
	})

	repaired := os.FileMode(0o700)
	if root {
		repaired = 0o711
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  os.FileMode
	}{
		{"made by an older serve", func(t *testing.T, dir string) { mkdirs(t, dir, 0o700, "nats") }, repaired},
		{"made by an older demo", func(t *testing.T, dir string) { mkdirs(t, dir, 0o700, "demo", "nats") }, repaired},
		{"the user's own, private", func(t *testing.T, dir string) { mkdirs(t, dir, 0o700, "nats", "mine") }, 0o700},
		{"the user's own, empty", func(t *testing.T, dir string) { mkdirs(t, dir, 0o700) }, 0o700},
		{"the user's own, open", func(t *testing.T, dir string) { mkdirs(t, dir, 0o750, "nats") }, 0o750},
		{"another user's", func(t *testing.T, dir string) {
			mkdirs(t, dir, 0o700, "nats")
			if root {
				if err := os.Chown(dir, 54321, 54321); err != nil {
					t.Fatal(err)
				}
			}
		}, 0o700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layerq")
			tc.setup(t, dir)
			if err := database.EnsureDataDir(dir); err != nil {
				t.Fatal(err)
			}
			if got := modeOf(t, dir); got != tc.want {
				t.Errorf("mode %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("symlink to an older one", func(t *testing.T) {
		base := t.TempDir()
		real := filepath.Join(base, "real")
		mkdirs(t, real, 0o700, "nats")
		link := filepath.Join(base, "layerq")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		if err := database.EnsureDataDir(link); err != nil {
			t.Fatal(err)
		}
		if got := modeOf(t, real); got != 0o700 {
			t.Errorf("mode %v, want 0700 (not repaired through a symlink)", got)
		}
	})
}

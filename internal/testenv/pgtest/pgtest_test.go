package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/pglaunch"
)

func TestMain(m *testing.M) { Main(m) }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// databaseExists asks the admin connection whether name exists.
func databaseExists(t *testing.T, ctx context.Context, name string) bool {
	t.Helper()
	conn := connect(t, ctx, adminURL)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestNewDatabaseDistinctAndMigrated(t *testing.T) {
	ctx := testContext(t)
	url1, url2 := NewDatabase(t), NewDatabase(t)
	if url1 == url2 {
		t.Fatalf("both databases have URL %s", url1)
	}
	c1, c2 := connect(t, ctx, url1), connect(t, ctx, url2)
	var db1, db2 string
	if err := c1.QueryRow(ctx, "SELECT current_database()").Scan(&db1); err != nil {
		t.Fatal(err)
	}
	if err := c2.QueryRow(ctx, "SELECT current_database()").Scan(&db2); err != nil {
		t.Fatal(err)
	}
	if db1 == db2 {
		t.Fatalf("both URLs reach database %s", db1)
	}
	for _, c := range []*pgx.Conn{c1, c2} {
		var manifests, repositories int
		if err := c.QueryRow(ctx, "SELECT (SELECT count(*) FROM manifests), (SELECT count(*) FROM repositories)").Scan(&manifests, &repositories); err != nil {
			t.Fatalf("migrated tables missing: %v", err)
		}
		if manifests != 0 || repositories != 0 {
			t.Errorf("fresh database has %d manifests, %d repositories", manifests, repositories)
		}
		var version int64
		if err := c.QueryRow(ctx, "SELECT max(version_id) FROM layerq_schema_migrations").Scan(&version); err != nil {
			t.Fatalf("reading schema version: %v", err)
		}
		if version < 1 {
			t.Errorf("schema version %d, want migrations applied", version)
		}
	}
	// Writes to one do not show in the other.
	if _, err := c1.Exec(ctx, "INSERT INTO repositories (registry, name) VALUES ('example.com', 'one')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c2.QueryRow(ctx, "SELECT count(*) FROM repositories").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("second database sees %d rows written to the first", n)
	}
}

func TestNewEmptyDatabase(t *testing.T) {
	ctx := testContext(t)
	conn := connect(t, ctx, NewEmptyDatabase(t))
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("empty database has %d tables", tables)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	ctx := testContext(t)
	var name string
	t.Run("user", func(t *testing.T) {
		conn := connect(t, ctx, NewDatabase(t)) // left open: FORCE must cope
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !databaseExists(t, ctx, name) {
			t.Fatalf("%s does not exist during the test", name)
		}
	})
	if name == "" {
		t.Fatal("subtest did not report its database")
	}
	if databaseExists(t, ctx, name) {
		t.Errorf("%s still exists after its test ended", name)
	}
}

func TestNewPoolParallel(t *testing.T) {
	for i := range 6 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			pool := NewPool(t)
			if _, err := pool.Exec(ctx, "INSERT INTO repositories (registry, name) VALUES ('example.com', $1)", fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
			var names []string
			rows, err := pool.Query(ctx, "SELECT name FROM repositories")
			if err != nil {
				t.Fatal(err)
			}
			names, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != 1 || names[0] != fmt.Sprint(i) {
				t.Errorf("repositories = %v, want only %d", names, i)
			}
		})
	}
}

func TestClusterRestart(t *testing.T) {
	c := Cluster()
	if os.Getenv(EnvDatabaseURL) != "" {
		if c != nil {
			t.Fatal("Cluster() non-nil with an external server")
		}
		t.Skip("no private cluster to restart: " + EnvDatabaseURL + " is set")
	}
	if c == nil {
		t.Fatal("Cluster() is nil although pgtest started one")
	}
	ctx := testContext(t)
	pool := NewPool(t)
	if _, err := pool.Exec(ctx, "INSERT INTO repositories (registry, name) VALUES ('example.com', 'kept')"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	// The pool's old connections died with the server; pgxpool replaces them.
	var name string
	var err error
	for range 3 {
		if err = pool.QueryRow(ctx, "SELECT name FROM repositories").Scan(&name); err == nil {
			break
		}
	}
	if err != nil || name != "kept" {
		t.Fatalf("after restart: name=%q err=%v", name, err)
	}
	// New databases still work.
	conn := connect(t, ctx, NewDatabase(t))
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestExternalServer runs this test binary twice at once against one
// existing server through LAYERQ_TEST_DATABASE_URL, as parallel CI jobs
// would, and checks both pass and leave no database behind.
func TestExternalServer(t *testing.T) {
	if os.Getenv(EnvDatabaseURL) != "" {
		t.Skip("already running against " + EnvDatabaseURL)
	}
	ctx := testContext(t)
	dir, err := os.MkdirTemp(clusterParent(), "layerq-pgtest-external-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	server, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, ListenTCP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Stop(context.Background()) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	outputs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, exe, "-test.run=^(TestNewDatabaseDistinctAndMigrated|TestNewPoolParallel|TestDatabaseDroppedAtCleanup|TestClusterRestart)$", "-test.v")
			cmd.Env = append(os.Environ(), EnvDatabaseURL+"="+server.TCPURL("postgres"))
			out, err := cmd.CombinedOutput()
			outputs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range outputs {
		if errs[i] != nil || !strings.Contains(outputs[i], "--- PASS: TestNewDatabaseDistinctAndMigrated") {
			t.Errorf("run %d against %s: %v\n%s", i, EnvDatabaseURL, errs[i], outputs[i])
		}
	}

	pool, err := pgxpool.New(ctx, server.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%' OR datname LIKE 'layerq\\_template%'")
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("databases left behind on the external server: %v", left)
	}
}

func TestDatabaseURL(t *testing.T) {
	for base, want := range map[string]string{
		"postgres://u:p@db.example:5432/postgres?sslmode=disable": "postgres://u:p@db.example:5432/x?sslmode=disable",
		"postgres://layerq@/postgres?host=%2Fs&port=1":            "postgres://layerq@/x?host=%2Fs&port=1",
		"host=db.example user=u dbname=postgres":                  "host=db.example user=u dbname=postgres dbname=x",
	} {
		if got := databaseURL(base, "x"); got != want {
			t.Errorf("databaseURL(%q) = %q, want %q", base, got, want)
		}
		if _, err := pgx.ParseConfig(databaseURL(base, "x")); err != nil {
			t.Errorf("pgx rejects %q: %v", databaseURL(base, "x"), err)
		}
	}
}

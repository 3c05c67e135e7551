// Package pgtest gives tests real PostgreSQL databases.
//
// A test binary's TestMain calls Main, which starts one private cluster with
// pglaunch for the whole binary (or uses the server named by
// LAYERQ_TEST_DATABASE_URL). Each test then asks for its own database:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		pool := pgtest.NewPool(t) // fresh database, migrations applied
//		...
//	}
//
// Migrations are applied once, into a template database; every NewDatabase
// is a cheap copy of it (CREATE DATABASE ... TEMPLATE), dropped when the
// test ends.
//
// A package's internal tests cannot use pgtest if pgtest imports that
// package (migrate): use an external _test package there.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/pglaunch"
)

// EnvDatabaseURL names the environment variable that points tests at an
// existing server instead of a private cluster. Its user must be allowed to
// CREATE DATABASE; the URL's database is used only to run CREATE and DROP.
const EnvDatabaseURL = "LAYERQ_TEST_DATABASE_URL"

// opTimeout bounds each database operation the harness performs.
const opTimeout = 2 * time.Minute

// state set up by Main.
var (
	cluster  *pglaunch.Cluster
	adminURL string       // database CREATE/DROP DATABASE run from
	runID    string       // "<pid>_<random>": unique per test binary run
	template string       // template database holding the migrated schema
	counter  atomic.Int64 // numbers the databases of this run

	templateOnce    sync.Once
	templateErr     error
	templateCreated atomic.Bool
)

// Main starts one cluster for the whole test binary (or uses
// LAYERQ_TEST_DATABASE_URL if set: an existing server where the URL's user
// may CREATE DATABASE), runs m.Run(), stops the cluster, removes its temp
// dir, and os.Exit with the code. If binaries are missing it prints
// pglaunch.ErrNoBinaries's message to stderr and exits 1 — never skips.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// run is Main without the exit, so deferred cleanup happens first.
func run(m *testing.M) int {
	ctx := context.Background()
	runID = fmt.Sprintf("%d_%s", os.Getpid(), randomHex(3))
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		adminURL = u
		template = "layerq_template_" + runID
	} else {
		c, dir, err := startCluster(ctx)
		if err != nil {
			if errors.Is(err, pglaunch.ErrNoBinaries) {
				fmt.Fprintln(os.Stderr, err)
			} else {
				fmt.Fprintln(os.Stderr, "pgtest: starting PostgreSQL:", err)
			}
			return 1
		}
		defer func() {
			if err := c.Stop(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "pgtest: stopping PostgreSQL:", err)
			}
			os.RemoveAll(dir)
		}()
		cluster = c
		adminURL = c.URL("postgres")
		template = "layerq_template"
	}
	if err := adminExec(ctx, "SELECT 1"); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}

	code := m.Run()

	if cluster == nil && templateCreated.Load() {
		if err := dropDatabase(template); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// startCluster starts the private cluster in a new directory from
// os.MkdirTemp under clusterParent(). pglaunch hands that directory to the
// server OS user when running as root (a t.TempDir would stay root-only).
func startCluster(ctx context.Context) (*pglaunch.Cluster, string, error) {
	if _, err := pglaunch.FindBinaries(); err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp(clusterParent(), "layerq-pgtest-")
	if err != nil {
		return nil, "", fmt.Errorf("creating cluster dir: %w", err)
	}
	c, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return c, dir, nil
}

// minShmFree is the free space /dev/shm needs to hold a test cluster.
const minShmFree = 1 << 30

// clusterParent is where the test cluster lives: os.TempDir(), unless TMPDIR
// is unset and /dev/shm is a tmpfs with room to spare. Creating a database
// there is about ten times faster than on a disk file system (it opens and
// writes some 1,500 files).
func clusterParent() string {
	if os.Getenv("TMPDIR") != "" {
		return os.TempDir()
	}
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if err := syscall.Statfs("/dev/shm", &st); err == nil && st.Type == tmpfsMagic &&
		st.Bavail*uint64(st.Bsize) >= minShmFree && syscall.Access("/dev/shm", 0o7) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// Cluster returns the running cluster (nil when LAYERQ_TEST_DATABASE_URL is
// used); some tests need to restart it later (Cluster.Restart keeps every
// URL valid).
func Cluster() *pglaunch.Cluster {
	return cluster
}

// NewDatabase creates a fresh empty database with migrations applied and
// returns its URL; dropped (WITH (FORCE)) at t.Cleanup.
func NewDatabase(t testing.TB) string {
	t.Helper()
	requireMain(t)
	templateOnce.Do(func() { templateErr = createTemplate() })
	if templateErr != nil {
		t.Fatalf("pgtest: preparing the migrated template database: %v", templateErr)
	}
	return newDatabase(t, template)
}

// NewEmptyDatabase is NewDatabase without migrations: a database straight
// from template0, for tests of the migrations themselves.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	requireMain(t)
	return newDatabase(t, "template0")
}

// NewPool: NewDatabase + a pool configured as layerq-ingest configures
// its own (database.PoolConfig), closed at cleanup.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, false)
}

// NewReportPool: NewDatabase + a pool configured as the layerq command
// configures its own (database.PoolConfig, one-shot: each query in one
// round trip, text results), closed at cleanup. For tests of the reports.
func NewReportPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, true)
}

func newPool(t testing.TB, oneShot bool) *pgxpool.Pool {
	t.Helper()
	dbURL := NewDatabase(t)
	cfg, err := database.PoolConfig(dbURL, oneShot)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", redact(dbURL), err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// LoginIn makes a login role, a member of group (layerq_writer,
// layerq_reader), dropped when t ends, and returns dbURL as that role.
func LoginIn(t testing.TB, dbURL, group string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	role := fmt.Sprintf("login_%s_%d", strings.TrimPrefix(group, "layerq_"), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw' IN ROLE "+group); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), dbURL); err == nil {
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.UserPassword(role, "pw")
	return u.String()
}

// requireMain fails t if TestMain did not call Main.
func requireMain(t testing.TB) {
	t.Helper()
	if adminURL == "" {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main(m)")
	}
}

// newDatabase copies tmpl into a new uniquely named database that is dropped
// when t ends, and returns its URL.
func newDatabase(t testing.TB, tmpl string) string {
	t.Helper()
	name := fmt.Sprintf("test_%s_%d", runID, counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := adminExec(ctx, "CREATE DATABASE "+quote(name)+" TEMPLATE "+quote(tmpl)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return databaseURL(adminURL, name)
}

// createTemplate creates the template database and migrates it.
func createTemplate() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := adminExec(ctx, "CREATE DATABASE "+quote(template)); err != nil {
		return err
	}
	templateCreated.Store(true)
	if err := migrate.Up(ctx, databaseURL(adminURL, template)); err != nil {
		return fmt.Errorf("migrating %s: %w", template, err)
	}
	return nil
}

// dropDatabase drops name, disconnecting anyone still using it.
func dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return adminExec(ctx, "DROP DATABASE IF EXISTS "+quote(name)+" WITH (FORCE)")
}

// adminExec runs one statement on a fresh connection to adminURL. Not
// pooling these keeps the harness working across a Cluster().Restart().
func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", redact(adminURL), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// databaseURL returns base with its database replaced by name. base is a
// postgres:// URL or a keyword/value connection string.
func databaseURL(base, name string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		if u, err := url.Parse(base); err == nil {
			u.Path, u.RawPath = "/"+name, ""
			return u.String()
		}
	}
	return base + " dbname=" + name
}

// redact hides a password in a connection URL for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the test database server"
}

// quote quotes an identifier.
func quote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	}
	return hex.EncodeToString(b)
}

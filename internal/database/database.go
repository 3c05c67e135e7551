// Package database connects layerq's commands to the graph database: the
// server a URL names, or, with none given, a local cluster under the data
// directory, started on demand from the system PostgreSQL binaries.
package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/pglaunch"
	"github.com/layerq/layerq/internal/redact"
)

// Options say where the graph lives.
type Options struct {
	// URL is a Postgres connection string; "" means the local default.
	URL string
	// DataDir holds the local default cluster (see DefaultDataDir).
	DataDir string
	// Migrate applies pending migrations. Without it, a database behind this
	// binary's schema is an error telling the user to run migrate. The local
	// default cluster is always migrated.
	Migrate bool
	// Notices receives the one-line note about the local default (stderr).
	Notices io.Writer
	// OneShot is a process that runs each of its queries once (a report):
	// each query goes in one round trip, unprepared, instead of two (a
	// prepare its later runs would reuse, then the run). See PoolConfig.
	OneShot bool
}

// DefaultDataDir is $XDG_DATA_HOME/layerq, else ~/.local/share/layerq; for
// root, whose home other users cannot traverse, /var/lib/layerq.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "layerq")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/layerq"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "layerq")
	}
	return filepath.Join(os.TempDir(), "layerq")
}

// ErrSchemaBehind means the database needs `layerq-ingest migrate`.
var ErrSchemaBehind = errors.New("the database schema is older than this layerq; run `layerq-ingest migrate`")

// Open returns a pool on the graph database.
func Open(ctx context.Context, opts Options) (*Pool, error) {
	url := opts.URL
	migrateNow := opts.Migrate
	var local *pglaunch.Cluster
	if url == "" {
		var err error
		// Without the database: the pool's first connection finds it,
		// or finds it missing and it is made then (one connection to
		// the local server, not two, on each run of a report).
		if local, err = startLocal(ctx, opts.DataDir, opts.Notices, ""); err != nil {
			return nil, err
		}
		url = local.URL(localDatabase)
		migrateNow = true
	}
	cfg, err := PoolConfig(url, opts.OneShot)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	err = checkSchema(ctx, pool, url, migrateNow)
	if local != nil {
		err = settleLocal(ctx, local, err, func() error { return checkSchema(ctx, pool, url, migrateNow) })
	}
	if err != nil {
		pool.Close()
		if errors.Is(err, ErrSchemaBehind) {
			return nil, err
		}
		return nil, unreachable(url, err)
	}
	return pool, nil
}

// checkSchema migrates the database pool reaches when migrateNow and it
// lacks migrations or its functions differ; otherwise it returns
// ErrSchemaBehind when migrations are missing.
func checkSchema(ctx context.Context, pool *pgxpool.Pool, url string, migrateNow bool) error {
	if migrateNow {
		// Most starts find the schema current: two queries on the pool's
		// connection, instead of a connection of the migrator's own and
		// the migration lock.
		current, err := migrate.CurrentOn(ctx, pool)
		if err == nil && !current {
			err = migrate.Up(ctx, url)
		}
		return err
	}
	// On the pool: the connection that checks is the one the command
	// goes on with.
	pending, err := migrate.PendingOn(ctx, pool)
	if err == nil && pending {
		err = ErrSchemaBehind
	}
	return err
}

// localWait bounds how long a report waits for the local server to accept
// connections (as pglaunch.Start waits for one it starts).
const localWait = 30 * time.Second

// settleLocal deals with what the first use of the local cluster, taken
// running at its postmaster.pid's word, may meet: the database not made
// yet (it is made, and check runs again), or a server that does not
// accept connections yet, its postmaster.pid saying ready through a crash
// recovery (check runs again every 100 ms for up to localWait).
func settleLocal(ctx context.Context, local *pglaunch.Cluster, err error, check func() error) error {
	deadline := time.Now().Add(localWait)
	made := false
	for {
		switch {
		case missingDatabase(err) && !made:
			if err = local.EnsureDatabase(ctx, localDatabase); err != nil {
				return err
			}
			made = true
		case notReady(err) && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return err
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return err
		}
		err = check()
	}
}

// notReady reports whether err is a server that does not take
// connections for now: starting, in recovery, or restarting (its socket
// refused or gone meanwhile).
func notReady(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P03" // cannot_connect_now
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// missingDatabase reports whether err is a connection refused because
// its database does not exist.
func missingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000" // invalid_catalog_name
}

// PoolConfig is the pool configuration layerq connects with: the URL's,
// with JIT compilation off unless the URL sets it. layerq's queries are
// short and planned for indexes; JIT, which Postgres turns on past a cost
// threshold, spent more time compiling (100-200 ms) than a report takes.
//
// With oneShot (a process that runs each of its queries once: a report),
// each query goes in one round trip, unless the URL chose another mode
// than pgx's default (default_query_exec_mode): the extended protocol's
// parse, bind and execute sent at once, with text parameters and results.
// pgx's default prepares a statement first, to run it again without the
// parse: a saving such a process never collects. With results as text
// (this mode, or one the URL chose), the text formats pgx reads are set
// for the session (hex bytea, ISO dates, floats in full), whatever the
// database or role sets.
//
// Settings go in a SET on each new connection, not in startup parameters:
// a pooler such as PgBouncer refuses a connection whose startup packet
// carries a parameter it does not know ("unsupported startup parameter:
// jit").
func PoolConfig(url string, oneShot bool) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, unreachable(url, err)
	}
	var set []string
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		set = append(set, "SET jit = off")
	}
	if oneShot && cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	switch cfg.ConnConfig.DefaultQueryExecMode {
	case pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol: // results as text
		set = append(set, "SET bytea_output = hex", "SET DateStyle = ISO", "SET IntervalStyle = postgres", "SET extra_float_digits = 3")
	}
	if len(set) > 0 {
		// One round trip: without arguments pgx sends it as a simple query.
		q := strings.Join(set, "; ")
		cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, q)
			return err
		}
	}
	return cfg, nil
}

// UnreachableError is a database that could not be used, said in one line
// with the innermost cause (pgx's connect errors span several lines).
type UnreachableError struct {
	Where string // the URL, password redacted
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot use %s: %s (check --database-url or DATABASE_URL)", e.Where, strings.Join(strings.Fields(rootCause(e.Err).Error()), " "))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Unreachable is err, a failure to connect to url, said in one line
// (UnreachableError); any other error is returned as it is.
func Unreachable(url string, err error) error {
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return unreachable(url, err)
	}
	return err
}

func unreachable(url string, err error) error {
	// Only a connection string is shown (redacted): anything else may be
	// a secret given in the wrong place.
	where := "the database"
	if strings.Contains(url, "://") || strings.Contains(url, "=") {
		where = redact.URL(url)
	}
	return &UnreachableError{Where: where, Err: redact.Error(err, url)}
}

// rootCause follows wrapped errors to the innermost one, taking the first
// of joined errors.
func rootCause(err error) error {
	for {
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			if next := e.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			if errs := e.Unwrap(); len(errs) > 0 {
				err = errs[0]
				continue
			}
		}
		return err
	}
}

// localDatabase is the database layerq uses in the local default cluster.
const localDatabase = "layerq"

// Local starts (or finds running) the local default cluster under dataDir
// and returns the URL of its layerq database, which it creates if missing.
func Local(ctx context.Context, dataDir string, notices io.Writer) (string, error) {
	c, err := startLocal(ctx, dataDir, notices, localDatabase)
	if err != nil {
		return "", err
	}
	return c.URL(localDatabase), nil
}

// startLocal starts (or finds running) the local default cluster under
// dataDir, creating database unless it is "", and says which on notices.
func startLocal(ctx context.Context, dataDir string, notices io.Writer, database string) (*pglaunch.Cluster, error) {
	if dataDir == "" {
		dataDir = DefaultDataDir()
	}
	if notices == nil {
		notices = io.Discard
	}
	if err := EnsureDataDir(dataDir); err != nil {
		return nil, err
	}
	dir := filepath.Join(dataDir, "postgres")
	c, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Persistent: true, Database: database})
	if err != nil {
		return nil, fmt.Errorf("starting the local Postgres in %s (or set DATABASE_URL): %w", dir, err)
	}
	state := "started"
	if c.Reused() {
		state = "running"
	}
	fmt.Fprintf(notices, "layerq: no database URL given; using the local Postgres in %s (%s; stop it with `layerq-ingest local stop`)\n", dir, state)
	return c, nil
}

// StopLocal stops the local default cluster under dataDir, if it runs.
func StopLocal(ctx context.Context, dataDir string) error {
	if dataDir == "" {
		dataDir = DefaultDataDir()
	}
	dir := filepath.Join(dataDir, "postgres")
	stopped, err := pglaunch.StopRunning(ctx, dir)
	if err != nil {
		return err
	}
	if !stopped {
		return fmt.Errorf("no local Postgres runs in %s", dir)
	}
	return nil
}

// EnsureDataDir makes dir ready as layerq's data directory, whatever
// command runs first: it creates dir and any missing parent with
// dataDirMode, whatever the umask. A data directory that an older layerq
// made 0700 as root (so the Postgres server user could not reach
// <dir>/postgres) is repaired to dataDirMode when layerq can tell it made
// it: it holds nothing but what layerq puts there before Postgres (nats/,
// demo/). Any other directory is left as it is; if the server user cannot
// traverse it, starting the local Postgres says what to chmod.
func EnsureDataDir(dir string) error {
	mode := dataDirMode()
	var missing []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		_, err := os.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(missing) == 0 {
		return repairDataDir(dir, mode)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, mode); errors.Is(err, fs.ErrExist) {
			continue // made meanwhile by another command
		} else if err != nil {
			return fmt.Errorf("creating data directory %s: %w", p, err)
		}
		if err := chmodDir(p, mode); err != nil {
			return fmt.Errorf("creating data directory %s: %w", p, err)
		}
	}
	return nil
}

// dataDirMode is the mode of the directories EnsureDataDir makes. Run as
// root, layerq runs Postgres as an unprivileged user, who must pass through
// the data directory to <data-dir>/postgres, its own: 0711 lets it (and
// anyone) pass through to an entry whose name it knows, but not list or
// change the directory, and each entry guards itself (nats/ is 0700, root's;
// postgres/ is 0700, the server user's). Otherwise Postgres runs as the
// caller, and 0700 is enough.
func dataDirMode() fs.FileMode {
	if os.Geteuid() == 0 {
		return 0o711
	}
	return 0o700
}

// madeBeforePostgres are the entries an older layerq put in a data directory
// that it made 0700 (the embedded JetStream stores of serve and the demo).
var madeBeforePostgres = map[string]bool{"nats": true, "demo": true}

// repairDataDir gives the existing data directory dir mode if it is one an
// older layerq made as root: root's own, mode 0700, holding only
// madeBeforePostgres. (A symlink is the user's doing, and is left alone.)
func repairDataDir(dir string, mode fs.FileMode) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory; choose another --data-dir (LAYERQ_DATA_DIR)", dir)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err = os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 0 || fi.Mode().Perm() != 0o700 {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if !madeBeforePostgres[e.Name()] {
			return nil
		}
	}
	if err := chmodDir(dir, mode); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}

// chmodDir sets the mode of the directory p through a descriptor, not
// following a symlink at p.
func chmodDir(p string, mode fs.FileMode) error {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(mode)
}

// Pool is a connection pool on the graph database.
type Pool = pgxpool.Pool

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
	if url == "" {
		var err error
		if url, err = Local(ctx, opts.DataDir, opts.Notices); err != nil {
			return nil, err
		}
		migrateNow = true
	}
	cfg, err := PoolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	if migrateNow {
		// Most starts find the schema current: two queries on the pool's
		// connection, instead of a connection of the migrator's own and
		// the migration lock.
		current, err := migrate.CurrentOn(ctx, pool)
		if err == nil && !current {
			err = migrate.Up(ctx, url)
		}
		if err != nil {
			pool.Close()
			return nil, unreachable(url, err)
		}
	} else {
		// On the pool: the connection that checks is the one the
		// command goes on with.
		pending, err := migrate.PendingOn(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, unreachable(url, err)
		}
		if pending {
			pool.Close()
			return nil, ErrSchemaBehind
		}
	}
	return pool, nil
}

// PoolConfig is the pool configuration layerq connects with: the URL's,
// with JIT compilation off unless the URL sets it. layerq's queries are
// short and planned for indexes; JIT, which Postgres turns on past a cost
// threshold, spent more time compiling (100-200 ms) than a report takes.
func PoolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, unreachable(url, err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
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

// Local starts (or finds running) the local default cluster under dataDir
// and returns the URL of its layerq database.
func Local(ctx context.Context, dataDir string, notices io.Writer) (string, error) {
	if dataDir == "" {
		dataDir = DefaultDataDir()
	}
	if notices == nil {
		notices = io.Discard
	}
	if err := EnsureDataDir(dataDir); err != nil {
		return "", err
	}
	dir := filepath.Join(dataDir, "postgres")
	c, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Persistent: true, Database: "layerq"})
	if err != nil {
		return "", fmt.Errorf("starting the local Postgres in %s (or set DATABASE_URL): %w", dir, err)
	}
	state := "started"
	if c.Reused() {
		state = "running"
	}
	fmt.Fprintf(notices, "layerq: no database URL given; using the local Postgres in %s (%s; stop it with `layerq-ingest local stop`)\n", dir, state)
	return c.URL("layerq"), nil
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

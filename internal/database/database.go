// Package database connects layerq's commands to the graph database: the
// server a URL names, or, with none given, a local cluster under the data
// directory, started on demand from the system PostgreSQL binaries.
package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/pglaunch"
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
	if migrateNow {
		if err := migrate.Up(ctx, url); err != nil {
			return nil, unreachable(url, err)
		}
	} else {
		pending, err := migrate.Pending(ctx, url)
		if err != nil {
			return nil, unreachable(url, err)
		}
		if pending {
			return nil, ErrSchemaBehind
		}
	}
	cfg, err := PoolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
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
	where := "the database"
	if u, perr := neturl.Parse(url); perr == nil && u.Scheme != "" {
		where = u.Redacted()
	}
	return &UnreachableError{Where: where, Err: err}
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
	if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no local Postgres runs in %s", dir)
	}
	c, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Persistent: true})
	if err != nil {
		return err
	}
	return c.Stop(ctx)
}

// Pool is a connection pool on the graph database.
type Pool = pgxpool.Pool

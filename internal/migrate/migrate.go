// Package migrate applies layerq's embedded schema migrations with goose,
// then the current definitions of the schema's functions.
//
// Migrations are the numbered files in sql/migrations, functions the files
// in sql/functions, compiled into every binary. Up is idempotent and safe to
// run from several processes at once: a Postgres advisory lock serialises
// them, migrations and functions alike.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/layerq/layerq/internal/redact"
	sqlfiles "github.com/layerq/layerq/sql"
)

// Result says what one Up did.
type Result struct {
	// Applied lists the versions applied by this call, in order.
	Applied []int64
	// Version is the schema version after the call.
	Version int64
	// Functions says whether the call replaced function definitions (with
	// those of sql/functions, which differed from the database's).
	Functions bool
}

// Up applies every pending migration to the database at databaseURL, as
// commands do at start on the local default: like Run, but it takes the
// functions as they are when the fingerprint they carry is that of this
// binary's files.
func Up(ctx context.Context, databaseURL string) error {
	_, err := run(ctx, databaseURL, true)
	return err
}

// Run is Up that also reports what it applied.
//
// Under the migration lock, it applies the pending migrations, then brings
// the functions to the definitions in sql/functions: checked first, and
// replaced only if one differs, so a run with nothing to do changes nothing
// (and needs no right to). A database whose schema is newer than this
// binary's migrations keeps its functions: they belong to that schema.
func Run(ctx context.Context, databaseURL string) (res Result, err error) {
	return run(ctx, databaseURL, false)
}

// run is Run; fast is Up's shortcut for the functions.
func run(ctx context.Context, databaseURL string, fast bool) (res Result, err error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return Result{}, fmt.Errorf("opening %s: %w", describe(databaseURL), redact.Error(err, databaseURL))
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrating: %w", err)
	}
	defer conn.Close()
	// The lock goose takes itself when given a locker (as RunTo does): one
	// migrator at a time, whichever version of layerq runs it.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return Result{}, err
	}
	if err := locker.SessionLock(ctx, conn); err != nil {
		return Result{}, fmt.Errorf("migrating: taking the migration lock: %w", err)
	}
	defer func() {
		if uerr := locker.SessionUnlock(context.WithoutCancel(ctx), conn); uerr != nil && err == nil {
			err = fmt.Errorf("migrating: releasing the migration lock: %w", uerr)
		}
	}()

	p, err := newProvider(db, nil)
	if err != nil {
		return Result{}, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrating: %w", err)
	}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Version)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("reading schema version: %w", err)
	}
	res.Version = current
	if current > target {
		return res, nil
	}
	files, err := functionFiles()
	if err != nil {
		return Result{}, fmt.Errorf("reading the function files: %w", err)
	}
	if res.Functions, err = applyFunctions(ctx, conn, files, fast && len(res.Applied) == 0); err != nil {
		return Result{}, fmt.Errorf("migrating: %w", err)
	}
	return res, nil
}

// provider is the migrations' provider, which takes the migration lock for
// each call.
func provider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return newProvider(db, locker)
}

// newProvider is the migrations' provider; without a locker, the caller
// holds the migration lock.
func newProvider(db *sql.DB, locker lock.SessionLocker) (*goose.Provider, error) {
	migrations, err := fs.Sub(sqlfiles.Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithTableName("layerq_schema_migrations")}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations, opts...)
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" database/sql driver

// describe names the database for error messages: the connection string
// with its secrets hidden, or, for anything else (a secret given in the
// wrong place?), "the database".
func describe(databaseURL string) string {
	if strings.Contains(databaseURL, "://") || strings.Contains(databaseURL, "=") {
		return redact.URL(databaseURL)
	}
	return "the database"
}

// withProvider runs fn with a migration provider on the database at
// databaseURL, on a connection of its own.
func withProvider(databaseURL string, fn func(*goose.Provider) error) error {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("opening %s: %w", describe(databaseURL), redact.Error(err, databaseURL))
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return err
	}
	return fn(p)
}

// RunTo applies the pending migrations up to and including version, for
// tests of what a migration does to a graph made by an older schema. It
// leaves the functions as the migrations define them: Run brings them up to
// date.
func RunTo(ctx context.Context, databaseURL string, version int64) error {
	return withProvider(databaseURL, func(p *goose.Provider) error {
		if _, err := p.UpTo(ctx, version); err != nil {
			return fmt.Errorf("migrating to version %d: %w", version, err)
		}
		return nil
	})
}

// DownTo rolls the applied migrations back to version (each one's Down
// section, the latest first), for tests that migrate down and up again. It
// leaves the functions as the Down sections define them: Run brings them up
// to date.
func DownTo(ctx context.Context, databaseURL string, version int64) error {
	return withProvider(databaseURL, func(p *goose.Provider) error {
		if _, err := p.DownTo(ctx, version); err != nil {
			return fmt.Errorf("migrating down to version %d: %w", version, err)
		}
		return nil
	})
}

// Pending reports whether the database at databaseURL lacks migrations this
// binary carries.
func Pending(ctx context.Context, databaseURL string) (pending bool, err error) {
	err = withProvider(databaseURL, func(p *goose.Provider) error {
		if pending, err = p.HasPending(ctx); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		return nil
	})
	return pending, err
}

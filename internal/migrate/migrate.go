// Package migrate applies layerq's embedded schema migrations with goose.
//
// Migrations are the numbered files in sql/migrations, compiled into every
// binary. Up is idempotent and safe to run from several processes at once: a
// Postgres advisory lock serialises them.
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
}

// Up applies every pending migration to the database at databaseURL.
func Up(ctx context.Context, databaseURL string) error {
	_, err := Run(ctx, databaseURL)
	return err
}

// Run is Up that also reports which migrations it applied.
func Run(ctx context.Context, databaseURL string) (Result, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return Result{}, fmt.Errorf("opening %s: %w", describe(databaseURL), redact.Error(err, databaseURL))
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return Result{}, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrating: %w", err)
	}
	var res Result
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Version)
	}
	if res.Version, err = p.GetDBVersion(ctx); err != nil {
		return Result{}, fmt.Errorf("reading schema version: %w", err)
	}
	return res, nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	migrations, err := fs.Sub(sqlfiles.Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker),
		goose.WithTableName("layerq_schema_migrations"),
	)
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

// RunTo applies the pending migrations up to and including version, for
// tests of what a migration does to a graph made by an older schema.
func RunTo(ctx context.Context, databaseURL string, version int64) error {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("opening %s: %w", describe(databaseURL), redact.Error(err, databaseURL))
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrating to version %d: %w", version, err)
	}
	return nil
}

// Pending reports whether the database at databaseURL lacks migrations this
// binary carries.
func Pending(ctx context.Context, databaseURL string) (bool, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", describe(databaseURL), redact.Error(err, databaseURL))
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("reading schema version: %w", err)
	}
	return pending, nil
}

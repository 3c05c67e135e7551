// Package report computes layerq's reports over the graph. Each report is a
// value that marshals to stable JSON and renders through package output; the
// SQL behind it lives in sql/queries.
package report

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/repoglob"
)

// DB is what reports read through: a pool, a connection or a transaction.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// concurrently runs fns at once when db is a pool (each query takes its own
// connection), one after the other otherwise (a connection or transaction
// runs one query at a time). It returns the first error.
func concurrently(ctx context.Context, db DB, fns ...func(context.Context) error) error {
	if _, ok := db.(*pgxpool.Pool); !ok {
		for _, fn := range fns {
			if err := fn(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, fn := range fns {
		g.Go(func() error { return fn(ctx) })
	}
	return g.Wait()
}

// regexpOrNil is a glob as the SQL of the kept aggregates takes it: nil
// for every repository, so the query skips matching names.
func regexpOrNil(g repoglob.Glob) *string {
	if g.All() {
		return nil
	}
	re := g.Regexp()
	return &re
}

// forEach runs q and calls fn after scanning each row into dest; errors
// say what was being queried or read.
func forEach(ctx context.Context, db DB, what, q string, args []any, dest []any, fn func() error) error {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("querying %s: %w", what, err)
	}
	if _, err := pgx.ForEachRow(rows, dest, fn); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}

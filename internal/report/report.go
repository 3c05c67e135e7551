// Package report computes layerq's reports over the graph. Each report is a
// value that marshals to stable JSON and renders through package output; the
// SQL behind it lives in sql/queries, run through the code sqlc generates
// from it (internal/dbsqlc).
package report

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/repoglob"
)

// DB is what reports read through: a pool, a connection or a transaction.
type DB interface {
	dbsqlc.DBTX
}

// queries runs the named queries of sql/queries.
var queries = dbsqlc.New()

// concurrently runs fns at once when db is a pool with an idle connection
// for each (a warm pool, as a long-running process holds), one after the
// other otherwise: a connection or transaction runs one query at a time,
// and for a process that has just connected, starting more Postgres
// backends (each with cold caches) costs more than running the queries in
// turn on the one it has. It returns the first error.
func concurrently(ctx context.Context, db DB, fns ...func(context.Context) error) error {
	if pool, ok := db.(*pgxpool.Pool); !ok || int(pool.Stat().IdleConns()) < len(fns) {
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

// oneNamespace reports the registry and namespace whose repositories are
// exactly those repository (a regexp) and registry ("" for any) select,
// if there is one (and how many manifests are live in two of them): the
// fold keeps some figures per namespace.
func oneNamespace(ctx context.Context, db DB, repository, registry string) (dbsqlc.SelectionNamespaceRow, bool, error) {
	rows, err := queries.SelectionNamespace(ctx, db, dbsqlc.SelectionNamespaceParams{Repository: repository, Registry: registry})
	if err != nil || len(rows) == 0 {
		return dbsqlc.SelectionNamespaceRow{}, false, err
	}
	return rows[0], true, nil
}

// pageSize is a --limit as a query's LIMIT: 0 (all) is the most one can
// be asked for; the queries bind their LIMIT, and never leave it out.
func pageSize(limit int) int {
	if limit <= 0 {
		return math.MaxInt32
	}
	return min(limit, math.MaxInt32)
}

// MatchesNothing says whether the glob g (a report's --repo) matches no
// repository holding anything live: what an empty report was most likely
// given by mistake.
func MatchesNothing(ctx context.Context, db DB, g repoglob.Glob) (bool, error) {
	if g.All() {
		return false, nil
	}
	matches, err := queries.RepositoriesMatch(ctx, db, g.Regexp())
	if err != nil {
		return false, fmt.Errorf("matching --repo: %w", err)
	}
	return !matches, nil
}

// value is a column sqlc types as nullable because it reads a view (sqlc
// sees a view's columns as nullable) but that the view never leaves NULL:
// its value, or the zero value for a NULL.
func value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// mapRows converts the rows a generated query returned, in their order
// (none: an empty slice, not nil).
func mapRows[R, T any](rows []R, conv func(R) T) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = conv(r)
	}
	return out
}

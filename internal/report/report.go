// Package report computes layerq's reports over the graph. Each report is a
// value that marshals to stable JSON and renders through package output; the
// SQL behind it lives in sql/queries.
package report

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// DB is what reports read through: a pool, a connection or a transaction.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Package graph reads and writes the layer-sharing graph in Postgres.
//
// Every write is idempotent: a batch ingested twice, or by several workers at
// once, leaves one copy. A batch is written as set-based statements (the
// repositories and blobs it names in a first short transaction, the rest in a
// second), keys sorted so concurrent writers lock rows in
// the same order, and the whole transaction is retried on a serialization
// failure or deadlock.
package graph

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = dbsqlc.ErrNotFound

// ErrPermission is returned when the database role may not write what was
// asked (a read-only role such as layerq_reader).
var ErrPermission = dbsqlc.ErrPermission

// queries are the statements sqlc generates from sql/queries; each method
// takes the pool or the transaction to run on. The store maps their "no
// rows" to ErrNotFound (dbsqlc.Interpret), so its callers never see pgx's.
var queries = dbsqlc.New()

// errNull reports a NULL in a column that the query never leaves NULL but
// sqlc types as nullable (an expression, a column of an outer join or a
// view): scanning it into a plain Go value failed before sqlc, so it is
// still an error.
var errNull = errors.New("unexpected NULL in a result column")

// Store is the graph in one Postgres database.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool. The schema must be migrated.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool returns the connection pool the store writes through.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

const maxTxAttempts = 8

// inTx runs fn in a transaction, retrying the whole transaction when Postgres
// reports a serialization failure (40001) or a deadlock (40P01).
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			return err
		}
		backoff := time.Duration(attempt*attempt) * time.Millisecond * time.Duration(5+rand.IntN(10))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// orEmpty returns s, or an empty slice for nil: the lists that the store
// has always returned non-nil when empty stay so.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func batchErr(what string, err error) error {
	return fmt.Errorf("writing %s: %w", what, err)
}

// IsDataError reports whether err is Postgres refusing the data itself
// (SQLSTATE classes 22 and 23: bad values, violated constraints): writing
// the same data again will fail again.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
	}
	return false
}

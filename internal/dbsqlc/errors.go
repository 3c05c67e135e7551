package dbsqlc

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned when a looked-up row does not exist. It is the
// one "not there" error of layerq's store and reports (graph.ErrNotFound
// and report.ErrNotFound are this error).
var ErrNotFound = errors.New("not found")

// ErrPermission is returned when the database role may not do what was
// asked (SQLSTATE 42501, insufficient_privilege), such as a read-only
// role writing.
var ErrPermission = errors.New("permission denied")

// Interpret maps the driver's errors to layerq's: pgx.ErrNoRows (a :one
// query found no row) becomes ErrNotFound, so no caller checks a pgx error
// itself; a refused privilege wraps ErrPermission. Other errors pass through.
func Interpret(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42501" {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

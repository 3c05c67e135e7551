package dbsqlc

import (
	"errors"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned when a looked-up row does not exist. It is the
// one "not there" error of layerq's store and reports (graph.ErrNotFound
// and report.ErrNotFound are this error).
var ErrNotFound = errors.New("not found")

// Interpret maps the driver's errors to layerq's: pgx.ErrNoRows (a :one
// query found no row) becomes ErrNotFound, so no caller checks a pgx error
// itself. Other errors pass through.
func Interpret(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

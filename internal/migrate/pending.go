package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	sqlfiles "github.com/layerq/layerq/sql"
)

// qSchemaVersions is run through pgx as it is (sql/pgx): the sqlc
// generator's own test migrates a database with this package, so the
// package cannot use the generated code.
var (
	qSchemaVersions       = sqlfiles.Statement("schema_versions")
	qFunctionsFingerprint = sqlfiles.Statement("functions_fingerprint")
)

// Querier is what PendingOn reads through: a pool, a connection or a
// transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CurrentOn reports whether Up would leave the database db reaches as it
// is: no migration pending, and the functions last brought to this
// binary's files (the fingerprint Up's fast path trusts). Two queries on
// db, without the migration lock; when it says false, Up does the work
// under the lock.
func CurrentOn(ctx context.Context, db Querier) (bool, error) {
	pending, err := PendingOn(ctx, db)
	if err != nil || pending {
		return false, err
	}
	files, err := functionFiles()
	if err != nil {
		return false, fmt.Errorf("reading the function files: %w", err)
	}
	var comment *string
	if err := db.QueryRow(ctx, qFunctionsFingerprint).Scan(&comment); err != nil {
		return false, fmt.Errorf("reading the functions' fingerprint: %w", err)
	}
	return comment != nil && *comment == fingerprint(files), nil
}

// PendingOn reports whether the database db reaches lacks migrations this
// binary carries, in one query on db (a pool, a connection or a
// transaction), without the migration lock: a command that only reads the
// graph checks the schema on the connection it then reads with. A database
// no migration ever ran on lacks them all.
func PendingOn(ctx context.Context, db Querier) (bool, error) {
	rows, err := db.Query(ctx, qSchemaVersions)
	var applied []int64
	if err == nil {
		applied, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading schema version: %w", err)
	}
	have := make(map[int64]bool, len(applied))
	for _, v := range applied {
		have[v] = true
	}
	versions, err := embeddedVersions()
	if err != nil {
		return false, err
	}
	for _, v := range versions {
		if !have[v] {
			return true, nil
		}
	}
	return false, nil
}

// embeddedVersions are the versions of the migrations this binary carries:
// the numbers their file names start with, as goose reads them.
func embeddedVersions() ([]int64, error) {
	entries, err := fs.ReadDir(sqlfiles.Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Package sqlfiles holds layerq's SQL: numbered migrations, the functions
// the schema runs, and the statements run through pgx as they are, embedded
// so every binary carries the schema it expects. The named queries in
// queries/ are compiled into Go by sqlc (internal/dbsqlc), which carries
// their text.
package sqlfiles

import "embed"

// Migrations are the goose migrations, applied in file-name order.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Functions are the current definitions of the schema's functions (the
// aggregates' fold and the triggers that queue for it): functions/*.sql, one
// function or a few closely related ones per file. Every migrate applies
// them, in file-name order, after the migrations, so a change to a function
// is an edit of its file and not a new migration holding a copy of it.
// Migrations that defined a function before it had a file keep their copy:
// a database migrated from empty runs them, then the files replace them.
//
// The files are written to run any number of times:
//
//   - A file holds CREATE OR REPLACE FUNCTION statements with unqualified
//     names (the schema is the migrations' schema). Replacing a function keeps
//     its OID, owner and grants, so the triggers and views that use it and
//     the grants the migrations made keep working.
//   - CREATE OR REPLACE cannot change a function's argument types or result
//     type. For that, the file drops the old signature first, by its
//     argument types and without CASCADE (DROP FUNCTION IF EXISTS
//     layerq_x(bigint[]);), then creates the new one, and re-grants what the
//     old one had (a REVOKE EXECUTE ... FROM PUBLIC, a GRANT to
//     layerq_writer inside a DO block that checks the role exists, as
//     migration 00005 does). What depends on the old signature (a trigger, a
//     view) needs a migration.
//   - Removing a function takes a migration that drops it.
//   - A function whose results the schema stores (a generated column, a
//     key of an aggregate) changes with a migration that recomputes them.
//   - A migration runs before the files, with the definitions the database
//     has then: the older migrations' (from empty) or the files' of the
//     layerq that migrated it last. One that calls a function relies only on
//     what those share, or defines the copy it needs.
//   - A SQL-language function is checked when it is created: one that calls
//     a function new in these files goes in a file sorting after it.
//   - internal/migrate's tests list the functions whose file differs from
//     the copy in the last migration that defined them: add a function
//     there when you change its file.
//
//go:embed functions/*.sql
var Functions embed.FS

// Handwritten are the statements sqlc cannot express, run through pgx as
// they are, one per file: pgx/<name>.sql. These are the ingest's statements,
// queued as one pgx batch (sqlc cannot queue different statements in one
// round trip), those that read several arrays as the columns of one set
// (unnest with several arguments, which sqlc does not know), and one read
// in binary straight from the driver's buffer (layer_listings_of: a 1 GB
// image's listings are megabytes; sqlc copies each value, and a one-shot
// connection reads results as text, a bytea as hex).
//
//go:embed pgx/*.sql
var Handwritten embed.FS

// Statement returns the text of the named hand-written statement
// (pgx/<name>.sql). A missing name is a programming error and panics, so
// callers load their statements into package variables and a wrong name
// fails every test of the package.
func Statement(name string) string {
	b, err := Handwritten.ReadFile("pgx/" + name + ".sql")
	if err != nil {
		panic("sqlfiles: no statement " + name)
	}
	return string(b)
}

// Package sqlfiles holds layerq's SQL: numbered migrations and one file per
// named query, embedded so every binary carries the schema it expects.
package sqlfiles

import "embed"

// Migrations are the goose migrations, applied in file-name order.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Queries are the named queries, one per file: queries/<name>.sql.
//
//go:embed queries/*.sql
var Queries embed.FS

// Query returns the text of the named query (queries/<name>.sql). A missing
// name is a programming error and panics, so callers load their queries into
// package variables and a wrong name fails every test of the package.
func Query(name string) string {
	b, err := Queries.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic("sqlfiles: no query " + name)
	}
	return string(b)
}

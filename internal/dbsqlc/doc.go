// Package dbsqlc is the Go sqlc generates for sql/queries.
package dbsqlc

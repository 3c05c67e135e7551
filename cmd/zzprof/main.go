package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

func main() {
	ctx := context.Background()
	b, _ := os.ReadFile("/tmp/w/blobs.txt")
	blobs := strings.Split(strings.TrimSpace(string(b)), ",")
	for i := 0; i < 16; i++ {
		table := []string{"zz_lz4", "zz_pglz"}[i%2]
		c, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			panic(err)
		}
		c.Exec(ctx, "select 1")
		t := time.Now()
		rows, _ := c.Query(ctx, "select listing from "+table+" where blob_digest = any($1)", blobs)
		n := 0
		var raw pgtype.DriverBytes
		for rows.Next() {
			rows.Scan(&raw)
			n += len(raw)
		}
		if rows.Err() != nil {
			panic(rows.Err())
		}
		fmt.Println(table, time.Since(t), n)
		c.Close(ctx)
	}
}

package database_test

import (
	"context"
	"testing"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A report's pool (OneShot) sends each query unprepared, in one round
// trip: the connection it ran on holds no prepared statement afterwards,
// the schema check's included, and parameters and results still convert.
// A pool for a long-running process prepares what it runs, to run it again.
func TestOneShotPreparesNothing(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	for _, oneShot := range []bool{true, false} {
		pool, err := database.Open(ctx, database.Options{URL: url, OneShot: oneShot})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		var sum int64
		if err := conn.QueryRow(ctx, `SELECT array_append($1::text[], 'c'), $2::bigint + 1`, []string{"a", "b"}, int64(41)).Scan(&names, &sum); err != nil {
			t.Fatal(err)
		}
		if len(names) != 3 || names[2] != "c" || sum != 42 {
			t.Errorf("one-shot %v: got %q and %d, want [a b c] and 42", oneShot, names, sum)
		}
		var prepared int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&prepared); err != nil {
			t.Fatal(err)
		}
		if oneShot && prepared != 0 {
			t.Errorf("a one-shot pool's connection holds %d prepared statements, want none", prepared)
		}
		if !oneShot && prepared < 2 { // the schema check's and the query's
			t.Errorf("a long-running pool's connection holds %d prepared statements, want its queries'", prepared)
		}
		conn.Release()
		pool.Close()
	}
}

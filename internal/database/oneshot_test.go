package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	// Output formats a database may set that pgx cannot read as text.
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %I SET bytea_output = escape', current_database());
		EXECUTE format('ALTER DATABASE %I SET DateStyle = ''SQL, DMY''', current_database());
		EXECUTE format('ALTER DATABASE %I SET extra_float_digits = -3', current_database());
		EXECUTE format('ALTER DATABASE %I SET IntervalStyle = sql_standard', current_database());
	END $$`); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	at := time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		oneShot, prepares bool
		url               string
	}{{true, false, url}, {false, true, url}, {false, false, url + sep + "default_query_exec_mode=simple_protocol"}} {
		oneShot := c.oneShot
		pool, err := database.Open(ctx, database.Options{URL: c.url, OneShot: oneShot})
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
		var b []byte
		var ts time.Time
		var f float64
		var d time.Duration
		if err := conn.QueryRow(ctx, `SELECT $1::bytea || '\x03'::bytea, $2::timestamptz + interval '1 day', 1.0::float8 / 3, interval '1 day 2 hours'`, []byte{1, 2}, at).Scan(&b, &ts, &f, &d); err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if string(b) != "\x01\x02\x03" || !ts.Equal(at.AddDate(0, 0, 1)) || f != 1.0/3 || d != 26*time.Hour {
			t.Errorf("%s: got %x, %v, %v and %v; want 010203, %v, %v and 26h", c.url, b, ts, f, d, at.AddDate(0, 0, 1), 1.0/3)
		}
		var prepared int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&prepared); err != nil {
			t.Fatal(err)
		}
		if !c.prepares && prepared != 0 {
			t.Errorf("%s (one-shot %v): the connection holds %d prepared statements, want none", c.url, oneShot, prepared)
		}
		if c.prepares && prepared < 2 { // the schema check's and the query's
			t.Errorf("a long-running pool's connection holds %d prepared statements, want its queries'", prepared)
		}
		conn.Release()
		pool.Close()
	}
}

package synth

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// BenchGraph is the database URL of the graph a benchmark measures:
// LAYERQ_BENCH_DATABASE_URL when it names one (a graph written by
// bench/cmd/synthgraph, to measure at sizes that take minutes to write),
// else a synthetic graph written here into a fresh test database:
// Defaults, with LAYERQ_SYNTH_IMAGES images and, with LAYERQ_SYNTH_FILES=1,
// file indexes and the big pair (AddBigPair).
func BenchGraph(tb testing.TB) string {
	tb.Helper()
	if url := os.Getenv("LAYERQ_BENCH_DATABASE_URL"); url != "" {
		return url
	}
	opts := Defaults
	if s := os.Getenv("LAYERQ_SYNTH_IMAGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			tb.Fatalf("LAYERQ_SYNTH_IMAGES=%q: give a number of images, at least 100", s)
		}
		opts.Images = n
	}
	opts.Files = os.Getenv("LAYERQ_SYNTH_FILES") == "1"
	url := pgtest.NewDatabase(tb)
	cfg, err := database.PoolConfig(url, false)
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer pool.Close()
	start := time.Now()
	if _, err := Generate(context.Background(), pool, opts); err != nil {
		tb.Fatalf("generating the synthetic graph: %v", err)
	}
	if opts.Files {
		if err := AddBigPair(context.Background(), pool); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("synthetic graph of %d images (file indexes: %v) generated in %s", opts.Images, opts.Files, time.Since(start).Round(time.Second))
	return url
}

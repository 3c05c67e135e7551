package report_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

var synthGraph struct {
	once sync.Once
	pool *pgxpool.Pool
	sum  synth.Summary
	took time.Duration
	err  error
}

// synthPool is one synthetic graph (synth.Defaults: 100k images, ~1M
// manifest-layer edges; LAYERQ_SYNTH_IMAGES sets another size) shared by
// the benchmarks of one run. LAYERQ_BENCH_DATABASE_URL points the
// benchmarks at a graph that exists already (one bench/cmd/synthgraph
// wrote, or a real registry's) instead.
func synthPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	synthGraph.once.Do(func() {
		if url := os.Getenv("LAYERQ_BENCH_DATABASE_URL"); url != "" {
			cfg, err := database.PoolConfig(url, false)
			if err != nil {
				synthGraph.err = err
				return
			}
			synthGraph.pool, synthGraph.err = pgxpool.NewWithConfig(context.Background(), cfg)
			if synthGraph.err == nil {
				synthGraph.err = synthGraph.pool.QueryRow(context.Background(), `SELECT
					(SELECT count(*) FROM repositories), (SELECT count(*) FROM manifests),
					(SELECT count(*) FROM manifest_layers), (SELECT count(*) FROM blobs), (SELECT count(*) FROM tag_events)`).Scan(
					&synthGraph.sum.Repositories, &synthGraph.sum.Images, &synthGraph.sum.Edges, &synthGraph.sum.Blobs, &synthGraph.sum.TagEvents)
			}
			return
		}
		opts := synth.Defaults
		if s := os.Getenv("LAYERQ_SYNTH_IMAGES"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 100 {
				synthGraph.err = err
				return
			}
			opts.Images = n
		}
		synthGraph.pool = pgtest.NewPool(b)
		start := time.Now()
		synthGraph.sum, synthGraph.err = synth.Generate(context.Background(), synthGraph.pool, opts)
		synthGraph.took = time.Since(start)
	})
	if synthGraph.err != nil {
		b.Fatalf("generating the synthetic graph: %v", synthGraph.err)
	}
	return synthGraph.pool
}

// BenchmarkReports times each report on the synthetic graph, next to the
// naive GROUP BY over the live manifest-layer edges that the kept
// aggregates replace. Each reports its median as p50-ms.
func BenchmarkReports(b *testing.B) {
	pool := synthPool(b)
	s := synthGraph.sum
	b.Logf("synthetic graph: %d repositories, %d images, %d edges, %d blobs, %d tag events, %d deleted; generated in %s",
		s.Repositories, s.Images, s.Edges, s.Blobs, s.TagEvents, s.Deleted, synthGraph.took.Round(time.Second))
	ctx := context.Background()
	all := repoglob.Compile("")
	until := s.Until // the last synthetic push
	if until.IsZero() {
		until = time.Now()
	}
	cases := []struct {
		name string
		run  func() error
	}{
		// The plainest question over the edges: layers by how many
		// manifests list them.
		{"naive-group-by", func() error {
			rows, err := pool.Query(ctx, `SELECT blob_digest, count(*) FROM manifest_layers GROUP BY 1 ORDER BY 2 DESC LIMIT 20`)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			return rows.Err()
		}},
		// The same over live memberships, distinct manifests and
		// repositories: what top-shared answers.
		{"naive-group-by-live", func() error {
			rows, err := pool.Query(ctx, `SELECT ml.blob_digest, count(DISTINCT rm.manifest_digest), count(DISTINCT rm.repository_id)
				FROM manifest_layers ml JOIN repository_manifests rm ON rm.manifest_digest = ml.manifest_digest AND rm.deleted_at IS NULL
				GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT 20`)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			return rows.Err()
		}},
		{"top-shared-live", func() error {
			_, err := dbsqlc.New().TopShared(ctx, pool, dbsqlc.TopSharedParams{
				Repository: all.Regexp(), Limit: 20, SortBy: report.SortImages, MinImages: 2})
			return err
		}},
		{"top-shared", func() error {
			_, err := report.LoadTopShared(ctx, pool, report.TopSharedOptions{Limit: 20, Repositories: all})
			return err
		}},
		{"storage-by-repository", func() error {
			_, err := report.LoadStorage(ctx, pool, report.StorageOptions{By: report.ByRepository})
			return err
		}},
		{"storage-by-namespace", func() error {
			_, err := report.LoadStorage(ctx, pool, report.StorageOptions{By: report.ByNamespace})
			return err
		}},
		{"bases", func() error {
			_, err := report.LoadBases(ctx, pool, report.BasesOptions{})
			return err
		}},
		// The CLI's defaults: each repository's latest 3 pushes, the top
		// 10 busters, the whole history.
		{"cache", func() error {
			_, err := report.LoadCache(ctx, pool, report.CacheOptions{Limit: 3, Busters: 10})
			return err
		}},
		{"cache-limit-20", func() error {
			_, err := report.LoadCache(ctx, pool, report.CacheOptions{Limit: 20, Busters: 10})
			return err
		}},
		{"cache-since-30d", func() error {
			_, err := report.LoadCache(ctx, pool, report.CacheOptions{Limit: 3, Busters: 10, Since: until.Add(-30 * 24 * time.Hour)})
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if err := c.run(); err != nil { // warm the cache, and fail early
				b.Fatal(err)
			}
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

package dashboards_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/bench/synth"
)

// BenchmarkPanels times every Postgres panel query of the dashboards as
// Grafana runs it on each refresh, with every value of each variable (the
// "All" selection), on a synthetic graph (synth.BenchGraph: 100k images by
// default, or the graph LAYERQ_BENCH_DATABASE_URL names). Each panel
// reports its median as p50-ms; the goal is 100 ms.
func BenchmarkPanels(b *testing.B) {
	url := synth.BenchGraph(b)
	ctx := context.Background()
	// Grafana sends each refresh's SQL as text, its time range and
	// variables written in: Postgres plans it every time, as here.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	for _, d := range loadDashboards(b) {
		values := grafanaAll(b, pool, d)
		for _, p := range d.leaves() {
			for i, tg := range p.Targets {
				if tg.RawSQL == "" {
					continue
				}
				sql := expand(b, tg.RawSQL, values)
				name := d.UID + "/" + strings.ReplaceAll(p.Title, " ", "_")
				if i > 0 {
					name += "/" + tg.RefID
				}
				b.Run(name, func(b *testing.B) {
					run(b, pool, sql) // warm
					times := make([]time.Duration, 0, b.N)
					for range b.N {
						start := time.Now()
						run(b, pool, sql)
						times = append(times, time.Since(start))
					}
					slices.Sort(times)
					b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
				})
			}
		}
	}
}

package layerindex_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// benchLayers is the layers of one benchmark image: what a small build
// adds (a few files, a hundred small sources, a few hundred library-like
// files, a large binary), so a run has both layers that are mostly
// database writes and layers that are mostly inflating.
func benchLayers(seed string) []sample.Step {
	files := func(n, size int, prefix string, data func(string, int) []byte) []sample.File {
		fs := make([]sample.File, n)
		for i := range fs {
			p := fmt.Sprintf("%s/f%04d", prefix, i)
			fs[i] = sample.File{Path: p, Content: data(seed+p, size)}
		}
		return fs
	}
	return []sample.Step{
		{CreatedBy: "COPY etc /etc", Files: files(3, 200, "etc/app", sample.Text)},
		{CreatedBy: "COPY src /app/src", Files: files(120, 2_000, "app/src", sample.Text)},
		{CreatedBy: "RUN pip install -r requirements.txt", Files: files(400, 3_000, "usr/lib/python3/site-packages", sample.Text)},
		{CreatedBy: "RUN make", Files: files(2, 1_500_000, "app/bin", sample.Bytes)},
		{CreatedBy: "RUN echo", Files: nil},
	}
}

// stackedImage is one image of three builds of benchLayers on top of each
// other: 15 layers, 13 distinct (the empty layer thrice).
func stackedImage(tb testing.TB) v1.Image {
	tb.Helper()
	base := build(tb, sample.Spec{Steps: benchLayers("base")})
	mid := build(tb, sample.Spec{Base: base, Steps: benchLayers("mid")})
	return build(tb, sample.Spec{Base: mid, Steps: benchLayers("app")})
}

// BenchmarkRun indexes the layers of a registry the way `scan --layers`
// does (layerindex.Run, twice the cores as jobs, each run on a fresh
// database, from the connections the crawl left in its pool), three ways:
// every job using the database at once (ConnPrice -1), one at a time and
// more as they wait (the default), and one at a time only. Each iteration
// runs each way in turn on each registry: "image" (stackedImage: 13
// distinct layers) and "registry" (48 images of 5 layers of their own in
// 12 repositories: 193 distinct). It reports each way's median wall time,
// the Postgres server's CPU for it, and the connections it opened.
func BenchmarkRun(b *testing.B) {
	ways := []struct {
		name  string
		price time.Duration
	}{{"per-job", -1}, {"growing", 0}, {"one", time.Hour}}
	registries := []struct {
		name   string
		images func(b *testing.B, reg *registrytest.Server)
	}{
		{"image", func(b *testing.B, reg *registrytest.Server) {
			reg.PushImage(b, "bench/app:1.0", stackedImage(b))
		}},
		{"registry", func(b *testing.B, reg *registrytest.Server) {
			for i := range 48 {
				reg.PushImage(b, fmt.Sprintf("bench/repo%02d:%d", i%12, i/12), build(b, sample.Spec{Steps: benchLayers(fmt.Sprint(i))}))
			}
		}},
	}
	type tally struct {
		wall, pgCPU []time.Duration
		conns       int64
		layers      int
	}
	tallies := map[string]*tally{}
	regs := make([]*registrytest.Server, len(registries))
	for i, r := range registries {
		regs[i] = registrytest.New(b)
		r.images(b, regs[i])
		for _, w := range ways {
			tallies[r.name+"/"+w.name] = &tally{}
		}
	}
	wk, err := walker.New(walker.Options{Attempts: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	jobs := 2 * runtime.NumCPU()
	b.ResetTimer()
	for range b.N {
		for i, r := range registries {
			for _, w := range ways {
				b.StopTimer()
				pool := pgtest.NewPool(b)
				store := graph.New(pool)
				if _, err := scan.Run(ctx, store, wk, scan.Options{Registry: regs[i].Host, Repositories: repoglob.Compile("**")}); err != nil {
					b.Fatal(err)
				}
				layers, err := layerindex.Pending(ctx, store, regs[i].Host, regs[i].Host, repoglob.Compile("**").Regexp())
				if err != nil {
					b.Fatal(err)
				}
				pg := pgtest.ServerPID(pool)
				conns0, cpu0, began := pool.Stat().NewConnsCount(), pgtest.ServerCPU(pg), time.Now()
				b.StartTimer()
				sum, err := layerindex.Run(ctx, &layerindex.Indexer{Store: store, ConnPrice: w.price}, wk, layers, jobs, nil)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if sum.Indexed != len(layers) || sum.Indexed == 0 {
					b.Fatalf("%s/%s: %+v of %d layers", r.name, w.name, sum, len(layers))
				}
				t := tallies[r.name+"/"+w.name]
				t.wall = append(t.wall, time.Since(began))
				t.pgCPU = append(t.pgCPU, pgtest.ServerCPU(pg)-cpu0)
				t.conns += pool.Stat().NewConnsCount() - conns0
				t.layers = len(layers)
				pool.Close()
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	median := func(ds []time.Duration) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	for _, r := range registries {
		for _, w := range ways {
			t := tallies[r.name+"/"+w.name]
			b.ReportMetric(median(t.wall), r.name+"-"+w.name+"-ms")
			b.ReportMetric(median(t.pgCPU), r.name+"-"+w.name+"-pg-cpu-ms")
			b.ReportMetric(float64(t.conns)/float64(b.N), r.name+"-"+w.name+"-new-conns")
		}
		b.ReportMetric(float64(tallies[r.name+"/growing"].layers), r.name+"-layers")
	}
	b.ReportMetric(float64(jobs), "jobs")
}

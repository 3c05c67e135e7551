package scan_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// The benchmark fixture: benchImages distinct images, benchImages/benchRepos
// tags in each of benchRepos repositories of one in-process registry. Every
// image is one of benchBases base images (2-3 layers) plus 3-6 layers of its
// own, with a Dockerfile-like config history that has empty_layer entries.
const (
	benchImages  = 2000
	benchRepos   = 200
	benchBases   = 4
	benchClients = 32 // concurrent raw GET clients, and scan.Options.Jobs
)

// benchFixture is the pushed registry and what the raw GET clients fetch.
type benchFixture struct {
	reg    *registrytest.Server
	images []benchImage
	// What a scan of it writes: manifest_layers, config_history and blobs rows.
	layerRows, historyRows, blobs int
	// CPU time the scans of one benchmark used, in this process (the
	// scanner and the registry) and in the Postgres server.
	cpu, pgCPU time.Duration
}

type benchImage struct {
	repo, tag, config string // config digest
}

var (
	fixtureOnce sync.Once
	fixture     *benchFixture
	fixtureErr  error
)

// processTB lets the fixture outlive a single benchmark: the testing package
// runs each benchmark function several times (b.N = 1, then the real N) and
// runs its cleanups after each, while the fixture takes seconds to push. The
// registry it starts lives until the test binary exits.
type processTB struct{ testing.TB }

func (processTB) Helper()                      {}
func (processTB) Cleanup(func())               {}
func (processTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (processTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// loadFixture builds and pushes the fixture once per test binary.
func loadFixture(b *testing.B) *benchFixture {
	b.Helper()
	fixtureOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				fixtureErr = fmt.Errorf("%v", r)
			}
		}()
		start := time.Now()
		fixture, fixtureErr = buildFixture()
		if fixtureErr == nil {
			b.Logf("fixture: %d images in %d repositories (%d layer rows, %d history rows, %d blobs) pushed in %s",
				benchImages, benchRepos, fixture.layerRows, fixture.historyRows, fixture.blobs, time.Since(start).Round(time.Millisecond))
		}
	})
	if fixtureErr != nil {
		b.Fatalf("building the benchmark fixture: %v", fixtureErr)
	}
	return fixture
}

func buildFixture() (*benchFixture, error) {
	// LAYERQ_BENCH_REGISTRY=distribution serves the fixture from the CNCF
	// distribution registry (in memory, in its own process, as it runs in
	// production) instead of go-containerregistry's (in this process).
	reg := registrytest.New(processTB{})
	if os.Getenv("LAYERQ_BENCH_REGISTRY") == "distribution" {
		reg = registrytest.NewDistributionProcess(processTB{})
	}
	fx := &benchFixture{reg: reg, images: make([]benchImage, benchImages)}

	bases := make([]v1.Image, benchBases)
	for i := range bases {
		steps := []sample.Step{
			{CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD file:base%d in / ", i), Files: []sample.File{{Path: "etc/os-release", Content: []byte(fmt.Sprintf("ID=base%d\n", i))}}},
			{CreatedBy: `/bin/sh -c #(nop)  CMD ["/bin/sh"]`, Empty: true},
			{CreatedBy: "RUN /bin/sh -c apk add --no-cache ca-certificates # buildkit", Comment: "buildkit.dockerfile.v0",
				Files: []sample.File{{Path: "etc/ssl/certs/ca.pem", Content: []byte(fmt.Sprintf("certs of base %d\n", i))}}},
		}
		if i%2 == 1 {
			steps = append(steps, sample.Step{CreatedBy: "RUN /bin/sh -c adduser -D app # buildkit", Comment: "buildkit.dockerfile.v0",
				Files: []sample.File{{Path: "etc/passwd", Content: []byte("app:x:1000:1000::/home/app:/bin/sh\n")}}})
		}
		img, err := sample.Build(sample.Spec{Steps: steps})
		if err != nil {
			return nil, err
		}
		bases[i] = img
	}

	images := make([]v1.Image, benchImages)
	configs, blobs := map[string]bool{}, map[string]bool{}
	for i := range images {
		repo := fmt.Sprintf("team-%02d/svc-%03d", i%benchRepos%20, i%benchRepos)
		tag := fmt.Sprintf("v1.%d.0", i/benchRepos)
		steps := []sample.Step{
			{CreatedBy: "WORKDIR /app", Comment: "buildkit.dockerfile.v0", Empty: true},
			{CreatedBy: fmt.Sprintf(`ENV SERVICE=svc-%d`, i), Comment: "buildkit.dockerfile.v0", Empty: true},
		}
		own := 3 + i%4 // 3-6 layers of its own
		for j := range own {
			steps = append(steps, sample.Step{
				CreatedBy: fmt.Sprintf("RUN /bin/sh -c make -C /src/part%d install # buildkit", j),
				Comment:   "buildkit.dockerfile.v0",
				Files:     []sample.File{{Path: fmt.Sprintf("app/part%d", j), Content: []byte(fmt.Sprintf("image %d layer %d\n", i, j))}},
			})
		}
		steps = append(steps,
			sample.Step{CreatedBy: "EXPOSE map[8080/tcp:{}]", Comment: "buildkit.dockerfile.v0", Empty: true},
			sample.Step{CreatedBy: `CMD ["/app/part0"]`, Comment: "buildkit.dockerfile.v0", Empty: true})
		format := sample.Docker
		if i%3 == 0 {
			format = sample.OCI
		}
		img, err := sample.Build(sample.Spec{
			Base: bases[i%benchBases], Steps: steps, Format: format,
			Created: sample.Epoch.Add(time.Duration(i) * time.Minute),
			Labels:  map[string]string{"org.opencontainers.image.title": repo, "org.opencontainers.image.version": tag},
		})
		if err != nil {
			return nil, err
		}
		cfg, err := img.ConfigName()
		if err != nil {
			return nil, err
		}
		images[i] = img
		fx.images[i] = benchImage{repo: repo, tag: tag, config: cfg.String()}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		fx.layerRows += len(m.Layers)
		if !configs[cfg.String()] {
			configs[cfg.String()] = true
			fx.historyRows += len(cf.History)
		}
		for _, l := range m.Layers {
			blobs[l.Digest.String()] = true
		}
	}
	fx.blobs = len(blobs)

	// Push with a transport that keeps its connections.
	tr := walker.DefaultTransport(benchClients)
	var g errgroup.Group
	g.SetLimit(16)
	for i, im := range fx.images {
		g.Go(func() error {
			ref, err := name.ParseReference(reg.Host + "/" + im.repo + ":" + im.tag)
			if err != nil {
				return err
			}
			if err := remote.Write(ref, images[i], remote.WithTransport(tr), remote.WithJobs(2)); err != nil {
				return fmt.Errorf("pushing %s: %w", ref, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	tr.CloseIdleConnections()
	return fx, nil
}

// manifestAccept is what the raw clients accept, as the walker does.
const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, " +
	"application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"

// rawGET fetches every image's manifest (by tag) and config (by digest) with
// benchClients concurrent clients over keep-alive connections, and returns
// how long it took. It is the ceiling a scan can reach on this registry.
func rawGET(ctx context.Context, fx *benchFixture) (time.Duration, error) {
	tr := &http.Transport{MaxIdleConns: benchClients * 2, MaxIdleConnsPerHost: benchClients * 2}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(url, accept string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
	base := "http://" + fx.reg.Host + "/v2/"
	work := make(chan benchImage, benchClients)
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(work)
		for _, im := range fx.images {
			select {
			case work <- im:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range benchClients {
		g.Go(func() error {
			for im := range work {
				if err := get(base+im.repo+"/manifests/"+im.tag, manifestAccept); err != nil {
					return err
				}
				if err := get(base+im.repo+"/blobs/"+im.config, ""); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

// scanOnce scans the fixture registry into a fresh database (created with
// the timer stopped), checks what it wrote, and returns how long scan.Run
// took.
func scanOnce(b *testing.B, fx *benchFixture) time.Duration {
	b.StopTimer()
	pool := pgtest.NewPool(b)
	store := graph.New(pool)
	// The in-process registry does not page its catalog: ask for all of it.
	w, err := walker.New(walker.Options{Jobs: benchClients, PageSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	pg := pgtest.ServerPID(pool)
	stopProfile := startScanProfile(b)
	b.StartTimer()
	cpu0, pg0 := selfCPU(), pgtest.ServerCPU(pg)
	start := time.Now()
	sum, err := scan.Run(context.Background(), store, w, scan.Options{
		Registry: fx.reg.Host, Repositories: repoglob.Compile(""), Jobs: benchClients,
	})
	took := time.Since(start)
	fx.cpu += selfCPU() - cpu0
	fx.pgCPU += pgtest.ServerCPU(pg) - pg0
	b.StopTimer()
	stopProfile()
	if err != nil {
		b.Fatal(err)
	}
	if sum.Repositories != benchRepos || sum.Tags != benchImages || sum.Manifests != benchImages || sum.Errors != 0 {
		b.Fatalf("summary = %s", sum)
	}
	fx.check(b, pool)
	b.StartTimer()
	return took
}

// check fails b unless pool holds exactly the fixture.
func (fx *benchFixture) check(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	for _, c := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM tags WHERE deleted_at IS NULL`, benchImages},
		{`SELECT count(*) FROM repository_manifests`, benchImages},
		{`SELECT count(*) FROM manifests`, benchImages},
		{`SELECT count(*) FROM manifest_layers`, fx.layerRows},
		{`SELECT count(*) FROM config_history`, fx.historyRows},
		{`SELECT count(*) FROM blobs`, fx.blobs},
	} {
		if n := scalar(b, pool, c.sql); n != c.want {
			b.Fatalf("%s = %d, want %d", c.sql, n, c.want)
		}
	}
}

// BenchmarkRawGET is the ceiling: the registry's own manifest+config GET rate.
func BenchmarkRawGET(b *testing.B) {
	fx := loadFixture(b)
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		took, err := rawGET(context.Background(), fx)
		if err != nil {
			b.Fatal(err)
		}
		total += took
	}
	b.ReportMetric(float64(benchImages*b.N)/total.Seconds(), "images/s")
	b.ReportMetric(benchImages, "fixture_images")
}

// BenchmarkScanVsRaw measures, in each iteration, the raw GET rate and a full
// scan.Run of the same registry into a fresh database (Jobs = benchClients),
// and reports both rates and their ratio.
func BenchmarkScanVsRaw(b *testing.B) {
	fx := loadFixture(b)
	fx.cpu, fx.pgCPU = 0, 0
	b.ResetTimer()
	var raw, scanned time.Duration
	for range b.N {
		took, err := rawGET(context.Background(), fx)
		if err != nil {
			b.Fatal(err)
		}
		raw += took
		scanned += scanOnce(b, fx)
	}
	rawRate := float64(benchImages*b.N) / raw.Seconds()
	scanRate := float64(benchImages*b.N) / scanned.Seconds()
	b.ReportMetric(scanRate, "images/s")
	b.ReportMetric(rawRate, "raw_images/s")
	b.ReportMetric(scanRate/rawRate, "ratio_to_raw")
	b.ReportMetric(benchImages, "fixture_images")
	reportCPU(b, fx)
}

// reportCPU reports the CPU time per scanned image in this process and, when
// its processes can be read, in the Postgres server.
func reportCPU(b *testing.B, fx *benchFixture) {
	n := float64(benchImages * b.N)
	b.ReportMetric(float64(fx.cpu.Microseconds())/n, "go_cpu_us/image")
	if fx.pgCPU > 0 {
		b.ReportMetric(float64(fx.pgCPU.Microseconds())/n, "pg_cpu_us/image")
	}
}

// scanProfile names files for CPU profiles of the timed scans only
// (-test.cpuprofile also covers the fixture, the raw GETs and creating
// databases): one per scan, FILE.1, FILE.2, ...; go tool pprof merges them
// when given several.
var scanProfile = flag.String("scanprofile", "", "write CPU profiles of BenchmarkScanVsRaw's timed scan.Run calls to `FILE`.N")

var profiles int

// startScanProfile starts a CPU profile of one scan, if asked for, and
// returns what stops it.
func startScanProfile(b *testing.B) func() {
	if *scanProfile == "" {
		return func() {}
	}
	profiles++
	f, err := os.Create(fmt.Sprintf("%s.%d", *scanProfile, profiles))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// selfCPU is the user+system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest is the database write path alone: the fixture's
// observations, walked beforehand, written into a fresh database the way a
// scan writes them by default (batches of 256, two at a time).
func BenchmarkIngest(b *testing.B) {
	const batch, writers = 256, 2
	fx := loadFixture(b)
	w, err := walker.New(walker.Options{Jobs: benchClients})
	if err != nil {
		b.Fatal(err)
	}
	obs := make([]image.Observation, len(fx.images))
	var g errgroup.Group
	g.SetLimit(benchClients)
	for i, im := range fx.images {
		g.Go(func() error {
			var err error
			obs[i], err = w.Walk(context.Background(), fx.reg.Host, im.repo, im.tag)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	fx.cpu, fx.pgCPU = 0, 0
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		pool := pgtest.NewPool(b)
		store := graph.New(pool)
		pg := pgtest.ServerPID(pool)
		b.StartTimer()
		cpu0, pg0 := selfCPU(), pgtest.ServerCPU(pg)
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(writers)
		for i := 0; i < len(obs); i += batch {
			g.Go(func() error { return store.Ingest(context.Background(), obs[i:min(i+batch, len(obs))]) })
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		fx.cpu += selfCPU() - cpu0
		fx.pgCPU += pgtest.ServerCPU(pg) - pg0
		b.StopTimer()
		fx.check(b, pool)
		b.StartTimer()
	}
	b.ReportMetric(float64(benchImages*b.N)/total.Seconds(), "images/s")
	b.ReportMetric(benchImages, "fixture_images")
	reportCPU(b, fx)
}

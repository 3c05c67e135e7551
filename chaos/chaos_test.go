package chaos_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/pgtest"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/stream"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The chaos run's size: LAYERQ_CHAOS_IMAGES images (default 300),
// LAYERQ_CHAOS_SECONDS of faults at the least (default 30). `go tool task
// chaos` runs a longer one.
func settings() (images int, faults time.Duration) {
	images, faults = 300, 30*time.Second
	if n, err := strconv.Atoi(os.Getenv("LAYERQ_CHAOS_IMAGES")); err == nil && n > 0 {
		images = n
	}
	if n, err := strconv.Atoi(os.Getenv("LAYERQ_CHAOS_SECONDS")); err == nil && n > 0 {
		faults = time.Duration(n) * time.Second
	}
	return images, faults
}

// binaries builds layerq-ingest, nats-server and the CNCF distribution
// registry at the versions go.mod pins.
type binaries struct{ ingest, nats, registry string }

func build(t testing.TB) binaries {
	t.Helper()
	dir := t.TempDir()
	b := binaries{filepath.Join(dir, "layerq-ingest"), filepath.Join(dir, "nats-server"), filepath.Join(dir, "registry")}
	for bin, pkg := range map[string]string{
		b.ingest:   "github.com/layerq/layerq/cmd/ingest",
		b.nats:     "github.com/nats-io/nats-server/v2",
		b.registry: "github.com/layerq/layerq/chaos/cmd/registry",
	} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	return b
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a process the test starts, kills and restarts.
type proc struct {
	t    testing.TB
	name string
	args []string
	env  func() []string // extra environment at each start

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	// asked is set once the test signalled the process.
	asked bool
}

func newProc(t testing.TB, name string, args ...string) *proc {
	f, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, args: args, log: f}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s (last of its log):\n%s", filepath.Base(name), b)
		}
		f.Close()
	})
	return p
}

func (p *proc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.name, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.Env = os.Environ()
	// Children die with the test, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if p.env != nil {
		cmd.Env = append(cmd.Env, p.env()...)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done, p.asked = cmd, done, false
}

// signal sends sig and waits for the exit (SIGKILL after 15 s).
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.asked = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (p *proc) kill()    { p.signal(syscall.SIGKILL) }
func (p *proc) stop()    { p.signal(syscall.SIGTERM) }
func (p *proc) restart() { p.stop(); p.start() }

// exitedOnItsOwn returns the exit status of a process that ended without
// the test signalling it, or -1 while it runs (or was signalled).
func (p *proc) exitedOnItsOwn() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		if p.asked {
			return -1
		}
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// faultProxy stands in front of the registry; while faulty it answers some
// requests 503, resets some connections, and trickles some bodies.
type faultProxy struct {
	faulty atomic.Bool
	// latency is added to every request (nanoseconds), as a distant
	// registry would.
	latency atomic.Int64
	proxy   *httputil.ReverseProxy
	served  atomic.Int64
	// injected 503s, resets and trickled bodies.
	unavailable, resets, slow atomic.Int64
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d := f.latency.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if f.faulty.Load() {
		switch x := rand.Float64(); {
		case x < 0.15:
			f.unavailable.Add(1)
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return
		case x < 0.25:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					if tc, ok := c.(*net.TCPConn); ok {
						tc.SetLinger(0) // RST, not FIN
					}
					c.Close()
					f.resets.Add(1)
					return
				}
			}
		case x < 0.40:
			f.slow.Add(1)
			w = &slowWriter{ResponseWriter: w}
		}
	}
	f.served.Add(1)
	f.proxy.ServeHTTP(w, r)
}

// slowWriter sends a body 256 bytes at a time, 2 ms apart.
type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 256)
		m, err := s.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[k:]
		time.Sleep(2 * time.Millisecond)
	}
	return n, nil
}

// rig is one run's processes: nats-server, the distribution registry (with
// the fault proxy in front for fetches), one receiver, two workers.
type rig struct {
	t        testing.TB
	dbURL    string
	natsURL  string
	regHost  string
	hookURL  string
	token    string
	proxy    *faultProxy
	nats     *proc
	registry *proc
	receiver *proc
	workers  []*proc
	// exitAfter, when set, gives each start of workers[1] a number of
	// commits after which it exits between commit and ack.
	exitAfter func() int
}

func newRig(t testing.TB, b binaries, dbURL string, workers int, workerArgs ...string) *rig {
	dir := t.TempDir()
	r := &rig{t: t, dbURL: dbURL, token: "chaos-token"}
	natsPort, regPort, recvPort := freePort(t), freePort(t), freePort(t)
	r.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	r.regHost = fmt.Sprintf("127.0.0.1:%d", regPort)
	r.hookURL = fmt.Sprintf("http://127.0.0.1:%d/webhooks/distribution", recvPort)

	natsConf := filepath.Join(dir, "nats.conf")
	os.WriteFile(natsConf, fmt.Appendf(nil, "listen: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", natsPort, filepath.Join(dir, "jetstream")), 0o644)
	r.nats = newProc(t, b.nats, "-c", natsConf)

	regConf := filepath.Join(dir, "registry.yml")
	os.WriteFile(regConf, fmt.Appendf(nil, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
notifications:
  events:
    includereferences: true
  endpoints:
    - name: layerq
      url: %s
      headers:
        Authorization: [Bearer %s]
      timeout: 3s
      threshold: 3
      backoff: 200ms
`, filepath.Join(dir, "registry"), r.regHost, r.hookURL, r.token), 0o644)
	r.registry = newProc(t, b.registry, "serve", regConf)
	r.registry.env = func() []string { return []string{"OTEL_TRACES_EXPORTER=none"} } // distribution traces by default

	target, _ := url.Parse("http://" + r.regHost)
	r.proxy = &faultProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
	r.proxy.proxy.ErrorLog = nil
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxySrv := &http.Server{Handler: r.proxy}
	go proxySrv.Serve(proxyLn)
	t.Cleanup(func() { proxySrv.Close() })

	// Events name the registry's own address; layerq fetches through the proxy.
	regs := filepath.Join(dir, "registries.yaml")
	os.WriteFile(regs, fmt.Appendf(nil, "registries:\n  - name: chaos-registry\n    host: %s\n    aliases: [%s]\n", proxyLn.Addr(), r.regHost), 0o644)
	common := []string{"--database-url", dbURL, "serve", "--nats-url", r.natsURL, "--registries-file", regs, "--ack-wait", "5s"}
	r.receiver = newProc(t, b.ingest, append(common, "--role", "receiver", "--listen", fmt.Sprintf("127.0.0.1:%d", recvPort), "--webhook-token", r.token)...)
	if len(workerArgs) == 0 {
		workerArgs = []string{"--workers", "4", "--layer-workers", "1"}
	}
	for i := range workers {
		w := newProc(t, b.ingest, append(append(common, "--role", "worker", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))), workerArgs...)...)
		if i == 1 {
			w.env = func() []string {
				if r.exitAfter == nil {
					return nil
				}
				return []string{"LAYERQ_FAULT_EXIT_AFTER_COMMITS=" + strconv.Itoa(r.exitAfter())}
			}
		}
		r.workers = append(r.workers, w)
	}
	return r
}

func (r *rig) start() {
	r.startWith(len(r.workers))
}

// startWith starts everything but the workers after the first n.
func (r *rig) startWith(n int) {
	r.nats.start()
	waitFor(r.t, "nats-server", 30*time.Second, func() bool { return dial(strings.TrimPrefix(r.natsURL, "nats://")) })
	r.registry.start()
	waitFor(r.t, "the registry", 30*time.Second, func() bool { return dial(r.regHost) })
	r.receiver.start()
	for _, w := range r.workers[:n] {
		w.start()
	}
	waitFor(r.t, "the receiver", 30*time.Second, func() bool {
		resp, err := http.Get(strings.TrimSuffix(r.hookURL, "/webhooks/distribution") + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func dial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// corpus is what both runs push: images on shared bases, some tagged twice.
type corpus struct {
	repos   []string
	images  []v1.Image
	digests []string
	// extra are pushed after the applications and never deleted: the
	// bases themselves (so images have bases in the graph), and a second
	// build of every tenth application (so builds have cache history).
	extra []extraPush
}

type extraPush struct {
	ref string
	img v1.Image
}

func makeCorpus(t testing.TB, n int) corpus {
	var bases []v1.Image
	for i := range 6 {
		b, err := sample.Build(sample.Spec{Steps: []sample.Step{
			{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte(fmt.Sprintf("ID=base%d\n", i))}}},
			{CreatedBy: "RUN apt-get install -y ca-certificates", Files: []sample.File{{Path: "etc/ssl/certs/ca.pem", Content: sample.Text(fmt.Sprint("ca", i), 2000)}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, b)
	}
	var c corpus
	for i := range n {
		img, err := sample.Build(sample.Spec{Base: bases[i%len(bases)], Steps: []sample.Step{
			{CreatedBy: "COPY requirements.txt .", Files: []sample.File{{Path: "app/requirements.txt", Content: []byte(fmt.Sprint("deps", i%10))}}},
			{CreatedBy: "COPY . /app", Files: []sample.File{{Path: "app/main", Content: sample.Text(fmt.Sprint("app", i), 1500)}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		c.repos = append(c.repos, fmt.Sprintf("team-%d/app-%d", i%10, i))
		c.images = append(c.images, img)
		c.digests = append(c.digests, d.String())
		if i%10 == 7 {
			next, err := sample.Build(sample.Spec{Base: bases[i%len(bases)], Created: sample.Epoch.Add(time.Hour), Steps: []sample.Step{
				{CreatedBy: "COPY requirements.txt .", Files: []sample.File{{Path: "app/requirements.txt", Content: []byte(fmt.Sprint("deps", i%10))}}},
				{CreatedBy: "COPY . /app", Files: []sample.File{{Path: "app/main", Content: sample.Text(fmt.Sprint("app v2 ", i), 1500)}}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			c.extra = append(c.extra, extraPush{c.repos[i] + ":2", next})
		}
	}
	for i, b := range bases {
		c.extra = append(c.extra, extraPush{fmt.Sprintf("library/base-%d:1", i), b})
	}
	return c
}

// deleted: every tenth image is deleted by digest; the "latest" tag of
// every other fifth is deleted.
func deletedManifest(i int) bool { return i%10 == 3 }
func taggedLatest(i int) bool    { return i%5 == 0 }
func deletedLatest(i int) bool   { return i%10 == 5 }

// run pushes the corpus and deletes, with faults or without, and returns the
// graph as rows.
func run(t testing.TB, b binaries, c corpus, chaos bool, faultFor time.Duration) map[string][]string {
	dbURL := pgtest.NewDatabase(t)
	r := newRig(t, b, dbURL, 2)
	r.start()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	stopFaults := make(chan struct{})
	var faultsDone sync.WaitGroup
	var once sync.Once
	stop := func() { once.Do(func() { close(stopFaults); faultsDone.Wait() }) }
	defer stop() // also when the test fails midway: no fault outlives the run
	var kills, natsRestarts, pgRestarts, hookExits atomic.Int32
	// reap restarts workers that exited on their own: status 3 is the
	// commit-then-exit fault, anything else a failure.
	reap := func() {
		for i, w := range r.workers {
			switch code := w.exitedOnItsOwn(); {
			case code == 3:
				hookExits.Add(1)
				w.start()
			case code >= 0:
				t.Errorf("worker %d exited with status %d", i, code)
				w.start()
			}
		}
	}
	if chaos {
		r.exitAfter = func() int { return 3 + rand.IntN(10) }
		r.workers[1].restart() // now with the commit-then-exit fault
		faultsDone.Add(2)
		go func() { // SIGKILL a worker every 2-3 s; restart whoever died
			defer faultsDone.Done()
			for {
				select {
				case <-stopFaults:
					return
				case <-time.After(time.Duration(2000+rand.IntN(1000)) * time.Millisecond):
				}
				reap()
				w := r.workers[rand.IntN(len(r.workers))]
				w.kill()
				kills.Add(1)
				w.start()
			}
		}()
		go func() { // the timeline of the other faults
			defer faultsDone.Done()
			at := func(d time.Duration) bool {
				select {
				case <-stopFaults:
					return false
				case <-time.After(d):
					return true
				}
			}
			if !at(faultFor / 6) {
				return
			}
			r.proxy.faulty.Store(true)
			if !at(faultFor / 6) {
				return
			}
			r.nats.restart()
			natsRestarts.Add(1)
			if !at(faultFor / 6) {
				return
			}
			if err := pgtest.Cluster().Restart(ctx); err != nil {
				t.Errorf("restarting Postgres: %v", err)
			}
			pgRestarts.Add(1)
			if !at(faultFor / 4) {
				return
			}
			r.proxy.faulty.Store(false)
		}()
	}

	start := time.Now()
	// Pushes, paced in chaos so that the faults meet them.
	pace := time.Duration(0)
	if chaos {
		pace = faultFor / 2 / time.Duration(len(c.images))
	}
	for i, img := range c.images {
		push(t, r.regHost, c.repos[i]+":1", img)
		if taggedLatest(i) {
			push(t, r.regHost, c.repos[i]+":latest", img)
		}
		time.Sleep(pace)
	}
	for _, e := range c.extra {
		push(t, r.regHost, e.ref, e.img)
	}
	// A forged event for a manifest the registry does not have: the one
	// failure the run causes on purpose.
	forge(t, r, "team-0/app-0", "sha256:"+strings.Repeat("0", 64))

	wantTags := len(c.extra)
	for i := range c.images {
		wantTags++
		if taggedLatest(i) {
			wantTags++
		}
	}
	quiesce(t, r, pool, fmt.Sprintf("SELECT count(*) = %d FROM tags WHERE deleted_at IS NULL", wantTags))

	for i := range c.images {
		switch {
		case deletedManifest(i):
			del(t, r.regHost, c.repos[i], c.digests[i])
		case deletedLatest(i):
			del(t, r.regHost, c.repos[i], "latest")
		}
	}
	// Faults go on for at least faultFor, then stop.
	if chaos {
		if left := faultFor - time.Since(start); left > 0 {
			time.Sleep(left)
		}
		stop()
		r.proxy.faulty.Store(false)
		reap()
		r.exitAfter = nil // the last start runs without the hook
		r.workers[1].restart()
	}
	gone, liveTags := 0, len(c.extra)
	for i := range c.images {
		switch {
		case deletedManifest(i): // untags all its tags
			gone++
		case taggedLatest(i) && !deletedLatest(i):
			liveTags += 2
		default:
			liveTags++
		}
	}
	quiesce(t, r, pool, fmt.Sprintf(`SELECT (SELECT count(*) FROM repository_manifests WHERE deleted_at IS NOT NULL) = %d
		AND (SELECT count(*) FROM tags WHERE deleted_at IS NULL) = %d`, gone, liveTags))
	if chaos {
		exits := hookExits.Load()
		p := r.proxy
		t.Logf("chaos: %d images in %s; %d SIGKILLs, %d exits between commit and ack, %d nats-server restarts, %d Postgres restarts; registry proxy: %d requests, %d answered 503, %d reset, %d trickled",
			len(c.images), time.Since(start).Round(time.Second), kills.Load(), exits, natsRestarts.Load(), pgRestarts.Load(),
			p.served.Load()+p.unavailable.Load()+p.resets.Load(), p.unavailable.Load(), p.resets.Load(), p.slow.Load())
		if kills.Load() < 3 || exits < 1 || natsRestarts.Load() != 1 || pgRestarts.Load() != 1 || p.unavailable.Load() == 0 || p.resets.Load() == 0 || p.slow.Load() == 0 {
			t.Errorf("the faults did not all happen")
		}
	}
	if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	rows := dump(t, pool)
	for _, p := range append(r.workers, r.receiver, r.registry, r.nats) {
		p.stop()
	}
	return rows
}

func push(t testing.TB, host, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

func del(t testing.TB, host, repo, ref string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+repo+"/manifests/"+ref, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting %s@%s: %s", repo, ref, resp.Status)
	}
}

func forge(t testing.TB, r *rig, repo, digest string) {
	t.Helper()
	body := fmt.Sprintf(`{"events":[{"id":"forged-1","timestamp":"2026-12-02T10:00:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":2,"repository":%q,"url":"http://%s/v2/%s/manifests/%s"},"request":{"host":%q}}]}`,
		digest, repo, r.regHost, repo, digest, r.regHost)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPost, r.hookURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond) // 503 while NATS restarts: send again, as a registry would
	}
	t.Fatal("the receiver never took the forged event")
}

// quiesce waits until both streams are drained and acked and cond holds.
func quiesce(t testing.TB, r *rig, pool *pgxpool.Pool, cond string) {
	t.Helper()
	waitFor(t, "the graph to settle: "+cond, 4*time.Minute, func() bool {
		nc, err := nats.Connect(r.natsURL, nats.Timeout(time.Second))
		if err != nil {
			return false
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, c := range [][2]string{{stream.Name, stream.Consumer}, {stream.LayersName, stream.LayersConsumer}} {
			cons, err := js.Consumer(ctx, c[0], c[1])
			if err != nil {
				return false
			}
			info, err := cons.Info(ctx)
			if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
				return false
			}
		}
		var ok bool
		if err := pool.QueryRow(ctx, cond).Scan(&ok); err != nil {
			return false
		}
		return ok
	})
}

// dump reads the graph as sorted rows per table, leaving out what differs
// between any two runs (ids, times, the registry's event ids).
func dump(t testing.TB, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	queries := map[string]string{
		"repositories": `SELECT registry, name FROM repositories`,
		"manifests": `SELECT digest, media_type, size, kind, coalesce(config_digest, ''), coalesce(os, ''), coalesce(architecture, ''),
			coalesce(created::text, ''), labels::text, coalesce(base_digest, ''), coalesce(history_mismatch, ''), layer_count, layers_size FROM manifests`,
		"blobs":                `SELECT digest, size, media_type, coalesce(diff_id, '') FROM blobs`,
		"manifest_layers":      `SELECT manifest_digest, position, blob_digest, coalesce(chain_id, ''), coalesce(created_by, '') FROM manifest_layers`,
		"repository_manifests": `SELECT r.name, rm.manifest_digest, rm.deleted_at IS NULL FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id`,
		"tags":                 `SELECT r.name, t.name, t.manifest_digest, t.deleted_at IS NULL FROM tags t JOIN repositories r ON r.id = t.repository_id`,
		"tag_events": `SELECT r.name, e.tag, e.action, coalesce(e.manifest_digest, ''), coalesce(e.previous_digest, ''), e.source
			FROM tag_events e JOIN repositories r ON r.id = e.repository_id`,
		"layer_indexes":   `SELECT blob_digest, compression, compressed_size, uncompressed_size, entries, files, file_bytes FROM layer_indexes`,
		"layer_files":     `SELECT blob_digest, ordinal, type, path, size, encode(digest, 'hex') FROM layer_files`,
		"ingest_failures": `SELECT registry, repository, reference, class FROM ingest_failures`,
		"image_bases":     `SELECT manifest_digest, base_digest, base_layers, source FROM image_bases`,
		"blob_usage":      `SELECT digest, size, manifests, repositories FROM blob_usage WHERE manifests > 0 OR repositories > 0`,
		"storage":         `SELECT registry, images, manifests, logical_bytes, physical_bytes FROM storage_registries`,
		"cache":           `SELECT repository, stream, reused_layers, total_layers FROM cache_history`,
		// No event applied twice: an event moves a tag once.
		"events applied twice": `SELECT count(*) FROM (SELECT 1 FROM tag_events WHERE event_id IS NOT NULL
			GROUP BY event_id, repository_id, tag, action HAVING count(*) > 1) x`,
	}
	out := map[string][]string{}
	for table, q := range queries {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprint(v...))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		slices.Sort(out[table])
	}
	return out
}

// Real processes under faults: the graph ends up row for row as a
// fault-free run of the same pushes leaves it.
func TestChaos(t *testing.T) {
	if pgtest.Cluster() == nil {
		t.Fatal("the chaos test restarts Postgres, so it needs the test harness's own cluster: unset LAYERQ_TEST_DATABASE_URL")
	}
	images, faultFor := settings()
	b := build(t)
	c := makeCorpus(t, images)

	clean := run(t, b, c, false, 0)
	if failures := clean["ingest_failures"]; len(failures) != 1 || !strings.HasSuffix(failures[0], "not_found") {
		t.Fatalf("the fault-free run recorded failures %q, want the forged event's not_found", failures)
	}
	if d := clean["events applied twice"]; len(d) != 1 || d[0] != "0" {
		t.Fatalf("the fault-free run applied events twice: %q", d)
	}
	if len(clean["layer_indexes"]) == 0 || len(clean["tag_events"]) < images {
		t.Fatalf("the fault-free run is empty: %d layers indexed, %d tag events", len(clean["layer_indexes"]), len(clean["tag_events"]))
	}
	for _, table := range []string{"cache", "image_bases", "layer_indexes", "layer_files", "tag_events", "blob_usage", "storage", "repository_manifests"} {
		if len(clean[table]) == 0 {
			t.Fatalf("the fault-free run left %s empty: the comparison would prove nothing there", table)
		}
	}
	chaotic := run(t, b, c, true, faultFor)

	tables := map[string]bool{}
	for table := range clean {
		tables[table] = true
	}
	for table := range chaotic {
		tables[table] = true
	}
	for table := range tables {
		want, got := clean[table], chaotic[table]
		if slices.Equal(got, want) {
			continue
		}
		extra, missing := diff(got, want)
		t.Errorf("%s: %d rows after the faults, %d without; extra %q; missing %q", table, len(got), len(want), first(extra, 5), first(missing, 5))
	}
}

// diff returns the rows of got not in want and of want not in got
// (multisets: a duplicate counts).
func diff(got, want []string) (extra, missing []string) {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		count[w]--
	}
	for k, n := range count {
		for ; n > 0; n-- {
			extra = append(extra, k)
		}
		for ; n < 0; n++ {
			missing = append(missing, k)
		}
	}
	return extra, missing
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

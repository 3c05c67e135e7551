package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
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
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The chaos run's size: LAYERQ_CHAOS_IMAGES images (default 300),
// LAYERQ_CHAOS_SECONDS of faults at the least (default 30). `go tool task
// chaos` runs a longer one.
func settings() (images int, faults time.Duration) {
	return sized("LAYERQ_CHAOS", 300, 30*time.Second)
}

// sized reads a run's size from PREFIX_IMAGES and PREFIX_SECONDS, or the
// defaults.
func sized(prefix string, images int, faults time.Duration) (int, time.Duration) {
	if n, err := strconv.Atoi(os.Getenv(prefix + "_IMAGES")); err == nil && n > 0 {
		images = n
	}
	if n, err := strconv.Atoi(os.Getenv(prefix + "_SECONDS")); err == nil && n > 0 {
		faults = time.Duration(n) * time.Second
	}
	return images, faults
}

// The retry schedule every serve process of the test runs with, shortened
// so that each outage of the faulty run outlasts it: an event failing for a
// passing reason is delivered retries times (after 0 s, 1 s and 3 s), then
// moved to the deferred stream and retried there every retryMaxDelay. The
// faulty run cuts off the registry, then Postgres, for outage each.
const (
	retries       = 3
	retryMaxDelay = 2 * time.Second
	outage        = 12 * time.Second
)

// retrySchedule is how long an event is retried before it is deferred.
func retrySchedule() time.Duration {
	var d time.Duration
	for n := 1; n < retries; n++ {
		d += min(time.Duration(1<<(n-1))*time.Second, retryMaxDelay)
	}
	return d
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
			if filepath.Base(name) == "layerq-ingest" {
				t.Logf("layerq-ingest (what failed, from the whole log):\n%s", failedLines(f.Name(), 30))
			}
		}
		f.Close()
	})
	return p
}

// failedLines returns the first n lines of a layerq-ingest log that say
// something failed.
func failedLines(path string, n int) string {
	b, _ := os.ReadFile(path)
	var out []string
	for line := range strings.Lines(string(b)) {
		if len(out) < n && (strings.Contains(line, "level=ERROR") || strings.Contains(line, ` failed" `)) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
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
// requests 503, resets some connections, and trickles some bodies; while
// down it answers every request 503, as a registry in an outage does.
type faultProxy struct {
	faulty atomic.Bool
	down   atomic.Bool
	// latency is added to every request (nanoseconds), as a distant
	// registry would.
	latency atomic.Int64
	proxy   *httputil.ReverseProxy
	served  atomic.Int64
	// injected 503s, resets and trickled bodies; 503s while down.
	unavailable, resets, slow, refused atomic.Int64
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d := f.latency.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if f.down.Load() {
		f.refused.Add(1)
		http.Error(w, "registry outage", http.StatusServiceUnavailable)
		return
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
//
// layerq knows two registries: the run's, chaos-registry, and another that
// takes distribution events too, so that the shared endpoint cannot
// attribute an event of an unknown host by elimination. The registry
// notifies its own endpoint, which attributes its events whatever host they
// name: pushes through aliasHost, a name layerq was not told, are its.
type rig struct {
	t       testing.TB
	dbURL   string
	natsURL string
	regHost string
	// aliasHost is the registry under another name (localhost).
	aliasHost string
	// hookURL is the receiver's shared endpoint for distribution; the
	// registry notifies hookURL + "/" + registryName.
	hookURL  string
	token    string
	proxy    *faultProxy
	registry *proc
	workers  []*proc
	// nats are the nats-server processes (one, or a cluster of three,
	// named n1, n2, n3); natsURL lists them all.
	nats []*proc
	// receivers each have an endpoint the registry notifies (with one,
	// hookURL's; every event arrives at each), receivers[0] at hookURL.
	receivers []*proc
	// exitAfter, when set, gives each start of workers[1] a number of
	// commits after which it exits between commit and ack.
	exitAfter func() int
}

// registryName is what layerq calls the run's registry.
const registryName = "chaos-registry"

// rigOptions shape a rig: its workers (and their flags), nats-server
// nodes (1, or 3 in a cluster, each stream with 3 replicas) and receivers.
type rigOptions struct {
	workers    int
	workerArgs []string
	natsNodes  int
	receivers  int
	// oneLayerScanner leaves layer scanning to the first worker alone.
	oneLayerScanner bool
}

func newRig(t testing.TB, b binaries, dbURL string, o rigOptions) *rig {
	dir := t.TempDir()
	r := &rig{t: t, dbURL: dbURL, token: "chaos-token"}
	o.natsNodes, o.receivers = max(o.natsNodes, 1), max(o.receivers, 1)
	regPort := freePort(t)
	r.regHost = fmt.Sprintf("127.0.0.1:%d", regPort)
	r.aliasHost = fmt.Sprintf("localhost:%d", regPort)

	// nats-server: alone, or three clustered over loopback routes.
	var natsURLs, routes []string
	natsPorts, routePorts := make([]int, o.natsNodes), make([]int, o.natsNodes)
	for i := range o.natsNodes {
		natsPorts[i], routePorts[i] = freePort(t), freePort(t)
		natsURLs = append(natsURLs, fmt.Sprintf("nats://127.0.0.1:%d", natsPorts[i]))
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i]))
	}
	r.natsURL = strings.Join(natsURLs, ",")
	for i := range o.natsNodes {
		conf := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n",
			i+1, natsPorts[i], filepath.Join(dir, fmt.Sprintf("jetstream-%d", i+1)))
		if o.natsNodes > 1 {
			conf += fmt.Sprintf("cluster {\n  name: layerq\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", routePorts[i], strings.Join(routes, ", "))
		}
		natsConf := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i+1))
		os.WriteFile(natsConf, []byte(conf), 0o644)
		r.nats = append(r.nats, newProc(t, b.nats, "-c", natsConf))
	}

	// The receivers, each notified of every event.
	recvPorts := make([]int, o.receivers)
	var endpoints string
	for i := range o.receivers {
		recvPorts[i] = freePort(t)
		endpoints += fmt.Sprintf(`    - name: layerq-%d
      url: http://127.0.0.1:%d/webhooks/distribution/%s
      headers:
        Authorization: [Bearer %s]
      timeout: 3s
      threshold: 3
      backoff: 200ms
`, i, recvPorts[i], registryName, r.token)
	}
	r.hookURL = fmt.Sprintf("http://127.0.0.1:%d/webhooks/distribution", recvPorts[0])

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
%s`, filepath.Join(dir, "registry"), r.regHost, endpoints), 0o644)
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

	// Events name the registry's own address (or aliasHost); layerq
	// fetches through the proxy. Nothing listens at the other registry.
	regs := filepath.Join(dir, "registries.yaml")
	os.WriteFile(regs, fmt.Appendf(nil, "registries:\n  - name: %s\n    host: %s\n    aliases: [%s]\n  - name: elsewhere\n    host: 127.0.0.1:1\n    source: distribution\n",
		registryName, proxyLn.Addr(), r.regHost), 0o644)
	// Each process is given one node (they learn the others from it),
	// the i-th process the i-th node.
	common := func(i int) []string {
		return []string{"--database-url", dbURL, "serve", "--nats-url", natsURLs[i%len(natsURLs)], "--registries-file", regs, "--ack-wait", "5s",
			"--retries", strconv.Itoa(retries), "--retry-max-delay", retryMaxDelay.String(), "--stream-replicas", strconv.Itoa(o.natsNodes)}
	}
	for i := range o.receivers {
		r.receivers = append(r.receivers, newProc(t, b.ingest, append(common(i), "--role", "receiver", "--listen", fmt.Sprintf("127.0.0.1:%d", recvPorts[i]), "--webhook-token", r.token)...))
	}
	workerArgs := o.workerArgs
	if len(workerArgs) == 0 {
		workerArgs = []string{"--workers", "4", "--layer-workers", "1"}
	}
	for i := range o.workers {
		args := append(append(common(i), "--role", "worker", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))), workerArgs...)
		if o.oneLayerScanner && i > 0 {
			args = append(args, "--layer-workers", "0")
		}
		w := newProc(t, b.ingest, args...)
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
	for _, p := range r.nats {
		p.start()
	}
	for _, u := range strings.Split(r.natsURL, ",") {
		waitFor(r.t, "nats-server", 30*time.Second, func() bool { return dial(strings.TrimPrefix(u, "nats://")) })
	}
	r.registry.start()
	waitFor(r.t, "the registry", 30*time.Second, func() bool { return dial(r.regHost) })
	for _, p := range r.receivers {
		p.start()
	}
	for _, w := range r.workers[:n] {
		w.start()
	}
	for _, p := range r.receivers {
		waitFor(r.t, "the receivers", 60*time.Second, func() bool {
			resp, err := http.Get("http://" + p.listen() + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
}

// listen is the address a serve process listens on (its --listen).
func (p *proc) listen() string {
	for i, a := range p.args {
		if a == "--listen" && i+1 < len(p.args) {
			return p.args[i+1]
		}
	}
	return ""
}

// all are the rig's processes, for stopping them.
func (r *rig) all() []*proc {
	return append(append(append(append([]*proc(nil), r.workers...), r.receivers...), r.registry), r.nats...)
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

// aliased: every seventh image is pushed through the registry's alias.
func aliased(i int) bool { return i%7 == 3 }

// misfitsAt are the images after whose push a webhook mixing a good event
// with unusable ones is posted; tornAt, after which a body that does not
// parse.
func misfitsAt(n int) []int { return []int{n / 3, 2 * n / 3} }
func tornAt(n int) int      { return n / 2 }

// figures are what a run counts besides the graph.
type figures struct {
	elapsed  time.Duration
	deferred int // "event deferred" lines in the workers' logs
}

// run pushes the corpus and deletes, with faults or without, and returns the
// graph as rows.
func run(t testing.TB, b binaries, c corpus, chaos bool, faultFor time.Duration) (map[string][]string, figures) {
	dbURL := pgtest.NewDatabase(t)
	r := newRig(t, b, dbURL, rigOptions{workers: 2})
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
	// The outages, as long as they lasted; timelineDone is closed once the
	// timeline of faults has run its course.
	var registryDown, postgresDown time.Duration
	timelineDone := make(chan struct{})
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
	// Pushes are paced in chaos so that the faults meet them, up to the
	// end of the second outage.
	window := faultFor / 2
	if chaos {
		window = faultFor/2 + 2*outage + 2*time.Second
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
			defer close(timelineDone)
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
			r.nats[0].restart()
			natsRestarts.Add(1)
			if !at(faultFor / 12) {
				return
			}
			if err := pgtest.Cluster().Restart(ctx); err != nil {
				t.Errorf("restarting Postgres: %v", err)
			}
			pgRestarts.Add(1)
			if !at(faultFor / 12) {
				return
			}
			// The outages, each longer than the whole retry schedule, run
			// to their end even when the run stops meanwhile: Postgres
			// must come back.
			began := time.Now()
			r.proxy.down.Store(true)
			time.Sleep(outage)
			r.proxy.down.Store(false)
			registryDown = time.Since(began)
			if !at(2 * time.Second) {
				return
			}
			began = time.Now()
			cluster := pgtest.Cluster()
			if err := cluster.Stop(ctx); err != nil {
				t.Errorf("stopping Postgres: %v", err)
			}
			time.Sleep(outage)
			// Restart starts the stopped server (stopping it is a no-op).
			if err := cluster.Restart(ctx); err != nil {
				t.Errorf("starting Postgres: %v", err)
			}
			postgresDown = time.Since(began)
			if !at(faultFor / 12) {
				return
			}
			r.proxy.faulty.Store(false)
		}()
	}

	start := time.Now()
	var pace func(i int)
	if chaos {
		pace = func(i int) {
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * window / time.Duration(len(c.images)))))
		}
	}
	extraTags := pushAll(t, r, c, pace)
	quiesce(t, r, pool, pushedCond(c, extraTags))
	deleteAll(t, r, c)
	// Faults go on for at least faultFor, and until the timeline has run
	// (the outages happen once, however short the run), then stop.
	if chaos {
		<-timelineDone
		if left := faultFor - time.Since(start); left > 0 {
			time.Sleep(left)
		}
		stop()
		r.proxy.faulty.Store(false)
		reap()
		r.exitAfter = nil // the last start runs without the hook
		r.workers[1].restart()
	}
	quiesce(t, r, pool, deletedCond(c, extraTags))
	fig := figures{elapsed: time.Since(start), deferred: countInLogs(t, r.workers, "event deferred")}
	if chaos {
		exits := hookExits.Load()
		p := r.proxy
		t.Logf("chaos: %d images in %s; %d SIGKILLs, %d exits between commit and ack, %d nats-server restarts, %d Postgres restarts; registry proxy: %d requests, %d answered 503, %d reset, %d trickled",
			len(c.images), fig.elapsed.Round(time.Second), kills.Load(), exits, natsRestarts.Load(), pgRestarts.Load(),
			p.served.Load()+p.unavailable.Load()+p.resets.Load()+p.refused.Load(), p.unavailable.Load(), p.resets.Load(), p.slow.Load())
		t.Logf("chaos: outages longer than the retry schedule (%d deliveries over %s, then deferred, retried every %s): registry down %s (%d requests answered 503), Postgres down %s; %d events deferred",
			retries, retrySchedule(), retryMaxDelay, registryDown.Round(100*time.Millisecond), p.refused.Load(), postgresDown.Round(100*time.Millisecond), fig.deferred)
		if kills.Load() < 3 || exits < 1 || natsRestarts.Load() != 1 || pgRestarts.Load() != 1 || p.unavailable.Load() == 0 || p.resets.Load() == 0 || p.slow.Load() == 0 {
			t.Errorf("the faults did not all happen")
		}
		if registryDown < outage || postgresDown < outage || p.refused.Load() == 0 || fig.deferred == 0 {
			t.Errorf("the outages did not outlast the retry schedule: registry down %s (%d requests answered 503), Postgres down %s, %d events deferred",
				registryDown, p.refused.Load(), postgresDown, fig.deferred)
		}
	}
	if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	rows := dump(t, pool)
	for _, p := range r.all() {
		p.stop()
	}
	return rows, fig
}

// pushAll pushes the corpus (each image, pace(i) after it when pace is
// set), the webhooks with misfits and the torn body, the extra pushes and
// the forged event, and returns how many tags the misfits' good events add.
func pushAll(t testing.TB, r *rig, c corpus, pace func(i int)) (extraTags int) {
	misfits := misfitsAt(len(c.images))
	for i, img := range c.images {
		host := r.regHost
		if aliased(i) {
			host = r.aliasHost
		}
		push(t, host, c.repos[i]+":1", img)
		if taggedLatest(i) {
			push(t, host, c.repos[i]+":latest", img)
		}
		// A sender's webhook that holds events layerq cannot use: the good
		// event tags an image pushed already, one that stays.
		for k, at := range misfits {
			if i == at && i > 0 {
				j := i - 1
				for deletedManifest(j) {
					j--
				}
				postMisfits(t, r, k, c.repos[j], c.digests[j])
				extraTags++
			}
		}
		if i == tornAt(len(c.images)) {
			postTorn(t, r)
		}
		if pace != nil {
			pace(i)
		}
	}
	for _, e := range c.extra {
		push(t, r.regHost, e.ref, e.img)
	}
	// A forged event for a manifest the registry does not have: the one
	// failure the run causes on purpose.
	forge(t, r, "team-0/app-0", "sha256:"+strings.Repeat("0", 64))
	return extraTags
}

// pushedCond holds once every push of pushAll is in the graph.
func pushedCond(c corpus, extraTags int) string {
	wantTags := len(c.extra) + extraTags
	for i := range c.images {
		wantTags++
		if taggedLatest(i) {
			wantTags++
		}
	}
	return fmt.Sprintf("SELECT count(*) = %d FROM tags WHERE deleted_at IS NULL", wantTags)
}

// deleteAll deletes what the corpus deletes: manifests by digest, latest
// tags.
func deleteAll(t testing.TB, r *rig, c corpus) {
	for i := range c.images {
		switch {
		case deletedManifest(i):
			del(t, r.regHost, c.repos[i], c.digests[i])
		case deletedLatest(i):
			del(t, r.regHost, c.repos[i], "latest")
		}
	}
}

// deletedCond holds once every delete of deleteAll is in the graph.
func deletedCond(c corpus, extraTags int) string {
	gone, liveTags := 0, len(c.extra)+extraTags
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
	return fmt.Sprintf(`SELECT (SELECT count(*) FROM repository_manifests WHERE deleted_at IS NOT NULL) = %d
		AND (SELECT count(*) FROM tags WHERE deleted_at IS NULL) = %d`, gone, liveTags)
}

// countInLogs counts the lines holding s in the logs of procs.
func countInLogs(t testing.TB, procs []*proc, s string) int {
	t.Helper()
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile(p.log.Name())
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, s) {
				n++
			}
		}
	}
	return n
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
	body := fmt.Sprintf(`{"events":[%s]}`, hookEvent("forged-1", r.regHost, repo, "", digest))
	if a := post(t, r, body); a.Published+a.Duplicates != 1 || a.Quarantined != 0 {
		t.Fatalf("the forged event: the receiver answered %+v, want it published", a)
	}
}

// hookEvent is a distribution push event for repo@digest (with tag, if
// any) that names host.
func hookEvent(id, host, repo, tag, digest string) string {
	return fmt.Sprintf(`{"id":%q,"timestamp":"2026-12-02T10:00:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":2,"repository":%q,"tag":%q,"url":"http://%s/v2/%s/manifests/%s"},"request":{"host":%q}}`,
		id, digest, repo, tag, host, repo, digest, host)
}

// postMisfits posts, on the shared endpoint, the k-th envelope of a good
// event (tag misfit-k on repo@digest, naming the registry's own address),
// a malformed one (a repository name in capitals) and one naming a host no
// registry has. The receiver publishes the first and quarantines the
// others. What is quarantined names no address of the run, so both runs
// keep the same items.
func postMisfits(t testing.TB, r *rig, k int, repo, digest string) {
	t.Helper()
	body := fmt.Sprintf(`{"events":[%s,%s,%s]}`,
		hookEvent(fmt.Sprintf("misfit-%d-good", k), r.regHost, repo, fmt.Sprintf("misfit-%d", k), digest),
		hookEvent(fmt.Sprintf("misfit-%d-malformed", k), "registry.invalid", "Team-X/App", "1", "sha256:"+strings.Repeat("1", 64)),
		hookEvent(fmt.Sprintf("misfit-%d-unknown", k), "registry.example:5000", repo, fmt.Sprintf("misfit-%d", k), digest))
	if a := post(t, r, body); a.Published+a.Duplicates != 1 || a.Quarantined != 2 {
		t.Fatalf("misfits %d: the receiver answered %+v, want 1 event published and 2 quarantined", k, a)
	}
}

// postTorn posts a body cut short, as a sender that crashed midway sends
// it; the receiver quarantines it whole.
func postTorn(t testing.TB, r *rig) {
	t.Helper()
	body := fmt.Sprintf(`{"events":[%s`, hookEvent("torn-1", "registry.invalid", "team-x/torn", "1", "sha256:"+strings.Repeat("2", 64)))
	if a := post(t, r, body[:len(body)-40]); a.Published+a.Duplicates != 0 || a.Quarantined != 1 {
		t.Fatalf("the torn body: the receiver answered %+v, want it quarantined", a)
	}
}

// hookAnswer is the receiver's answer to a webhook.
type hookAnswer struct{ Published, Duplicates, Ignored, Quarantined int }

// post sends a distribution webhook body to the shared endpoint with the
// run's credentials until the receiver takes it (it answers 503 while
// nats-server restarts: a registry sends again), and returns the answer.
func post(t testing.TB, r *rig, body string) hookAnswer {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPost, r.hookURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var a hookAnswer
			derr := json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if derr != nil {
					t.Fatalf("the receiver's answer: %v", derr)
				}
				return a
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("the receiver answered %s to a webhook, want 200 (or 503 while NATS restarts)", resp.Status)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the receiver never took a webhook")
	return hookAnswer{}
}

// quiesce waits until the event, deferred, layer and quarantine streams are
// drained and acked and cond holds.
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
		for _, c := range [][2]string{{stream.Name, stream.Consumer}, {stream.DeferredName, stream.DeferredConsumer},
			{stream.LayersName, stream.LayersConsumer}, {stream.QuarantineName, stream.QuarantineConsumer}} {
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
		// What the receiver kept aside, as received (not when, nor how often).
		"quarantine": `SELECT source, registry, reason, kind, encode(data, 'escape') FROM quarantine`,
		// The other names the registry was reached through; each run's
		// registry listens on a port of its own.
		"registry_aliases": `SELECT registry, regexp_replace(host, ':[0-9]+$', ':<port>') FROM registry_aliases`,
		"image_bases":      `SELECT manifest_digest, base_digest, base_layers, source FROM image_bases`,
		"blob_usage":       `SELECT digest, size, manifests, repositories FROM blob_usage WHERE manifests > 0 OR repositories > 0`,
		"storage":          `SELECT registry, images, manifests, logical_bytes, physical_bytes FROM storage_registries`,
		"cache":            `SELECT repository, stream, reused_layers, total_layers FROM cache_history`,
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
			cols := make([]string, len(v))
			for i, x := range v {
				cols[i] = fmt.Sprint(x)
			}
			out[table] = append(out[table], strings.Join(cols, " | "))
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

	clean, fig := run(t, b, c, false, 0)
	t.Logf("fault-free: %d images in %s; %d events deferred; %d items quarantined; aliases %q",
		images, fig.elapsed.Round(time.Second), fig.deferred, len(clean["quarantine"]), clean["registry_aliases"])
	checkClean(t, clean, images)
	chaotic, fig := run(t, b, c, true, faultFor)
	t.Logf("chaos: %d events deferred; %d items quarantined; aliases %q", fig.deferred, len(chaotic["quarantine"]), chaotic["registry_aliases"])
	compareGraphs(t, clean, chaotic)
}

// checkClean fails the test unless a fault-free run of images made what
// the comparison needs to prove anything: the forged failure alone, no
// event applied twice, rows in every table compared, the alias, and the
// misfits and the torn body kept aside.
func checkClean(t *testing.T, clean map[string][]string, images int) {
	t.Helper()
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
	// Pushes through the alias are the registry's, and the alias is
	// recorded; the misfits' unusable events and the torn body are kept.
	if a := clean["registry_aliases"]; !slices.Equal(a, []string{registryName + " | localhost:<port>"}) {
		t.Fatalf("the fault-free run recorded aliases %q, want localhost for %s", a, registryName)
	}
	reasons := map[string]int{}
	for _, q := range clean["quarantine"] {
		if f := strings.Split(q, " | "); len(f) > 2 {
			reasons[f[2]]++
		}
	}
	misfits := 0
	for _, at := range misfitsAt(images) {
		if at > 0 {
			misfits++
		}
	}
	if want := map[string]int{"malformed_event": misfits, "unknown_registry": misfits, "unparseable_body": 1}; !maps.Equal(reasons, want) {
		t.Fatalf("the fault-free run quarantined %v, want %v", reasons, want)
	}
}

// compareGraphs fails the test for each table whose rows differ between
// a fault-free run (clean) and another.
func compareGraphs(t *testing.T, clean, chaotic map[string][]string) {
	t.Helper()
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

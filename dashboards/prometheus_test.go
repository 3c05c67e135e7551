package dashboards_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/promtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start runs a command until the test ends, its output in a log file that
// a failing test prints.
func start(t *testing.T, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", filepath.Base(name), b)
		}
	})
}

// promQuery evaluates expr at the server's now.
func promQuery(t *testing.T, base, expr string) (status string, series int, errText string) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return "unreachable", 0, err.Error()
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		// Starting up, Prometheus answers 503 in plain text.
		return "unready: " + resp.Status, 0, err.Error()
	}
	return r.Status, len(r.Data.Result), r.Error
}

// Grafana's global variables in the Prometheus panels, as Grafana fills
// them for a 6-hour range and a 15 s scrape interval.
var promGlobals = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "6h")

// A real Prometheus scrapes a real `layerq-ingest serve` that the
// distribution registry notifies; every Prometheus panel's query then
// evaluates, and finds series.
func TestPrometheusPanels(t *testing.T) {
	t.Parallel()
	promtest.Promtool(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: run `go tool task prometheus` (Debian's prometheus package), or put prometheus on PATH")
	}
	bin := filepath.Join(t.TempDir(), "layerq-ingest")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/layerq/layerq/cmd/ingest").CombinedOutput(); err != nil {
		t.Fatalf("building layerq-ingest: %v\n%s", err, out)
	}

	dbURL := pgtest.NewDatabase(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	reg := registrytest.NewNotifyingDistribution(t, base+"/webhooks/distribution", "s3cret")
	start(t, bin, "--database-url", dbURL, "--data-dir", t.TempDir(), "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--registry", reg.Host, "--webhook-token", "s3cret", "--reconcile-every", "2s")
	waitFor(t, "layerq /readyz", 30*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	promPort := freePort(t)
	promBase := "http://127.0.0.1:" + strconv.Itoa(promPort)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, fmt.Appendf(nil, "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: layerq\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n", port), 0o644)
	promtest.Run(t, "check", "config", cfg)
	start(t, promBin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(promPort))

	// Traffic: two pushes, a webhook naming a manifest the registry does
	// not have (a walk error), and one with a wrong token.
	for i, app := range []string{"api", "worker"} {
		img, err := sample.Build(sample.Spec{Format: sample.OCI, Steps: []sample.Step{
			{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=test\n")}}},
			{CreatedBy: "RUN make " + app, Files: []sample.File{{Path: app, Content: sample.Text(app, 3000+i)}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(reg.Ref(t, "team/"+app+":1"), img); err != nil {
			t.Fatal(err)
		}
	}
	fixture, err := os.ReadFile("../internal/webhook/testdata/distribution-v3.1.2/manifest-push-oci-tagged.json")
	if err != nil {
		t.Fatal(err)
	}
	var captured struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(fixture, &captured); err != nil {
		t.Fatal(err)
	}
	ghost := bytes.ReplaceAll(captured.Body, []byte("127.0.0.1:5000"), []byte(reg.Host))
	for _, token := range []string{"s3cret", "wrong"} {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/distribution", bytes.NewReader(ghost))
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	// Wait until Prometheus holds a few scrapes of everything.
	waitFor(t, "Prometheus to scrape layerq's walk error, layer scans and scan progress", 60*time.Second, func() bool {
		for _, q := range []string{
			`layerq_walk_errors_total{class="not_found"} > 0`,
			`count_over_time(layerq_walk_errors_total{class="not_found"}[1m]) >= 3`,
			`count_over_time(layerq_layers_total{outcome="indexed"}[1m]) >= 3`,
			`count_over_time(layerq_scan_repositories_done[1m]) >= 3`,
		} {
			if status, n, _ := promQuery(t, promBase, q); status != "success" || n == 0 {
				return false
			}
		}
		return true
	})

	exprs := 0
	for _, d := range loadDashboards(t) {
		for _, p := range d.leaves() {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					continue
				}
				exprs++
				expr := promGlobals.Replace(tg.Expr)
				status, n, errText := promQuery(t, promBase, expr)
				if status != "success" {
					t.Errorf("panel %q query %s: %s: %s", p.Title, tg.RefID, errText, expr)
				} else if n == 0 {
					t.Errorf("panel %q query %s finds no series: %s", p.Title, tg.RefID, expr)
				}
			}
		}
	}
	if exprs < 12 {
		t.Errorf("%d Prometheus queries evaluated", exprs)
	}
}

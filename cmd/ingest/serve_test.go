package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/natstest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
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

// End to end: the CNCF distribution registry notifies `serve`, which puts
// the events on JetStream; its worker walks them into the graph.
func TestServeWithDistributionNotifications(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	port := freePort(t)
	hook := "http://127.0.0.1:" + strconv.Itoa(port) + "/webhooks/distribution"
	reg := registrytest.NewNotifyingDistribution(t, hook, "s3cret")

	ctx, stop := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	// The data directory is made before serve starts, so that its removal
	// (a cleanup, run last-registered first) waits for serve to stop.
	dataDir := t.TempDir()
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(&out, &errOut), []string{"layerq-ingest",
			"--database-url", dbURL, "--data-dir", dataDir,
			"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--registry", reg.Host, "--webhook-token", "s3cret"})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v\n%s", err, errOut.String())
		}
	})
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz")

	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	count := func(sql string, args ...any) int {
		var n int
		if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	img, err := sample.Build(sample.Spec{Format: sample.OCI, Steps: []sample.Step{
		{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=test\n")}}},
		{CreatedBy: "RUN make", Files: []sample.File{{Path: "app", Content: sample.Text("app", 5000)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	if err := remote.Write(reg.Ref(t, "team/app:1.0"), img); err != nil {
		t.Fatal(err)
	}
	pushed := time.Now()
	waitFor(t, "the pushed image in the graph", func() bool {
		return count(`SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id
			WHERE r.registry = $1 AND r.name = 'team/app' AND t.name = '1.0' AND t.manifest_digest = $2 AND t.deleted_at IS NULL`, reg.Host, digest.String()) == 1 &&
			count(`SELECT count(*) FROM manifest_layers WHERE manifest_digest = $1`, digest.String()) == 2
	})
	t.Logf("push -> graph in %s", time.Since(pushed).Round(time.Millisecond))
	if n := count(`SELECT count(*) FROM tag_events WHERE source = 'distribution' AND action = 'push' AND event_id IS NOT NULL`); n != 1 {
		t.Fatalf("push tag events = %d", n)
	}

	// The layer-scan stream indexes both layers, off the ingest path.
	layers, _ := img.Layers()
	l0, _ := layers[0].Digest()
	l1, _ := layers[1].Digest()
	waitFor(t, "the pushed layers indexed", func() bool {
		return count(`SELECT count(*) FROM layer_indexes WHERE blob_digest = ANY($1)`, []string{l0.String(), l1.String()}) == 2
	})
	if n := count(`SELECT count(*) FROM layer_files WHERE blob_digest = $1 AND path = 'app' AND size = 5000 AND type = 1`, l1.String()); n != 1 {
		t.Fatalf("app layer file rows = %d", n)
	}

	if err := remote.Delete(reg.Ref(t, "team/app@"+digest.String())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delete marked", func() bool {
		return count(`SELECT count(*) FROM repository_manifests WHERE manifest_digest = $1 AND deleted_at IS NOT NULL`, digest.String()) == 1 &&
			count(`SELECT count(*) FROM tags WHERE deleted_at IS NOT NULL`) == 1
	})
	if n := count(`SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("failures recorded: %d", n)
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	waitFor(t, url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// startServe runs `layerq-ingest serve` with args until the test ends.
func startServe(t *testing.T, dbURL string, args ...string) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	dataDir := t.TempDir() // before serve starts: removed after it stops
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(&out, &errOut), append([]string{"layerq-ingest", "--database-url", dbURL, "--data-dir", dataDir, "serve"}, args...))
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve %v: %v\n%s", args, err, errOut.String())
		}
	})
}

// Receivers and workers in separate processes (here: separate servers) on
// one NATS server.
func TestServeSplitRoles(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ns := natstest.Start(t, stream.Settings{})
	port := freePort(t)
	hook := "http://127.0.0.1:" + strconv.Itoa(port) + "/webhooks/distribution"
	reg := registrytest.NewDistribution(t, registrytest.DistributionOptions{Configure: func(c *configuration.Configuration) {
		c.Notifications.Endpoints = []configuration.Endpoint{{
			Name: "layerq", URL: hook, Timeout: 2 * time.Second, Threshold: 3, Backoff: 200 * time.Millisecond,
			Headers: http.Header{"Authorization": {"Bearer s3cret"}},
		}}
	}})
	natsURL := ns.NATS.ClientURL()
	startServe(t, dbURL, "--role", "receiver", "--nats-url", natsURL, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--registry", reg.Host, "--webhook-token", "s3cret")
	// One command line at a time: see the note on TestMain.
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz")
	workerPort := freePort(t)
	startServe(t, dbURL, "--role", "worker", "--nats-url", natsURL, "--listen", "127.0.0.1:"+strconv.Itoa(workerPort), "--registry", reg.Host)
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(workerPort)+"/readyz")

	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN split", Files: []sample.File{{Path: "s", Content: []byte("split")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(reg.Ref(t, "team/split:1"), img); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	digest, _ := img.Digest()
	waitFor(t, "the push in the graph", func() bool {
		var n int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM tags WHERE manifest_digest = $1`, digest.String()).Scan(&n)
		return n == 1
	})
	// The worker serves no webhooks.
	resp, err := http.Post("http://127.0.0.1:"+strconv.Itoa(workerPort)+"/webhooks/distribution", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("worker answered a webhook with %d", resp.StatusCode)
	}
}

// A registry that sends no webhooks at all is still kept in the graph by
// the background reconcile scan.
func TestServeReconciles(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN quiet", Files: []sample.File{{Path: "q", Content: []byte("quiet")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	digest := reg.PushImage(t, "team/quiet:1", img)
	startServe(t, dbURL, "--listen", "127.0.0.1:0", "--registry", reg.Host, "--insecure-no-auth", "--reconcile-every", "100ms")
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	waitFor(t, "the reconcile scan", func() bool {
		var n int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM tags WHERE manifest_digest = $1 AND name = '1'`, digest).Scan(&n)
		return n == 1
	})
}

func TestServeRefusesBadSetups(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	// A registries file with a mistyped key and a list for a host: one
	// line, in the file's words, not Go's types.
	badFile := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(badFile, []byte("registries:\n  - host: r.example.com\n    sourc: harbor\n  - host: [1]\n    insecure: maybe\n    webhook_tokens: s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	topFile := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(topFile, []byte("registry:\n  - host: r.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--registry", "r.example.com"}, receiver.ErrNoAuth.Error()},
		{[]string{"serve", "--webhook-token", "x"}, "serve needs the registries it may fetch from: --registry HOST[:PORT] (or --registries-file FILE)"},
		{[]string{"quarantine", "replay", "--all"}, "quarantine replay needs the registries it may fetch from: --registry HOST[:PORT] (or --registries-file FILE)"},
		{[]string{"serve", "--registry", "r", "--webhook-token", "distribution="}, "--webhook-token (or LAYERQ_WEBHOOK_TOKENS) value 1 has no token: it takes [SOURCE=]TOKEN"},
		{[]string{"serve", "--registry", "r", "--insecure-no-auth", "--role", "worker"}, "--role receiver and worker run in separate processes, which need a shared NATS server: set --nats-url (or NATS_URL)"},
		{[]string{"serve", "--registry", "r", "--insecure-no-auth", "--role", "boss"}, `--role must be all, receiver or worker, not "boss"`},
		{[]string{"serve", "--registry", "https://r.example.com/v2", "--webhook-token", "x"}, `registry 1: host "https://r.example.com/v2": give the registry as HOST[:PORT], without scheme or path (r.example.com; for plain HTTP, set insecure)`},
		{[]string{"serve", "--registries-file", badFile, "--webhook-token", "x"}, "reading registries from " + badFile + ": line 3: sourc is not a setting here " +
			"(under registries:, a registry takes name, host, aliases, source, insecure, username, password, token, webhook_tokens, webhook_basic); " +
			"line 4: a list where another kind of value belongs; line 5: a string where another kind of value belongs; line 6: a string where another kind of value belongs"}, // never the value: it may be a secret
		{[]string{"serve", "--registries-file", topFile, "--webhook-token", "x"}, "reading registries from " + topFile + ": line 1: registry is not a setting here (the file holds a list under registries:)"},
	}
	for _, c := range cases {
		_, _, err := runCLI(t, append([]string{"--database-url", dbURL}, c.args...)...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

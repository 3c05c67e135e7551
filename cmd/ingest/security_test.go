package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/pgtest"
	"github.com/layerq/layerq/internal/registrytest"
	"github.com/layerq/layerq/internal/sample"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "layerq test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveLogging runs layerq-ingest with args until the test ends, logging to log.
func serveLogging(t *testing.T, log io.Writer, args ...string) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(log, log), append([]string{"layerq-ingest"}, args...))
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// serve --tls-cert/--tls-key serves HTTPS only; one of the two is refused.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	dbURL := pgtest.NewDatabase(t)
	port := freePort(t)
	var log syncBuffer
	serveLogging(t, &log, "--database-url", dbURL, "--data-dir", t.TempDir(), "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--registry", "reg.test", "--webhook-token", "s3cret", "--tls-cert", certFile, "--tls-key", keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, "serve over HTTPS", func() bool {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := client.Post(base+"/webhooks/distribution", "application/json", strings.NewReader(`{"events":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook without a token over HTTPS: %d, want 401", resp.StatusCode)
	}
	// Plain HTTP gets nothing served.
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP is served")
		}
	}
	_, errOut, err := runCLI(t, "--database-url", dbURL, "serve", "--registry", "reg.test", "--webhook-token", "x", "--tls-cert", certFile)
	if err == nil || !strings.Contains(err.Error(), "HTTPS needs both --tls-cert and --tls-key") {
		t.Errorf("--tls-cert alone: %v %s", err, errOut)
	}
}

// No secret given to serve, nor a wrong one sent to it, ever shows in its
// log or its metrics, through a run that exercises the paths that log: a
// refused webhook, an event for an unknown registry, a registry refusing
// the credentials, a failed event recorded.
func TestNoSecretLogged(t *testing.T) {
	secrets := map[string]string{
		"webhook token":            "tok-3f9a1c-webhook",
		"rotated webhook token":    "tok-77b2e0-rotated",
		"basic password":           "pw-1d5e8a-basic",
		"registry password":        "pw-c0ffee-registry",
		"registry token":           "tok-9e1f00-registry",
		"database password":        "pw-5ab1e7-database",
		"wrong token sent to us":   "tok-badbad-attacker",
		"registry's bearer answer": "tok-aa55aa-answer",
	}
	reg := registrytest.New(t)
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Www-Authenticate", `Basic realm="`+secrets["registry's bearer answer"]+`"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	})
	regFile := filepath.Join(t.TempDir(), "registries.yaml")
	os.WriteFile(regFile, []byte("registries:\n  - name: reg.test\n    host: "+reg.Host+"\n    username: layerq\n    password: "+secrets["registry password"]+"\n"), 0o600)
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secrets["database password"])
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var log syncBuffer
	t.Setenv("LAYERQ_WEBHOOK_BASIC", "dockerhub=hub:"+secrets["basic password"])
	serveLogging(t, &log, "--database-url", u.String(), "--data-dir", t.TempDir(), "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--registries-file", regFile, "--webhook-token", secrets["webhook token"], "--webhook-token", secrets["rotated webhook token"])
	waitReady(t, base+"/readyz")

	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/distribution", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	event := func(host, id string) string {
		return `{"events":[{"id":"` + id + `","timestamp":"2026-12-02T10:00:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` +
			strings.Repeat("1", 64) + `","size":2,"repository":"team/app","url":"http://` + host + `/v2/team/app/manifests/x","tag":"1"},"request":{"host":"` + host + `"}}]}`
	}
	if code := post(secrets["wrong token sent to us"], event(reg.Host, "e1")); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code := post(secrets["webhook token"], event("evil.example.com", "e2")); code != 422 {
		t.Errorf("unknown registry: %d", code)
	}
	if code := post(secrets["rotated webhook token"], event(reg.Host, "e3")); code != 200 {
		t.Errorf("event: %d", code)
	}
	// The registry refuses our credentials: the event fails for good
	// after its retries, or is still being retried; either way it is logged.
	waitFor(t, "the refused walk logged", func() bool { return strings.Contains(log.String(), "401") && strings.Contains(log.String(), "retried") })
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := log.String()
	for what, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the log shows the %s", what)
		}
		if bytes.Contains(metrics, []byte(s)) {
			t.Errorf("/metrics shows the %s", what)
		}
	}
	if !strings.Contains(text, "webhook refused") || !strings.Contains(text, "registry not configured") {
		t.Errorf("the run did not log what it should have:\n%s", text)
	}
}

// loginIn creates a login role that is a member of group, dropped when the
// test ends, and returns dbURL connecting as it.
func loginIn(t *testing.T, dbURL, group string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := fmt.Sprintf("%s_%d", strings.TrimPrefix(group, "layerq_"), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw' IN ROLE "+group); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dbURL)
		if err == nil {
			c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(role, "pw")
	return u.String()
}

// Ingest runs as a member of layerq_writer: scans, layer indexing, the fold,
// failures, and the live path all work; the schema cannot be changed. A
// member of layerq_reader cannot ingest.
func TestLeastPrivilegeRoles(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	writer, reader := loginIn(t, dbURL, "layerq_writer"), loginIn(t, dbURL, "layerq_reader")
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN app", Files: []sample.File{{Path: "app", Content: sample.Text("app", 3000)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app:1", img)
	reg.PutManifest(t, "old/app", "v1", "application/vnd.docker.distribution.manifest.v1+prettyjws",
		[]byte(`{"schemaVersion":1,"name":"old/app","tag":"v1","fsLayers":[],"history":[]}`))

	out, errOut, err := runCLI(t, "--database-url", writer, "scan", "--registry", reg.Host, "--layers")
	if err != nil {
		t.Fatalf("scan as layerq_writer: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "2 repositories") || !strings.Contains(out, "1 errors") || !strings.Contains(out, "layers: 1 indexed") {
		t.Errorf("scan as layerq_writer: %q", out)
	}
	if out, _, err := runCLI(t, "--database-url", writer, "migrate"); err != nil || !strings.Contains(out, "up to date") {
		t.Errorf("migrate as layerq_writer on an up-to-date schema: %q, %v", out, err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, writer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var live, failures, queued int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tags WHERE deleted_at IS NULL), (SELECT count(*) FROM ingest_failures), (SELECT count(*) FROM aggregate_queue)`).Scan(&live, &failures, &queued); err != nil {
		t.Fatal(err)
	}
	if live != 1 || failures != 1 || queued != 0 {
		t.Errorf("as layerq_writer: %d live tags, %d failures, %d queued changes; want 1, 1, 0 (scanned and folded)", live, failures, queued)
	}
	for _, sql := range []string{`CREATE TABLE stolen (x int)`, `DROP TABLE tags`, `ALTER TABLE tags ADD COLUMN x int`, `TRUNCATE tags`, `CREATE INDEX x ON tags (name)`,
		// The aggregates are the fold's to write, the migrations' table migrate's.
		`UPDATE blob_usage SET manifests = 0`, `DELETE FROM registry_usage`, `DELETE FROM aggregate_queue`,
		`INSERT INTO layerq_schema_migrations (version_id, is_applied) VALUES (99, true)`} {
		_, err := conn.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("as layerq_writer, %s: %v, want permission denied (42501)", sql, err)
		}
	}

	// The live path as the writer.
	port := freePort(t)
	dist := registrytest.NewNotifyingDistribution(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/webhooks/distribution", "s3cret")
	startServe(t, writer, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--registry", dist.Host, "--webhook-token", "s3cret")
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz")
	if err := remote.Write(dist.Ref(t, "team/live:1"), img); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the push in the graph, written as layerq_writer", func() bool {
		var n int
		conn.QueryRow(ctx, `SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = 'team/live'`).Scan(&n)
		return n == 1
	})

	// A reader cannot ingest, and is told so in one line.
	_, _, err = runCLI(t, "--database-url", reader, "scan", "--registry", reg.Host)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "\n") {
		t.Errorf("scan as layerq_reader: %v", err)
	}
}

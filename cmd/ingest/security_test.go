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
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/urfave/cli/v2"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/redact"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
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

// No secret given to layerq-ingest, nor a wrong one sent to it, ever shows
// in its log, its errors, its output or its metrics. A serve run exercises
// the paths that log: refused webhooks, an event for an unknown registry,
// registries refusing the credentials (a password, a token), failed events
// recorded. Then the paths that print a connection string: a database that
// cannot be used, named by a URL with the password as a parameter and by a
// keyword/value string (serve, which waits for it, and migrate); NATS URLs
// with a password that does not parse, or is refused by a real server
// (serve waits for it); and scan given registry credentials the registry
// refuses.
func TestNoSecretLogged(t *testing.T) {
	secrets := map[string]string{
		"webhook token":                 "tok-3f9a1c-webhook",
		"rotated webhook token":         "tok-77b2e0-rotated",
		"webhook token with padding":    "dG9rLWU0NGQ5Yy1wYWRkZWQ=",
		"basic password":                "pw-1d5e8a=basic:x",
		"registry password":             "pw-c0ffee-registry",
		"registry token":                "tok-9e1f00-registry",
		"database password":             "pw-5ab1e7-database",
		"wrong token sent to us":        "tok-badbad-attacker",
		"wrong basic password sent":     "pw-badbad-attacker",
		"registry's bearer answer":      "tok-aa55aa-answer",
		"database password parameter":   "pw-7c3d1e-param",
		"database keyword/value secret": "pw-2e8f4b-keyword",
		"NATS password":                 "pw-6a0d3f-nats",
		"NATS password in a list":       "pw-90b7c2-natslist",
		"NATS token":                    "tok-4e5f6a-nats",
		"refused NATS password":         "pw-0f1e2d-natswrong",
		"scan registry password":        "pw-3b7e9a-scan",
		"scan registry token":           "tok-5d2c8f-scan",
	}
	// Everything layerq-ingest printed or returned, by what printed it.
	printed := map[string]string{}
	refuse := func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Www-Authenticate", `Basic realm="`+secrets["registry's bearer answer"]+`"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	}
	reg, reg2 := registrytest.New(t), registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN x", Files: []sample.File{{Path: "x", Content: []byte("x")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app:1", img) // for scan to find
	reg.Intercept(refuse)
	reg2.Intercept(refuse)
	regFile := filepath.Join(t.TempDir(), "registries.yaml")
	os.WriteFile(regFile, []byte("registries:\n  - name: reg.test\n    host: "+reg.Host+"\n    username: layerq\n    password: "+secrets["registry password"]+
		"\n  - name: reg2.test\n    host: "+reg2.Host+"\n    token: "+secrets["registry token"]+"\n"), 0o600)
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secrets["database password"])
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var log syncBuffer
	t.Setenv("LAYERQ_WEBHOOK_BASIC", "dockerhub=hub:"+secrets["basic password"])
	serveLogging(t, &log, "--database-url", u.String(), "--data-dir", t.TempDir(), "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--registries-file", regFile, "--webhook-token", secrets["webhook token"], "--webhook-token", secrets["rotated webhook token"],
		"--webhook-token", secrets["webhook token with padding"])
	waitReady(t, base+"/readyz")

	post := func(source, auth, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/"+source, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := func(token string) string { return "Bearer " + token }
	basic := func(user, pass string) string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	event := func(host, id string) string {
		return `{"events":[{"id":"` + id + `","timestamp":"2026-12-02T10:00:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` +
			strings.Repeat("1", 64) + `","size":2,"repository":"team/app","url":"http://` + host + `/v2/team/app/manifests/x","tag":"1"},"request":{"host":"` + host + `"}}]}`
	}
	if code := post("distribution", bearer(secrets["wrong token sent to us"]), event(reg.Host, "e1")); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	// Refused (422), or kept in the quarantine (200): logged either way.
	if code := post("distribution", bearer(secrets["webhook token"]), event("evil.example.com", "e2")); code != 422 && code != 200 {
		t.Errorf("unknown registry: %d", code)
	}
	if code := post("distribution", bearer(secrets["rotated webhook token"]), event(reg.Host, "e3")); code != 200 {
		t.Errorf("event: %d", code)
	}
	// A token with "=" in it is the token, whole.
	if code := post("distribution", bearer(secrets["webhook token with padding"]), event(reg2.Host, "e4")); code != 200 {
		t.Errorf("event with the padded token: %d", code)
	}
	// So is a password with "=" and ":": accepted (whatever becomes of the
	// body), where a wrong one is refused.
	if code := post("dockerhub", basic("hub", secrets["basic password"]), `{`); code == 401 {
		t.Errorf("basic password with = and : refused")
	}
	if code := post("dockerhub", basic("hub", secrets["wrong basic password sent"]), `{`); code != 401 {
		t.Errorf("wrong basic password: %d", code)
	}
	// The registries refuse our credentials: the events fail for good
	// after their retries, or are still being retried; either way they
	// are logged.
	waitFor(t, "the refused walks logged", func() bool {
		text := log.String()
		return strings.Contains(text, "retried") && strings.Contains(text, reg.Host+"/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: registry answered 401") &&
			strings.Contains(text, reg2.Host+"/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111: registry answered 401")
	})
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	printed["serve's log"] = log.String()
	printed["/metrics"] = string(metrics)
	if text := log.String(); !strings.Contains(text, "webhook refused") || !strings.Contains(text, "registry not configured") {
		t.Errorf("the run did not log what it should have:\n%s", text)
	}

	// A database that cannot be used (it does not exist), named with its
	// password as a URL parameter and in a keyword/value string: serve
	// says it is waiting for it, migrate fails; each names it, redacted.
	missing := *u
	missing.User = url.User(u.User.Username())
	missing.Path = "/layerq_missing_db"
	q := missing.Query()
	q.Set("password", secrets["database password parameter"])
	missing.RawQuery = q.Encode()
	host, dbPort := u.Hostname(), u.Port()
	if host == "" { // a Unix socket, as the test cluster's URLs name it
		host, dbPort = u.Query().Get("host"), u.Query().Get("port")
	}
	keywords := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=layerq_missing_db sslmode=disable",
		host, dbPort, u.User.Username(), secrets["database keyword/value secret"])
	for what, conn := range map[string]string{"a URL parameter": missing.String(), "a keyword/value string": keywords} {
		var log syncBuffer
		err := serveUntil(t, &log, "waiting for Postgres", "--database-url", conn, "--data-dir", t.TempDir(), "serve",
			"--listen", "127.0.0.1:0", "--registry", "reg.test", "--webhook-token", "x")
		printed["serve's log, the database password in "+what] = log.String() + fmt.Sprint(err)
		if !strings.Contains(log.String(), "password=xxxxx") || !strings.Contains(log.String(), "layerq_missing_db") {
			t.Errorf("serve, the password in %s: the log does not name the database, redacted:\n%s", what, log.String())
		}
		out, errOut, err := runCLI(t, "--database-url", conn, "migrate")
		printed["migrate, the database password in "+what] = out + errOut + fmt.Sprint(err)
		if err == nil || !strings.Contains(err.Error(), "layerq_missing_db") {
			t.Errorf("migrate, the password in %s: %v", what, err)
		}
	}

	// NATS URLs that do not parse: serve fails at once, naming them redacted.
	for _, natsURL := range []string{
		"nats://layerq:" + secrets["NATS password"] + "@127.0.0.1:notaport",
		"nats://layerq:" + secrets["NATS password"] + "@127.0.0.1:4222, nats://layerq:" + secrets["NATS password in a list"] + "@[::1",
		"nats://" + secrets["NATS token"] + "@127.0.0.1:4222,nats://host:port:port",
	} {
		out, errOut, err := runCLI(t, "--database-url", dbURL, "--data-dir", t.TempDir(), "serve", "--role", "receiver", "--nats-url", natsURL,
			"--listen", "127.0.0.1:0", "--registry", "reg.test", "--webhook-token", "x")
		printed["serve, NATS URL "+redact.URL(natsURL)] = out + errOut + fmt.Sprint(err)
		if err == nil || !strings.Contains(err.Error(), "connecting to NATS at nats://") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("serve --nats-url %s: %v", redact.URL(natsURL), err)
		}
	}
	// A real NATS server that refuses the password: serve waits for it.
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, Username: "layerq", Password: "the-right-one", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	// Refused credentials do not heal: serve says so at once.
	start := time.Now()
	out, errOut, err := runCLI(t, "--database-url", dbURL, "--data-dir", t.TempDir(), "serve", "--role", "worker",
		"--nats-url", "nats://layerq:"+secrets["refused NATS password"]+"@"+ns.Addr().String(), "--listen", "127.0.0.1:0", "--registry", "reg.test")
	printed["serve's log, NATS refusing the password"] = out + errOut + fmt.Sprint(err)
	if err == nil || !strings.Contains(err.Error(), "NATS refused layerq's credentials") || time.Since(start) > 30*time.Second {
		t.Errorf("serve with a NATS password the server refuses: %v after %s", err, time.Since(start))
	}

	// scan with registry credentials the registry refuses.
	for _, creds := range [][]string{{"--username", "layerq", "--password", secrets["scan registry password"]}, {"--token", secrets["scan registry token"]}} {
		out, errOut, err := runCLI(t, append([]string{"--database-url", dbURL, "scan", "--registry", reg.Host}, creds...)...)
		printed["scan "+creds[0]] = out + errOut + fmt.Sprint(err)
		if !strings.Contains(out, " 1 error in ") {
			t.Errorf("scan %s: the registry's refusal was not counted: %q %q %v", creds[0], out, errOut, err)
		}
	}

	for where, text := range printed {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the %s:\n%s", where, what, text)
			}
		}
	}
}

// serveUntil runs layerq-ingest with args, logging to log, until the log
// shows want, then stops it and returns what it returned.
func serveUntil(t *testing.T, log *syncBuffer, want string, args ...string) error {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(log, log), append([]string{"layerq-ingest"}, args...))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), want) {
		select {
		case err := <-served:
			t.Errorf("layerq-ingest %s returned before logging %q: %v\n%s", args[len(args)-1], want, err, log.String())
			return err
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %q in the log:\n%s", want, log.String())
			break
		}
	}
	stop()
	return <-served
}

// Webhook credentials: a SOURCE= prefix only when it names a source, so a
// token may hold "=" and a password "=" and ":"; an error never quotes
// any part of a value.
func TestWebhookCredentials(t *testing.T) {
	cases := []struct {
		tokens, basic []string
		want          map[string]receiver.Credentials
		err           string
	}{
		{tokens: []string{"s3cret"}, want: map[string]receiver.Credentials{"*": {Tokens: []string{"s3cret"}}}},
		{tokens: []string{"distribution=s3cret", "harbor=h"}, want: map[string]receiver.Credentials{"distribution": {Tokens: []string{"s3cret"}}, "harbor": {Tokens: []string{"h"}}}},
		{tokens: []string{"dG9rZW4="}, want: map[string]receiver.Credentials{"*": {Tokens: []string{"dG9rZW4="}}}},
		{tokens: []string{"dG9rZW4gdHdv=="}, want: map[string]receiver.Credentials{"*": {Tokens: []string{"dG9rZW4gdHdv=="}}}},
		{tokens: []string{"cloudevents=dG9rZW4="}, want: map[string]receiver.Credentials{"cloudevents": {Tokens: []string{"dG9rZW4="}}}},
		{tokens: []string{"dockerhub==x="}, want: map[string]receiver.Credentials{"dockerhub": {Tokens: []string{"=x="}}}},
		// Not a source: part of the token.
		{tokens: []string{"quay=x"}, want: map[string]receiver.Credentials{"*": {Tokens: []string{"quay=x"}}}},
		{tokens: []string{"Distribution=x"}, want: map[string]receiver.Credentials{"*": {Tokens: []string{"Distribution=x"}}}},
		{tokens: []string{"*=x"}, want: map[string]receiver.Credentials{"*": {Tokens: []string{"*=x"}}}},
		{tokens: []string{"a", "b"}, basic: []string{"hub:p=ss:w:rd", "harbor=robot$x:p=w"}, want: map[string]receiver.Credentials{
			"*":      {Tokens: []string{"a", "b"}, Basic: []string{"hub:p=ss:w:rd"}},
			"harbor": {Basic: []string{"robot$x:p=w"}},
		}},
		{basic: []string{"us=er:pw"}, want: map[string]receiver.Credentials{"*": {Basic: []string{"us=er:pw"}}}},
		{want: map[string]receiver.Credentials{}},
		// Wrong: said without the value.
		{tokens: []string{"ok", "distribution="}, err: "--webhook-token (or LAYERQ_WEBHOOK_TOKENS) value 2 has no token: it takes [SOURCE=]TOKEN"},
		{tokens: []string{""}, err: "--webhook-token (or LAYERQ_WEBHOOK_TOKENS) value 1 has no token: it takes [SOURCE=]TOKEN"},
		{basic: []string{"pw-s3cr3t-nocolon"}, err: `--webhook-basic (or LAYERQ_WEBHOOK_BASIC) value 1 is not USER:PASSWORD: it takes [SOURCE=]USER:PASSWORD, with a user (no ":" in it) and a password`},
		{basic: []string{"u:p", "harbor=pw-s3cr3t=padded"}, err: `--webhook-basic (or LAYERQ_WEBHOOK_BASIC) value 2 is not USER:PASSWORD: it takes [SOURCE=]USER:PASSWORD, with a user (no ":" in it) and a password`},
		{basic: []string{":pw-s3cr3t-nouser"}, err: `--webhook-basic (or LAYERQ_WEBHOOK_BASIC) value 1 is not USER:PASSWORD: it takes [SOURCE=]USER:PASSWORD, with a user (no ":" in it) and a password`},
		{basic: []string{"dockerhub=user-s3cr3t:"}, err: `--webhook-basic (or LAYERQ_WEBHOOK_BASIC) value 1 is not USER:PASSWORD: it takes [SOURCE=]USER:PASSWORD, with a user (no ":" in it) and a password`},
	}
	for _, c := range cases {
		var args []string
		for _, v := range c.tokens {
			args = append(args, "--webhook-token", v)
		}
		for _, v := range c.basic {
			args = append(args, "--webhook-basic", v)
		}
		var got map[string]receiver.Credentials
		var err error
		app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{{Name: "serve", Flags: serveCommand().Flags,
			Action: func(ctx *cli.Context) error { got, err = webhookCredentials(ctx); return nil }}}}
		if runErr := app.Run(append([]string{"layerq-ingest", "serve"}, args...)); runErr != nil {
			t.Fatalf("%q: %v", args, runErr)
		}
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: err = %v, want %q", args, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q = %+v, %v; want %+v", args, got, err, c.want)
		}
	}

	// Through the command line and the environment, in one line.
	t.Setenv("LAYERQ_WEBHOOK_TOKENS", "harbor=dG9rLXM=,dG9rLXQ=")
	_, _, err := runCLI(t, "serve", "--registry", "r", "--webhook-basic", "hub:pw-s3cr3t", "--webhook-basic", "pw-s3cr3t-nocolon")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "dG9rLX") || !strings.Contains(err.Error(), "value 2") {
		t.Errorf("serve with a bad --webhook-basic: %v", err)
	}
}

// Ingest runs as a member of layerq_writer: scans, layer indexing, the fold,
// failures, and the live path all work; the schema cannot be changed. A
// member of layerq_reader cannot ingest.
func TestLeastPrivilegeRoles(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	writer, reader := pgtest.LoginIn(t, dbURL, "layerq_writer"), pgtest.LoginIn(t, dbURL, "layerq_reader")
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
	if !strings.Contains(out, "2 repositories") || !strings.Contains(out, " 1 error in ") || !strings.Contains(out, "layers: 1 indexed") {
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
	var live, failures, queued, keysQueued, keyed int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tags WHERE deleted_at IS NULL), (SELECT count(*) FROM ingest_failures), (SELECT count(*) FROM aggregate_queue),
		(SELECT count(*) FROM layer_keys_queue), (SELECT count(*) FROM layer_file_keys)`).Scan(&live, &failures, &queued, &keysQueued, &keyed); err != nil {
		t.Fatal(err)
	}
	if live != 1 || failures != 1 || queued != 0 || keysQueued != 0 || keyed != 1 {
		t.Errorf("as layerq_writer: %d live tags, %d failures, %d queued changes, %d layers queued for keys and %d with keys; want 1, 1, 0, 0, 1 (scanned, folded, keyed)",
			live, failures, queued, keysQueued, keyed)
	}
	for _, sql := range []string{`CREATE TABLE stolen (x int)`, `DROP TABLE tags`, `ALTER TABLE tags ADD COLUMN x int`, `TRUNCATE tags`, `CREATE INDEX x ON tags (name)`,
		// The aggregates are the fold's to write, the migrations' table migrate's.
		`UPDATE blob_usage SET manifests = 0`, `DELETE FROM registry_usage`, `DELETE FROM aggregate_queue`,
		`INSERT INTO layerq_schema_migrations (version_id, is_applied) VALUES (99, true)`,
		// find's paths: the writer's trigger inserts them, and no more.
		`DELETE FROM path_layers`, `UPDATE file_paths SET path = path`, `DELETE FROM live_image_layers`,
		`DELETE FROM repository_waste`} {
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

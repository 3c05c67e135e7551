package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/natstest"
	"github.com/layerq/layerq/internal/pgtest"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/walker"
)

// The HTTP server bounds what one connection may hold: clients that send
// headers or a body byte by byte, or hold a connection idle, without a
// token, are cut off, and meanwhile a registry's webhook is answered at
// once. (Limits shortened for the test; the defaults are checked apart.)
func TestSlowClientsCannotExhaustServe(t *testing.T) {
	ns := natstest.Start(t, stream.Settings{})
	pool := pgtest.NewPool(t)
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000"}}, walker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	settings := stream.Settings{}
	settings.Defaults()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- runServer(ctx, server{role: "receiver", listener: ln, regs: regs, nc: ns.Conn, settings: settings, pool: pool,
			creds: map[string]receiver.Credentials{"*": {Tokens: []string{"s3cret"}}}, noLayerScan: true,
			http: httpLimits{readHeader: time.Second, read: 2 * time.Second, write: 2 * time.Second, idle: time.Second},
			log:  slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	waitReady(t, "http://"+addr+"/healthz")

	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin reports whether the server closes c within d (a read
	// returns EOF or a reset, after any answer it sends).
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}

	const slow = 400
	var conns []net.Conn
	for range slow { // headers that never end
		c := dial()
		if _, err := io.WriteString(c, "POST /webhooks/distribution HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	body := dial() // a body that trickles, with the token
	io.WriteString(body, "POST /webhooks/distribution HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	idle := dial() // one request, then idle
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz on the idle connection: %v", err)
	}

	// A registry's webhook is answered at once meanwhile.
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/distribution", strings.NewReader(`{"events":[]}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) > 2*time.Second {
		t.Fatalf("webhook beside %d slow clients: %d after %s", slow, resp.StatusCode, time.Since(start))
	}

	// Each of them is cut off, bounded by its limit.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !closedWithin(c, 4*time.Second) {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if open > 0 {
		t.Errorf("%d of %d connections sending endless headers still open after the header limit", open, slow)
	}
	if !closedWithin(body, 4*time.Second) {
		t.Error("a connection trickling its body still open after the read limit")
	}
	if !closedWithin(idle, 4*time.Second) {
		t.Error("an idle connection still open after the idle limit")
	}
}

// The limits serve runs with by default.
func TestHTTPLimitsDefaults(t *testing.T) {
	srv := httpLimits{}.server(http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second || srv.WriteTimeout != 60*time.Second ||
		srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 64<<10 {
		t.Fatalf("defaults: header %s, read %s, write %s, idle %s, header bytes %d", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// With --metrics-listen, /metrics is served there and not on the webhook
// port.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	port, mport := freePort(t), freePort(t)
	ctx, stop := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	dataDir := t.TempDir()
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(&out, &errOut), []string{"layerq-ingest", "--database-url", dbURL, "--data-dir", dataDir,
			"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--metrics-listen", "127.0.0.1:" + strconv.Itoa(mport),
			"--registry", "127.0.0.1:5000", "--webhook-token", "s3cret"})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v\n%s", err, errOut.String())
		}
	})
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz")
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics"); code != 200 || !strings.Contains(body, "layerq_events_quarantined_total") {
		t.Fatalf("/metrics on --metrics-listen: %d", code)
	}
	if code, _ := get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"); code != 404 {
		t.Fatalf("/metrics on the webhook port: %d, want 404", code)
	}
	if code, _ := get("http://127.0.0.1:" + strconv.Itoa(mport) + "/healthz"); code != 404 {
		t.Fatalf("/healthz on the metrics port: %d, want 404 (it lives on --listen)", code)
	}
}

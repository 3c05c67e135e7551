package serve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/serve"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/natstest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// waitReady waits until url answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready", url)
}

// The HTTP server bounds what one connection may hold: clients that send
// headers or a body byte by byte, or hold a connection idle, without a
// token, are cut off, and meanwhile a registry's webhook is answered at
// once. (Limits shortened for the test; the defaults are checked apart.)
func TestSlowClientsCannotExhaustServe(t *testing.T) {
	ns := natstest.Start(t, stream.Settings{})
	pool := pgtest.NewPool(t)
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000"}})
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
		served <- serve.Run(ctx, serve.Config{Role: serve.RoleReceiver, Listener: ln, Registries: regs, NATS: ns.Conn, Settings: settings, Pool: pool,
			Credentials: map[string]receiver.Credentials{"*": {Tokens: []string{"s3cret"}}}, NoLayerScan: true,
			HTTP: serve.HTTPLimits{ReadHeader: time.Second, Read: 2 * time.Second, Write: 2 * time.Second, Idle: time.Second},
			Log:  slog.New(slog.DiscardHandler)})
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
	srv := serve.HTTPLimits{}.Server(http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second || srv.WriteTimeout != 60*time.Second ||
		srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 64<<10 {
		t.Fatalf("defaults: header %s, read %s, write %s, idle %s, header bytes %d", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

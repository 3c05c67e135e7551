package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

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

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	dto "github.com/prometheus/client_model/go"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/promtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// One push through the real distribution registry's notifications: serve
// exports one trace from the webhook down to the layer scans over OTLP, and
// /metrics passes promtool and counts exactly what happened.
func TestServeTelemetry(t *testing.T) {
	col := otlptest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.HTTP)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")

	dbURL := pgtest.NewDatabase(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	reg := registrytest.NewNotifyingDistribution(t, base+"/webhooks/distribution", "s3cret")
	ctx, stop := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	// The data directory is made before serve starts, so that its removal
	// (a cleanup, run last-registered first) waits for serve to stop.
	dataDir := t.TempDir()
	served := make(chan error, 1)
	go func() {
		served <- clierr.Run(ctx, newApp(&out, &errOut), []string{"layerq-ingest",
			"--database-url", dbURL, "--data-dir", dataDir,
			"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--registry", reg.Host, "--webhook-token", "s3cret", "--reconcile-every", "1s"})
	}()
	stopped := false
	stopServe := func() {
		if !stopped {
			stopped = true
			stop()
			if err := <-served; err != nil {
				t.Errorf("serve: %v\n%s", err, errOut.String())
			}
		}
	}
	t.Cleanup(stopServe)
	waitReady(t, base+"/readyz")

	img, err := sample.Build(sample.Spec{Format: sample.OCI, Steps: []sample.Step{
		{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=test\n")}}},
		{CreatedBy: "RUN make", Files: []sample.File{{Path: "app", Content: sample.Text("app", 7000)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	var layerBytes int64
	for _, l := range layers {
		n, _ := l.Size()
		layerBytes += n
	}
	if err := remote.Write(reg.Ref(t, "team/app:1.0"), img); err != nil {
		t.Fatal(err)
	}
	// /metrics: promtool accepts it, and it counts this push exactly.
	var fams map[string]float64
	metricsBody := func() []byte {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %s", resp.Status)
		}
		return b
	}
	// Done when the push is acked and both layers are indexed (in either
	// order: the layer jobs are queued before the push is acked).
	var body []byte
	var parsed map[string]*dto.MetricFamily
	waitFor(t, "the push applied and both layers indexed", func() bool {
		body = metricsBody()
		parsed = promtest.Families(t, body)
		applied, _ := promtest.Value(parsed, "layerq_events_processed_total", "action", "push")
		indexed, _ := promtest.Value(parsed, "layerq_layers_total")
		scanned, _ := promtest.Value(parsed, "layerq_scan_repositories_done")
		unacked, _ := promtest.Value(parsed, "layerq_consumer_ack_pending", "consumer", "layerq-layer-scanners")
		return applied >= 1 && indexed >= 2 && scanned >= 1 && unacked == 0
	})
	promtest.CheckMetrics(t, body)
	// Every metric the README lists is served.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	// The metric table of the README's Observability section.
	section := string(readme)
	if i := strings.Index(section, "\n## Observability"); i >= 0 {
		section = section[i+1:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
	}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `layerq_") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, name := range regexp.MustCompile("`(layerq_[a-z_]+)`").FindAllStringSubmatch(first, -1) {
			listed++
			if _, ok := parsed[name[1]]; !ok {
				t.Errorf("the README lists %s; /metrics does not serve it", name[1])
			}
		}
	}
	if listed < 14 {
		t.Errorf("the README lists %d metrics", listed)
	}
	// And every layerq metric served is in the README.
	for name := range parsed {
		if strings.HasPrefix(name, "layerq_") && !strings.Contains(section, "`"+name+"`") {
			t.Errorf("/metrics serves %s; the README's Observability section does not list it", name)
		}
	}

	value := func(name string, labels ...string) float64 {
		v, _ := promtest.Value(parsed, name, labels...)
		return v
	}
	fams = map[string]float64{
		"stored pushes":        value("layerq_events_published_total", "source", "distribution", "action", "push", "result", "stored"),
		"applied pushes":       value("layerq_events_processed_total", "action", "push", "outcome", "applied"),
		"latencies recorded":   value("layerq_ingest_latency_seconds", "action", "push"),
		"layers indexed":       value("layerq_layers_total", "outcome", "indexed"),
		"layer bytes scanned":  value("layerq_layer_scanned_bytes_total"),
		"pending events":       value("layerq_consumer_pending", "consumer", "layerq-workers"),
		"unacked layer jobs":   value("layerq_consumer_ack_pending", "consumer", "layerq-layer-scanners"),
		"walk errors":          value("layerq_walk_errors_total"),
		"refused webhooks":     value("layerq_webhook_requests_total", "code", "401"),
		"blob events ignored≥": min(value("layerq_events_ignored_total", "source", "distribution"), 2),
	}
	want := map[string]float64{
		"stored pushes": 1, "applied pushes": 1, "latencies recorded": 1, "layers indexed": 2,
		"layer bytes scanned": float64(layerBytes), "pending events": 0, "unacked layer jobs": 0,
		"walk errors": 0, "refused webhooks": 0, "blob events ignored≥": 2,
	}
	for k, w := range want {
		if fams[k] != w {
			t.Errorf("/metrics %s = %v, want %v", k, fams[k], w)
		}
	}
	if v := value("layerq_webhook_requests_total", "source", "distribution", "code", "200"); v < 1 {
		t.Errorf("/metrics shows %v accepted distribution webhooks", v)
	}
	if _, ok := promtest.Value(parsed, "layerq_consumer_pending", "consumer", "layerq-layer-scanners"); !ok {
		t.Errorf("/metrics lacks the layer scanners' backlog")
	}

	// Stopping serve flushes what is left to the collector.
	stopServe()
	spans := col.Spans()
	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.SpanId)] = s
		if s.Service != "layerq-ingest" {
			t.Errorf("span %s from service %q", s.Name, s.Service)
		}
	}
	parent := func(s otlptest.Span) string {
		if p, ok := byID[hex.EncodeToString(s.ParentSpanId)]; ok {
			return p.Name
		}
		return ""
	}
	// The push's trace, from each span to its parent.
	var chain = map[string]string{
		"publish layerq.events.distribution.push": "webhook distribution",
		"process layerq.events.distribution.push": "publish layerq.events.distribution.push",
		"walk":                  "process layerq.events.distribution.push",
		"persist":               "process layerq.events.distribution.push",
		"publish layerq.layers": "process layerq.events.distribution.push",
		"process layerq.layers": "publish layerq.layers",
		"scan layer":            "process layerq.layers",
	}
	seen := map[string]int{}
	var trace string
	for _, s := range spans {
		want, ok := chain[s.Name]
		if !ok {
			continue
		}
		seen[s.Name]++
		if got := parent(s); got != want {
			t.Errorf("span %q has parent %q, want %q", s.Name, got, want)
		}
		if id := hex.EncodeToString(s.TraceId); trace == "" {
			trace = id
		} else if id != trace {
			t.Errorf("span %q is in trace %s, the push's is %s", s.Name, id, trace)
		}
	}
	for name, n := range map[string]int{"publish layerq.events.distribution.push": 1, "process layerq.events.distribution.push": 1,
		"walk": 1, "persist": 1, "publish layerq.layers": 1, "process layerq.layers": 2, "scan layer": 2} {
		if seen[name] != n {
			t.Errorf("%d %q spans in the push's trace, want %d", seen[name], name, n)
		}
	}
	exported := map[string]bool{}
	for _, m := range col.Metrics() {
		exported[m.Name] = true
	}
	for _, name := range []string{"layerq.webhook.requests", "layerq.events.published", "layerq.events.processed", "layerq.ingest.latency", "layerq.layer.scanned", "layerq.consumer.pending"} {
		if !exported[name] {
			t.Errorf("metric %s was not exported over OTLP", name)
		}
	}
}

package telemetry_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/testenv/promtest"
)

// exercise makes one span, a child carried over NATS headers, a counter and
// a latency histogram.
func exercise(t *testing.T, p telemetry.Providers) (parent, child trace.SpanContext) {
	t.Helper()
	ctx, span := p.TracerFor().Start(context.Background(), "webhook distribution")
	msg := &nats.Msg{Subject: "layerq.events.distribution.push"}
	telemetry.InjectMsg(ctx, msg)
	span.End()
	_, cspan := p.TracerFor().Start(telemetry.Extract(context.Background(), msg.Header), "process")
	cspan.End()

	m := p.MeterFor()
	c, err := m.Int64Counter("layerq.webhook.requests", metric.WithUnit("{request}"), metric.WithDescription("Webhook requests."))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("source", "distribution"), attribute.String("code", "200")))
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("source", "harbor"), attribute.String("code", "401")))
	h, err := m.Float64Histogram("layerq.ingest.latency", metric.WithUnit("s"), telemetry.LatencyBuckets, metric.WithDescription("Ingest latency."))
	if err != nil {
		t.Fatal(err)
	}
	h.Record(ctx, 0.2)
	h.Record(ctx, 7)
	return span.SpanContext(), cspan.SpanContext()
}

func TestExportsFromTheEnvironment(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			col := otlptest.New(t)
			endpoint := col.HTTP
			if protocol == "grpc" {
				endpoint = "http://" + col.GRPC
			}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
			t.Setenv("OTEL_SERVICE_NAME", "layerq-test")
			tel, err := telemetry.Start(context.Background(), telemetry.Options{Service: "layerq-ingest"})
			if err != nil {
				t.Fatal(err)
			}
			parent, child := exercise(t, tel.Providers)
			if err := tel.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}

			spans := col.Spans()
			if len(spans) != 2 {
				t.Fatalf("spans exported = %d, want 2", len(spans))
			}
			byName := map[string]otlptest.Span{}
			for _, s := range spans {
				byName[s.Name] = s
				if s.Service != "layerq-test" {
					t.Errorf("span %s service = %q, want OTEL_SERVICE_NAME's layerq-test", s.Name, s.Service)
				}
			}
			p, c := byName["webhook distribution"], byName["process"]
			if p.Span == nil || c.Span == nil {
				t.Fatalf("spans = %v", spans)
			}
			if tid := parent.TraceID(); string(c.TraceId) != string(tid[:]) || string(p.TraceId) != string(tid[:]) {
				t.Errorf("the span carried over NATS headers is in trace %x, want %x", c.TraceId, tid)
			}
			if sid := parent.SpanID(); string(c.ParentSpanId) != string(sid[:]) {
				t.Errorf("the carried span's parent = %x, want %x", c.ParentSpanId, sid)
			}
			if sid := child.SpanID(); string(c.SpanId) != string(sid[:]) {
				t.Errorf("span ids differ: %x vs %x", c.SpanId, sid)
			}

			var requests, latencyCount int64
			var latencySum float64
			for _, m := range col.Metrics() {
				switch m.Name {
				case "layerq.webhook.requests":
					for _, dp := range m.GetSum().GetDataPoints() {
						requests += dp.GetAsInt()
					}
				case "layerq.ingest.latency":
					for _, dp := range m.GetHistogram().GetDataPoints() {
						latencyCount += int64(dp.GetCount())
						latencySum += dp.GetSum()
						if len(dp.ExplicitBounds) != 15 || dp.ExplicitBounds[0] != 0.005 {
							t.Errorf("latency bounds = %v", dp.ExplicitBounds)
						}
					}
				}
			}
			if requests != 4 || latencyCount != 2 || latencySum != 7.2 {
				t.Errorf("exported requests = %d, latency count = %d sum = %v; want 4, 2, 7.2", requests, latencyCount, latencySum)
			}
		})
	}
}

func TestNothingLeavesWithoutConfiguration(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"} {
		t.Setenv(v, "")
	}
	tel, err := telemetry.Start(context.Background(), telemetry.Options{Service: "layerq-ingest"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if tel.Tracer != nil {
		t.Errorf("a tracer provider was set up with no exporter configured")
	}
	parent, _ := exercise(t, tel.Providers)
	if parent.IsValid() {
		t.Errorf("spans are recorded with nowhere to send them")
	}

	// The metrics are still served at /metrics, in a form promtool accepts.
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	promtest.CheckMetrics(t, body)
	fams := promtest.Families(t, body)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"layerq_webhook_requests_total", []string{"source", "distribution", "code", "200"}, 3},
		{"layerq_webhook_requests_total", []string{"source", "harbor", "code", "401"}, 1},
		{"layerq_ingest_latency_seconds", nil, 2},
	} {
		if v, ok := promtest.Value(fams, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	h := fams["layerq_ingest_latency_seconds"].Metric[0].Histogram
	if h.GetSampleSum() != 7.2 || h.Bucket[5].GetUpperBound() != 0.25 || h.Bucket[5].GetCumulativeCount() != 1 {
		t.Errorf("latency histogram = %v", h)
	}
	if !strings.Contains(string(body), "go_goroutines") || !strings.Contains(string(body), "process_resident_memory_bytes") {
		t.Errorf("/metrics lacks the Go runtime's and the process's metrics")
	}
}

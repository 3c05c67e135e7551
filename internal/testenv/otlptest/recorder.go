package otlptest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/layerq/layerq/internal/telemetry"
)

// Recorder keeps in memory what a component records through its
// Providers, for tests that check one package's spans and metrics.
type Recorder struct {
	telemetry.Providers
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

// NewRecorder returns a Recorder.
func NewRecorder() *Recorder {
	r := &Recorder{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	r.Meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	return r
}

// Spans returns the ended spans.
func (r *Recorder) Spans() []sdktrace.ReadOnlySpan { return r.spans.Ended() }

// Value sums the data points of metric name whose attributes include every
// (key, value) pair in attrs: a counter's sum, a gauge's value, a
// histogram's count.
func (r *Recorder) Value(t testing.TB, name string, attrs ...string) float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	match := func(set attribute.Set) bool {
		for i := 0; i+1 < len(attrs); i += 2 {
			if v, ok := set.Value(attribute.Key(attrs[i])); !ok || v.Emit() != attrs[i+1] {
				return false
			}
		}
		return true
	}
	var v float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						v += float64(dp.Value)
					}
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						v += float64(dp.Value)
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						v += float64(dp.Count)
					}
				}
			}
		}
	}
	return v
}

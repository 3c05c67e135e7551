// Package telemetry sets up OpenTelemetry for layerq's processes: spans and
// metrics go where the standard OTEL_* environment says (OTLP over gRPC or
// HTTP, the console, or nowhere), and every metric is also served in the
// Prometheus text format for GET /metrics. It also carries a span's context
// across NATS messages, so one trace follows an event from the webhook to the
// graph.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Scope names the instrumentation scope of layerq's spans and metrics.
const Scope = "github.com/layerq/layerq"

// Providers are where a component sends its spans and metrics. The zero
// value sends them nowhere.
type Providers struct {
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
}

// TracerFor returns layerq's tracer.
func (p Providers) TracerFor() trace.Tracer {
	if p.Tracer == nil {
		return tracenoop.NewTracerProvider().Tracer(Scope)
	}
	return p.Tracer.Tracer(Scope)
}

// MeterFor returns layerq's meter.
func (p Providers) MeterFor() metric.Meter {
	if p.Meter == nil {
		return metricnoop.NewMeterProvider().Meter(Scope)
	}
	return p.Meter.Meter(Scope)
}

// Options configure Start.
type Options struct {
	// Service is service.name unless OTEL_SERVICE_NAME says otherwise.
	Service string
	// Attributes are added to the resource, e.g. the process's role.
	Attributes []attribute.KeyValue
}

// Telemetry is a process's running OpenTelemetry SDK.
type Telemetry struct {
	Providers
	metrics  http.Handler
	shutdown []func(context.Context) error
}

// Start sets up spans and metrics from the OTEL_* environment:
//
//   - spans are exported when OTEL_TRACES_EXPORTER is set (otlp, console or
//     none) or an OTLP endpoint is (OTEL_EXPORTER_OTLP_ENDPOINT,
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_EXPORTER_OTLP_PROTOCOL picks
//     grpc or http/protobuf (the default);
//   - metrics likewise with OTEL_METRICS_EXPORTER and the _METRICS_ endpoint,
//     every OTEL_METRIC_EXPORT_INTERVAL;
//   - every metric is always served by MetricsHandler, with the Go runtime's
//     and the process's own.
//
// Without any of that nothing leaves the process but GET /metrics.
func Start(ctx context.Context, opts Options) (*Telemetry, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(append([]attribute.KeyValue{semconv.ServiceName(opts.Service)}, opts.Attributes...)...),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("describing the process for OpenTelemetry: %w", err)
	}
	t := &Telemetry{}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("setting up the Prometheus exporter: %w", err)
	}
	t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	readers := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	if configured("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("setting up the metrics exporter from OTEL_* settings: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(readers...)
	t.Meter = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)

	if configured("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			t.Shutdown(ctx)
			return nil, fmt.Errorf("setting up the span exporter from OTEL_* settings: %w", err)
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
			t.Tracer = tp
			t.shutdown = append(t.shutdown, tp.Shutdown)
		}
	}
	return t, nil
}

// configured reports whether the environment asks for an exporter of a
// signal: by name, or by giving an OTLP endpoint for it or for all signals.
func configured(exporterVar, endpointVar string) bool {
	for _, v := range []string{exporterVar, endpointVar, "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}

// MetricsHandler serves every metric in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown flushes what is buffered to the exporters and stops them.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		errs = append(errs, t.shutdown[i](ctx))
	}
	return errors.Join(errs...)
}

// propagator carries W3C trace context and baggage.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Inject writes the span context of ctx into h (an HTTP or NATS header).
func Inject(ctx context.Context, h map[string][]string) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Extract returns ctx carrying the span context written into h, if any.
func Extract(ctx context.Context, h map[string][]string) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// End ends span, recording err on it and marking it failed when err is set.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// InjectMsg writes the span context of ctx into msg's headers.
func InjectMsg(ctx context.Context, msg *nats.Msg) {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	Inject(ctx, msg.Header)
}

// LatencyBuckets are the histogram bounds, in seconds, of layerq's
// latencies: from a fast event (5 ms) to one that waited on retries.
var LatencyBuckets = metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

package scan

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/telemetry"
)

// meteredProgress tells the scan's metrics what it tells the Progress it
// wraps: how many repositories the scan has to do and has done, and the
// references it walked or failed.
type meteredProgress struct {
	Progress
	ctx          context.Context
	registry     string
	attrs        metric.MeasurementOption
	repositories metric.Int64Gauge
	done         metric.Int64Gauge
	references   metric.Int64Counter
	finished     int64
}

func newMeteredProgress(ctx context.Context, tel telemetry.Providers, registry string, p Progress) *meteredProgress {
	m := tel.MeterFor()
	mp := &meteredProgress{Progress: p, ctx: ctx, registry: registry, attrs: metric.WithAttributes(attribute.String("registry", registry))}
	// The instrument options are fixed and valid: errors cannot happen.
	mp.repositories, _ = m.Int64Gauge("layerq.scan.repositories", metric.WithUnit("{repository}"),
		metric.WithDescription("Repositories the registry's current scan has to do."))
	mp.done, _ = m.Int64Gauge("layerq.scan.repositories.done", metric.WithUnit("{repository}"),
		metric.WithDescription("Repositories the registry's current scan has done."))
	mp.references, _ = m.Int64Counter("layerq.scan.references", metric.WithUnit("{reference}"),
		metric.WithDescription("Tags and digests scans walked (result=walked), found unchanged, or failed on."))
	return mp
}

func (m *meteredProgress) Start(n int, resumed bool) {
	m.repositories.Record(m.ctx, int64(n), m.attrs)
	m.done.Record(m.ctx, 0, m.attrs)
	m.Progress.Start(n, resumed)
}

func (m *meteredProgress) Repository(r RepositoryResult) {
	m.finished++
	m.done.Record(m.ctx, m.finished, m.attrs)
	m.references.Add(m.ctx, int64(r.Walked), m.result("walked"))
	m.references.Add(m.ctx, int64(r.Unchanged), m.result("unchanged"))
	m.Progress.Repository(r)
}

func (m *meteredProgress) Failure(f graph.Failure) {
	m.references.Add(m.ctx, 1, m.result("failed"))
	m.Progress.Failure(f)
}

func (m *meteredProgress) result(r string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("registry", m.registry), attribute.String("result", r))
}

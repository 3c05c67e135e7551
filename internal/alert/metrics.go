package alert

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// maxSeries bounds the series of each gauge: the bases with most stale
// images, the repositories that grew most.
const maxSeries = 1000

// Observe exposes, for alerting rules, the live images on stale builds of
// each base tag (layerq.base.stale_images: the tag moved since they were
// built) and each repository's last growth (layerq.repository.last_growth
// in bytes and layerq.repository.last_growth_ratio, of its last push
// compared within a day). What it reads is read at most every refresh.
func Observe(m metric.Meter, db dbsqlc.DBTX, refresh time.Duration) error {
	stale, err := m.Int64ObservableGauge("layerq.base.stale_images", metric.WithUnit("{image}"),
		metric.WithDescription("Live images built on a build of a base tag that the tag no longer names (the 1000 bases with most)."))
	if err != nil {
		return err
	}
	growth, err := m.Int64ObservableGauge("layerq.repository.last_growth", metric.WithUnit("By"),
		metric.WithDescription("Compressed bytes a repository's last push compared in the last day grew by (negative: shrank; the 1000 repositories that grew most)."))
	if err != nil {
		return err
	}
	ratio, err := m.Float64ObservableGauge("layerq.repository.last_growth_ratio", metric.WithUnit("1"),
		metric.WithDescription("A repository's last push compared in the last day: its growth over the push before's bytes (0.1: grew by 10%)."))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var read time.Time
	var bases []dbsqlc.AlertStaleBasesRow
	var last []dbsqlc.AlertLastGrowthRow
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(read) >= refresh {
			// Bounded: a slow read leaves the last figures, not a scrape
			// that times out.
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			b, err1 := queries.AlertStaleBases(ctx, db, maxSeries)
			l, err2 := queries.AlertLastGrowth(ctx, db, dbsqlc.AlertLastGrowthParams{Since: time.Now().Add(-24 * time.Hour), N: maxSeries})
			if err1 == nil && err2 == nil {
				bases, last, read = b, l, time.Now()
			}
		}
		for _, b := range bases {
			o.ObserveInt64(stale, b.Images, metric.WithAttributes(attribute.String("registry", b.Registry),
				attribute.String("repository", b.Repository), attribute.String("tag", b.Tag)))
		}
		for _, l := range last {
			attrs := metric.WithAttributes(attribute.String("registry", l.Registry), attribute.String("repository", l.Repository))
			o.ObserveInt64(growth, l.DeltaBytes, attrs)
			o.ObserveFloat64(ratio, l.DeltaPercent/100, attrs)
		}
		return nil
	}, stale, growth, ratio)
	return err
}

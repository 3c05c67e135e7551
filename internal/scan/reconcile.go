package scan

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
)

// Healed is what a reconcile scan of one registry found the live path had
// missed: references new or moved since the graph last saw them, tags
// deleted, manifests and repositories gone.
type Healed struct {
	References, DeletedTags, GoneManifests, GoneRepositories int
}

// Healed returns what the scan healed.
func (s Summary) Healed() Healed {
	return Healed{References: s.Walked, DeletedTags: s.DeletedTags, GoneManifests: s.GoneManifests, GoneRepositories: s.GoneRepositories}
}

// Total adds the parts up.
func (h Healed) Total() int {
	return h.References + h.DeletedTags + h.GoneManifests + h.GoneRepositories
}

// Reconcile scans every configured registry every interval until ctx ends,
// so that what a registry dropped (distribution keeps undelivered events in
// memory only; Harbor gives up after three tries) or what was quarantined
// is in the graph within one interval. Each scan says what it healed, in a
// log line and in the layerq.reconcile.healed counter. A registry whose
// scan fails is tried again at the next interval.
func Reconcile(ctx context.Context, store *graph.Store, walkers *walker.Walkers, every time.Duration, tel telemetry.Providers, log *slog.Logger) error {
	healed, err := tel.MeterFor().Int64Counter("layerq.reconcile.healed", metric.WithUnit("{change}"),
		metric.WithDescription("What reconcile scans found the live path had missed, by registry and kind: references (new or moved), deleted_tags, gone_manifests, gone_repositories."))
	if err != nil {
		return err
	}
	kinds := []string{"references", "deleted_tags", "gone_manifests", "gone_repositories"}
	regs := walkers.Registries()
	for _, r := range regs.All() { // served from zero
		for _, what := range kinds {
			healed.Add(ctx, 0, metric.WithAttributes(attribute.String("registry", r.Name), attribute.String("what", what)))
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, r := range regs.All() {
			w, reg, err := walkers.For(r.Name)
			if err != nil {
				return err
			}
			sum, err := Run(ctx, store, w, Options{Registry: reg.Host, Name: reg.Name, Repositories: repoglob.Compile("**"), Telemetry: tel})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Warn("reconcile scan failed; tried again at the next interval", "registry", reg.Name, "err", err)
				continue
			}
			h := sum.Healed()
			for what, n := range map[string]int{"references": h.References, "deleted_tags": h.DeletedTags, "gone_manifests": h.GoneManifests, "gone_repositories": h.GoneRepositories} {
				healed.Add(ctx, int64(n), metric.WithAttributes(attribute.String("registry", reg.Name), attribute.String("what", what)))
			}
			level := slog.LevelInfo
			if h.Total() > 0 {
				level = slog.LevelWarn // the live path missed something
			}
			log.Log(ctx, level, "reconciled", "registry", reg.Name, "healed_references", h.References, "healed_deleted_tags", h.DeletedTags,
				"healed_gone_manifests", h.GoneManifests, "healed_gone_repositories", h.GoneRepositories, "summary", sum.String())
		}
	}
}

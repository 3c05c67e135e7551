package report

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qCacheTransitions  = sqlfiles.Query("cache_transitions")
	qCacheRepositories = sqlfiles.Query("cache_repositories")
	qCacheOverTime     = sqlfiles.Query("cache_over_time")
	qCacheBusters      = sqlfiles.Query("cache_busters")
	qCacheSince        = sqlfiles.Query("cache_since")
)

// Transition is one push compared with the one before it in its stream:
// the layers of the new build whose chain id matches the previous build's
// at the same position were reused from the build cache; the first layer
// that differs, and the step that made it, is the cache buster.
type Transition struct {
	// Stream is "tag <name>" for a tag's moves, or "created" for a
	// repository's builds in config created order (what a scan tells).
	Stream        string    `json:"stream"`
	Platform      string    `json:"platform"`
	From          string    `json:"from"`
	To            string    `json:"to"`
	At            time.Time `json:"at"`
	ReusedLayers  int       `json:"reused_layers"`
	TotalLayers   int       `json:"total_layers"`
	ReusedBytes   int64     `json:"reused_bytes"`
	TotalBytes    int64     `json:"total_bytes"`
	ReusedPercent float64   `json:"reused_bytes_percent"`
	// FirstChangedPosition counts layers from 0; nil when every layer was
	// reused.
	FirstChangedPosition *int   `json:"first_changed_position"`
	FirstChangedStep     string `json:"first_changed_step"`
}

// CacheRepository is one repository's pushes and their reuse.
type CacheRepository struct {
	Registry     string `json:"registry"`
	Repository   string `json:"repository"`
	Pushes       int64  `json:"pushes"`
	ReusedLayers int64  `json:"reused_layers"`
	TotalLayers  int64  `json:"total_layers"`
	ReusedBytes  int64  `json:"reused_bytes"`
	TotalBytes   int64  `json:"total_bytes"`
	// HitRatio is reused layers over layers pushed.
	HitRatio float64 `json:"hit_ratio"`
	// Transitions are the latest ones (--limit), oldest first.
	Transitions []Transition `json:"transitions"`
}

// CacheMonth is one repository's reuse in one calendar month (UTC).
type CacheMonth struct {
	Registry     string    `json:"registry"`
	Repository   string    `json:"repository"`
	Month        time.Time `json:"month"`
	Pushes       int64     `json:"pushes"`
	ReusedLayers int64     `json:"reused_layers"`
	TotalLayers  int64     `json:"total_layers"`
	ReusedBytes  int64     `json:"reused_bytes"`
	TotalBytes   int64     `json:"total_bytes"`
	HitRatio     float64   `json:"hit_ratio"`
}

// CacheBuster is a step that was the first to change in many pushes.
type CacheBuster struct {
	Step         string `json:"step"`
	BaseChanged  bool   `json:"base_changed"`
	Pushes       int64  `json:"pushes"`
	Repositories int64  `json:"repositories"`
	Advice       string `json:"advice"`
}

// Cache is the build-cache report.
type Cache struct {
	Repositories []CacheRepository `json:"repositories"`
	OverTime     []CacheMonth      `json:"over_time"`
	Busters      []CacheBuster     `json:"busters"`
}

// CacheOptions select what the cache report looks at.
type CacheOptions struct {
	Repositories repoglob.Glob
	// Since keeps pushes at or after it (zero: all).
	Since time.Time
	// Limit is how many of each repository's latest transitions to list
	// (0: all); the aggregates count every push.
	Limit int
	// Busters is how many top cache busters to list.
	Busters int
}

// LoadCache runs the build-cache report.
func LoadCache(ctx context.Context, db DB, opts CacheOptions) (*Cache, error) {
	if opts.Limit < 0 || opts.Busters < 1 {
		return nil, fmt.Errorf("--limit must not be negative and --busters must be positive (got %d and %d)", opts.Limit, opts.Busters)
	}
	// The whole history reads the rollups; a --since window, the pushes in
	// it, in one pass.
	re := regexpOrNil(opts.Repositories)
	since := opts.Since
	windowed := !since.IsZero()
	if !windowed {
		since = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) // every push
	}
	out := &Cache{Repositories: []CacheRepository{}, OverTime: []CacheMonth{}, Busters: []CacheBuster{}}
	type pushed struct {
		registry, repository string
		t                    Transition
	}
	var transitions []pushed

	// The queries are independent: on a pool they run at once.
	var r CacheRepository
	var (
		p            pushed
		kind, stream string
		first        *int32
	)
	t := &p.t
	var d CacheMonth
	var b CacheBuster
	fns := []func(context.Context) error{
		func(ctx context.Context) error {
			return forEach(ctx, db, "pushes", qCacheTransitions, []any{re, since, opts.Limit},
				[]any{&p.registry, &p.repository, &kind, &stream, &t.Platform, &t.From, &t.To, &t.At,
					&t.ReusedLayers, &t.TotalLayers, &t.ReusedBytes, &t.TotalBytes, &first, &t.FirstChangedStep}, func() error {
					t.Stream = "created"
					if kind == "tag" {
						t.Stream = "tag " + stream
					}
					t.FirstChangedPosition = nil
					if first != nil {
						pos := int(*first)
						t.FirstChangedPosition = &pos
					}
					t.ReusedPercent = percent(t.ReusedBytes, t.TotalBytes)
					transitions = append(transitions, p)
					return nil
				})
		},
	}
	if windowed {
		fns = append(fns,
			func(ctx context.Context) error {
				var (
					what, registry, repository, step, advice string
					month                                    *time.Time
					baseChanged                              bool
					pushes, repos, rl, tl, rb, tb            int64
				)
				return forEach(ctx, db, "cache reuse since "+since.Format(time.RFC3339), qCacheSince, []any{re, since, opts.Busters},
					[]any{&what, &registry, &repository, &month, &step, &baseChanged, &pushes, &repos, &rl, &tl, &rb, &tb, &advice}, func() error {
						switch what {
						case "repository":
							out.Repositories = append(out.Repositories, CacheRepository{Registry: registry, Repository: repository, Pushes: pushes,
								ReusedLayers: rl, TotalLayers: tl, ReusedBytes: rb, TotalBytes: tb, HitRatio: ratio(rl, tl), Transitions: []Transition{}})
						case "month":
							out.OverTime = append(out.OverTime, CacheMonth{Registry: registry, Repository: repository, Month: month.UTC(), Pushes: pushes,
								ReusedLayers: rl, TotalLayers: tl, ReusedBytes: rb, TotalBytes: tb, HitRatio: ratio(rl, tl)})
						case "step":
							out.Busters = append(out.Busters, CacheBuster{Step: step, BaseChanged: baseChanged, Pushes: pushes, Repositories: repos, Advice: advice})
						}
						return nil
					})
			},
		)
	} else {
		fns = append(fns,
			func(ctx context.Context) error {
				return forEach(ctx, db, "cache reuse", qCacheRepositories, []any{re},
					[]any{&r.Registry, &r.Repository, &r.Pushes, &r.ReusedLayers, &r.TotalLayers, &r.ReusedBytes, &r.TotalBytes}, func() error {
						r.HitRatio = ratio(r.ReusedLayers, r.TotalLayers)
						r.Transitions = []Transition{}
						out.Repositories = append(out.Repositories, r)
						return nil
					})
			},
			func(ctx context.Context) error {
				return forEach(ctx, db, "cache reuse over time", qCacheOverTime, []any{re},
					[]any{&d.Registry, &d.Repository, &d.Month, &d.Pushes, &d.ReusedLayers, &d.TotalLayers, &d.ReusedBytes, &d.TotalBytes}, func() error {
						d.Month = d.Month.UTC()
						d.HitRatio = ratio(d.ReusedLayers, d.TotalLayers)
						out.OverTime = append(out.OverTime, d)
						return nil
					})
			},
			func(ctx context.Context) error {
				return forEach(ctx, db, "cache busters", qCacheBusters, []any{re, opts.Busters},
					[]any{&b.Step, &b.BaseChanged, &b.Pushes, &b.Repositories, &b.Advice}, func() error {
						out.Busters = append(out.Busters, b)
						return nil
					})
			},
		)
	}
	err := concurrently(ctx, db, fns...)
	if err != nil {
		return nil, err
	}
	if windowed { // one query, rows in no order
		slices.SortFunc(out.Repositories, func(a, b CacheRepository) int {
			return cmp.Or(strings.Compare(a.Registry, b.Registry), strings.Compare(a.Repository, b.Repository))
		})
		slices.SortFunc(out.OverTime, func(a, b CacheMonth) int { return a.Month.Compare(b.Month) })
		slices.SortFunc(out.Busters, func(a, b CacheBuster) int {
			return cmp.Or(cmp.Compare(b.Pushes, a.Pushes), cmp.Compare(b.Repositories, a.Repositories), strings.Compare(a.Step, b.Step))
		})
	}
	// Months come grouped by repository (by id), each in order; put the
	// groups in the repositories' order (by name).
	months := map[[2]string][]CacheMonth{}
	for _, m := range out.OverTime {
		k := [2]string{m.Registry, m.Repository}
		months[k] = append(months[k], m)
	}
	ordered := make([]CacheMonth, 0, len(out.OverTime))
	for _, r := range out.Repositories {
		k := [2]string{r.Registry, r.Repository}
		ordered = append(ordered, months[k]...)
		delete(months, k)
	}
	for _, k := range slices.SortedFunc(maps.Keys(months), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	}) {
		ordered = append(ordered, months[k]...) // read after the totals
	}
	out.OverTime = ordered
	byRepo := make(map[[2]string]int, len(out.Repositories))
	for i, r := range out.Repositories {
		byRepo[[2]string{r.Registry, r.Repository}] = i
	}
	for _, p := range transitions {
		i, ok := byRepo[[2]string{p.registry, p.repository}]
		if !ok {
			// A push after the totals were read, by a concurrent writer.
			continue
		}
		out.Repositories[i].Transitions = append(out.Repositories[i].Transitions, p.t)
	}
	return out, nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func percent(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a*10000/b) / 100
}

// Preamble implements output.Preamble: reuse per repository, then the top
// cache busters with their advice.
func (c *Cache) Preamble() []string {
	var lines []string
	for _, r := range c.Repositories {
		lines = append(lines, fmt.Sprintf("%s: %s, %d of %d layers reused (hit ratio %.2f), %s of %s",
			r.Repository, plural(r.Pushes, "push", "pushes"), r.ReusedLayers, r.TotalLayers, r.HitRatio, output.Bytes(r.ReusedBytes), output.Bytes(r.TotalBytes)))
	}
	if len(c.Busters) > 0 {
		lines = append(lines, "", "Top cache busters:")
		for _, b := range c.Busters {
			lines = append(lines, fmt.Sprintf("  %s in %s: %s", plural(b.Pushes, "push", "pushes"), plural(b.Repositories, "repository", "repositories"), output.Truncate(b.Step, 80)))
			if b.Advice != "" {
				lines = append(lines, "    → "+b.Advice)
			}
		}
	}
	if len(lines) > 0 {
		lines = append(lines, "")
	}
	return lines
}

// Columns implements output.Table: one row per listed push.
func (c *Cache) Columns() []output.Column {
	return output.Cols("repository", "stream", "platform", "at", "from", "to", "reused_layers", "total_layers", "reused_bytes", "reused_pct", "first_changed_position", "first_changed_step")
}

// Rows implements output.Table.
func (c *Cache) Rows() [][]any {
	var out [][]any
	for _, r := range c.Repositories {
		for _, t := range r.Transitions {
			var pos any
			if t.FirstChangedPosition != nil {
				pos = *t.FirstChangedPosition
			}
			out = append(out, []any{r.Repository, t.Stream, t.Platform, t.At, output.Digest(t.From), output.Digest(t.To),
				t.ReusedLayers, t.TotalLayers, output.Bytes(t.ReusedBytes), t.ReusedPercent, pos, t.FirstChangedStep})
		}
	}
	return out
}

package report

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
)

// Kinds of stream: how a stream orders a repository's builds.
const (
	// StreamTag is one tag's pushes, in the order they were seen (tag
	// events from webhooks, or scans that saw the tag move).
	StreamTag = "tag"
	// StreamCreated is a repository's builds of one platform in the order
	// their configs say they were built: what a scan can tell without push
	// history. It shows for repositories none of whose tags has moved.
	StreamCreated = "created"
)

// Transition is one build compared with the build before it in its stream
// (a stream holds builds of one platform): the layers of the later build
// whose chain id matches the earlier build's at the same position were
// reused from the build cache; the first layer that differs, and the step
// that made it, is the cache buster.
type Transition struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	// StreamKind is StreamTag or StreamCreated.
	StreamKind string `json:"stream_kind"`
	// Tag is a tag stream's tag; "" for created streams.
	Tag string `json:"tag"`
	// Platform is the stream's: the platform the index listing the build
	// declares for it, or the build's config's for an image pushed on its
	// own.
	Platform string `json:"platform"`
	// ConfigPlatform is the platform the later build's config states when
	// it differs from Platform (a cross-build its builder labelled with
	// the platform it ran on); "" when they agree.
	ConfigPlatform string    `json:"config_platform"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	At             time.Time `json:"at"`
	// ReusedLayers of the later build's TotalLayers came from the cache;
	// ReusedBytes of its TotalBytes are theirs.
	ReusedLayers int   `json:"reused_layers"`
	TotalLayers  int   `json:"total_layers"`
	ReusedBytes  int64 `json:"reused_bytes"`
	TotalBytes   int64 `json:"total_bytes"`
	// ReuseRatio is ReusedBytes over TotalBytes, from 0 to 1.
	ReuseRatio float64 `json:"reuse_ratio"`
	// FirstChangedPosition counts layers from 0; nil when every layer was
	// reused.
	FirstChangedPosition *int   `json:"first_changed_position"`
	FirstChangedStep     string `json:"first_changed_step"`
	// BaseMoved: the two builds are on different builds of their base and
	// the first changed layer is the new base's: the base moved, which a
	// build cache cannot serve. Base names it (repository:tag, or the
	// repository); BaseFrom and BaseTo are the two base builds (BaseFrom
	// "" when the earlier build's base is not known).
	BaseMoved bool   `json:"base_moved"`
	Base      string `json:"base"`
	BaseFrom  string `json:"base_from"`
	BaseTo    string `json:"base_to"`
}

// firstChange is what a transition's first change was, for people: the
// step, or the base's move from one build to the next.
func (t Transition) firstChange() stepCell {
	if !t.BaseMoved {
		return step(t.FirstChangedStep)
	}
	s := baseMove(t.Base, t.BaseFrom, t.BaseTo)
	return stepCell{s, s}
}

// baseMove says in words that an image's base moved from build from
// (empty: a build not known as a base) to build to, named name.
func baseMove(name, from, to string) string {
	if name == "" {
		name = "the base"
	}
	was := "a build not known as its base"
	if from != "" {
		was = output.Digest(from).Short()
	}
	return fmt.Sprintf("base moved: %s %s → %s", name, was, output.Digest(to).Short())
}

// CacheRepository is the reuse between one repository's builds.
type CacheRepository struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	// StreamKind says which streams the figures come from: StreamTag once
	// a tag of the repository has moved, else StreamCreated.
	StreamKind string `json:"stream_kind"`
	// Builds counts the builds the streams hold: each push of a tag, per
	// platform (tag streams), or each image (created streams).
	Builds int64 `json:"builds"`
	CacheReuse
	// Transitions are the latest ones (--limit), oldest first.
	Transitions []Transition `json:"transitions"`
}

// CacheReuse is the reuse between the builds compared with the build
// before them: a repository's, a month's, or every repository's.
type CacheReuse struct {
	// Compared counts the builds compared with the build before them in
	// their stream: a stream of N builds gives N-1.
	Compared int64 `json:"compared"`
	// The layers and bytes of the compared builds, and those reused.
	ReusedLayers int64 `json:"reused_layers"`
	TotalLayers  int64 `json:"total_layers"`
	ReusedBytes  int64 `json:"reused_bytes"`
	TotalBytes   int64 `json:"total_bytes"`
	// ReuseRatio is ReusedBytes over TotalBytes, from 0 to 1.
	ReuseRatio float64 `json:"reuse_ratio"`
}

// reuse is a CacheReuse with its ratio.
func reuse(compared, reusedLayers, totalLayers, reusedBytes, totalBytes int64) CacheReuse {
	return CacheReuse{Compared: compared, ReusedLayers: reusedLayers, TotalLayers: totalLayers,
		ReusedBytes: reusedBytes, TotalBytes: totalBytes, ReuseRatio: ratio(reusedBytes, totalBytes)}
}

// CacheMonth is the reuse between one repository's builds compared in one
// calendar month (UTC).
type CacheMonth struct {
	Registry   string    `json:"registry"`
	Repository string    `json:"repository"`
	Month      time.Time `json:"month"`
	CacheReuse
}

// CacheBuster is a step that was often the first to change.
type CacheBuster struct {
	Step string `json:"step"`
	// BaseChanged: the step's layer was the base's (the first layer
	// changed, or the base had moved to another build), not a step of the
	// images' own.
	BaseChanged bool `json:"base_changed"`
	// Busts counts the compared builds in which the step was the first to
	// change.
	Busts        int64  `json:"busts"`
	Repositories int64  `json:"repositories"`
	Advice       string `json:"advice"`
}

// CacheTotal is the reuse over every repository the report looked at,
// listed or not.
type CacheTotal struct {
	Repositories int64 `json:"repositories"`
	Builds       int64 `json:"builds"`
	CacheReuse
}

// Cache is the build-cache report.
type Cache struct {
	// Total counts every repository with compared builds; Repositories
	// lists the top ones (CacheOptions.Top), the most bytes pushed anew
	// first.
	Total        CacheTotal        `json:"total"`
	Repositories []CacheRepository `json:"repositories"`
	OverTime     []CacheMonth      `json:"over_time"`
	Busters      []CacheBuster     `json:"busters"`

	windowed bool // --since: the figures are the window's
}

// CacheOptions select what the cache report looks at.
type CacheOptions struct {
	Repositories repoglob.Glob
	// Since keeps builds compared (and counts builds) at or after it
	// (zero: all).
	Since time.Time
	// Top is how many repositories to list (0: all): those whose compared
	// builds pushed the most bytes anew (total bytes less those reused).
	// The totals and the busters count every repository.
	Top int
	// Limit is how many of each listed repository's latest transitions to
	// list (0: all); the aggregates count every comparison.
	Limit int
	// Busters is how many top cache busters to list (0: all).
	Busters int
}

// LoadCache runs the build-cache report.
func LoadCache(ctx context.Context, db DB, opts CacheOptions) (*Cache, error) {
	if opts.Limit < 0 || opts.Top < 0 || opts.Busters < 0 {
		return nil, fmt.Errorf("--limit, --top and --busters must not be negative (got %d, %d and %d)", opts.Limit, opts.Top, opts.Busters)
	}
	opts.Busters = pageSize(opts.Busters)
	// The whole history reads the rollups, which rank the repositories; a
	// --since window, the comparisons in it, in one pass, ranked here.
	// Then the listed repositories' transitions (and months).
	re := regexpOrNil(opts.Repositories)
	since := opts.Since
	windowed := !since.IsZero()
	if !windowed {
		since = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) // every comparison
	}
	out := &Cache{Repositories: []CacheRepository{}, OverTime: []CacheMonth{}, Busters: []CacheBuster{}, windowed: windowed}
	var ids []int64
	var months []CacheMonth
	var err error
	if windowed {
		ids, months, err = loadCacheWindow(ctx, db, out, re, since, opts)
	} else {
		ids, err = loadCacheHistory(ctx, db, out, re, opts)
	}
	if err != nil {
		return nil, err
	}

	var transitions []Transition
	fns := []func(context.Context) error{
		func(ctx context.Context) error {
			rows, err := queries.CacheTransitions(ctx, db, dbsqlc.CacheTransitionsParams{RepositoryIds: ids, Since: since,
				Limit: int32(min(opts.Limit, math.MaxInt32))}) // past MaxInt32, every stream is shorter
			if err != nil {
				return fmt.Errorf("querying compared builds: %w", err)
			}
			transitions = mapRows(rows, transition)
			return nil
		},
	}
	if !windowed {
		fns = append(fns, func(ctx context.Context) error {
			rows, err := queries.CacheOverTime(ctx, db, ids)
			if err != nil {
				return fmt.Errorf("querying cache reuse over time: %w", err)
			}
			months = mapRows(rows, cacheMonth)
			return nil
		})
	}
	if len(ids) > 0 {
		if err := concurrently(ctx, db, fns...); err != nil {
			return nil, err
		}
	}
	// Months and transitions go with their repositories, in the
	// repositories' order, each in time order.
	byRepo := make(map[[2]string]int, len(out.Repositories))
	for i, r := range out.Repositories {
		byRepo[[2]string{r.Registry, r.Repository}] = i
	}
	perRepo := make([][]CacheMonth, len(out.Repositories))
	for _, m := range months {
		if i, ok := byRepo[[2]string{m.Registry, m.Repository}]; ok {
			perRepo[i] = append(perRepo[i], m)
		}
	}
	for _, ms := range perRepo { // each repository's in month order
		out.OverTime = append(out.OverTime, ms...)
	}
	if err := nameBases(ctx, db, transitions); err != nil {
		return nil, err
	}
	for _, t := range transitions {
		if i, ok := byRepo[[2]string{t.Registry, t.Repository}]; ok {
			out.Repositories[i].Transitions = append(out.Repositories[i].Transitions, t)
		}
	}
	return out, nil
}

// nameBases names the new base of each transition whose base moved.
func nameBases(ctx context.Context, db DB, ts []Transition) error {
	var builds []string
	for _, t := range ts {
		if t.BaseMoved && !slices.Contains(builds, t.BaseTo) {
			builds = append(builds, t.BaseTo)
		}
	}
	if len(builds) == 0 {
		return nil
	}
	names, err := buildNames(ctx, db, builds)
	if err != nil {
		return err
	}
	for i := range ts {
		if ts[i].BaseMoved {
			ts[i].Base = names[ts[i].BaseTo]
		}
	}
	return nil
}

// buildNames names base builds as people know them: repository:tag of
// the push that last named each (BuildNames), or its repository.
func buildNames(ctx context.Context, db DB, builds []string) (map[string]string, error) {
	rows, err := queries.BuildNames(ctx, db, builds)
	if err != nil {
		return nil, fmt.Errorf("naming base builds: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, n := range rows {
		name := n.Repository
		if n.Tag != "" {
			name += ":" + n.Tag
		}
		out[n.Digest] = name
	}
	return out, nil
}

// loadCacheHistory reads the whole history from the rollups: the listed
// repositories with the totals, and the busters. It returns the listed
// repositories' ids.
func loadCacheHistory(ctx context.Context, db DB, out *Cache, re *string, opts CacheOptions) ([]int64, error) {
	var ids []int64
	err := concurrently(ctx, db,
		func(ctx context.Context) error {
			rows, err := queries.CacheRepositories(ctx, db, dbsqlc.CacheRepositoriesParams{Repository: re, Top: int32(min(opts.Top, math.MaxInt32))})
			if err != nil {
				return fmt.Errorf("querying cache reuse: %w", err)
			}
			out.Repositories = mapRows(rows, cacheRepository)
			for _, r := range rows {
				ids = append(ids, r.RepositoryID)
			}
			if len(rows) > 0 {
				r := rows[0]
				out.Total = CacheTotal{Repositories: r.AllRepositories, Builds: r.AllBuilds,
					CacheReuse: reuse(r.AllCompared, r.AllReusedLayers, r.AllTotalLayers, r.AllReusedBytes, r.AllTotalBytes)}
			}
			return nil
		},
		func(ctx context.Context) error {
			rows, err := queries.CacheBusters(ctx, db, dbsqlc.CacheBustersParams{Repository: re, Limit: int64(opts.Busters)})
			if err != nil {
				return fmt.Errorf("querying cache busters: %w", err)
			}
			out.Busters = mapRows(rows, cacheBuster)
			return nil
		},
	)
	return ids, err
}

// loadCacheWindow reads the builds compared in a --since window in one
// query: the top repositories, the totals, the busters; it returns the
// listed repositories' ids and months. Over every repository it reads
// what the fold keeps per repository and day (CacheSinceKept); for a
// --repo filter, the selected repositories' comparisons in the window.
func loadCacheWindow(ctx context.Context, db DB, out *Cache, re *string, since time.Time, opts CacheOptions) ([]int64, []CacheMonth, error) {
	top, busters := int32(min(opts.Top, math.MaxInt32)), int64(opts.Busters)
	var rows []dbsqlc.CacheSinceRow
	var err error
	if re == nil {
		var kept []dbsqlc.CacheSinceKeptRow
		// A window starting in the second half of its day (UTC) reads that
		// day's rows from its start rather than before it: fewer.
		late := since.UTC().Sub(since.UTC().Truncate(24*time.Hour)) >= 12*time.Hour
		kept, err = queries.CacheSinceKept(ctx, db, dbsqlc.CacheSinceKeptParams{Since: since, Top: top, Busters: busters, Late: late})
		rows = mapRows(kept, func(r dbsqlc.CacheSinceKeptRow) dbsqlc.CacheSinceRow { return dbsqlc.CacheSinceRow(r) })
	} else {
		rows, err = queries.CacheSince(ctx, db, dbsqlc.CacheSinceParams{Repository: re, Since: since, Top: top, Busters: busters})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("querying cache reuse since %s: %w", since.Format(time.RFC3339), err)
	}
	var ids []int64
	var months []CacheMonth
	for _, r := range rows { // each kind in its order
		figures := reuse(r.Compared, r.ReusedLayers, r.TotalLayers, r.ReusedBytes, r.TotalBytes)
		switch r.What {
		case "repository":
			ids = append(ids, r.RepositoryID)
			out.Repositories = append(out.Repositories, CacheRepository{Registry: r.Registry, Repository: r.Repository, StreamKind: r.StreamKind,
				Builds: r.Builds, CacheReuse: figures, Transitions: []Transition{}})
		case "total":
			out.Total = CacheTotal{Repositories: r.Repositories, Builds: r.Builds, CacheReuse: figures}
		case "month":
			months = append(months, CacheMonth{Registry: r.Registry, Repository: r.Repository, Month: r.Month.Time.UTC(), CacheReuse: figures})
		case "step":
			out.Busters = append(out.Busters, CacheBuster{Step: r.Step, BaseChanged: r.BaseChanged, Busts: r.Compared,
				Repositories: r.Repositories, Advice: r.Advice})
		}
	}
	return ids, months, nil
}

// transition is a compared build as cache_transitions.sql reads it.
func transition(r dbsqlc.CacheTransitionsRow) Transition {
	t := Transition{Registry: r.Registry, Repository: r.Repository, StreamKind: r.StreamKind, Tag: r.Stream, Platform: r.Platform,
		From: r.FromDigest, To: r.ToDigest, At: r.OccurredAt.UTC(), ReusedLayers: int(r.ReusedLayers), TotalLayers: int(r.TotalLayers),
		ReusedBytes: r.ReusedBytes, TotalBytes: r.TotalBytes, ReuseRatio: ratio(r.ReusedBytes, r.TotalBytes), FirstChangedStep: r.FirstChangedStep}
	if r.ConfigPlatform != r.Platform {
		t.ConfigPlatform = r.ConfigPlatform
	}
	if r.FirstChangedPosition != nil {
		pos := int(*r.FirstChangedPosition)
		t.FirstChangedPosition = &pos
	}
	if r.BaseMoved {
		t.BaseMoved, t.BaseFrom, t.BaseTo = true, r.BaseFrom, r.BaseTo
	}
	return t
}

// The rollups of the whole history, as cache_repositories.sql,
// cache_over_time.sql and cache_busters.sql read them; the views' columns
// are NULL in no row.

func cacheRepository(r dbsqlc.CacheRepositoriesRow) CacheRepository {
	return CacheRepository{Registry: r.Registry, Repository: r.Repository, StreamKind: value(r.StreamKind), Builds: r.Builds,
		CacheReuse:  reuse(r.Compared, value(r.ReusedLayers), value(r.TotalLayers), value(r.ReusedBytes), value(r.TotalBytes)),
		Transitions: []Transition{}}
}

func cacheMonth(r dbsqlc.CacheOverTimeRow) CacheMonth {
	return CacheMonth{Registry: r.Registry, Repository: r.Repository, Month: r.Month.Time.UTC(),
		CacheReuse: reuse(r.Compared, value(r.ReusedLayers), value(r.TotalLayers), value(r.ReusedBytes), value(r.TotalBytes))}
}

func cacheBuster(r dbsqlc.CacheBustersRow) CacheBuster {
	return CacheBuster{Step: r.Step, BaseChanged: r.BaseChanged, Busts: r.Busts, Repositories: r.Repositories, Advice: r.Advice}
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// cacheNote says what the report's figures are; the command's help
// says it at more length.
const cacheNote = "A stream is a tag's pushes, or (\"created\") a repository's builds of one platform in the order their configs say they were built; " +
	"each build is compared with the one before it: a stream of N builds gives N-1 compared. " +
	"Reuse is the share of the compared builds' layer bytes the build before could serve from its cache (same layers at the same positions)."

// Preamble implements output.Preamble: what the figures are, reuse per
// repository, then the top cache busters with their advice.
func (c *Cache) Preamble() []string {
	if len(c.Repositories) == 0 {
		return nil
	}
	lines := []string{cacheNote, ""}
	t := c.Total
	lines = append(lines, fmt.Sprintf("%s: %s, %d compared: %d of %d layers reused, %s of %s (reuse %s)",
		output.Count(t.Repositories, "repository", "repositories"), output.Count(t.Builds, "build", "builds"), t.Compared,
		t.ReusedLayers, t.TotalLayers, output.Bytes(t.ReusedBytes), output.Bytes(t.TotalBytes), output.Ratio(t.ReuseRatio)))
	if n := int64(len(c.Repositories)); n < t.Repositories {
		lines = append(lines, fmt.Sprintf("The %d whose compared builds pushed the most bytes anew (--top 0 lists all %d):", n, t.Repositories))
	}
	lines = append(lines, "")
	for _, r := range c.Repositories {
		streams := "tag streams"
		if r.StreamKind == StreamCreated {
			streams = "builds in created order"
		}
		lines = append(lines, fmt.Sprintf("%s (%s): %s, %d compared: %d of %d layers reused, %s of %s (reuse %s)",
			r.Repository, streams, output.Count(r.Builds, "build", "builds"), r.Compared, r.ReusedLayers, r.TotalLayers,
			output.Bytes(r.ReusedBytes), output.Bytes(r.TotalBytes), output.Ratio(r.ReuseRatio)))
		flagged := map[[2]string]bool{}
		for _, t := range r.Transitions {
			k := [2]string{t.Platform, t.ConfigPlatform}
			if t.ConfigPlatform == "" || flagged[k] {
				continue
			}
			flagged[k] = true
			lines = append(lines, fmt.Sprintf("  builds its index lists as %s say %s in their configs (a cross-build labelled by its builder): compared as %s",
				t.Platform, t.ConfigPlatform, t.Platform))
		}
	}
	if len(c.Busters) > 0 {
		lines = append(lines, "", "Top cache busters:")
		for _, b := range c.Busters {
			what := output.Truncate(b.Step, 80)
			if b.BaseChanged {
				what = "the base changed, first at " + what
			}
			lines = append(lines, fmt.Sprintf("  first to change in %s of %s: %s", output.Count(b.Busts, "build", "builds"),
				output.Count(b.Repositories, "repository", "repositories"), what))
			if b.Advice != "" {
				lines = append(lines, "    → "+b.Advice)
			}
		}
	}
	return append(lines, "")
}

// Empty implements output.Empty.
func (c *Cache) Empty() string {
	if c.windowed {
		return "no rebuilds to compare in the window: no tag was pushed over another build, and no repository gained a second build of a platform, since then"
	}
	return "no rebuilds to compare yet: every stream holds one build (a tag pushed once, a repository's only build of a platform); one shows once a tag is pushed again or a repository holds a second build"
}

// Columns implements output.Table: one record per listed transition, its
// keys those of a Transition.
func (c *Cache) Columns() []output.Column {
	return output.Cols("registry", "repository", "stream_kind", "tag", "platform", "config_platform", "from", "to", "at",
		"reused_layers", "total_layers", "reused_bytes", "total_bytes", "reuse_ratio", "first_changed_position", "first_changed_step",
		"base_moved", "base", "base_from", "base_to")
}

// Rows implements output.Table.
func (c *Cache) Rows() [][]any {
	var out [][]any
	for _, r := range c.Repositories {
		for _, t := range r.Transitions {
			out = append(out, []any{t.Registry, t.Repository, t.StreamKind, t.Tag, t.Platform, t.ConfigPlatform,
				output.Digest(t.From), output.Digest(t.To), t.At, t.ReusedLayers, t.TotalLayers,
				output.Bytes(t.ReusedBytes), output.Bytes(t.TotalBytes), output.Ratio(t.ReuseRatio), position(t.FirstChangedPosition), t.FirstChangedStep,
				t.BaseMoved, t.Base, output.Digest(t.BaseFrom), output.Digest(t.BaseTo)})
		}
	}
	return out
}

// TableColumns implements output.Grouped: the stream in words, reuse as
// "n of m", a platform its config disagrees with flagged, times in UTC to
// the minute.
func (c *Cache) TableColumns() []output.Column {
	return []output.Column{
		{Key: "registry", Wide: true},
		{Key: "repository"},
		{Key: "stream"},
		{Key: "platform"},
		{Key: "at"},
		{Key: "from", Wide: true},
		{Key: "to", Title: "BUILD"},
		{Key: "reused_layers", Title: "REUSED"},
		{Key: "reused_bytes", Title: "BYTES REUSED", Wide: true},
		{Key: "reuse_ratio", Title: "REUSE"},
		{Key: "first_changed_position", Title: "FIRST CHANGED", Wide: true},
		{Key: "first_changed_step", Title: "FIRST CHANGE"},
	}
}

// TableRows implements output.Grouped.
func (c *Cache) TableRows() [][]any {
	var out [][]any
	for _, r := range c.Repositories {
		for _, t := range r.Transitions {
			stream := "created order"
			if t.StreamKind == StreamTag {
				stream = "tag " + t.Tag
			}
			platform := t.Platform
			if t.ConfigPlatform != "" {
				platform += " (config: " + t.ConfigPlatform + ")"
			}
			out = append(out, []any{t.Registry, t.Repository, stream, platform, t.At.UTC().Format("2006-01-02 15:04"), output.Digest(t.From), output.Digest(t.To),
				fmt.Sprintf("%d of %d", t.ReusedLayers, t.TotalLayers),
				fmt.Sprintf("%s of %s", output.Bytes(t.ReusedBytes), output.Bytes(t.TotalBytes)),
				output.Ratio(t.ReuseRatio), position(t.FirstChangedPosition), t.firstChange()})
		}
	}
	return out
}

// position is a first changed position as a cell: empty when none.
func position(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

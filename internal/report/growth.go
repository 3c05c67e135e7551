package report

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
)

// GrowthOptions select the pushes the growth report looks at.
type GrowthOptions struct {
	Repositories repoglob.Glob
	// Since keeps the pushes compared at or after it (zero: all).
	Since time.Time
	// MinBytes lists the pushes that grew by at least that many compressed
	// bytes (at least 1).
	MinBytes int64
	// Limit is how many to list, the largest growth first (0: all).
	Limit int
	// TopPaths is how many of the largest files of each step's new layers
	// to name.
	TopPaths int
	// FailOverBytes and FailOverPercent are a CI gate's thresholds (-1:
	// not asked): a push that grew by more fails it.
	FailOverBytes   int64
	FailOverPercent float64
}

// Growth is each push's size change against the push before it in its
// stream (a tag's pushes; a repository's builds in created order until
// one of its tags moves), with what caused it. A push's causes add up to
// its growth exactly: its base, when the base moved (or its layers
// changed); each of its own steps; layers only moved or recompressed.
type Growth struct {
	// Compared counts the pushes compared in the window and repositories;
	// Grew those that grew by at least MinBytes, of which Pushes lists
	// the largest. Over every repository's whole history with --min-bytes
	// above 1 byte Grew is not counted (nil): that would read every
	// comparison kept (the counts kept per day are of those that grew by
	// a byte or more).
	Compared int64        `json:"compared"`
	Grew     *int64       `json:"grew"`
	MinBytes int64        `json:"min_bytes"`
	Since    *time.Time   `json:"since"`
	Pushes   []GrowthPush `json:"pushes"`
	// OverBytes and OverPercent count the pushes over the gate's
	// thresholds (0 when not asked).
	OverBytes   int64 `json:"over_bytes"`
	OverPercent int64 `json:"over_percent"`

	limit int
}

// GrowthPush is one push and the one before it in its stream.
type GrowthPush struct {
	Registry   string    `json:"registry"`
	Repository string    `json:"repository"`
	StreamKind string    `json:"stream_kind"`
	Tag        string    `json:"tag"`
	Platform   string    `json:"platform"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	At         time.Time `json:"at"`
	// FromBytes and ToBytes are the two builds' compressed layer bytes.
	FromBytes  int64 `json:"from_bytes"`
	ToBytes    int64 `json:"to_bytes"`
	DeltaBytes int64 `json:"delta_bytes"`
	// DeltaPercent is DeltaBytes over FromBytes, in percent.
	DeltaPercent float64 `json:"delta_percent"`
	// DeltaUncompressedBytes is the change of the layer tars' bytes; nil
	// unless every layer that changed has a file index.
	DeltaUncompressedBytes *int64        `json:"delta_uncompressed_bytes"`
	BaseMoved              bool          `json:"base_moved"`
	Causes                 []GrowthCause `json:"causes"`
}

// GrowthCause is one part of a push's growth.
type GrowthCause struct {
	// Kind: "base" (the base's layers: the base moved to another build,
	// or its layers changed), "step" (one of the image's own steps: the
	// layers it made in the earlier push removed, those it made in this
	// one added), or "moved" (layers both builds hold, above a change,
	// stored in another blob).
	Kind string `json:"kind"`
	// Base names the base build that changed (repository:tag), from
	// BaseFrom to BaseTo; BaseDeltaBytes is the base build's own change.
	Base           string `json:"base,omitempty"`
	BaseFrom       string `json:"base_from,omitempty"`
	BaseTo         string `json:"base_to,omitempty"`
	BaseDeltaBytes *int64 `json:"base_delta_bytes,omitempty"`
	// Step is the step's history entry (created_by).
	Step         string `json:"step,omitempty"`
	AddedBytes   int64  `json:"added_bytes"`
	RemovedBytes int64  `json:"removed_bytes"`
	DeltaBytes   int64  `json:"delta_bytes"`
	// DeltaUncompressedBytes: nil unless its layers are indexed.
	DeltaUncompressedBytes *int64 `json:"delta_uncompressed_bytes"`
	// TopPaths are the largest files of the layers a step made in this
	// push, when indexed.
	TopPaths []PathBytes `json:"top_paths"`

	added []string // the layer blobs a step made in this push
}

// PathBytes is a file and its size.
type PathBytes struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// LoadGrowth runs the growth report.
func LoadGrowth(ctx context.Context, db DB, opts GrowthOptions) (*Growth, error) {
	if opts.MinBytes < 1 || opts.Limit < 0 || opts.TopPaths < 0 {
		return nil, fmt.Errorf("--min-bytes must be at least 1, --limit and --top-paths at least 0 (got %d, %d and %d)", opts.MinBytes, opts.Limit, opts.TopPaths)
	}
	re := regexpOrNil(opts.Repositories)
	since := opts.Since
	var err error
	out := &Growth{MinBytes: opts.MinBytes, Pushes: []GrowthPush{}, limit: opts.Limit}
	if since.IsZero() {
		since = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	} else {
		s := since.UTC()
		out.Since = &s
	}
	if err := out.count(ctx, db, opts, re, since); err != nil {
		return nil, fmt.Errorf("counting compared pushes: %w", err)
	}
	limit := int32(pageSize(opts.Limit))
	var rows []dbsqlc.GrowthPushesRow
	if re == nil {
		rows, err = queries.GrowthPushes(ctx, db, dbsqlc.GrowthPushesParams{MinBytes: opts.MinBytes, Since: since, Limit: limit})
	} else {
		var in []dbsqlc.GrowthPushesInRow
		in, err = queries.GrowthPushesIn(ctx, db, dbsqlc.GrowthPushesInParams{MinBytes: opts.MinBytes, Since: since, Repository: *re, Limit: limit})
		for _, r := range in {
			rows = append(rows, dbsqlc.GrowthPushesRow(r))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("querying compared pushes: %w", err)
	}
	if out.Pushes, err = GrowthPushes(ctx, db, rows, opts.TopPaths); err != nil {
		return nil, err
	}
	return out, nil
}

// count counts the pushes compared at or after since in the repositories
// matching re (nil: all), by the cheapest way that answers what was asked:
// a filter reads each matching repository's index; every repository at the
// default --min-bytes and no gate, the counts kept per day; every
// repository's whole history at another --min-bytes, the cache rollups
// (those that grew not counted); anything else, the comparisons.
func (g *Growth) count(ctx context.Context, db DB, opts GrowthOptions, re *string, since time.Time) error {
	gate := opts.FailOverBytes >= 0 || opts.FailOverPercent >= 0
	switch {
	case re != nil:
		c, err := queries.GrowthCountsIn(ctx, db, dbsqlc.GrowthCountsInParams{MinBytes: opts.MinBytes, OverBytes: opts.FailOverBytes,
			OverPercent: opts.FailOverPercent, Since: since, Repository: *re})
		g.Compared, g.Grew, g.OverBytes, g.OverPercent = c.Compared, &c.Grew, c.OverBytes, c.OverPercent
		return err
	case opts.MinBytes == 1 && !gate:
		c, err := queries.GrowthDays(ctx, db, since)
		g.Compared, g.Grew = c.Compared, &c.Grew
		return err
	case g.Since == nil && !gate:
		var err error
		g.Compared, err = queries.GrowthComparedAll(ctx, db)
		return err
	default:
		c, err := queries.GrowthCounts(ctx, db, dbsqlc.GrowthCountsParams{MinBytes: opts.MinBytes, OverBytes: opts.FailOverBytes,
			OverPercent: opts.FailOverPercent, Since: since})
		g.Compared, g.Grew, g.OverBytes, g.OverPercent = c.Compared, &c.Grew, c.OverBytes, c.OverPercent
		return err
	}
}

// GrowthPushes works out the causes of compared pushes (rows of
// GrowthPushes), with the topPaths largest files of each step's new
// layers.
func GrowthPushes(ctx context.Context, db DB, rows []dbsqlc.GrowthPushesRow, topPaths int) ([]GrowthPush, error) {
	out := []GrowthPush{}
	if len(rows) == 0 {
		return out, nil
	}
	var digests []string
	for _, r := range rows {
		digests = append(digests, r.FromDigest, r.ToDigest)
	}
	c, err := loadGrowthFacts(ctx, db, digests, topPaths)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		p := GrowthPush{Registry: r.Registry, Repository: r.Repository, StreamKind: r.StreamKind, Tag: r.Stream, Platform: r.Platform,
			From: r.FromDigest, To: r.ToDigest, At: r.OccurredAt.UTC(), FromBytes: r.FromBytes, ToBytes: r.ToBytes,
			DeltaBytes: r.ToBytes - r.FromBytes, BaseMoved: r.BaseMoved}
		if r.FromBytes > 0 {
			p.DeltaPercent = math.Round(float64(p.DeltaBytes)*10000/float64(r.FromBytes)) / 100
		}
		p.Causes, p.DeltaUncompressedBytes = c.causes(r)
		out = append(out, p)
	}
	if err := c.topPathsOf(ctx, db, out); err != nil {
		return nil, err
	}
	return out, nil
}

// topPathsOf names the largest files of the layers each step cause's step
// made in its push, reading the file indexes of those layers only.
func (f *growthFacts) topPathsOf(ctx context.Context, db DB, pushes []GrowthPush) error {
	var blobs []string
	for _, p := range pushes {
		for _, c := range p.Causes {
			blobs = append(blobs, c.added...)
		}
	}
	if f.topPaths == 0 || len(blobs) == 0 {
		return nil
	}
	slices.Sort(blobs)
	blobs = slices.Compact(blobs)
	top, err := queries.LayerTopFiles(ctx, db, dbsqlc.LayerTopFilesParams{Blobs: blobs, N: int32(f.topPaths)})
	if err != nil {
		return fmt.Errorf("reading the largest files of layers: %w", err)
	}
	files := map[string][]PathBytes{}
	for _, t := range top {
		files[t.BlobDigest] = append(files[t.BlobDigest], PathBytes{Path: t.Path, Bytes: t.Size})
	}
	for i := range pushes {
		for j := range pushes[i].Causes {
			c := &pushes[i].Causes[j]
			for _, b := range c.added {
				c.TopPaths = append(c.TopPaths, files[b]...)
			}
			slices.SortFunc(c.TopPaths, func(x, y PathBytes) int {
				return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), strings.Compare(x.Path, y.Path))
			})
			if len(c.TopPaths) > f.topPaths {
				c.TopPaths = c.TopPaths[:f.topPaths]
			}
		}
	}
	return nil
}

// growthFacts is what the causes of the listed pushes are worked out
// from: their layers and bases, the layer tars' sizes, base names, and
// the largest files of layers.
type growthFacts struct {
	layers   map[string][]ImageLayer // manifest -> layers, FromBase set
	baseOf   map[string]string       // manifest -> base build
	baseLen  map[string]int          // manifest -> its base's layers
	tars     map[string]int64        // indexed layer blob -> tar bytes
	names    map[string]string       // base build -> repository:tag
	topPaths int
}

func loadGrowthFacts(ctx context.Context, db DB, digests []string, topPaths int) (*growthFacts, error) {
	f := &growthFacts{layers: map[string][]ImageLayer{}, baseOf: map[string]string{}, baseLen: map[string]int{},
		names: map[string]string{}, topPaths: topPaths}
	ls, err := queries.ManifestsLayers(ctx, db, digests)
	if err != nil {
		return nil, fmt.Errorf("reading layers: %w", err)
	}
	var blobs, bases []string
	for _, l := range ls {
		f.layers[l.ManifestDigest] = append(f.layers[l.ManifestDigest], ImageLayer{Position: int(l.Position), Digest: l.BlobDigest, DiffID: l.DiffID,
			ChainID: l.ChainID, Size: l.Size, CreatedBy: l.CreatedBy, FromBase: l.BaseDigest != "" && l.Position < l.BaseLayers})
		if l.BaseDigest != "" {
			f.baseOf[l.ManifestDigest], f.baseLen[l.ManifestDigest] = l.BaseDigest, int(l.BaseLayers)
			bases = append(bases, l.BaseDigest)
		}
		blobs = append(blobs, l.BlobDigest)
	}
	slices.Sort(blobs)
	blobs = slices.Compact(blobs)
	slices.Sort(bases)
	bases = slices.Compact(bases)
	if f.tars, err = layerTars(ctx, db, blobs); err != nil {
		return nil, err
	}
	if len(bases) > 0 {
		if f.names, err = buildNames(ctx, db, bases); err != nil {
			return nil, err
		}
		// Each base build's own size, for a base that moved.
		var missing []string
		for _, b := range bases {
			if _, ok := f.layers[b]; !ok {
				missing = append(missing, b)
			}
		}
		if len(missing) > 0 {
			ls, err := queries.ManifestsLayers(ctx, db, missing)
			if err != nil {
				return nil, fmt.Errorf("reading base layers: %w", err)
			}
			for _, l := range ls {
				f.layers[l.ManifestDigest] = append(f.layers[l.ManifestDigest], ImageLayer{Position: int(l.Position), Digest: l.BlobDigest, Size: l.Size})
			}
		}
	}
	return f, nil
}

// size is a manifest's layer bytes.
func (f *growthFacts) size(manifest string) int64 {
	var n int64
	for _, l := range f.layers[manifest] {
		n += l.Size
	}
	return n
}

// tar is a layer row's change of tar bytes, or false when a layer it
// involves is not indexed.
func (f *growthFacts) tar(r DiffLayer) (int64, bool) {
	var n int64
	for _, side := range []struct {
		digest string
		sign   int64
	}{{r.DigestA, -1}, {r.DigestB, 1}} {
		if side.digest == "" {
			continue
		}
		t, ok := f.tars[side.digest]
		if !ok {
			return 0, false
		}
		n += side.sign * t
	}
	return n, true
}

// causes splits a push's growth: the layer rows of the two builds (their
// deltas add up to the push's), grouped by base and by step.
func (f *growthFacts) causes(r dbsqlc.GrowthPushesRow) ([]GrowthCause, *int64) {
	_, rows := layerChanges(f.layers[r.FromDigest], f.layers[r.ToDigest])
	var out []GrowthCause
	var total int64
	allIndexed := true
	index := map[string]int{} // cause key -> position in out
	for _, l := range rows {
		if l.Change == "kept" && l.DeltaBytes == 0 {
			continue // the same blob at another position: no bytes
		}
		// A layer of the earlier build whose base is not known, below where
		// the later build's base ends, when that base moved: the old
		// base's, not a step of the image's own.
		fromBase := l.FromBase || (l.Change == "removed" && r.BaseMoved && f.baseOf[r.FromDigest] == "" &&
			*l.PositionA < f.baseLen[r.ToDigest])
		key, c := "", GrowthCause{}
		switch {
		case fromBase:
			key, c = "base", GrowthCause{Kind: "base"}
			from, to := f.baseOf[r.FromDigest], f.baseOf[r.ToDigest]
			if r.BaseMoved || from != to {
				c.Base, c.BaseFrom, c.BaseTo = f.names[to], from, to
				if c.Base == "" {
					c.Base = f.names[from]
				}
				if from != "" && to != "" {
					d := f.size(to) - f.size(from)
					c.BaseDeltaBytes = &d
				}
			}
		case l.Change == "kept" || l.Change == "recompressed":
			key, c = "moved", GrowthCause{Kind: "moved"}
		default:
			key, c = "step:"+l.CreatedBy, GrowthCause{Kind: "step", Step: l.CreatedBy}
		}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			zero := int64(0)
			c.DeltaUncompressedBytes = &zero
			c.TopPaths = []PathBytes{}
			out = append(out, c)
		}
		cause := &out[i]
		cause.DeltaBytes += l.DeltaBytes
		switch l.Change {
		case "added":
			cause.AddedBytes += l.SizeB
			if cause.Kind == "step" {
				cause.added = append(cause.added, l.DigestB)
			}
		case "removed":
			cause.RemovedBytes += l.SizeA
		}
		if t, ok := f.tar(l); ok && cause.DeltaUncompressedBytes != nil {
			*cause.DeltaUncompressedBytes += t
			total += t
		} else {
			cause.DeltaUncompressedBytes = nil
			allIndexed = false
		}
	}
	// The base first, then the largest parts.
	slices.SortStableFunc(out, func(x, y GrowthCause) int {
		return cmp.Or(cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(y.DeltaBytes, x.DeltaBytes))
	})
	if !allIndexed {
		return out, nil
	}
	return out, &total
}

func kindRank(kind string) int {
	if kind == "base" {
		return 0
	}
	return 1
}

// name is a push's stream for people.
func (p GrowthPush) name() string {
	if p.StreamKind == StreamTag {
		return p.Repository + ":" + p.Tag
	}
	return p.Repository + " (created order)"
}

// Text is a cause for people, in one line.
func (c GrowthCause) Text() string {
	switch c.Kind {
	case "base":
		if c.BaseTo == "" {
			return "the base's layers changed"
		}
		s := baseMove(c.Base, c.BaseFrom, c.BaseTo)
		if c.BaseDeltaBytes != nil {
			s += fmt.Sprintf(" (the base itself %s)", signed(*c.BaseDeltaBytes))
		}
		return s
	case "moved":
		return "layers both builds hold, stored anew (moved or recompressed)"
	}
	return shortStep(c.Step)
}

// Preamble implements output.Preamble.
func (g *Growth) Preamble() []string {
	window := ""
	if g.Since != nil {
		window = " since " + g.Since.Format("2006-01-02 15:04 UTC")
	}
	line := fmt.Sprintf("%s compared with the push before it%s", output.Count(g.Compared, "push", "pushes"), window)
	switch n := int64(len(g.Pushes)); {
	case g.Grew == nil:
		line += fmt.Sprintf("; the %d that grew most, by %s or more each", n, output.Bytes(g.MinBytes))
		if g.limit > 0 && int(n) == g.limit {
			line += " (--limit 0 lists all)"
		}
	case n < *g.Grew:
		line += fmt.Sprintf("; %d grew by %s or more: the %d that grew most (--limit 0 lists all)", *g.Grew, output.Bytes(g.MinBytes), n)
	default:
		line += fmt.Sprintf("; %d grew by %s or more", *g.Grew, output.Bytes(g.MinBytes))
	}
	return []string{line, "A push's causes add up to its growth: the base when it moved, each of its own steps (their layers removed and added), layers moved.", ""}
}

// Empty implements output.Empty.
func (g *Growth) Empty() string {
	if g.Compared == 0 {
		return "no push to compare: a tag must be pushed again (or a repository hold a second build) in the window; where no tag has moved, builds are dated by their configs' created time"
	}
	return "no push grew by --min-bytes or more"
}

// Columns implements output.Table: a record per cause, with its push
// (the push's growth is to_bytes less from_bytes; its causes' deltas add
// up to it).
func (g *Growth) Columns() []output.Column {
	return output.Cols("registry", "repository", "stream_kind", "tag", "platform", "from", "to", "at", "from_bytes", "to_bytes",
		"delta_percent", "base_moved", "kind", "base", "base_from", "base_to", "base_delta_bytes",
		"step", "added_bytes", "removed_bytes", "delta_bytes", "delta_uncompressed_bytes", "top_paths")
}

// Rows implements output.Table.
func (g *Growth) Rows() [][]any {
	var rows [][]any
	for _, p := range g.Pushes {
		for _, c := range p.Causes {
			var paths []string
			for _, tp := range c.TopPaths {
				paths = append(paths, tp.Path)
			}
			rows = append(rows, []any{p.Registry, p.Repository, p.StreamKind, p.Tag, p.Platform, output.Digest(p.From), output.Digest(p.To), p.At,
				p.FromBytes, p.ToBytes, p.DeltaPercent, p.BaseMoved, c.Kind, c.Base,
				output.Digest(c.BaseFrom), output.Digest(c.BaseTo), c.BaseDeltaBytes, step(c.Step), c.AddedBytes, c.RemovedBytes, c.DeltaBytes,
				c.DeltaUncompressedBytes, strings.Join(paths, "\n")})
		}
	}
	return rows
}

// TableColumns implements output.Grouped: each push on a line, its
// causes under it.
func (g *Growth) TableColumns() []output.Column {
	return []output.Column{{Key: "push", Title: "PUSH / CAUSE"}, {Key: "platform"}, {Key: "at"}, {Key: "to", Title: "BUILD", Wide: true},
		{Key: "size"}, {Key: "delta"}, {Key: "uncompressed", Wide: true}, {Key: "top_paths"}}
}

// TableRows implements output.Grouped.
func (g *Growth) TableRows() [][]any {
	var rows [][]any
	unc := func(p *int64) string {
		if p == nil {
			return "–"
		}
		return signed(*p)
	}
	for _, p := range g.Pushes {
		rows = append(rows, []any{p.name(), p.Platform, p.At.Format("2006-01-02 15:04"), output.Digest(p.To),
			fmt.Sprintf("%s → %s", output.Bytes(p.FromBytes), output.Bytes(p.ToBytes)),
			fmt.Sprintf("%s (%+.1f%%)", signed(p.DeltaBytes), p.DeltaPercent), unc(p.DeltaUncompressedBytes), ""})
		for _, c := range p.Causes {
			var paths []string
			for _, tp := range c.TopPaths {
				paths = append(paths, fmt.Sprintf("%s %s", tp.Path, output.Bytes(tp.Bytes)))
			}
			rows = append(rows, []any{"- " + c.Text(), "", "", "", "", signed(c.DeltaBytes), unc(c.DeltaUncompressedBytes), strings.Join(paths, "\n")})
		}
	}
	return rows
}

// GrowthGate is a CI gate on the growth report.
type GrowthGate struct {
	Bytes   int64   // -1: not asked
	Percent float64 // -1: not asked
}

// Judge returns a *GateError with exit status GateCrossed when a push grew
// over a threshold, GateCannotJudge when no push was compared (the push
// the gate is for may not have arrived), nil otherwise or when no
// threshold was asked.
func (gt GrowthGate) Judge(g *Growth) error {
	if gt.Bytes < 0 && gt.Percent < 0 {
		return nil
	}
	var why []string
	if g.OverBytes > 0 {
		why = append(why, fmt.Sprintf("%s by more than %d bytes (--fail-over)", output.Count(g.OverBytes, "push grew", "pushes grew"), gt.Bytes))
	}
	if g.OverPercent > 0 {
		why = append(why, fmt.Sprintf("%s by more than %g%% (--fail-over)", output.Count(g.OverPercent, "push grew", "pushes grew"), gt.Percent))
	}
	if len(why) > 0 {
		return &GateError{Msg: strings.Join(why, "; "), Status: GateCrossed}
	}
	if g.Compared == 0 {
		return &GateError{Msg: fmt.Sprintf("cannot judge (exit status %d): no push of the selected repositories was compared with an earlier one in the window: "+
			"the push may not have arrived yet (check that the registry notifies layerq-ingest serve, or run layerq-ingest scan), the tag was pushed for the first time, "+
			"or, in a repository none of whose tags has moved, the build is dated before the window by its config (builds there are compared in created order)", GateCannotJudge),
			Status: GateCannotJudge}
	}
	return nil
}

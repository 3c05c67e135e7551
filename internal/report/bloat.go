package report

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qBloatImages = sqlfiles.Query("bloat_images")
	qBloatLayers = sqlfiles.Query("bloat_layers")
	qLayerFiles  = sqlfiles.Query("layer_files_of")
)

// BloatOptions select what the bloat report looks at.
type BloatOptions struct {
	Repositories repoglob.Glob
	// Image, when set, limits the report to one image (an index: every child).
	Image *Ref
	// MinBytes hides images wasting fewer bytes (unless they have layer runs
	// or too many layers).
	MinBytes int64
	// MaxLayers flags images with more layers; 0 flags none.
	MaxLayers int
	// SmallLayer is dedup.Options.SmallLayer.
	SmallLayer int64
}

// BloatImage is the bloat of one image in one repository.
type BloatImage struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	Platform   string `json:"platform"`
	Layers     int    `json:"layers"`
	// BaseLayers is how many bottom layers come from a base image (shared,
	// chain and all, with a manifest in another repository).
	BaseLayers    int  `json:"base_layers"`
	OverMaxLayers bool `json:"over_max_layers"`
	dedup.Analysis
}

// Bloat is the bloat report.
type Bloat struct {
	Images                []BloatImage `json:"images"`
	WastedBytes           int64        `json:"wasted_bytes"`
	WastedCompressedBytes int64        `json:"wasted_compressed_bytes"`
	// Analyzed counts the images whose layers are all indexed; Pending the
	// images with a layer not indexed yet (or rejected), left out.
	Analyzed int      `json:"analyzed_images"`
	Pending  int      `json:"pending_images"`
	Notes    []string `json:"notes"`
}

// LoadBloat runs the bloat report.
func LoadBloat(ctx context.Context, db DB, opts BloatOptions) (*Bloat, error) {
	var (
		digests  []string // nil: every image
		registry string
		tag      string
	)
	re := opts.Repositories.Regexp()
	if opts.Image != nil {
		img, kind, err := resolve(ctx, db, *opts.Image)
		if err != nil {
			return nil, err
		}
		registry, re, tag = img.Registry, "^"+regexp.QuoteMeta(img.Repository)+"$", opts.Image.Tag
		digests = []string{img.Digest}
		if kind == "index" {
			if digests, err = indexChildren(ctx, db, img.Digest); err != nil {
				return nil, err
			}
		}
	}
	rows, err := db.Query(ctx, qBloatImages, re, digests, registry)
	if err != nil {
		return nil, fmt.Errorf("querying images: %w", err)
	}
	type target struct {
		BloatImage
		repoID int64
		layers []dedup.Layer
		blobs  []string
		ok     bool
		// baseTops are the layer counts at which the stack so far is a
		// whole image in another repository.
		baseTops []int
	}
	var targets []*target
	var t target
	var os, arch, variant string
	if _, err := pgx.ForEachRow(rows, []any{&t.Registry, &t.Repository, &t.repoID, &t.Digest, &os, &arch, &variant, &t.Tag}, func() error {
		c := t
		c.Platform = strings.TrimSuffix(os+"/"+arch+"/"+variant, "/")
		if tag != "" {
			c.Tag = tag
		}
		targets = append(targets, &c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading images: %w", err)
	}

	out := &Bloat{Images: []BloatImage{}, Notes: []string{}}
	if len(targets) == 0 {
		return out, nil
	}
	digests = make([]string, len(targets))
	repoIDs := make([]int64, len(targets))
	byKey := map[string]*target{}
	for i, x := range targets {
		digests[i], repoIDs[i] = x.Digest, x.repoID
		byKey[fmt.Sprint(x.Digest, x.repoID)] = x
		x.ok = true
	}
	if err := forEachLayer(ctx, db, digests, repoIDs, func(r layerRow) error {
		cur := byKey[fmt.Sprint(r.manifest, r.repositoryID)]
		if cur == nil {
			return fmt.Errorf("layer of unexpected manifest %s", r.manifest)
		}
		cur.ok = cur.ok && r.indexed
		if r.baseTop {
			cur.baseTops = append(cur.baseTops, len(cur.layers)+1)
		}
		cur.layers = append(cur.layers, r.layer)
		cur.blobs = append(cur.blobs, r.layer.Digest)
		return nil
	}); err != nil {
		return nil, err
	}

	cache := newEntryCache(db, maxCachedEntries)
	// One manifest in several repositories is analyzed once per base depth.
	type memoKey struct {
		digest string
		base   int
	}
	memo := map[memoKey]dedup.Analysis{}
	for _, x := range targets {
		x.Layers = len(x.layers)
		// The base is the largest image in another repository that this
		// one is built on: a stack as tall as this image is a copy of it
		// (or this is its base), not its base.
		for _, n := range x.baseTops {
			if n < x.Layers {
				x.BaseLayers = max(x.BaseLayers, n)
			}
		}
		x.OverMaxLayers = opts.MaxLayers > 0 && x.Layers > opts.MaxLayers
		if !x.ok || len(x.layers) == 0 {
			if len(x.layers) > 0 {
				out.Pending++
			}
			continue
		}
		k := memoKey{x.Digest, x.BaseLayers}
		a, ok := memo[k]
		if !ok {
			if err := cache.load(ctx, x.blobs); err != nil {
				return nil, err
			}
			for j := range x.layers {
				x.layers[j].Entries = cache.entries[x.blobs[j]]
			}
			a = dedup.Analyze(x.layers, dedup.Options{SmallLayer: opts.SmallLayer, BaseLayers: x.BaseLayers})
			memo[k] = a
		}
		x.Analysis = a
		out.Analyzed++
		if !(x.WastedBytes > 0 && x.WastedBytes >= opts.MinBytes) && len(x.LayerRuns) == 0 && !x.OverMaxLayers {
			continue
		}
		out.Images = append(out.Images, x.BloatImage)
		out.WastedBytes += x.WastedBytes
		out.WastedCompressedBytes += x.WastedCompressedBytes
	}
	slices.SortStableFunc(out.Images, func(a, b BloatImage) int {
		return cmp.Or(cmp.Compare(b.WastedBytes, a.WastedBytes), strings.Compare(a.Repository, b.Repository),
			strings.Compare(a.Tag, b.Tag), strings.Compare(a.Digest, b.Digest))
	})
	if out.Pending > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d images have layers not indexed yet (or rejected, see layer_rejections) and are left out: run layerq-ingest scan --layers", out.Pending))
	}
	return out, nil
}

// layerRow is one layer of an image manifest, as bloat_layers.sql reads it.
type layerRow struct {
	manifest     string
	repositoryID int64
	// layer has its UncompressedSize when indexed.
	layer dedup.Layer
	// indexed: the layer's file index is stored (and it is not rejected).
	indexed bool
	// baseTop: the stack up to this layer is a whole image in another
	// repository than repositoryID.
	baseTop bool
}

// forEachLayer reads the layers of manifests[i] in repositoryIDs[i], bottom
// first, manifest by manifest.
func forEachLayer(ctx context.Context, db DB, manifests []string, repositoryIDs []int64, fn func(layerRow) error) error {
	rows, err := db.Query(ctx, qBloatLayers, manifests, repositoryIDs)
	if err != nil {
		return fmt.Errorf("querying layers: %w", err)
	}
	var (
		r            layerRow
		uncompressed *int64
		rejected     bool
	)
	_, err = pgx.ForEachRow(rows, []any{&r.manifest, &r.repositoryID, &r.layer.Position, &r.layer.Digest, &r.layer.MediaType,
		&r.layer.Size, &r.layer.CreatedBy, &uncompressed, &rejected, &r.baseTop}, func() error {
		c := r
		c.indexed = uncompressed != nil && !rejected
		c.layer.UncompressedSize = 0
		if c.indexed {
			c.layer.UncompressedSize = *uncompressed
		}
		return fn(c)
	})
	if err != nil {
		return fmt.Errorf("reading layers: %w", err)
	}
	return nil
}

// indexChildren lists the child manifests of an index.
func indexChildren(ctx context.Context, db DB, index string) ([]string, error) {
	rows, err := db.Query(ctx, qImageChildren, index)
	if err != nil {
		return nil, fmt.Errorf("reading the children of %s: %w", index, err)
	}
	var out []string
	var d, os, arch, variant string
	_, err = pgx.ForEachRow(rows, []any{&d, &os, &arch, &variant}, func() error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the children of %s: %w", index, err)
	}
	return out, nil
}

// maxCachedEntries bounds the file index entries a bloat report keeps in
// memory at once (about 100 bytes each, plus paths).
const maxCachedEntries = 2_000_000

// entryCache holds the file indexes of layers while a report runs: images
// that share a base (the images come sorted by repository) read its index
// once. Past max entries it starts afresh, keeping memory bounded whatever
// the registry's size; one image's layers are always loaded together.
type entryCache struct {
	db      DB
	max     int
	held    int
	entries map[string][]layerscan.Entry
}

func newEntryCache(db DB, max int) *entryCache {
	return &entryCache{db: db, max: max, entries: map[string][]layerscan.Entry{}}
}

// load reads the indexes of the layer blobs not in the cache.
func (c *entryCache) load(ctx context.Context, blobs []string) error {
	var missing []string
	for _, d := range blobs {
		if _, ok := c.entries[d]; !ok && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if c.held > c.max {
		c.entries, c.held = map[string][]layerscan.Entry{}, 0
		return c.load(ctx, blobs)
	}
	for _, d := range missing {
		c.entries[d] = []layerscan.Entry{}
	}
	rows, err := c.db.Query(ctx, qLayerFiles, missing)
	if err != nil {
		return fmt.Errorf("querying layer files: %w", err)
	}
	var (
		blob     string
		typ      int16
		e        layerscan.Entry
		mode     int32
		uid, gid int64
		digest   []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&blob, &typ, &e.Path, &e.Size, &mode, &uid, &gid, &digest, &e.Link}, func() error {
		x := e
		x.Type, x.Mode, x.UID, x.GID = layerscan.EntryType(typ), int64(mode), int(uid), int(gid)
		copy(x.Digest[:], digest)
		c.entries[blob] = append(c.entries[blob], x)
		c.held++
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading layer files: %w", err)
	}
	return nil
}

// Preamble implements output.Preamble.
func (b *Bloat) Preamble() []string {
	lines := []string{fmt.Sprintf("%d images analyzed; %d shown, wasting %s (about %s compressed), summed per image (a base's waste counts in every image on it)",
		b.Analyzed, len(b.Images), output.Bytes(b.WastedBytes), output.Bytes(b.WastedCompressedBytes))}
	return append(lines, b.Notes...)
}

// Columns implements output.Table.
func (b *Bloat) Columns() []output.Column {
	return output.Cols("image", "finding", "bytes", "compressed", "steps", "top_paths", "fix")
}

// Rows implements output.Table: per image a summary row, then one row per
// pair of steps and per layer run.
func (b *Bloat) Rows() [][]any {
	var rows [][]any
	for _, img := range b.Images {
		name := img.Repository
		if img.Tag != "" {
			name += ":" + img.Tag
		}
		if img.Platform != "" && img.Platform != "linux/amd64" {
			name += " (" + img.Platform + ")"
		}
		summary := fmt.Sprintf("%d layers (%d from the base)", img.Layers, img.BaseLayers)
		if img.OverMaxLayers {
			summary += ", over --max-layers"
		}
		rows = append(rows, []any{name, summary, output.Bytes(img.WastedBytes), output.Bytes(img.WastedCompressedBytes), "", "", ""})
		for _, p := range img.Pairs {
			var paths []string
			for _, tp := range p.TopPaths {
				paths = append(paths, fmt.Sprintf("%s (%s)", tp.Path, output.Bytes(tp.Bytes)))
			}
			rows = append(rows, []any{"", p.Kind, output.Bytes(p.Bytes), output.Bytes(p.CompressedBytes),
				fmt.Sprintf("#%d %s -> #%d %s", p.AddedByPosition, shortStep(p.AddedBy), p.HiddenByPosition, shortStep(p.HiddenBy)),
				strings.Join(paths, ", "), output.Whole(p.Fix)})
		}
		for _, r := range img.LayerRuns {
			var steps []string
			for _, s := range r.Steps {
				steps = append(steps, shortStep(s))
			}
			rows = append(rows, []any{"", fmt.Sprintf("%d small RUN layers", r.Layers), output.Bytes(r.Bytes), "",
				fmt.Sprintf("#%d..#%d %s", r.FromPosition, r.ToPosition, strings.Join(steps, " | ")), "", output.Whole(r.Fix)})
		}
	}
	return rows
}

// shortStep trims a history step for a table cell.
func shortStep(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), " # buildkit")
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c #(nop) "); ok {
		s = strings.TrimSpace(rest) // the classic builder's non-RUN instructions
	} else {
		for _, shell := range []string{"/bin/sh -c ", "|"} {
			if rest, ok := strings.CutPrefix(strings.TrimPrefix(s, "RUN "), shell); ok {
				s = "RUN " + strings.TrimSpace(rest)
				break
			}
		}
	}
	return output.Truncate(s, 40)
}

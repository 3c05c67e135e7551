package report

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/hugeheap"
	"github.com/layerq/layerq/internal/listing"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	sqlfiles "github.com/layerq/layerq/sql"
)

// qBloatLayers is run through pgx as it is: it reads two arrays as the
// columns of one set (unnest with several arguments), which sqlc does not
// know.
var qBloatLayers = sqlfiles.Statement("bloat_layers")

// qLayerListingsOf reads layers' listings (internal/listing).
var qLayerListingsOf = sqlfiles.Statement("layer_listings_of")

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
	// FailOver is the CI gate's threshold (Gate.FailOver), counted over
	// every image whatever the report lists; nil: no gate.
	FailOver *int64
	// Limit is how many images the report lists, most bytes wasted first,
	// and how many of those it leaves out; 0: all. Its figures count every
	// image whatever it lists.
	Limit int
	// Afresh counts the totals from every image even where the totals the
	// fold keeps per repository would do, and reads the images left out
	// and the layers they wait for the same way whatever their number
	// (for checking the other ways).
	Afresh bool
}

// keptTotals reports whether the totals the fold keeps per repository
// (repository_bloat) answer for these options: the report's defaults, no
// gate, repositories rather than one image.
func (opts BloatOptions) keptTotals() bool {
	return !opts.Afresh && opts.Image == nil && opts.MinBytes == 0 && opts.MaxLayers == 0 && opts.FailOver == nil &&
		(opts.SmallLayer == 0 || opts.SmallLayer == dedup.DefaultSmallLayer)
}

// maxRankedRows is the most rows the bloat report's page reads from the
// selected repositories' images by waste (repository_waste: a page's
// worth from each); a selection of more repositories walks every analyzed
// image of the registry by waste instead.
const maxRankedRows = 10_000

// BloatImage is the bloat of one image in one repository.
type BloatImage struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	// Platform is what the index holding the image declares for it (its
	// config's, for an image in no index); "" when neither says.
	Platform string `json:"platform"`
	// ConfigPlatform is what the image's config says, when it disagrees
	// with the index (a cross-build its builder mislabelled); else "".
	ConfigPlatform string `json:"config_platform"`
	Layers         int    `json:"layers"`
	// BaseLayers is how many bottom layers come from the base image, as
	// the image report says (image_bases): the bytes they add can only be
	// hidden, not removed, by the image's own steps.
	BaseLayers int `json:"base_layers"`
	// Base names the base (repository:tag), "" when none is known.
	Base          string `json:"base"`
	OverMaxLayers bool   `json:"over_max_layers"`
	dedup.Analysis
}

// BloatLeftOut is an image the report cannot judge: layers of it are not
// indexed yet, or one cannot be indexed.
type BloatLeftOut struct {
	Registry      string `json:"registry"`
	Repository    string `json:"repository"`
	Tag           string `json:"tag"`
	Digest        string `json:"digest"`
	Platform      string `json:"platform"`
	Layers        int    `json:"layers"`
	OverMaxLayers bool   `json:"over_max_layers"`
	// Unindexed counts its layers not indexed yet.
	Unindexed int `json:"unindexed_layers"`
	// Rejected are its layers that can never be indexed as they are.
	Rejected []RejectedLayer `json:"rejected_layers"`
}

// RejectedLayer is a layer the file index refused, and why.
type RejectedLayer struct {
	Position int    `json:"position"`
	Digest   string `json:"digest"`
	Class    string `json:"class"`
	Reason   string `json:"reason"`
}

// Bloat is the bloat report.
type Bloat struct {
	// Images are the images shown, most bytes wasted first: the first
	// BloatOptions.Limit of the Shown.
	Images []BloatImage `json:"images"`
	// Shown counts the images shown: wasting --min-bytes or more, or with
	// a run of small RUN layers, or over --max-layers; WastedBytes and
	// WastedCompressedBytes sum their waste, all of them, not only those
	// listed.
	Shown                 int   `json:"shown_images"`
	WastedBytes           int64 `json:"wasted_bytes"`
	WastedCompressedBytes int64 `json:"wasted_compressed_bytes"`
	// Analyzed counts the images whose waste is known; Pending the images
	// left out: with a layer not indexed yet (or refused), or not analyzed
	// yet. LeftOut lists the first BloatOptions.Limit of them.
	Analyzed int            `json:"analyzed_images"`
	Pending  int            `json:"pending_images"`
	LeftOut  []BloatLeftOut `json:"left_out"`
	Notes    []string       `json:"notes"`

	backlog BloatBacklog
	counts  bloatCounts
}

// bloatCounts are the report's counts over every image it selects, for
// the notes and the CI gate.
type bloatCounts struct {
	// waiting: images left out that wait for a layer to be indexed (or
	// for the analysis); refused: with a layer that cannot be indexed.
	waiting, refused int
	// overFailOver: images shown wasting more than FailOver;
	// overMaxLayers: images over MaxLayers, analyzed or not.
	overFailOver, overMaxLayers int
}

// BloatBacklog is what keeps the bloat report from judging images: their
// distinct layer blobs not indexed yet, and those rejected.
type BloatBacklog struct {
	Unindexed int
	Rejected  int
}

// Backlog is what kept the report from judging the images it left out.
func (b *Bloat) Backlog() BloatBacklog { return b.backlog }

// selection is what bloat_images.sql and bloat_backlog.sql take: a
// repository regexp, manifest digests (nil: every image) and a registry
// (""); tag names the images of --image.
type selection struct {
	re       string
	digests  []string
	registry string
	tag      string
}

// selection resolves opts.Image.
func (opts BloatOptions) selection(ctx context.Context, db DB) (selection, error) {
	sel := selection{re: opts.Repositories.Regexp()}
	if opts.Image == nil {
		return sel, nil
	}
	img, kind, err := resolve(ctx, db, *opts.Image)
	if err != nil {
		return sel, err
	}
	sel.registry, sel.re, sel.tag = img.Registry, "^"+regexp.QuoteMeta(img.Repository)+"$", opts.Image.Tag
	sel.digests = []string{img.Digest}
	if kind == "index" {
		if sel.digests, err = indexChildren(ctx, db, img.Digest); err != nil {
			return sel, err
		}
	}
	return sel, nil
}

// LoadBloatBacklog counts the layers of the images opts selects that keep
// the report from judging them.
func LoadBloatBacklog(ctx context.Context, db DB, opts BloatOptions) (BloatBacklog, error) {
	var b BloatBacklog
	sel, err := opts.selection(ctx, db)
	if err != nil {
		return b, err
	}
	r, err := queries.BloatBacklog(ctx, db, dbsqlc.BloatBacklogParams{Repository: sel.re, Digests: sel.digests, Registry: sel.registry})
	if err != nil {
		return b, fmt.Errorf("counting layers not indexed: %w", err)
	}
	return BloatBacklog{Unindexed: int(r.Unindexed), Rejected: int(r.Rejected)}, nil
}

// WaitIndexed waits up to timeout, looking every interval, until every
// layer of the images opts selects is indexed, or one is rejected (waiting
// longer would not let the report judge its image). An image not in the
// graph yet is waited for too. The time running out is no error: the
// report then leaves out what it cannot judge.
func WaitIndexed(ctx context.Context, db DB, opts BloatOptions, timeout, interval time.Duration) (BloatBacklog, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := LoadBloatBacklog(ctx, db, opts)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return b, err
		case b.Unindexed == 0 || b.Rejected > 0:
			return b, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(min(interval, left)):
		}
	}
}

// LoadBloat runs the bloat report from what the graph keeps of every image
// (image_waste, image_index_state): exact totals over every image opts
// selects, and the first opts.Limit images shown and left out. The base of
// each image is the one the aggregates hold (image_bases), and images
// ready but not analyzed yet are left out: fold first
// (graph.Store.ApplyAggregates), then SettleWaste, for figures as of now.
func LoadBloat(ctx context.Context, db DB, opts BloatOptions) (*Bloat, error) {
	sel, err := opts.selection(ctx, db)
	if err != nil {
		return nil, err
	}
	smallLayer := cmp.Or(opts.SmallLayer, dedup.DefaultSmallLayer)
	var limit *int64
	if opts.Limit > 0 {
		limit = new(int64(opts.Limit))
	}
	out := &Bloat{Images: []BloatImage{}, LeftOut: []BloatLeftOut{}, Notes: []string{}}
	var (
		totals dbsqlc.BloatTotalsRow
		rows   []dbsqlc.BloatImagesRow
		left   []dbsqlc.BloatLeftOutRow
		layers dbsqlc.BloatBacklogRow
		ranked bool // the page from each repository's images by waste
	)
	// The totals first: they say whether any image is left out, and how
	// to read those that are.
	if opts.keptTotals() {
		kept, err := queries.BloatTotalsKept(ctx, db, dbsqlc.BloatTotalsKeptParams{Repository: sel.re, Registry: sel.registry})
		if err != nil {
			return nil, wrap(err, "counting images")
		}
		totals = dbsqlc.BloatTotalsRow{Analyzed: kept.Analyzed, LeftOut: kept.LeftOut, Waiting: kept.Waiting, Refused: kept.Refused,
			Shown: kept.Shown, WastedBytes: kept.WastedBytes, WastedCompressedBytes: kept.WastedCompressedBytes}
		// A page of a few repositories: the first of each one's images
		// by waste. Of many, or every one, a walk of the registry's
		// images by waste finds it sooner.
		ranked = !opts.Repositories.All() && sel.digests == nil && limit != nil && kept.Repositories*(*limit) <= maxRankedRows
	} else {
		failOver := int64(-1)
		if opts.FailOver != nil {
			failOver = *opts.FailOver
		}
		if totals, err = queries.BloatTotals(ctx, db, dbsqlc.BloatTotalsParams{Repository: sel.re, Digests: sel.digests, Registry: sel.registry,
			MinBytes: opts.MinBytes, SmallLayer: smallLayer, MaxLayers: int32(opts.MaxLayers), FailOver: failOver}); err != nil {
			return nil, wrap(err, "counting images")
		}
	}
	fns := []func(context.Context) error{
		func(ctx context.Context) (err error) {
			rows, err = queries.BloatImages(ctx, db, dbsqlc.BloatImagesParams{Ranked: ranked, Repository: sel.re, Digests: sel.digests, Registry: sel.registry,
				MinBytes: opts.MinBytes, SmallLayer: smallLayer, MaxLayers: int32(opts.MaxLayers), Limit: limit})
			return wrap(err, "querying images")
		},
	}
	if totals.LeftOut > 0 { // else no layer of theirs waits either
		// Where one selected image in a hundred or more is left out, a
		// page of them is found soonest walking the selected images in
		// order; else from the few left out.
		walk := totals.LeftOut*100 >= totals.Analyzed+totals.LeftOut
		fns = append(fns,
			func(ctx context.Context) (err error) {
				left, err = queries.BloatLeftOut(ctx, db, dbsqlc.BloatLeftOutParams{Repository: sel.re, Digests: sel.digests, Registry: sel.registry,
					Limit: limit, Walk: walk && !opts.Afresh})
				return wrap(err, "querying images left out")
			},
			func(ctx context.Context) (err error) {
				if !opts.Afresh && opts.Repositories.All() && sel.digests == nil && sel.registry == "" {
					// Every image: the fold's counts of the live layers.
					kept, err := queries.BloatBacklogKept(ctx, db)
					layers = dbsqlc.BloatBacklogRow(kept)
					return wrap(err, "counting layers not indexed")
				}
				if !opts.Afresh && sel.digests == nil {
					// One namespace's repositories: its kept count.
					ns, one, err := oneNamespace(ctx, db, sel.re, sel.registry)
					if err != nil {
						return wrap(err, "counting layers not indexed")
					}
					if one {
						kept, err := queries.BloatBacklogNamespace(ctx, db, dbsqlc.BloatBacklogNamespaceParams{Registry: ns.Registry, Namespace: ns.Namespace})
						layers = dbsqlc.BloatBacklogRow(kept)
						return wrap(err, "counting layers not indexed")
					}
				}
				layers, err = queries.BloatBacklog(ctx, db, dbsqlc.BloatBacklogParams{Repository: sel.re, Digests: sel.digests, Registry: sel.registry, KeptState: true})
				return wrap(err, "counting layers not indexed")
			})
	}
	if err := concurrently(ctx, db, fns...); err != nil {
		return nil, err
	}
	out.Analyzed, out.Pending, out.Shown = int(totals.Analyzed), int(totals.LeftOut), int(totals.Shown)
	out.WastedBytes, out.WastedCompressedBytes = totals.WastedBytes, totals.WastedCompressedBytes
	out.counts = bloatCounts{waiting: int(totals.Waiting), refused: int(totals.Refused), overFailOver: int(totals.OverFailOver), overMaxLayers: int(totals.OverMaxLayers)}
	out.backlog = BloatBacklog{Unindexed: int(layers.Unindexed), Rejected: int(layers.Rejected)}

	// The images listed, named with their base: their layers (no file
	// index needed) and the pairs image_waste keeps.
	digests := make([]string, len(rows))
	repoIDs := make([]int64, len(rows))
	for i, r := range rows {
		digests[i], repoIDs[i] = r.Digest, r.RepositoryID
	}
	layersOf := map[string][]dedup.Layer{}
	if len(rows) > 0 {
		if err := forEachLayer(ctx, db, digests, repoIDs, func(r layerRow) error {
			key := fmt.Sprint(r.manifest, " ", r.repositoryID)
			layersOf[key] = append(layersOf[key], r.layer)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for _, r := range rows {
		img := BloatImage{Registry: r.Registry, Repository: r.Repository, Tag: r.Tag, Digest: r.Digest,
			Platform: r.Platform, BaseLayers: int(r.BaseLayers)}
		if !samePlatform(r.Platform, r.ConfigPlatform) {
			img.ConfigPlatform = r.ConfigPlatform
		}
		if sel.tag != "" {
			img.Tag = sel.tag
		}
		if r.BaseDigest != "" {
			img.Base = baseName(r.BaseRepository, r.BaseTag, r.BaseDigest)
		}
		ls := layersOf[fmt.Sprint(r.Digest, " ", r.RepositoryID)]
		found := dedup.Found{FinalFiles: int(r.FinalFiles), FinalBytes: r.FinalBytes}
		if err := json.Unmarshal(r.Pairs, &found.Hidden); err != nil {
			return nil, fmt.Errorf("reading the waste kept for %s: %w", r.Digest, err)
		}
		for _, h := range found.Hidden {
			if h.Added < 0 || h.HiddenBy < 0 || h.Added >= len(ls) || h.HiddenBy >= len(ls) {
				return nil, fmt.Errorf("the waste kept for %s names layer %d of %d", r.Digest, max(h.Added, h.HiddenBy), len(ls))
			}
		}
		img.Layers = len(ls)
		img.OverMaxLayers = opts.MaxLayers > 0 && img.Layers > opts.MaxLayers
		img.Analysis = dedup.Name(ls, found, dedup.Options{SmallLayer: smallLayer, BaseLayers: img.BaseLayers, BaseName: img.Base})
		out.Images = append(out.Images, img)
	}

	var refused []string
	for _, l := range left {
		if l.Rejected > 0 {
			refused = append(refused, l.Digest)
		}
	}
	rejectedOf := map[string][]RejectedLayer{}
	if len(refused) > 0 {
		rs, err := queries.BloatRejected(ctx, db, refused)
		if err != nil {
			return nil, fmt.Errorf("querying refused layers: %w", err)
		}
		for _, r := range rs {
			rejectedOf[r.ManifestDigest] = append(rejectedOf[r.ManifestDigest], RejectedLayer{Position: int(r.Position), Digest: r.BlobDigest, Class: r.Class, Reason: r.Reason})
		}
	}
	for _, l := range left {
		lo := BloatLeftOut{Registry: l.Registry, Repository: l.Repository, Tag: l.Tag, Digest: l.Digest, Platform: l.Platform,
			Layers: int(l.LayerCount), OverMaxLayers: opts.MaxLayers > 0 && int(l.LayerCount) > opts.MaxLayers,
			Unindexed: int(l.Unindexed), Rejected: rejectedOf[l.Digest]}
		if sel.tag != "" {
			lo.Tag = sel.tag
		}
		if lo.Rejected == nil {
			lo.Rejected = []RejectedLayer{}
		}
		out.LeftOut = append(out.LeftOut, lo)
	}
	out.Notes = out.leftOutNotes()
	return out, nil
}

// wrap adds what was being done to err, when there is one.
func wrap(err error, doing string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// baseName names a base as the image report shows it: repository:tag;
// repository@digest when no tag names the build; the digest when no
// repository holds it.
func baseName(repository, tag, digest string) string {
	switch {
	case repository == "":
		return digest
	case tag == "":
		return repository + "@" + digest
	}
	return repository + ":" + tag
}

// LeftOutCounts says how many of the images left out wait for a layer to
// be indexed (or for the analysis), and how many have a layer that cannot
// be; all of them, not only those listed.
func (b *Bloat) LeftOutCounts() (waiting, refused int) {
	return b.counts.waiting, b.counts.refused
}

// maxRejectedNotes bounds the rejected layers the notes name one by one.
const maxRejectedNotes = 3

// leftOutNotes say, in words, why images were left out and what to run.
func (b *Bloat) leftOutNotes() []string {
	notes := []string{}
	waiting, refused := b.LeftOutCounts()
	switch {
	case waiting > 0 && b.backlog.Unindexed == 0:
		notes = append(notes, fmt.Sprintf("%s left out until their waste is worked out: layerq-ingest serve does it in the background, so run the report again later (or run layerq-ingest scan --layers; a read-only database role cannot do it itself)",
			output.Count(int64(waiting), "image is", "images are")))
	case waiting > 0:
		notes = append(notes, fmt.Sprintf("%s left out until their layers are indexed (%s to go): layerq-ingest serve indexes the layers of what is pushed; for images already in the registry, run layerq-ingest scan --layers",
			output.Count(int64(waiting), "image is", "images are"), output.Count(int64(b.backlog.Unindexed), "layer", "layers")))
	}
	if refused == 0 {
		return notes
	}
	notes = append(notes, fmt.Sprintf("%s left out because a layer of theirs cannot be indexed:", output.Count(int64(refused), "image is", "images are")))
	seen := map[string]bool{}
	for _, l := range b.LeftOut {
		for _, r := range l.Rejected {
			if seen[r.Digest] {
				continue
			}
			seen[r.Digest] = true
			if len(seen) > maxRejectedNotes {
				continue
			}
			notes = append(notes, "  "+rejectedNote(l, r))
		}
	}
	if n := max(b.backlog.Rejected, len(seen)) - min(len(seen), maxRejectedNotes); n > 0 {
		notes = append(notes, fmt.Sprintf("  and %d more layers (-o json --limit 0 lists them all, under left_out)", n))
	}
	return notes
}

// rejectedNote says why a layer of image l was not indexed, and how to
// retry when a limit stopped it.
func rejectedNote(l BloatLeftOut, r RejectedLayer) string {
	name := l.Repository
	if l.Tag != "" {
		name += ":" + l.Tag
	}
	what := fmt.Sprintf("layer #%d of %s (%s): %s", r.Position, name, r.Digest, r.Reason)
	switch r.Class {
	case fileindex.ClassTooLarge, fileindex.ClassTooManyEntries:
		return what + fmt.Sprintf("; it is over a limit of the layer indexer: to index it, raise --layer-max-bytes or --layer-max-entries, forget the verdict (psql \"$DATABASE_URL\" -c \"DELETE FROM layer_rejections WHERE blob_digest = '%s'\") and run layerq-ingest scan --layers", r.Digest)
	}
	return what + "; it cannot be read as a layer (" + strings.ReplaceAll(r.Class, "_", " ") + "): rebuild and push the image"
}

// layerRow is one layer of an image manifest, as bloat_layers.sql reads it.
type layerRow struct {
	manifest     string
	repositoryID int64
	// layer has its UncompressedSize when indexed.
	layer dedup.Layer
	// indexed: the layer's file index is stored (and it is not rejected).
	indexed bool
	// rejectClass and rejectReason say why the file index refused the
	// layer; "" when it did not.
	rejectClass, rejectReason string
}

// forEachLayer reads the layers of manifests[i], bottom first, manifest by
// manifest; repositoryIDs[i] is the repository the caller reads it for,
// echoed in the rows.
func forEachLayer(ctx context.Context, db DB, manifests []string, repositoryIDs []int64, fn func(layerRow) error) error {
	rows, err := db.Query(ctx, qBloatLayers, manifests, repositoryIDs)
	if err != nil {
		return fmt.Errorf("querying layers: %w", err)
	}
	var (
		r            layerRow
		uncompressed *int64
	)
	_, err = pgx.ForEachRow(rows, []any{&r.manifest, &r.repositoryID, &r.layer.Position, &r.layer.Digest, &r.layer.MediaType,
		&r.layer.Size, &r.layer.CreatedBy, &uncompressed, &r.rejectClass, &r.rejectReason}, func() error {
		c := r
		c.indexed = uncompressed != nil && c.rejectClass == ""
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
	rows, err := queries.ImageChildren(ctx, db, index)
	if err != nil {
		return nil, fmt.Errorf("reading the children of %s: %w", index, err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.ChildDigest)
	}
	return out, nil
}

// bytesPerEntry is about what a file index entry takes in a report's
// memory: the entry, its texts, and its node in the filesystems built.
const bytesPerEntry = 512

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
	entries map[string][]fileindex.Entry
}

func newEntryCache(db DB, max int) *entryCache {
	return &entryCache{db: db, max: max, entries: map[string][]fileindex.Entry{}}
}

// load reads the indexes of the layer blobs not in the cache.
func (c *entryCache) load(ctx context.Context, blobs []string) error {
	var missing []string
	asked := map[string]bool{}
	for _, d := range blobs {
		if _, ok := c.entries[d]; !ok && !asked[d] {
			asked[d] = true
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if c.held > c.max {
		c.entries, c.held = map[string][]fileindex.Entry{}, 0
		return c.load(ctx, blobs)
	}
	for _, d := range missing {
		c.entries[d] = []fileindex.Entry{}
	}
	// In binary, whatever the connection's mode (DescribeExec: one more
	// round trip to learn the result's types), and each listing decoded
	// from the driver's buffer.
	rows, err := c.db.Query(ctx, qLayerListingsOf, pgx.QueryExecModeDescribeExec, missing)
	if err != nil {
		return fmt.Errorf("querying layer listings: %w", err)
	}
	var (
		digest  string
		entries int32
		raw     pgtype.DriverBytes
		all     int64
	)
	first := true
	_, err = pgx.ForEachRow(rows, []any{&digest, &entries, &raw, &all}, func() error {
		if first {
			// What the entries and the filesystems built of them will
			// take, from huge pages where the process allows it.
			hugeheap.Reserve(all * bytesPerEntry)
			first = false
		}
		es, err := listing.Decode(raw, int(entries))
		if err != nil {
			return fmt.Errorf("layer %s: %w", digest, err)
		}
		c.entries[digest] = es
		c.held += len(es)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading layer listings: %w", err)
	}
	return nil
}

// Preamble implements output.Preamble.
func (b *Bloat) Preamble() []string {
	listed := ""
	if len(b.Images) < b.Shown {
		listed = fmt.Sprintf(" (the first %d listed; --limit 0 lists all)", len(b.Images))
	}
	lines := []string{fmt.Sprintf("%s analyzed; %d shown%s, wasting %s (about %s compressed), summed per image (a base's waste counts in every image on it)",
		output.Count(int64(b.Analyzed), "image", "images"), b.Shown, listed, output.Bytes(b.WastedBytes), output.Bytes(b.WastedCompressedBytes))}
	return append(lines, b.Notes...)
}

// Empty implements output.Empty.
func (b *Bloat) Empty() string {
	return "no image analyzed hides bytes, has a run of small RUN layers or is over --max-layers"
}

// Columns implements output.Table: the records, one per finding (a pair
// of steps or a run of layers), each with its image.
func (b *Bloat) Columns() []output.Column {
	return output.Cols("registry", "repository", "tag", "digest", "platform", "config_platform", "base", "base_layers", "over_max_layers",
		"kind", "bytes", "compressed_bytes", "files", "added_by_position", "added_by", "hidden_by_position", "hidden_by",
		"in_base", "from_base", "top_paths", "from_position", "to_position", "steps", "fix")
}

// Rows implements output.Table: per image a record for each pair and each
// layer run, or one with no finding for an image shown only for
// --max-layers. Lists (top paths, steps) are one item a line.
func (b *Bloat) Rows() [][]any {
	var rows [][]any
	for _, img := range b.Images {
		head := []any{img.Registry, img.Repository, img.Tag, output.Digest(img.Digest), img.Platform, img.ConfigPlatform, img.Base, img.BaseLayers, img.OverMaxLayers}
		record := func(finding ...any) {
			rows = append(rows, append(slices.Clone(head), finding...))
		}
		for _, p := range img.Pairs {
			paths := make([]string, len(p.TopPaths))
			for i, tp := range p.TopPaths {
				paths[i] = tp.Path
			}
			record(p.Kind, output.Bytes(p.Bytes), output.Bytes(p.CompressedBytes), p.Files, p.AddedByPosition, p.AddedBy,
				p.HiddenByPosition, p.HiddenBy, p.InBase, p.FromBase, strings.Join(paths, "\n"), nil, nil, nil, output.Whole(p.Fix))
		}
		for _, r := range img.LayerRuns {
			record(r.Kind, output.Bytes(r.Bytes), nil, nil, nil, nil, nil, nil, nil, nil, nil,
				r.FromPosition, r.ToPosition, strings.Join(r.Steps, "\n"), output.Whole(r.Fix))
		}
		if len(img.Pairs) == 0 && len(img.LayerRuns) == 0 {
			record()
		}
	}
	return rows
}

// TableColumns implements output.Grouped: for people, each image on a
// line (what it is, in the last column) with its findings under it.
func (b *Bloat) TableColumns() []output.Column {
	return []output.Column{{Key: "image", Title: "IMAGE / FINDING"}, {Key: "digest", Wide: true}, {Key: "platform"},
		{Key: "bytes"}, {Key: "compressed_bytes", Title: "COMPRESSED", Wide: true}, {Key: "steps"}, {Key: "top_paths"}, {Key: "fix"}}
}

// TableRows implements output.Grouped.
func (b *Bloat) TableRows() [][]any {
	var rows [][]any
	for _, img := range b.Images {
		name := img.Repository
		if img.Tag != "" {
			name += ":" + img.Tag
		}
		summary := fmt.Sprintf("%d layers, no base known", img.Layers)
		if img.Base != "" {
			summary = fmt.Sprintf("%d layers, %d from the base %s", img.Layers, img.BaseLayers, img.Base)
		}
		if img.OverMaxLayers {
			summary += ", over --max-layers"
		}
		shownPlatform := img.Platform
		if img.ConfigPlatform != "" {
			shownPlatform += " (config: " + img.ConfigPlatform + ")"
		}
		rows = append(rows, []any{name, output.Digest(img.Digest), shownPlatform,
			output.Bytes(img.WastedBytes), output.Bytes(img.WastedCompressedBytes), summary, "", output.Note("")})
		stepAt := func(pos int, createdBy string) string {
			if pos < img.BaseLayers {
				return createdBy // the base and the layer, named by dedup
			}
			return fmt.Sprintf("#%d %s", pos, shortStep(createdBy))
		}
		for _, p := range img.Pairs {
			finding := "- " + p.Kind
			switch {
			case p.InBase:
				finding += " (in the base)"
			case p.FromBase:
				finding += " (from the base)"
			}
			var paths []string
			for _, tp := range p.TopPaths {
				paths = append(paths, fmt.Sprintf("%s (%s)", tp.Path, output.Bytes(tp.Bytes)))
			}
			rows = append(rows, []any{finding, "", "", output.Bytes(p.Bytes), output.Bytes(p.CompressedBytes),
				stepAt(p.AddedByPosition, p.AddedBy) + " -> " + stepAt(p.HiddenByPosition, p.HiddenBy),
				strings.Join(paths, ", "), output.Note("fix: " + p.Fix)})
		}
		for _, r := range img.LayerRuns {
			var steps []string
			for _, s := range r.Steps {
				steps = append(steps, shortStep(s))
			}
			rows = append(rows, []any{fmt.Sprintf("- %d small RUN layers", r.Layers), "", "", output.Bytes(r.Bytes), "",
				fmt.Sprintf("#%d..#%d %s", r.FromPosition, r.ToPosition, strings.Join(steps, " | ")), "", output.Note("fix: " + r.Fix)})
		}
	}
	return rows
}

// shortStep is a history step as a person reads it: the builder's shell
// wrapper and BuildKit's marker taken out.
func shortStep(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), " # buildkit")
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c #(nop) "); ok {
		return strings.TrimSpace(rest) // the classic builder's non-RUN instructions
	}
	run := strings.TrimPrefix(s, "RUN ")
	if strings.HasPrefix(run, "|") { // the classic builder's RUN with build arguments: |2 A=1 B=2 /bin/sh -c …
		if _, rest, ok := strings.Cut(run, " /bin/sh -c "); ok {
			return "RUN " + strings.TrimSpace(rest)
		}
	}
	if rest, ok := strings.CutPrefix(run, "/bin/sh -c "); ok {
		return "RUN " + strings.TrimSpace(rest)
	}
	return s
}

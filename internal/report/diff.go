package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/overlay"
)

// DiffOptions say which two images to compare.
type DiffOptions struct {
	A, B Ref
	// Platform picks the image of an index, on either side.
	Platform string
	// Limit is how many file changes to list, largest first (0: all); the
	// counts and totals cover every one.
	Limit int
}

// Diff compares two images: their layers (the bottom they share, by chain
// id, and each layer only one holds), their bases, and, when every layer
// of both has a file index, their final filesystems path by path. Its
// parts add up: the compressed delta is the sum of the layer rows' deltas,
// and b's final bytes less a's the sum of the file changes' deltas (with
// --limit 0, or when every change is listed).
type Diff struct {
	A DiffSide `json:"a"`
	B DiffSide `json:"b"`
	// Bases says how the two bases relate: "same build", "other build" (of
	// one base repository), "other base", "one side only", or "none".
	Bases string `json:"bases"`
	// BaseDelta is b's base less a's, compressed, for an other build.
	BaseDelta *int64 `json:"base_delta_bytes"`
	// SharedLayers is how many layers at the bottom both hold (equal chain
	// ids: the same content on the same content).
	SharedLayers int `json:"shared_layers"`
	// DeltaBytes is b's compressed size less a's.
	DeltaBytes int64 `json:"delta_bytes"`
	// DeltaUncompressedBytes is b's layer tars less a's; nil unless every
	// layer of both is indexed.
	DeltaUncompressedBytes *int64      `json:"delta_uncompressed_bytes"`
	Layers                 []DiffLayer `json:"layers"`
	// FilesCompared: every layer of both images has a file index, so the
	// file changes below are complete.
	FilesCompared bool       `json:"files_compared"`
	FilesNote     string     `json:"files_note"`
	Files         DiffFiles  `json:"file_totals"`
	FileChanges   []DiffFile `json:"files"`
	limit         int
}

// DiffSide is one of the two images.
type DiffSide struct {
	Registry    string `json:"registry"`
	Repository  string `json:"repository"`
	Tag         string `json:"tag"`
	Digest      string `json:"digest"`
	IndexDigest string `json:"index_digest"`
	Platform    string `json:"platform"`
	Layers      int    `json:"layers"`
	Size        int64  `json:"size"`
	// UncompressedSize is the sum of its layer tars; nil when a layer has
	// no file index.
	UncompressedSize *int64     `json:"uncompressed_size"`
	Base             *ImageBase `json:"base"`
	// FinalFiles and FinalBytes are the paths of regular files its final
	// filesystem shows and their bytes (a file with several hard links
	// counts at each path), when every layer is indexed.
	FinalFiles int   `json:"final_files"`
	FinalBytes int64 `json:"final_bytes"`
	steps      []string
}

// DiffLayer is a layer the two images do not share at the same place.
type DiffLayer struct {
	Kind string `json:"kind"` // "layer"
	// Change: "removed" (a holds it, b does not), "added" (b holds it, a
	// does not), "kept" (both hold its content, above a change: at
	// PositionA in a and PositionB in b), "recompressed" (a shared layer
	// that b stores in another blob).
	Change    string `json:"change"`
	PositionA *int   `json:"position_a"`
	PositionB *int   `json:"position_b"`
	DiffID    string `json:"diff_id"`
	DigestA   string `json:"digest_a"`
	DigestB   string `json:"digest_b"`
	SizeA     int64  `json:"size_a"`
	SizeB     int64  `json:"size_b"`
	// DeltaBytes is SizeB less SizeA, compressed.
	DeltaBytes int64  `json:"delta_bytes"`
	CreatedBy  string `json:"created_by"`
	FromBase   bool   `json:"from_base"`
}

// DiffFiles counts the file changes, each kind with its bytes: what b's
// files hold that a's did not (added), what a's held that b's do not
// (removed), the change of the files whose content differs (changed), and
// the files whose mode or owner alone differ.
type DiffFiles struct {
	Added          int   `json:"added"`
	AddedBytes     int64 `json:"added_bytes"`
	Removed        int   `json:"removed"`
	RemovedBytes   int64 `json:"removed_bytes"`
	Changed        int   `json:"changed"`
	ChangedBytes   int64 `json:"changed_delta_bytes"`
	Metadata       int   `json:"mode_or_owner_only"`
	Listed         int   `json:"listed"`
	Unchanged      int   `json:"unchanged"`
	UnchangedBytes int64 `json:"unchanged_bytes"`
}

// DiffFile is one path whose regular file differs between the two final
// filesystems.
type DiffFile struct {
	Kind string `json:"kind"` // "file"
	// Change: "added", "removed", "changed" (content), or "mode" (mode or
	// owner only).
	Change string `json:"change"`
	Path   string `json:"path"`
	BytesA int64  `json:"bytes_a"`
	BytesB int64  `json:"bytes_b"`
	// DeltaBytes is BytesB less BytesA.
	DeltaBytes int64 `json:"delta_bytes"`
	// Mode and owner on each side, as 0755 0:0, for a mode change.
	ModeA string `json:"mode_a"`
	ModeB string `json:"mode_b"`
	// Side and Position name the layer that made the change: b's layer
	// that wrote the file b shows, or, for a removed file, a's layer that
	// wrote the file a shows.
	Side      string `json:"side"`
	Position  int    `json:"position"`
	CreatedBy string `json:"created_by"`
}

// LoadDiff compares the images opts name.
func LoadDiff(ctx context.Context, db DB, opts DiffOptions) (*Diff, error) {
	a, err := LoadImage(ctx, db, ImageOptions{Ref: opts.A, Platform: opts.Platform})
	if err != nil {
		return nil, err
	}
	b, err := LoadImage(ctx, db, ImageOptions{Ref: opts.B, Platform: opts.Platform})
	if err != nil {
		return nil, err
	}
	d := &Diff{A: side(a), B: side(b), DeltaBytes: b.Size - a.Size, Layers: []DiffLayer{}, FileChanges: []DiffFile{}, limit: opts.Limit}
	if err := d.compareBases(ctx, db); err != nil {
		return nil, err
	}
	d.compareLayers(a.Layers, b.Layers)
	if err := d.compareFiles(ctx, db, a.Layers, b.Layers); err != nil {
		return nil, err
	}
	return d, nil
}

func side(img *Image) DiffSide {
	s := DiffSide{Registry: img.Registry, Repository: img.Repository, Tag: img.Tag, Digest: img.Digest, IndexDigest: img.IndexDigest,
		Platform: img.Platform, Layers: len(img.Layers), Size: img.Size, Base: img.Base}
	for _, l := range img.Layers {
		s.steps = append(s.steps, l.CreatedBy)
	}
	return s
}

// compareBases says how the bases relate, and for two builds of one base
// how their sizes differ.
func (d *Diff) compareBases(ctx context.Context, db DB) error {
	a, b := d.A.Base, d.B.Base
	switch {
	case a == nil && b == nil:
		d.Bases = "none"
	case a == nil || b == nil:
		d.Bases = "one side only"
	case a.Digest == b.Digest:
		d.Bases = "same build"
	case a.Repository != "" && a.Repository == b.Repository:
		d.Bases = "other build"
		var sizes [2]int64
		for i, digest := range []string{a.Digest, b.Digest} {
			m, err := queries.ImageManifest(ctx, db, digest)
			if err != nil {
				return fmt.Errorf("reading base %s: %w", digest, dbsqlc.Interpret(err))
			}
			sizes[i] = m.LayersSize
		}
		delta := sizes[1] - sizes[0]
		d.BaseDelta = &delta
	default:
		d.Bases = "other base"
	}
	return nil
}

// compareLayers finds the bottom both images share and the layers each
// holds above it.
func (d *Diff) compareLayers(a, b []ImageLayer) {
	d.SharedLayers, d.Layers = layerChanges(a, b)
}

// layerChanges compares two images' layers: how many at the bottom both
// hold (equal chain ids: the same content on the same content), and a row
// for each layer not shared as it is: a shared layer stored in another
// blob (recompressed), then each of a's above the bottom, removed or kept
// (b holds its content too, above the change), then each of b's added.
// The rows' deltas add up to b's layer bytes less a's.
func layerChanges(a, b []ImageLayer) (int, []DiffLayer) {
	rows := []DiffLayer{}
	same := func(x, y ImageLayer) bool {
		if x.ChainID != "" && y.ChainID != "" {
			return x.ChainID == y.ChainID
		}
		return x.DiffID != "" && x.DiffID == y.DiffID
	}
	n := 0
	for n < len(a) && n < len(b) && same(a[n], b[n]) {
		n++
	}
	for i := range n {
		if a[i].Digest != b[i].Digest {
			rows = append(rows, pairLayer("recompressed", a[i], b[i], i, i))
		}
	}
	// Above the shared bottom: content both hold is kept, once per copy.
	inB := map[string][]int{}
	for j := n; j < len(b); j++ {
		if b[j].DiffID != "" {
			inB[b[j].DiffID] = append(inB[b[j].DiffID], j)
		}
	}
	keptB := map[int]bool{}
	for i := n; i < len(a); i++ {
		if js := inB[a[i].DiffID]; a[i].DiffID != "" && len(js) > 0 {
			j := js[0]
			inB[a[i].DiffID] = js[1:]
			keptB[j] = true
			rows = append(rows, pairLayer("kept", a[i], b[j], i, j))
			continue
		}
		p := i
		rows = append(rows, DiffLayer{Kind: "layer", Change: "removed", PositionA: &p, DiffID: a[i].DiffID, DigestA: a[i].Digest,
			SizeA: a[i].Size, DeltaBytes: -a[i].Size, CreatedBy: a[i].CreatedBy, FromBase: a[i].FromBase})
	}
	for j := n; j < len(b); j++ {
		if keptB[j] {
			continue
		}
		p := j
		rows = append(rows, DiffLayer{Kind: "layer", Change: "added", PositionB: &p, DiffID: b[j].DiffID, DigestB: b[j].Digest,
			SizeB: b[j].Size, DeltaBytes: b[j].Size, CreatedBy: b[j].CreatedBy, FromBase: b[j].FromBase})
	}
	return n, rows
}

func pairLayer(change string, x, y ImageLayer, i, j int) DiffLayer {
	return DiffLayer{Kind: "layer", Change: change, PositionA: &i, PositionB: &j, DiffID: y.DiffID, DigestA: x.Digest, DigestB: y.Digest,
		SizeA: x.Size, SizeB: y.Size, DeltaBytes: y.Size - x.Size, CreatedBy: y.CreatedBy, FromBase: y.FromBase}
}

// compareFiles compares the final filesystems, when every layer of both
// images is indexed.
func (d *Diff) compareFiles(ctx context.Context, db DB, a, b []ImageLayer) error {
	blobs := make([]string, 0, len(a)+len(b))
	for _, l := range slices.Concat(a, b) {
		if !slices.Contains(blobs, l.Digest) {
			blobs = append(blobs, l.Digest)
		}
	}
	tars, err := layerTars(ctx, db, blobs)
	if err != nil {
		return err
	}
	total := func(ls []ImageLayer) *int64 {
		var n int64
		for _, l := range ls {
			t, ok := tars[l.Digest]
			if !ok {
				return nil
			}
			n += t
		}
		return &n
	}
	d.A.UncompressedSize, d.B.UncompressedSize = total(a), total(b)
	if d.A.UncompressedSize == nil || d.B.UncompressedSize == nil {
		var missing int
		for _, dg := range blobs {
			if _, ok := tars[dg]; !ok {
				missing++
			}
		}
		d.FilesNote = fmt.Sprintf("files not compared: %s without a file index; index them with layerq-ingest scan --layers", output.Count(int64(missing), "layer", "layers"))
		return nil
	}
	delta := *d.B.UncompressedSize - *d.A.UncompressedSize
	d.DeltaUncompressedBytes = &delta

	cache := newEntryCache(db, maxCachedEntries)
	if err := cache.load(ctx, blobs); err != nil {
		return err
	}
	la, lb := stackOf(cache, tars, a), stackOf(cache, tars, b)
	// The bottom both hold as the same blobs is applied once, and what
	// neither changes above it is paired without a lookup by path.
	shared := 0
	for shared < d.SharedLayers && a[shared].Digest == b[shared].Digest {
		shared++
	}
	d.FilesCompared = true
	entry := func(layers [][]fileindex.Entry, v overlay.Visible) *fileindex.Entry { return &layers[v.Layer][v.Entry] }
	// A change is counted as the pairs come, and kept as each side's
	// entry (nil: not on that side) and the layer that made it (a's for a
	// removal, else b's); only the changes listed become DiffFiles (an
	// image of 1 GB may change 20,000 files).
	type change struct {
		path   string
		delta  int64
		x, y   *fileindex.Entry
		la, lb int32
	}
	var changes []change
	overlay.ShownPairs(la, lb, shared, func(p overlay.Pair) {
		var x, y *fileindex.Entry
		if p.InA {
			x = entry(la, p.A)
			d.A.FinalFiles++
			d.A.FinalBytes += x.Size
		}
		if p.InB {
			y = entry(lb, p.B)
			d.B.FinalFiles++
			d.B.FinalBytes += y.Size
		}
		switch {
		case !p.InA:
			d.Files.Added++
			d.Files.AddedBytes += y.Size
			changes = append(changes, change{path: p.B.Path, delta: y.Size, y: y, lb: int32(p.B.Layer)})
		case !p.InB:
			d.Files.Removed++
			d.Files.RemovedBytes += x.Size
			changes = append(changes, change{path: p.A.Path, delta: -x.Size, x: x, la: int32(p.A.Layer)})
		case x.Digest != y.Digest || x.Size != y.Size:
			d.Files.Changed++
			d.Files.ChangedBytes += y.Size - x.Size
			changes = append(changes, change{path: p.B.Path, delta: y.Size - x.Size, x: x, y: y, lb: int32(p.B.Layer)})
		case x.Mode != y.Mode || x.UID != y.UID || x.GID != y.GID:
			d.Files.Metadata++
			changes = append(changes, change{path: p.B.Path, x: x, y: y, lb: int32(p.B.Layer)})
		default:
			d.Files.Unchanged++
			d.Files.UnchangedBytes += y.Size
		}
	})
	// Largest changes first; a path once.
	changes = topN(changes, d.limit, func(x, y change) int {
		return cmp.Or(cmp.Compare(abs(y.delta), abs(x.delta)), strings.Compare(x.path, y.path))
	})
	files := make([]DiffFile, 0, len(changes))
	for _, c := range changes {
		f := DiffFile{Kind: "file", Path: c.path, DeltaBytes: c.delta}
		x, y, pa, pb := c.x, c.y, int(c.la), int(c.lb)
		switch {
		case y == nil:
			f.Change, f.BytesA, f.Side, f.Position, f.CreatedBy = "removed", x.Size, "a", pa, d.A.steps[pa]
		case x == nil:
			f.Change, f.BytesB, f.Side, f.Position, f.CreatedBy = "added", y.Size, "b", pb, d.B.steps[pb]
		default:
			f.BytesA, f.BytesB, f.Side, f.Position, f.CreatedBy = x.Size, y.Size, "b", pb, d.B.steps[pb]
			if x.Digest != y.Digest || x.Size != y.Size {
				f.Change = "changed"
			} else {
				f.Change = "mode"
				f.ModeA, f.ModeB = fmt.Sprintf("%04o %d:%d", x.Mode, x.UID, x.GID), fmt.Sprintf("%04o %d:%d", y.Mode, y.UID, y.GID)
			}
		}
		files = append(files, f)
	}
	d.FileChanges, d.Files.Listed = files, len(files)
	return nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// sideName names a side for people: registry/repository:tag, or @digest.
func (s DiffSide) name() string {
	n := s.Registry + "/" + s.Repository
	if s.Tag != "" {
		return n + ":" + s.Tag
	}
	if s.IndexDigest != "" {
		return n + "@" + output.Digest(s.IndexDigest).Short()
	}
	return n + "@" + output.Digest(s.Digest).Short()
}

func (s DiffSide) line() string {
	line := fmt.Sprintf("%s (%s", s.name(), output.Digest(s.Digest).Short())
	if s.Platform != "" {
		line += ", " + s.Platform
	}
	line += fmt.Sprintf("): %s, %s compressed", output.Count(int64(s.Layers), "layer", "layers"), output.Bytes(s.Size))
	if s.UncompressedSize != nil {
		line += fmt.Sprintf(", %s uncompressed", output.Bytes(*s.UncompressedSize))
	}
	return line
}

// signed renders a byte delta with its sign.
func signed(n int64) string {
	switch {
	case n > 0:
		return "+" + output.Bytes(n).String()
	case n < 0:
		return "-" + output.Bytes(-n).String()
	}
	return "0 B"
}

// Preamble implements output.Preamble.
func (d *Diff) Preamble() []string {
	lines := []string{"a:       " + d.A.line(), "b:       " + d.B.line()}
	baseName := func(b *ImageBase) string {
		if b == nil {
			return "none known"
		}
		n := b.BaseName()
		if b.Tag != "" {
			n += " (build " + output.Digest(b.Digest).Short() + ")"
		}
		return n
	}
	bases := "a on " + baseName(d.A.Base) + "; b on " + baseName(d.B.Base)
	switch d.Bases {
	case "same build":
		bases = "both on " + baseName(d.B.Base) + ", the same build"
	case "other build":
		bases += fmt.Sprintf(": another build of the same base (%s)", signed(*d.BaseDelta))
	case "other base":
		bases += ": different bases"
	}
	lines = append(lines, "bases:   "+bases)
	lines = append(lines, fmt.Sprintf("shared:  the bottom %s (same chain ids)", output.Count(int64(d.SharedLayers), "layer", "layers")))
	delta := signed(d.DeltaBytes) + " compressed"
	if d.DeltaUncompressedBytes != nil {
		delta += ", " + signed(*d.DeltaUncompressedBytes) + " uncompressed"
	}
	lines = append(lines, "delta:   "+delta+" (b less a)")
	if d.FilesCompared {
		f := d.Files
		lines = append(lines, fmt.Sprintf("files:   %d added (%s), %d removed (%s), %d changed (%s), %d mode or owner only; %d unchanged",
			f.Added, output.Bytes(f.AddedBytes), f.Removed, output.Bytes(f.RemovedBytes), f.Changed, signed(f.ChangedBytes), f.Metadata, f.Unchanged))
		if total := f.Added + f.Removed + f.Changed + f.Metadata; total == 0 && len(d.Layers) > 0 {
			lines = append(lines, "         the same regular files (path, content, mode, owner): the layers differ in what that leaves out, such as timestamps, directories and links")
		} else if f.Listed < total {
			lines = append(lines, fmt.Sprintf("         the %d largest file changes listed (--limit 0 lists all %d)", f.Listed, total))
		}
	} else {
		lines = append(lines, d.FilesNote)
	}
	return append(lines, "")
}

// Empty implements output.Empty.
func (d *Diff) Empty() string {
	return "the two images hold the same layers"
}

// Columns implements output.Table: one record per layer change and per
// file change.
func (d *Diff) Columns() []output.Column {
	// A layer's record and a file's share the columns they share in JSON;
	// each leaves the other's empty.
	return output.Cols("kind", "change", "position_a", "position_b", "digest_a", "digest_b", "diff_id", "size_a", "size_b",
		"path", "bytes_a", "bytes_b", "side", "position", "delta_bytes", "mode_a", "mode_b", "from_base", "created_by")
}

// Rows implements output.Table.
func (d *Diff) Rows() [][]any {
	var rows [][]any
	for _, l := range d.Layers {
		rows = append(rows, []any{l.Kind, l.Change, l.PositionA, l.PositionB, output.Digest(l.DigestA), output.Digest(l.DigestB), output.Digest(l.DiffID),
			output.Bytes(l.SizeA), output.Bytes(l.SizeB), "", nil, nil, "", nil, l.DeltaBytes, "", "", l.FromBase, step(l.CreatedBy)})
	}
	for _, f := range d.FileChanges {
		rows = append(rows, []any{f.Kind, f.Change, nil, nil, "", "", "", nil, nil, f.Path,
			output.Bytes(f.BytesA), output.Bytes(f.BytesB), f.Side, f.Position, f.DeltaBytes, f.ModeA, f.ModeB, nil, step(f.CreatedBy)})
	}
	return rows
}

// TableColumns implements output.Grouped: for people, the layer changes,
// each with the file changes its step made under it.
func (d *Diff) TableColumns() []output.Column {
	return []output.Column{{Key: "change"}, {Key: "layer", Title: "#"}, {Key: "size"}, {Key: "delta"},
		{Key: "digest", Wide: true}, {Key: "what", Title: "STEP / PATH"}}
}

// TableRows implements output.Grouped.
func (d *Diff) TableRows() [][]any {
	var rows [][]any
	files := map[string][]DiffFile{} // by "a3" / "b5"
	for _, f := range d.FileChanges {
		k := fmt.Sprintf("%s%d", f.Side, f.Position)
		files[k] = append(files[k], f)
	}
	fileRows := func(k string) {
		for _, f := range files[k] {
			what := f.Path
			if f.Change == "mode" {
				what += " (" + f.ModeA + " → " + f.ModeB + ")"
			}
			size := output.Bytes(f.BytesB)
			if f.Change == "removed" {
				size = output.Bytes(f.BytesA)
			}
			rows = append(rows, []any{"- " + f.Change, "", size, signed(f.DeltaBytes), "", what})
		}
		delete(files, k)
	}
	stepOf := func(l DiffLayer) stepCell {
		s := step(l.CreatedBy)
		if l.FromBase {
			s.shown = "(base) " + s.shown
		}
		return s
	}
	for _, l := range d.Layers {
		pos, digest, size := "", output.Digest(l.DigestB), output.Bytes(l.SizeB)
		switch l.Change {
		case "removed":
			pos, digest, size = fmt.Sprintf("a%d", *l.PositionA), output.Digest(l.DigestA), output.Bytes(l.SizeA)
		case "added":
			pos = fmt.Sprintf("b%d", *l.PositionB)
		default:
			pos = fmt.Sprintf("a%d→b%d", *l.PositionA, *l.PositionB)
		}
		rows = append(rows, []any{l.Change, pos, size, signed(l.DeltaBytes), digest, stepOf(l)})
		if l.PositionB != nil {
			fileRows(fmt.Sprintf("b%d", *l.PositionB))
		} else {
			fileRows(fmt.Sprintf("a%d", *l.PositionA))
		}
	}
	// File changes made by layers that are no layer change: b's shared
	// layers showing what a hid, and a's layers for removed files.
	var rest []string
	for k := range files {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	for _, k := range rest {
		var s string
		if k[0] == 'a' {
			s = d.A.steps[files[k][0].Position]
		} else {
			s = d.B.steps[files[k][0].Position]
		}
		rows = append(rows, []any{"files", k, "", "", "", step(s)})
		fileRows(k)
	}
	return rows
}

// Package dedup measures what an image stores for nothing, from the file
// indexes of its layers: bytes that lower layers carry and the final
// filesystem does not show (hidden by a later step: removed, rewritten,
// chmod-ed), attributed to the pair of steps that added and hid them, with
// the fix in words; and runs of consecutive small RUN layers that one RUN
// would make one layer. It computes; package report loads and prints.
package dedup

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/overlay"
)

// Layer is one layer of an image, bottom first, with its file index.
type Layer struct {
	Position  int    // in the manifest, from 0
	Digest    string // of the compressed blob
	MediaType string
	Size      int64 // compressed
	// UncompressedSize is the size of the layer's tar, for the compression
	// ratio that estimates what hidden bytes cost compressed.
	UncompressedSize int64
	CreatedBy        string // the history step that made the layer
	Entries          []fileindex.Entry
}

// Options tune the analysis. Zero values mean the defaults.
type Options struct {
	// SmallLayer is the compressed size under which a RUN layer counts as
	// small for layer runs (default 1 MiB).
	SmallLayer int64
	// TopPaths is how many paths each pair lists (default 5).
	TopPaths int
	// BaseLayers is how many bottom layers come from the base image: they
	// are never proposed for merging (the image's author does not build
	// them), and bytes they add cannot be removed by this image's steps.
	// Their hidden bytes still count.
	BaseLayers int
	// BaseName names the base image (repository:tag) in the steps of its
	// layers and in advice; empty: "the base image".
	BaseName string
}

// DefaultSmallLayer is the default Options.SmallLayer.
const DefaultSmallLayer = 1 << 20

// Analysis is what an image stores for nothing.
type Analysis struct {
	// WastedBytes is the content of regular files that lower layers carry
	// and the final filesystem does not show, uncompressed.
	WastedBytes int64 `json:"wasted_bytes"`
	// WastedCompressedBytes estimates what they cost in the blobs: each
	// file's bytes times its layer's compressed/uncompressed ratio.
	WastedCompressedBytes int64  `json:"wasted_compressed_bytes"`
	FinalFiles            int    `json:"final_files"`
	FinalBytes            int64  `json:"final_bytes"`
	Pairs                 []Pair `json:"pairs"`
	LayerRuns             []Run  `json:"layer_runs"`
	// ExtraLayers is how many layers merging every run would remove.
	ExtraLayers int `json:"extra_layers"`
	// ExtraManifestBytes is the size of the manifest entries of those layers.
	ExtraManifestBytes int64 `json:"extra_manifest_bytes"`
}

// Pair is the bytes one step added and a later (or the same) step hid.
type Pair struct {
	AddedBy          string `json:"added_by"`
	AddedByPosition  int    `json:"added_by_position"`
	HiddenBy         string `json:"hidden_by"`
	HiddenByPosition int    `json:"hidden_by_position"`
	// Kind is how most of the bytes were hidden (overlay.Kind names).
	Kind string `json:"kind"`
	// InBase is set when the step that hid the bytes belongs to the base
	// image: the fix is the base's to make (or pick another base).
	InBase bool `json:"in_base"`
	// FromBase is set when the step that added the bytes belongs to the
	// base image (the one that hid them too, when InBase): this image's
	// steps cannot remove them, a later rm only hides them.
	FromBase        bool       `json:"from_base"`
	Bytes           int64      `json:"bytes"`
	CompressedBytes int64      `json:"compressed_bytes"`
	Files           int        `json:"files"`
	TopPaths        []PathSize `json:"top_paths"`
	Fix             string     `json:"fix"`
}

// PathSize is a path (absolute, as in the container) and the hidden bytes
// below it.
type PathSize struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// Run is consecutive small RUN layers that one RUN would make one layer.
type Run struct {
	// Kind is RunKind, beside the kinds of pairs.
	Kind         string   `json:"kind"`
	FromPosition int      `json:"from_position"`
	ToPosition   int      `json:"to_position"`
	Layers       int      `json:"layers"`
	Bytes        int64    `json:"bytes"` // compressed, all layers of the run
	Steps        []string `json:"steps"`
	Fix          string   `json:"fix"`
}

// RunKind is the Kind of every Run.
const RunKind = "layer_run"

// Hidden is the bytes one pair of layers lost, before the steps are named:
// what depends on the layers' file indexes alone, and so what can be kept
// for an image whatever later becomes known of its base (Name adds the rest).
type Hidden struct {
	// Added and HiddenBy index the layers (bottom first).
	Added    int    `json:"added"`
	HiddenBy int    `json:"hidden_by"`
	Kind     string `json:"kind"` // how most of the bytes were hidden (overlay.Kind names)
	Bytes    int64  `json:"bytes"`
	Files    int    `json:"files"`
	// TopPaths are the paths with the most hidden bytes, most first (up to
	// Options.TopPaths).
	TopPaths []PathSize `json:"top_paths"`
}

// Found is what the file indexes of an image's layers show: the hidden
// bytes by pair of layers (most bytes first), and the final filesystem.
type Found struct {
	Hidden     []Hidden
	FinalFiles int
	FinalBytes int64
}

// Find works out, from the layers' file indexes (bottom first), the bytes
// each pair of layers hid. Only opts.TopPaths is used.
func Find(layers []Layer, opts Options) Found {
	if opts.TopPaths <= 0 {
		opts.TopPaths = 5
	}
	stacks := make([][]fileindex.Entry, len(layers))
	for i, l := range layers {
		stacks[i] = l.Entries
	}
	res := overlay.Apply(stacks)
	f := Found{FinalFiles: res.FinalFiles, FinalBytes: res.FinalBytes, Hidden: []Hidden{}}

	type key struct{ added, hidden int }
	type acc struct {
		bytes int64
		files int
		kinds map[overlay.Kind]int64
		paths map[string]int64
	}
	groups := map[key]*acc{}
	for _, loss := range res.Losses {
		k := key{loss.AddedBy, loss.HiddenBy}
		g := groups[k]
		if g == nil {
			g = &acc{kinds: map[overlay.Kind]int64{}, paths: map[string]int64{}}
			groups[k] = g
		}
		g.bytes += loss.Size
		g.files++
		g.kinds[loss.Kind] += loss.Size
		g.paths[absPath(loss.Path)] += loss.Size
	}
	for k, g := range groups {
		h := Hidden{Added: k.added, HiddenBy: k.hidden, Kind: dominant(g.kinds).String(), Bytes: g.bytes, Files: g.files}
		for path, n := range g.paths {
			h.TopPaths = append(h.TopPaths, PathSize{Path: path, Bytes: n})
		}
		slices.SortFunc(h.TopPaths, func(x, y PathSize) int {
			return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), strings.Compare(x.Path, y.Path))
		})
		if len(h.TopPaths) > opts.TopPaths {
			h.TopPaths = h.TopPaths[:opts.TopPaths]
		}
		f.Hidden = append(f.Hidden, h)
	}
	slices.SortFunc(f.Hidden, func(x, y Hidden) int {
		return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), cmp.Compare(x.Added, y.Added), cmp.Compare(x.HiddenBy, y.HiddenBy))
	})
	return f
}

// Analyze computes the analysis of an image's layers, bottom first: Find,
// then Name.
func Analyze(layers []Layer, opts Options) Analysis {
	return Name(layers, Find(layers, opts), opts)
}

// Name completes what Find found into the analysis: the steps named (the
// base's layers as the base's), each pair's compressed cost and fix, and
// the runs of small RUN layers. layers need no file index here (their
// Entries are not read), but must be the layers Find was given.
func Name(layers []Layer, f Found, opts Options) Analysis {
	if opts.SmallLayer <= 0 {
		opts.SmallLayer = DefaultSmallLayer
	}
	a := Analysis{FinalFiles: f.FinalFiles, FinalBytes: f.FinalBytes, Pairs: []Pair{}, LayerRuns: []Run{}}
	for _, h := range f.Hidden {
		added, hidden := layers[h.Added], layers[h.HiddenBy]
		p := Pair{
			AddedBy: opts.step(h.Added, added), AddedByPosition: added.Position,
			HiddenBy: opts.step(h.HiddenBy, hidden), HiddenByPosition: hidden.Position,
			Kind: h.Kind, Bytes: h.Bytes, Files: h.Files, TopPaths: slices.Clone(h.TopPaths),
			CompressedBytes: compressed(h.Bytes, added),
			InBase:          h.HiddenBy < opts.BaseLayers, FromBase: h.Added < opts.BaseLayers,
		}
		kind := kindNamed(h.Kind)
		switch {
		case p.InBase:
			p.Fix = "inside the base image" + opts.named() + ", not this image's steps: fix it in the base or pick a slimmer one (" +
				fix(kind, added.CreatedBy, hidden.CreatedBy, p.TopPaths, h.Added == h.HiddenBy) + ")"
		case p.FromBase:
			p.Fix = fromBase(kind, opts.named(), p.TopPaths)
		default:
			p.Fix = fix(kind, added.CreatedBy, hidden.CreatedBy, p.TopPaths, h.Added == h.HiddenBy)
		}
		a.WastedBytes += p.Bytes
		a.WastedCompressedBytes += p.CompressedBytes
		a.Pairs = append(a.Pairs, p)
	}
	a.LayerRuns = runs(layers, opts)
	for _, r := range a.LayerRuns {
		a.ExtraLayers += r.Layers - 1
		for _, l := range layers {
			if l.Position > r.FromPosition && l.Position <= r.ToPosition {
				a.ExtraManifestBytes += DescriptorBytes(l.MediaType, l.Digest, l.Size)
			}
		}
	}
	return a
}

// step names the step that made layers[i]: its history step, or for a
// layer of the base the base and the layer's position, as "library/debian:12
// (base layer #0)" (builders write base history wrong, and the image's
// author did not write those steps).
func (o Options) step(i int, l Layer) string {
	if i < o.BaseLayers {
		return fmt.Sprintf("%s (base layer #%d)", o.base(), l.Position)
	}
	return l.CreatedBy
}

// base names the base image.
func (o Options) base() string {
	if o.BaseName == "" {
		return "the base image"
	}
	return o.BaseName
}

// named is " " and the base's name, "" when it has none.
func (o Options) named() string {
	if o.BaseName == "" {
		return ""
	}
	return " " + o.BaseName
}

// absPath shows an index path ("." for the root) as the container sees it.
func absPath(p string) string {
	if p == "." {
		return "/"
	}
	return "/" + p
}

// compressed estimates what n uncompressed bytes of layer l cost in its blob.
func compressed(n int64, l Layer) int64 {
	if l.UncompressedSize <= 0 {
		return n
	}
	return int64(float64(n) * float64(l.Size) / float64(l.UncompressedSize))
}

// kindNamed is the overlay.Kind a Hidden names (0 for no kind).
func kindNamed(name string) overlay.Kind {
	for k := overlay.Removed; k <= overlay.Replaced; k++ {
		if k.String() == name {
			return k
		}
	}
	return 0
}

// dominant is the kind that hid the most bytes (the lowest kind on a tie).
func dominant(kinds map[overlay.Kind]int64) overlay.Kind {
	var best overlay.Kind
	for k, n := range kinds {
		if best == 0 || n > kinds[best] || n == kinds[best] && k < best {
			best = k
		}
	}
	return best
}

// DescriptorBytes is the size of a layer's entry in a manifest, as
// {"mediaType":…,"size":…,"digest":…} without whitespace.
func DescriptorBytes(mediaType, digest string, size int64) int64 {
	return int64(len(fmt.Sprintf(`{"mediaType":%q,"size":%d,"digest":%q},`, mediaType, size, digest)))
}

// IsRun reports whether a history step is a Dockerfile RUN: BuildKit writes
// "RUN …", the classic builder "/bin/sh -c …" (other instructions there
// carry "#(nop)").
func IsRun(createdBy string) bool {
	s := strings.TrimSpace(createdBy)
	if strings.HasPrefix(s, "RUN ") {
		return true
	}
	return (strings.HasPrefix(s, "/bin/sh -c ") || strings.HasPrefix(s, "|")) && !strings.Contains(s, "#(nop)")
}

// runs finds maximal runs of two or more consecutive small RUN layers above
// the base.
func runs(layers []Layer, opts Options) []Run {
	out := []Run{}
	flush := func(from, to int) {
		if to-from < 1 {
			return
		}
		r := Run{Kind: RunKind, FromPosition: layers[from].Position, ToPosition: layers[to].Position, Layers: to - from + 1}
		for _, l := range layers[from : to+1] {
			r.Bytes += l.Size
			r.Steps = append(r.Steps, l.CreatedBy)
		}
		r.Fix = fmt.Sprintf("merge these %d RUN steps into one (RUN a && b && …): %d fewer layers, each a manifest entry, a blob request per pull and a tar with its own end-of-archive and compression framing",
			r.Layers, r.Layers-1)
		out = append(out, r)
	}
	start := -1
	for i, l := range layers {
		ok := i >= opts.BaseLayers && IsRun(l.CreatedBy) && l.Size < opts.SmallLayer
		switch {
		case ok && start < 0:
			start = i
		case !ok && start >= 0:
			flush(start, i-1)
			start = -1
		}
	}
	if start >= 0 {
		flush(start, len(layers)-1)
	}
	return out
}

package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
)

// ImageLayer is one layer of an image report.
type ImageLayer struct {
	Position int `json:"position"`
	// Digest is the blob this image lists; DiffID names the layer's
	// content, whichever blob holds it.
	Digest      string     `json:"digest"`
	DiffID      string     `json:"diff_id"`
	ChainID     string     `json:"chain_id"`
	MediaType   string     `json:"media_type"`
	Compression string     `json:"compression"`
	Size        int64      `json:"size"`
	CreatedBy   string     `json:"created_by"`
	Created     *time.Time `json:"created"`
	// FromBase is set on the layers that come with the image's base.
	FromBase bool `json:"from_base"`
	// OtherImages counts the other live images that hold this layer's
	// content, in any encoding (a gzip or a zstd blob of one diff_id).
	OtherImages int64 `json:"other_images"`
}

// Image is the layer-by-layer view of one image.
type Image struct {
	Registry    string `json:"registry"`
	Repository  string `json:"repository"`
	Tag         string `json:"tag"`
	Digest      string `json:"digest"`
	IndexDigest string `json:"index_digest"`
	MediaType   string `json:"media_type"`
	// Platform is the one the index declares for this image when an index
	// lists it, else its config's; "" when neither says.
	Platform string `json:"platform"`
	// ConfigPlatform is what the image's config says, when it disagrees
	// with the index.
	ConfigPlatform string `json:"config_platform"`
	// Platforms are the images of the index the reference names, as the
	// index declares them.
	Platforms       []IndexEntry `json:"platforms"`
	Created         *time.Time   `json:"created"`
	LayerCount      int          `json:"layer_count"`
	Size            int64        `json:"size"`
	HistoryMismatch string       `json:"history_mismatch"`
	// Base is the image this one is built on (see Base), nil when none
	// is known.
	Base   *ImageBase   `json:"base"`
	Layers []ImageLayer `json:"layers"`
}

// IndexEntry is one image of an index, with the platform the index
// declares for it.
type IndexEntry struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// ImageBase is the base an image is built on: the image seen in another
// repository whose whole chain of layers is the longest prefix of this
// one's ("chain"), or the one its base-digest annotation names
// ("annotation"). Stale: the tag that named the base has moved on.
type ImageBase struct {
	Digest     string `json:"digest"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Layers     int    `json:"layers"`
	Source     string `json:"source"`
	Stale      bool   `json:"stale"`
	Current    string `json:"current_digest"`
}

// ImageOptions say which image to show.
type ImageOptions struct {
	Ref Ref
	// Platform picks the child of an index, as os/arch[/variant]
	// (DefaultPlatform when empty). Given for an image of one platform, it
	// must be that image's.
	Platform string
}

// DefaultPlatform is the image of an index the reports read when no
// platform is asked for.
const DefaultPlatform = "linux/amd64"

// LoadImage runs the image report.
func LoadImage(ctx context.Context, db DB, opts ImageOptions) (*Image, error) {
	ref := opts.Ref
	img, kind, err := resolve(ctx, db, ref)
	if err != nil {
		return nil, err
	}
	declared := ""
	if kind == "index" {
		entries, err := readIndex(ctx, db, img.Digest)
		if err != nil {
			return nil, err
		}
		want := opts.Platform
		if want == "" {
			want = DefaultPlatform
		}
		child, err := pickChild(entries, want)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		img.Platforms = entries
		img.IndexDigest, img.Digest, declared = img.Digest, child.Digest, child.Platform
		if _, err := img.loadManifest(ctx, db); err != nil {
			return nil, err
		}
	} else {
		img.Platforms = []IndexEntry{}
		// ErrNotFound: no index lists the image, which declares none.
		declared, err = queries.ImageDeclaredPlatform(ctx, db, img.Digest)
		if err = dbsqlc.Interpret(err); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("reading the platform of %s: %w", img.Digest, err)
		}
	}
	if declared != "" {
		if !samePlatform(declared, img.Platform) {
			img.ConfigPlatform = img.Platform
		}
		img.Platform = declared
	}
	if want := opts.Platform; kind != "index" && want != "" && img.Platform != "" && !platformIs(img.Platform, want) {
		return nil, fmt.Errorf("%s is an image for %s only, not an index: drop --platform %s (it picks the image of an index)", ref, img.Platform, want)
	}
	if err := img.loadBase(ctx, db); err != nil {
		return nil, err
	}
	return img.loadLayers(ctx, db)
}

func (img *Image) loadBase(ctx context.Context, db DB) error {
	r, err := queries.ImageBase(ctx, db, img.Digest)
	err = dbsqlc.Interpret(err)
	if errors.Is(err, ErrNotFound) {
		return nil // no base known
	}
	if err != nil {
		return fmt.Errorf("reading the base of %s: %w", img.Digest, err)
	}
	img.Base = &ImageBase{Digest: r.BaseDigest, Repository: r.Repository, Tag: r.Tag, Layers: int(r.BaseLayers), Source: r.Source, Stale: r.Stale}
	if r.Stale {
		img.Base.Current = r.CurrentDigest
	}
	return nil
}

// loadLayers reads the image's layers.
func (img *Image) loadLayers(ctx context.Context, db DB) (*Image, error) {
	rows, err := queries.ImageLayers(ctx, db, img.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading layers of %s: %w", img.Digest, err)
	}
	for _, r := range rows {
		img.Layers = append(img.Layers, ImageLayer{Position: int(r.Position), Digest: r.BlobDigest, DiffID: r.DiffID, ChainID: r.ChainID,
			MediaType: r.MediaType, Compression: Compression(r.MediaType), Size: r.Size, CreatedBy: r.CreatedBy, Created: r.Created,
			FromBase: img.Base != nil && int(r.Position) < img.Base.Layers, OtherImages: r.OtherImages})
	}
	return img, nil
}

func (img *Image) loadManifest(ctx context.Context, db DB) (kind string, err error) {
	m, err := queries.ImageManifest(ctx, db, img.Digest)
	if err != nil {
		return "", fmt.Errorf("reading manifest %s: %w", img.Digest, dbsqlc.Interpret(err))
	}
	img.Digest, img.MediaType, img.Created, img.HistoryMismatch = m.Digest, m.MediaType, m.Created, m.HistoryMismatch
	img.LayerCount, img.Size = int(m.LayerCount), m.LayersSize
	img.Platform = platform(m.Os, m.Architecture, m.Variant)
	if m.Kind == "artifact" {
		return m.Kind, fmt.Errorf("%s/%s@%s is an artifact (%s), not an image", img.Registry, img.Repository, img.Digest, m.ArtifactType)
	}
	return m.Kind, nil
}

// readIndex lists the images of an index with the platforms it declares.
func readIndex(ctx context.Context, db DB, index string) ([]IndexEntry, error) {
	rows, err := queries.ImageChildren(ctx, db, index)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", index, err)
	}
	out := make([]IndexEntry, 0, len(rows))
	for _, r := range rows {
		out = append(out, IndexEntry{Platform: platform(r.Os, r.Architecture, r.Variant), Digest: r.ChildDigest})
	}
	return out, nil
}

// pickChild is the entry of an index for platform want (os/arch, with or
// without a variant).
func pickChild(entries []IndexEntry, want string) (IndexEntry, error) {
	var seen []string
	for _, e := range entries {
		if e.Platform == "" {
			continue // attestations and other entries with no platform
		}
		seen = append(seen, e.Platform)
		if platformIs(e.Platform, want) {
			return e, nil
		}
	}
	return IndexEntry{}, fmt.Errorf("is an index with no %s image; pick one with --platform: %s", want, strings.Join(seen, ", "))
}

// platform is os/arch[/variant], or "" when neither os nor arch is known.
func platform(os, arch, variant string) string {
	if os == "" && arch == "" {
		return ""
	}
	p := os + "/" + arch
	if variant != "" {
		p += "/" + variant
	}
	return p
}

// samePlatform compares two platforms the way containerd does: arm64's
// default variant v8 may be left out.
func samePlatform(a, b string) bool {
	return normalPlatform(a) == normalPlatform(b)
}

func normalPlatform(p string) string {
	if rest, ok := strings.CutSuffix(p, "/arm64/v8"); ok {
		return rest + "/arm64"
	}
	return p
}

// platformIs says whether an image of platform have is what want asks
// for: the same, arm64's v8 left out or not, or want without have's
// variant.
func platformIs(have, want string) bool {
	return samePlatform(have, want) || withoutVariant(have) == want
}

func withoutVariant(p string) string {
	if parts := strings.Split(p, "/"); len(parts) == 3 {
		return parts[0] + "/" + parts[1]
	}
	return p
}

// BaseName names a base for people: repository:tag, or its digest.
func (b *ImageBase) BaseName() string {
	switch {
	case b.Repository == "":
		return output.Digest(b.Digest).Short()
	case b.Tag == "":
		return b.Repository + "@" + output.Digest(b.Digest).Short()
	}
	return b.Repository + ":" + b.Tag
}

// Preamble implements output.Preamble.
func (img *Image) Preamble() []string {
	name := img.Registry + "/" + img.Repository + ":" + img.Tag
	if img.Tag == "" {
		name = img.Registry + "/" + img.Repository + "@" + img.Digest
		if img.IndexDigest != "" {
			name = img.Registry + "/" + img.Repository + "@" + img.IndexDigest
		}
	}
	lines := []string{
		"image:     " + name,
		"digest:    " + img.Digest,
	}
	if img.IndexDigest != "" {
		lines = append(lines, "index:     "+img.IndexDigest)
		var ps []string
		for _, e := range img.Platforms {
			if e.Platform == "" {
				continue
			}
			p := e.Platform
			if e.Digest == img.Digest {
				p += " (shown)"
			}
			ps = append(ps, p)
		}
		lines = append(lines, "platforms: "+strings.Join(ps, ", ")+" (pick one with --platform)")
	}
	if img.Platform != "" {
		line := "platform:  " + img.Platform
		if img.ConfigPlatform != "" {
			line += fmt.Sprintf(" as the index declares it; the image's config says %s", img.ConfigPlatform)
		}
		lines = append(lines, line)
	}
	lines = append(lines, fmt.Sprintf("layers:    %d, %s compressed", img.LayerCount, output.Bytes(img.Size)))
	if b := img.Base; b != nil {
		how := "its layers are the bottom of this image's"
		if b.Source == "annotation" {
			how = "named by the image's base-image annotation"
		}
		line := fmt.Sprintf("base:      %s, the bottom %s (%s)", b.BaseName(), output.Count(int64(b.Layers), "layer", "layers"), how)
		if b.Stale {
			line += fmt.Sprintf("; outdated: %s:%s now points at %s", b.Repository, b.Tag, output.Digest(b.Current).Short())
		}
		lines = append(lines, line)
	}
	if img.HistoryMismatch != "" {
		lines = append(lines, "warning:   "+img.HistoryMismatch)
	}
	return append(lines, "OTHER IMAGES counts the other live images holding each layer's content (any compression).", "")
}

// Columns implements output.Table.
func (img *Image) Columns() []output.Column {
	return []output.Column{
		{Key: "position", Title: "#"},
		{Key: "digest"},
		{Key: "diff_id", Wide: true},
		{Key: "compression", Wide: true},
		{Key: "size"},
		{Key: "other_images"},
		{Key: "from_base", Wide: true},
		{Key: "created_by"},
	}
}

// Rows implements output.Table. A base's layers name the base before the
// step that made them.
func (img *Image) Rows() [][]any {
	rows := make([][]any, 0, len(img.Layers))
	for _, l := range img.Layers {
		step := shortStep(l.CreatedBy)
		if l.FromBase {
			step = "(" + img.Base.BaseName() + ") " + step
		}
		rows = append(rows, []any{l.Position, output.Digest(l.Digest), output.Digest(l.DiffID), l.Compression, output.Bytes(l.Size), l.OtherImages, l.FromBase, stepCell{step, l.CreatedBy}})
	}
	return rows
}

// stepCell is a history step as a table shows it (shortened by shortStep,
// named by the base it comes from) and, whole, as CSV holds it.
type stepCell struct{ shown, raw string }

func (s stepCell) String() string { return s.shown }

// Record implements output.Recorder.
func (s stepCell) Record() string { return s.raw }

// step is a step cell shortened for a table.
func step(createdBy string) stepCell { return stepCell{shortStep(createdBy), createdBy} }

package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
)

// SharedLayer is one row of top-shared: a layer's content (its
// uncompressed tar, named by its diff_id) and how widely it is used, with
// the blobs it is stored as.
//
// Images and Repositories are content figures: how many live images hold
// the layer, whichever encoding they list. StoredBytes and SavedBytes are
// storage figures: what the registry stores for it (each encoding once) and
// what sharing already saves (each encoding stored once instead of once per
// image that lists it).
type SharedLayer struct {
	// Content is the layer's diff_id, or its blob digest when no image
	// config names a diff_id for it.
	Content      string `json:"content"`
	Images       int64  `json:"images"`
	Repositories int64  `json:"repositories"`
	StoredBytes  int64  `json:"stored_bytes"`
	SavedBytes   int64  `json:"saved_bytes"`
	// Encodings are the blobs the content is stored as, smallest first.
	Encodings          []Encoding `json:"encodings"`
	CreatedBy          string     `json:"created_by"`
	SampleRepositories []string   `json:"sample_repositories"`
}

// Encoding is one blob a layer's content is stored as.
type Encoding struct {
	Digest string `json:"digest"`
	// MediaType is the least of those the blob is listed with (Docker and
	// OCI manifests may list the same blob).
	MediaType   string `json:"media_type"`
	Compression string `json:"compression"`
	Size        int64  `json:"size"`
	// Images counts the live images that list this blob.
	Images int64 `json:"images"`
}

// Compression names the compression a layer media type says: gzip, zstd,
// none, or "" when the media type does not say.
func Compression(mediaType string) string {
	switch {
	case strings.HasSuffix(mediaType, "+gzip"), strings.HasSuffix(mediaType, ".gzip"), mediaType == "application/vnd.docker.image.rootfs.diff.tar.gzip":
		return "gzip"
	case strings.HasSuffix(mediaType, "+zstd"), strings.HasSuffix(mediaType, ".zstd"):
		return "zstd"
	case strings.HasSuffix(mediaType, ".tar"), strings.HasSuffix(mediaType, "layer.v1.tar"):
		return "none"
	}
	return ""
}

// TopShared ranks layer contents by the live images and repositories
// holding them.
type TopShared struct {
	SortBy string        `json:"sort_by"`
	Layers []SharedLayer `json:"layers"`

	minImages int
}

// The rankings of top-shared.
const (
	SortImages       = "images"
	SortRepositories = "repositories"
	SortSaved        = "saved"
	SortStored       = "stored"
)

// ParseSortBy reads a --sort-by value: images (or manifests),
// repositories, bytes-saved (saved) or size (stored).
func ParseSortBy(s string) (string, error) {
	switch strings.ToLower(s) {
	case "images", "manifests", "":
		return SortImages, nil
	case "repositories", "repos":
		return SortRepositories, nil
	case "bytes-saved", "saved", "saved-bytes":
		return SortSaved, nil
	case "size", "stored", "stored-bytes":
		return SortStored, nil
	}
	return "", fmt.Errorf("--sort-by %q: choose images, repositories, bytes-saved or size", s)
}

// TopSharedOptions select what top-shared looks at.
type TopSharedOptions struct {
	Limit        int
	Repositories repoglob.Glob
	// SortBy is one of SortImages, SortRepositories, SortSaved, SortStored.
	SortBy string
	// MinImages keeps the contents held by at least this many live images
	// (default 2: shared layers only).
	MinImages int
	// Afresh counts a repository filter's images from their layers even
	// where the kept per-repository counts answer (for tests).
	Afresh bool
}

// LoadTopShared runs the top-shared report.
func LoadTopShared(ctx context.Context, db DB, opts TopSharedOptions) (*TopShared, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("--limit %d: give 0 (all) or more", opts.Limit)
	}
	opts.Limit = pageSize(opts.Limit)
	sortBy, err := ParseSortBy(opts.SortBy) // an unknown one would match no ranking
	if err != nil {
		return nil, err
	}
	opts.SortBy = sortBy
	if opts.MinImages == 0 {
		opts.MinImages = 2
	}
	// Over the whole graph the kept per-content counts answer; a
	// repository filter counts the matching repositories' live images
	// afresh. Both queries give the same columns.
	var rows []dbsqlc.TopSharedRow
	if opts.Repositories.All() {
		kept, err := queries.TopSharedKept(ctx, db, dbsqlc.TopSharedKeptParams{
			Limit: int64(opts.Limit), SortBy: opts.SortBy, MinImages: int32(min(opts.MinImages, math.MaxInt32))}) // no content has more images
		if err != nil {
			return nil, fmt.Errorf("querying top-shared: %w", err)
		}
		for _, r := range kept {
			rows = append(rows, dbsqlc.TopSharedRow(r))
		}
	} else {
		// Ranked by images or repositories, the matching repositories'
		// kept counts add up, unless a manifest is live in two of them
		// (and one namespace's repositories have them summed); else the
		// matching images are counted afresh.
		re := opts.Repositories.Regexp()
		var ns dbsqlc.SelectionNamespaceRow
		one, exact := false, false
		if !opts.Afresh && (opts.SortBy == SortImages || opts.SortBy == SortRepositories) {
			var err error
			if ns, one, err = oneNamespace(ctx, db, re, ""); err != nil {
				return nil, fmt.Errorf("querying top-shared: %w", err)
			}
			if one { // the fold counts its manifests in two repositories
				exact = ns.SharedManifests == 0
			} else if exact, err = queries.TopSharedInExact(ctx, db, re); err != nil {
				return nil, fmt.Errorf("querying top-shared: %w", err)
			}
		}
		switch {
		case one && exact:
			// One namespace's repositories: its kept sums.
			in, err := queries.TopSharedNamespace(ctx, db, dbsqlc.TopSharedNamespaceParams{Registry: ns.Registry, Namespace: ns.Namespace,
				Limit: int64(opts.Limit), SortBy: opts.SortBy, MinImages: int32(min(opts.MinImages, math.MaxInt32))})
			if err != nil {
				return nil, fmt.Errorf("querying top-shared: %w", err)
			}
			for _, r := range in {
				rows = append(rows, dbsqlc.TopSharedRow(r))
			}
		case exact:
			in, err := queries.TopSharedIn(ctx, db, dbsqlc.TopSharedInParams{
				Repository: re, Limit: int64(opts.Limit), SortBy: opts.SortBy, MinImages: int64(opts.MinImages)})
			if err != nil {
				return nil, fmt.Errorf("querying top-shared: %w", err)
			}
			for _, r := range in {
				rows = append(rows, dbsqlc.TopSharedRow(r))
			}
		default:
			var err error
			rows, err = queries.TopShared(ctx, db, dbsqlc.TopSharedParams{
				Repository: re, Limit: int64(opts.Limit), SortBy: opts.SortBy, MinImages: int64(opts.MinImages)})
			if err != nil {
				return nil, fmt.Errorf("querying top-shared: %w", err)
			}
		}
	}
	out := &TopShared{SortBy: opts.SortBy, Layers: make([]SharedLayer, 0, len(rows)), minImages: opts.MinImages}
	for _, r := range rows {
		l := SharedLayer{Content: r.Content, Images: r.Images, Repositories: r.Repositories, StoredBytes: r.StoredBytes,
			SavedBytes: r.SavedBytes, Encodings: make([]Encoding, len(r.Digests)), CreatedBy: r.CreatedBy, SampleRepositories: r.SampleRepositories}
		for i, d := range r.Digests {
			l.Encodings[i] = Encoding{Digest: d, MediaType: r.MediaTypes[i], Compression: Compression(r.MediaTypes[i]),
				Size: r.Sizes[i], Images: r.EncodingImages[i]}
		}
		out.Layers = append(out.Layers, l)
	}
	key := func(l SharedLayer) int64 {
		switch opts.SortBy {
		case SortRepositories:
			return l.Repositories
		case SortSaved:
			return l.SavedBytes
		case SortStored:
			return l.StoredBytes
		}
		return l.Images
	}
	slices.SortFunc(out.Layers, func(a, b SharedLayer) int {
		return cmp.Or(cmp.Compare(key(b), key(a)), cmp.Compare(b.Images, a.Images), cmp.Compare(b.Repositories, a.Repositories),
			cmp.Compare(b.StoredBytes, a.StoredBytes), strings.Compare(a.Content, b.Content))
	})
	return out, nil
}

// Preamble implements output.Preamble.
func (t *TopShared) Preamble() []string {
	return []string{"IMAGES and REPOS count the live images holding each layer's content, in any encoding; STORED is what the registry keeps (each encoding once), SAVED what sharing already saves over a copy per image.", ""}
}

// Empty implements output.Empty.
func (t *TopShared) Empty() string {
	switch {
	case t.minImages <= 1:
		return "no live image holds a layer"
	case t.minImages == 2:
		return "no layer is shared by two live images yet (--min-images 1 lists every layer)"
	}
	return fmt.Sprintf("no layer is shared by %d live images (--min-images 1 lists every layer)", t.minImages)
}

// Columns implements output.Table.
func (t *TopShared) Columns() []output.Column {
	return []output.Column{
		{Key: "content", Title: "DIFF ID"},
		{Key: "images"},
		{Key: "repositories", Title: "REPOS"},
		{Key: "stored_bytes", Title: "STORED"},
		{Key: "saved_bytes", Title: "SAVED"},
		{Key: "encodings"},
		{Key: "created_by"},
		{Key: "sample_repositories", Wide: true},
	}
}

// Rows implements output.Table.
func (t *TopShared) Rows() [][]any {
	rows := make([][]any, 0, len(t.Layers))
	for _, l := range t.Layers {
		rows = append(rows, []any{output.Digest(l.Content), l.Images, l.Repositories, output.Bytes(l.StoredBytes), output.Bytes(l.SavedBytes),
			encodings(l.Encodings), step(l.CreatedBy), l.SampleRepositories})
	}
	return rows
}

// encodings is a content's blobs in a cell: "gzip 90.7 MiB ×8, zstd
// 79.3 MiB ×6" in a table, their JSON in CSV.
type encodings []Encoding

// Record implements output.Recorder.
func (e encodings) Record() string {
	b, _ := json.Marshal([]Encoding(e))
	return string(b)
}

// String is the table form.
func (e encodings) String() string {
	parts := make([]string, len(e))
	for i, x := range e {
		c := x.Compression
		if c == "" {
			c = x.MediaType
		}
		parts[i] = fmt.Sprintf("%s %s ×%d", c, output.Bytes(x.Size), x.Images)
	}
	return strings.Join(parts, ", ")
}

package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/output"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qImageResolve  = sqlfiles.Query("image_resolve")
	qImageBase     = sqlfiles.Query("image_base")
	qImageManifest = sqlfiles.Query("image_manifest")
	qImageChildren = sqlfiles.Query("image_children")
	qImageLayers   = sqlfiles.Query("image_layers")
)

// ImageLayer is one layer of an image report.
type ImageLayer struct {
	Position  int        `json:"position"`
	Digest    string     `json:"digest"`
	DiffID    string     `json:"diff_id"`
	ChainID   string     `json:"chain_id"`
	MediaType string     `json:"media_type"`
	Size      int64      `json:"size"`
	CreatedBy string     `json:"created_by"`
	Created   *time.Time `json:"created"`
	// SharedWith counts the other live manifests that use this layer blob.
	SharedWith int64 `json:"shared_with"`
}

// Image is the layer-by-layer view of one image.
type Image struct {
	Registry        string     `json:"registry"`
	Repository      string     `json:"repository"`
	Tag             string     `json:"tag"`
	Digest          string     `json:"digest"`
	IndexDigest     string     `json:"index_digest,omitempty"`
	MediaType       string     `json:"media_type"`
	Platform        string     `json:"platform"`
	Created         *time.Time `json:"created"`
	LayerCount      int        `json:"layer_count"`
	Size            int64      `json:"size"`
	HistoryMismatch string     `json:"history_mismatch,omitempty"`
	// Base is the image this one is built on (see Base), nil when none
	// is known.
	Base   *ImageBase   `json:"base"`
	Layers []ImageLayer `json:"layers"`
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
	Current    string `json:"current_digest,omitempty"`
}

// ImageOptions say which image to show.
type ImageOptions struct {
	Ref Ref
	// Platform picks the child of an index, as os/arch[/variant].
	Platform string
}

// LoadImage runs the image report.
func LoadImage(ctx context.Context, db DB, opts ImageOptions) (*Image, error) {
	ref := opts.Ref
	img, kind, err := resolve(ctx, db, ref)
	if err != nil {
		return nil, err
	}
	if kind == "index" {
		child, err := pickChild(ctx, db, img.Digest, opts.Platform)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		img.IndexDigest, img.Digest = img.Digest, child
		if _, err := img.loadManifest(ctx, db); err != nil {
			return nil, err
		}
	}
	if err := img.loadBase(ctx, db); err != nil {
		return nil, err
	}
	return img.loadLayers(ctx, db)
}

func (img *Image) loadBase(ctx context.Context, db DB) error {
	var b ImageBase
	err := db.QueryRow(ctx, qImageBase, img.Digest).Scan(&b.Digest, &b.Repository, &b.Tag, &b.Stale, &b.Current, &b.Source, &b.Layers)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the base of %s: %w", img.Digest, err)
	}
	if !b.Stale {
		b.Current = ""
	}
	img.Base = &b
	return nil
}

// loadLayers reads the image's layers.
func (img *Image) loadLayers(ctx context.Context, db DB) (*Image, error) {
	rows, err := db.Query(ctx, qImageLayers, img.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading layers of %s: %w", img.Digest, err)
	}
	var l ImageLayer
	if _, err := pgx.ForEachRow(rows, []any{&l.Position, &l.Digest, &l.Size, &l.MediaType, &l.DiffID, &l.ChainID, &l.CreatedBy, &l.Created, &l.SharedWith}, func() error {
		img.Layers = append(img.Layers, l)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading layers of %s: %w", img.Digest, err)
	}
	return img, nil
}

func (img *Image) loadManifest(ctx context.Context, db DB) (kind string, err error) {
	var os, arch, variant, config, artifactType string
	var size int64
	err = db.QueryRow(ctx, qImageManifest, img.Digest).Scan(&img.Digest, &img.MediaType, &size, &kind, &config,
		&os, &arch, &variant, &img.Created, &artifactType, &img.HistoryMismatch, &img.LayerCount, &img.Size)
	if err != nil {
		return "", fmt.Errorf("reading manifest %s: %w", img.Digest, err)
	}
	img.Platform = platform(os, arch, variant)
	if kind == "artifact" {
		return kind, fmt.Errorf("%s/%s@%s is an artifact (%s), not an image", img.Registry, img.Repository, img.Digest, artifactType)
	}
	return kind, nil
}

func pickChild(ctx context.Context, db DB, index, want string) (string, error) {
	rows, err := db.Query(ctx, qImageChildren, index)
	if err != nil {
		return "", err
	}
	var digest, os, arch, variant string
	var seen []string
	found := ""
	if _, err := pgx.ForEachRow(rows, []any{&digest, &os, &arch, &variant}, func() error {
		p := platform(os, arch, variant)
		seen = append(seen, p)
		if found == "" && (p == want || platform(os, arch, "") == want) {
			found = digest
		}
		return nil
	}); err != nil {
		return "", err
	}
	if found == "" {
		return "", fmt.Errorf("is an index with no %s image; pick one with --platform: %s", want, strings.Join(seen, ", "))
	}
	return found, nil
}

func platform(os, arch, variant string) string {
	p := os + "/" + arch
	if variant != "" {
		p += "/" + variant
	}
	return p
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
		"image:    " + name,
		fmt.Sprintf("digest:   %s", img.Digest),
	}
	if img.IndexDigest != "" {
		lines = append(lines, fmt.Sprintf("index:    %s", img.IndexDigest))
	}
	lines = append(lines,
		fmt.Sprintf("platform: %s", img.Platform),
		fmt.Sprintf("layers:   %d, %s compressed", img.LayerCount, output.Bytes(img.Size)),
	)
	if b := img.Base; b != nil {
		name := b.Repository
		if b.Tag != "" {
			name += ":" + b.Tag
		}
		if name == "" {
			name = b.Digest
		}
		line := fmt.Sprintf("base:     %s (%d layers, by %s)", name, b.Layers, b.Source)
		if b.Stale {
			line += fmt.Sprintf("; stale: %s:%s is now %s", b.Repository, b.Tag, output.Digest(b.Current))
		}
		lines = append(lines, line)
	}
	if img.HistoryMismatch != "" {
		lines = append(lines, "warning:  "+img.HistoryMismatch)
	}
	return append(lines, "")
}

// Columns implements output.Table.
func (img *Image) Columns() []output.Column {
	return output.Cols("position", "digest", "size", "shared_with", "created_by")
}

// Rows implements output.Table.
func (img *Image) Rows() [][]any {
	rows := make([][]any, 0, len(img.Layers))
	for _, l := range img.Layers {
		rows = append(rows, []any{l.Position, l.Digest, output.Bytes(l.Size), l.SharedWith, l.CreatedBy})
	}
	return rows
}

package report

import (
	"context"
	"fmt"

	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qTopShared     = sqlfiles.Query("top_shared")
	qTopSharedKept = sqlfiles.Query("top_shared_kept")
)

// SharedLayer is one row of top-shared: a layer blob and how widely it is used.
type SharedLayer struct {
	Digest       string `json:"digest"`
	DiffID       string `json:"diff_id"`
	Size         int64  `json:"size"`
	Manifests    int64  `json:"manifests"`
	Repositories int64  `json:"repositories"`
	// BytesSaved is what sharing saves over storing the layer once per
	// manifest: size × (manifests − 1).
	BytesSaved         int64    `json:"bytes_saved"`
	CreatedBy          string   `json:"created_by"`
	SampleRepositories []string `json:"sample_repositories"`
}

// TopShared ranks layers by the live image manifests and repositories using them.
type TopShared struct {
	Layers []SharedLayer `json:"layers"`
}

// TopSharedOptions select what top-shared looks at.
type TopSharedOptions struct {
	Limit        int
	Repositories repoglob.Glob
}

// LoadTopShared runs the top-shared report.
func LoadTopShared(ctx context.Context, db DB, opts TopSharedOptions) (*TopShared, error) {
	if opts.Limit <= 0 {
		return nil, fmt.Errorf("--limit must be positive, got %d", opts.Limit)
	}
	// Over the whole graph the kept per-blob counts answer; a repository
	// filter counts the matching repositories' live images afresh.
	q, args := qTopSharedKept, []any{opts.Limit}
	if !opts.Repositories.All() {
		q, args = qTopShared, []any{opts.Repositories.Regexp(), opts.Limit}
	}
	out := &TopShared{Layers: []SharedLayer{}}
	var l SharedLayer
	if err := forEach(ctx, db, "top-shared", q, args,
		[]any{&l.Digest, &l.DiffID, &l.Size, &l.Manifests, &l.Repositories, &l.BytesSaved, &l.CreatedBy, &l.SampleRepositories}, func() error {
			out.Layers = append(out.Layers, l)
			return nil
		}); err != nil {
		return nil, err
	}
	return out, nil
}

// Columns implements output.Table.
func (t *TopShared) Columns() []output.Column {
	return output.Cols("digest", "size", "manifests", "repositories", "bytes_saved", "created_by", "sample_repositories")
}

// Rows implements output.Table.
func (t *TopShared) Rows() [][]any {
	rows := make([][]any, 0, len(t.Layers))
	for _, l := range t.Layers {
		rows = append(rows, []any{l.Digest, output.Bytes(l.Size), l.Manifests, l.Repositories, output.Bytes(l.BytesSaved), l.CreatedBy, l.SampleRepositories})
	}
	return rows
}

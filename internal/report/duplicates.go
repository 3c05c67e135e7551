package report

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
)

// DuplicatesOptions select what the duplicates report looks at.
type DuplicatesOptions struct {
	// Kind is "blob", "layer" or "file".
	Kind         string
	Repositories repoglob.Glob
	Limit        int
	// MinSimilarity is the least similarity of a layer pair (kind layer).
	MinSimilarity float64
	// Exhaustive compares every pair of layers that share a file, as
	// below 0.8 similarity, instead of reading the kept pairs: for tests.
	Exhaustive bool
	// FilesInProcess is the most regular files a filter's file
	// duplicates are counted from in the process (kind file); more are
	// counted on the server. 0: DefaultFilesInProcess.
	FilesInProcess int64
}

// LoadDuplicates runs the duplicates report of the chosen kind.
func LoadDuplicates(ctx context.Context, db DB, opts DuplicatesOptions) (output.Table, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("--limit %d: give 0 (all) or more", opts.Limit)
	}
	opts.Limit = pageSize(opts.Limit)
	switch opts.Kind {
	case "blob":
		return loadBlobDuplicates(ctx, db, opts)
	case "layer":
		if opts.MinSimilarity < 0 || opts.MinSimilarity > 1 {
			return nil, fmt.Errorf("--min-similarity must be between 0 and 1, got %g", opts.MinSimilarity)
		}
		return loadLayerDuplicates(ctx, db, opts)
	case "file":
		return loadFileDuplicates(ctx, db, opts)
	}
	return nil, fmt.Errorf("unknown --kind %q: use blob, layer or file", opts.Kind)
}

// BlobEncoding is one blob a layer is stored as.
type BlobEncoding struct {
	Digest      string `json:"digest"`
	Size        int64  `json:"size"`
	MediaType   string `json:"media_type"`
	Compression string `json:"compression"`
	// Kept marks the smallest encoding, the one to keep; ExtraBytes is
	// what each other one stores again (its size).
	Kept       bool  `json:"kept"`
	ExtraBytes int64 `json:"extra_bytes"`
}

// BlobDuplicate is one layer stored under several blob digests.
type BlobDuplicate struct {
	DiffID      string `json:"diff_id"`
	StoredBytes int64  `json:"stored_bytes"`
	// BytesStoredTwice is what keeping only the smallest encoding would free.
	BytesStoredTwice int64          `json:"bytes_stored_twice"`
	Blobs            []BlobEncoding `json:"blobs"`
}

// BlobDuplicates is the duplicates report of kind blob.
type BlobDuplicates struct {
	Kind string `json:"kind"`
	// TotalLayers and BytesStoredTwice are over every layer stored more
	// than once, Layers the top --limit of them.
	TotalLayers      int64           `json:"total_layers"`
	BytesStoredTwice int64           `json:"bytes_stored_twice"`
	Layers           []BlobDuplicate `json:"layers"`
}

func loadBlobDuplicates(ctx context.Context, db DB, opts DuplicatesOptions) (*BlobDuplicates, error) {
	out := &BlobDuplicates{Kind: "blob", Layers: []BlobDuplicate{}}
	var rows []dbsqlc.DuplicatesBlobRow
	var err error
	if opts.Repositories.All() {
		// Every repository: the kept per-content figures, from an index.
		var kept []dbsqlc.DuplicatesBlobKeptRow
		var totals dbsqlc.DuplicatesBlobTotalsRow
		err = concurrently(ctx, db,
			func(ctx context.Context) (err error) {
				kept, err = queries.DuplicatesBlobKept(ctx, db, int64(opts.Limit))
				return err
			},
			func(ctx context.Context) (err error) {
				totals, err = queries.DuplicatesBlobTotals(ctx, db)
				return err
			})
		rows = mapRows(kept, func(r dbsqlc.DuplicatesBlobKeptRow) dbsqlc.DuplicatesBlobRow {
			return dbsqlc.DuplicatesBlobRow{DiffID: &r.DiffID, StoredBytes: r.StoredBytes, BytesStoredTwice: r.BytesStoredTwice,
				Digests: r.Digests, Sizes: r.Sizes, MediaTypes: r.MediaTypes}
		})
		out.TotalLayers, out.BytesStoredTwice = totals.TotalLayers, totals.TotalBytesStoredTwice
	} else {
		// One namespace's repositories: what the fold keeps per namespace;
		// other selections, their repositories' blobs.
		re := opts.Repositories.Regexp()
		ns, one, nsErr := oneNamespace(ctx, db, re, "")
		switch {
		case nsErr != nil:
			err = nsErr
		case one:
			var kept []dbsqlc.DuplicatesBlobNamespaceRow
			kept, err = queries.DuplicatesBlobNamespace(ctx, db, dbsqlc.DuplicatesBlobNamespaceParams{
				Registry: ns.Registry, Namespace: ns.Namespace, Limit: int64(opts.Limit)})
			rows = mapRows(kept, func(r dbsqlc.DuplicatesBlobNamespaceRow) dbsqlc.DuplicatesBlobRow {
				return dbsqlc.DuplicatesBlobRow{DiffID: &r.DiffID, StoredBytes: r.StoredBytes, BytesStoredTwice: r.BytesStoredTwice,
					Digests: r.Digests, Sizes: r.Sizes, MediaTypes: r.MediaTypes, TotalLayers: r.TotalLayers, TotalBytesStoredTwice: r.TotalBytesStoredTwice}
			})
		default:
			rows, err = queries.DuplicatesBlob(ctx, db, dbsqlc.DuplicatesBlobParams{Repository: re, Limit: int64(opts.Limit)})
		}
		if len(rows) > 0 { // every row carries the totals
			out.TotalLayers, out.BytesStoredTwice = rows[0].TotalLayers, rows[0].TotalBytesStoredTwice
		}
	}
	if err != nil {
		return nil, fmt.Errorf("querying blob duplicates: %w", err)
	}
	for _, r := range rows {
		d := BlobDuplicate{DiffID: value(r.DiffID), StoredBytes: r.StoredBytes, BytesStoredTwice: r.BytesStoredTwice,
			Blobs: make([]BlobEncoding, len(r.Digests))}
		for i, digest := range r.Digests { // smallest first
			d.Blobs[i] = BlobEncoding{Digest: digest, Size: r.Sizes[i], MediaType: r.MediaTypes[i], Compression: Compression(r.MediaTypes[i]), Kept: i == 0}
			if i > 0 {
				d.Blobs[i].ExtraBytes = r.Sizes[i]
			}
		}
		out.Layers = append(out.Layers, d)
	}
	return out, nil
}

// Preamble implements output.Preamble.
func (r *BlobDuplicates) Preamble() []string {
	line := fmt.Sprintf("%d layers stored under more than one blob (the same content compressed differently); keeping only the smallest of each would free %s", r.TotalLayers, output.Bytes(r.BytesStoredTwice))
	if int64(len(r.Layers)) < r.TotalLayers {
		line += fmt.Sprintf("; the %d that store the most again below (--limit)", len(r.Layers))
	}
	return []string{line, ""}
}

// Empty implements output.Empty.
func (r *BlobDuplicates) Empty() string {
	return "no layer is stored under more than one blob"
}

// Columns implements output.Table.
func (r *BlobDuplicates) Columns() []output.Column {
	return []output.Column{{Key: "diff_id", Title: "DIFF ID"}, {Key: "digest", Title: "BLOB"}, {Key: "compression"},
		{Key: "media_type", Wide: true}, {Key: "size"}, {Key: "kept"}, {Key: "extra_bytes", Title: "STORED AGAIN"}}
}

// Rows implements output.Table: one row per blob, the smallest (kept)
// first.
func (r *BlobDuplicates) Rows() [][]any {
	var rows [][]any
	for _, d := range r.Layers {
		for _, b := range d.Blobs {
			rows = append(rows, []any{output.Digest(d.DiffID), output.Digest(b.Digest), b.Compression, b.MediaType, output.Bytes(b.Size), b.Kept, output.Bytes(b.ExtraBytes)})
		}
	}
	return rows
}

// LayerSide is one layer blob of a near-duplicate pair.
type LayerSide struct {
	Digest     string
	Files      int64
	FileBytes  int64
	Repository string
	CreatedBy  string
}

// LayerDuplicate is a pair of different layers whose files match; JSON
// has its fields flat, the same keys as CSV (layer_a, repository_a, …).
type LayerDuplicate struct {
	A, B        LayerSide
	SharedFiles int64
	// BytesSaved is the bytes of the files the two share: what file-level
	// dedup would store once instead of twice.
	BytesSaved int64
	// Similarity is the share of the two layers' file bytes they share,
	// 0 to 1.
	Similarity float64
}

// MarshalJSON implements json.Marshaler: the pair as one flat object.
func (p LayerDuplicate) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"layer_a": p.A.Digest, "files_a": p.A.Files, "file_bytes_a": p.A.FileBytes, "repository_a": p.A.Repository, "created_by_a": p.A.CreatedBy,
		"layer_b": p.B.Digest, "files_b": p.B.Files, "file_bytes_b": p.B.FileBytes, "repository_b": p.B.Repository, "created_by_b": p.B.CreatedBy,
		"shared_files": p.SharedFiles, "bytes_saved": p.BytesSaved, "similarity": p.Similarity,
	})
}

// LayerDuplicates is the duplicates report of kind layer.
type LayerDuplicates struct {
	Kind          string           `json:"kind"`
	MinSimilarity float64          `json:"min_similarity"`
	Pairs         []LayerDuplicate `json:"pairs"`
}

func loadLayerDuplicates(ctx context.Context, db DB, opts DuplicatesOptions) (*LayerDuplicates, error) {
	out := &LayerDuplicates{Kind: "layer", MinSimilarity: opts.MinSimilarity, Pairs: []LayerDuplicate{}}
	if opts.MinSimilarity < nearKeysFloor || opts.Exhaustive {
		rows, err := pagesByContent(ctx, db, opts.Limit, func(limit int) ([]dbsqlc.DuplicatesLayerRow, error) {
			return queries.DuplicatesLayer(ctx, db, dbsqlc.DuplicatesLayerParams{
				Repository: opts.Repositories.Regexp(), MinSimilarity: opts.MinSimilarity, Limit: int64(limit)})
		}, func(r dbsqlc.DuplicatesLayerRow) (string, string) { return r.LayerA, r.LayerB })
		if err != nil {
			return nil, fmt.Errorf("querying layer duplicates: %w", err)
		}
		for _, r := range rows {
			out.Pairs = append(out.Pairs, LayerDuplicate{
				A:           LayerSide{Digest: r.LayerA, Files: int64(r.FilesA), FileBytes: r.FileBytesA, Repository: r.RepositoryA, CreatedBy: r.CreatedByA},
				B:           LayerSide{Digest: r.LayerB, Files: int64(r.FilesB), FileBytes: r.FileBytesB, Repository: r.RepositoryB, CreatedBy: r.CreatedByB},
				SharedFiles: r.SharedFiles, BytesSaved: r.BytesSaved, Similarity: r.Similarity,
			})
		}
		return out, nil
	}
	if err := loadNearLayers(ctx, db, opts, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Empty implements output.Empty.
func (r *LayerDuplicates) Empty() string {
	return fmt.Sprintf("no two different layers share %.0f%% of their file bytes (--min-similarity %g); layers not indexed yet are not compared", r.MinSimilarity*100, r.MinSimilarity)
}

// Columns implements output.Table.
func (r *LayerDuplicates) Columns() []output.Column {
	return []output.Column{{Key: "layer_a"}, {Key: "repository_a"}, {Key: "layer_b"}, {Key: "repository_b"},
		{Key: "similarity"}, {Key: "shared_files"}, {Key: "bytes_saved", Title: "SHARED BYTES"},
		{Key: "files_a", Wide: true}, {Key: "file_bytes_a", Wide: true}, {Key: "files_b", Wide: true}, {Key: "file_bytes_b", Wide: true},
		{Key: "created_by_a"}, {Key: "created_by_b", Wide: true}}
}

// Rows implements output.Table.
func (r *LayerDuplicates) Rows() [][]any {
	rows := make([][]any, 0, len(r.Pairs))
	for _, p := range r.Pairs {
		rows = append(rows, []any{output.Digest(p.A.Digest), p.A.Repository, output.Digest(p.B.Digest), p.B.Repository,
			output.Ratio(p.Similarity), p.SharedFiles, output.Bytes(p.BytesSaved),
			p.A.Files, output.Bytes(p.A.FileBytes), p.B.Files, output.Bytes(p.B.FileBytes), step(p.A.CreatedBy), step(p.B.CreatedBy)})
	}
	return rows
}

// FileContent is one file content stored in several places.
type FileContent struct {
	Digest     string `json:"digest"` // XXH3-128, hex; for equality only
	Size       int64  `json:"size"`
	Copies     int64  `json:"copies"`
	Layers     int64  `json:"layers"`
	ExtraBytes int64  `json:"extra_bytes"`
	SamplePath string `json:"sample_path"`
}

// FileDuplicates is the duplicates report of kind file: registry-wide
// file-level deduplication.
type FileDuplicates struct {
	Kind string `json:"kind"`
	// Layers counts the distinct indexed layer blobs of live images looked
	// at; Unindexed those not indexed yet (run scan --layers).
	Layers      int64 `json:"layers"`
	Unindexed   int64 `json:"unindexed_layers"`
	Files       int64 `json:"files"`
	TotalBytes  int64 `json:"total_bytes"`
	UniqueFiles int64 `json:"unique_files"`
	UniqueBytes int64 `json:"unique_bytes"`
	// DedupRatio is unique_bytes / total_bytes: the share of file bytes
	// that file-level dedup would keep (1 when there are none).
	DedupRatio float64       `json:"dedup_ratio"`
	Top        []FileContent `json:"top"`
}

func loadFileDuplicates(ctx context.Context, db DB, opts DuplicatesOptions) (*FileDuplicates, error) {
	if !opts.Repositories.All() { // a filter: counted afresh (duplicates_files.go)
		return countFiles(ctx, db, opts)
	}
	// Every repository: the totals and the contents the fold keeps.
	var (
		sum dbsqlc.DuplicatesFileKeptRow
		top []dbsqlc.DuplicatesFileTopKeptRow
	)
	err := concurrently(ctx, db,
		func(ctx context.Context) (err error) {
			sum, err = queries.DuplicatesFileKept(ctx, db)
			return wrap(err, "querying file duplicates")
		},
		func(ctx context.Context) (err error) {
			top, err = queries.DuplicatesFileTopKept(ctx, db, int64(opts.Limit))
			return wrap(err, "querying duplicated files")
		})
	if err != nil {
		return nil, err
	}
	out := &FileDuplicates{Kind: "file", Layers: sum.Layers, Unindexed: sum.Unindexed, Files: sum.Files, TotalBytes: sum.TotalBytes,
		UniqueFiles: sum.UniqueFiles, UniqueBytes: sum.UniqueBytes}
	return out.withTop(mapRows(top, func(c dbsqlc.DuplicatesFileTopKeptRow) FileContent { return FileContent(c) })), nil
}

// withTop sets r's dedup ratio from its totals, and its top contents; r.
func (r *FileDuplicates) withTop(top []FileContent) *FileDuplicates {
	r.DedupRatio = 1
	if r.TotalBytes > 0 {
		r.DedupRatio = float64(r.UniqueBytes) / float64(r.TotalBytes)
	}
	r.Top = append([]FileContent{}, top...)
	return r
}

// Preamble implements output.Preamble.
func (r *FileDuplicates) Preamble() []string {
	lines := []string{
		fmt.Sprintf("%d layers, %d files, %s; %d distinct contents, %s", r.Layers, r.Files, output.Bytes(r.TotalBytes), r.UniqueFiles, output.Bytes(r.UniqueBytes)),
		fmt.Sprintf("file-level dedup ratio (unique / total bytes): %s; it would save %s", output.Ratio(r.DedupRatio), output.Bytes(r.TotalBytes-r.UniqueBytes)),
	}
	if r.Unindexed > 0 {
		lines = append(lines, fmt.Sprintf("%d layers are not indexed yet and are not counted: run layerq-ingest scan --layers", r.Unindexed))
	}
	return lines
}

// Empty implements output.Empty.
func (r *FileDuplicates) Empty() string {
	return "no file content is stored more than once"
}

// Columns implements output.Table.
func (r *FileDuplicates) Columns() []output.Column {
	return []output.Column{{Key: "digest", Title: "CONTENT (XXH3)"}, {Key: "size"}, {Key: "copies"}, {Key: "layers"},
		{Key: "extra_bytes", Title: "STORED AGAIN"}, {Key: "sample_path"}}
}

// Rows implements output.Table.
func (r *FileDuplicates) Rows() [][]any {
	rows := make([][]any, 0, len(r.Top))
	for _, c := range r.Top {
		rows = append(rows, []any{output.Digest(c.Digest), output.Bytes(c.Size), c.Copies, c.Layers, output.Bytes(c.ExtraBytes), c.SamplePath})
	}
	return rows
}

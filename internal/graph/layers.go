package graph

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/listing"
	sqlfiles "github.com/layerq/layerq/sql"
)

// LayerIndex is the file index of one layer blob.
type LayerIndex struct {
	BlobDigest     string // the index's key
	DiffID         string // what the image configs claim; kept, not checked
	CompressedSize int64
	Index          *fileindex.Index
}

// PendingLayer is a layer blob that needs indexing, and a repository of
// the registry that holds it.
type PendingLayer struct {
	Digest     string
	DiffID     string
	Size       int64
	Repository string
}

// LayerRejection is a layer blob that cannot be indexed: a permanent
// verdict about its bytes.
type LayerRejection struct {
	BlobDigest string
	DiffID     string
	Registry   string
	Repository string
	Class      string
	Reason     string
}

// SaveLayerIndex stores a layer blob's index, all of its entries and its
// listing (the entries packed in one value, internal/listing) in one
// transaction, and queues the blob for its near-duplicate keys
// (ApplyLayerKeys). It reports whether it wrote anything: a blob already
// indexed (by another worker) is left as it is.
func (s *Store) SaveLayerIndex(ctx context.Context, li LayerIndex) (bool, error) {
	files, fileBytes := 0, int64(0)
	for _, e := range li.Index.Entries {
		if e.Type == fileindex.File {
			files++
			fileBytes += e.Size
		}
	}
	// The counts are integer columns (int32): the driver refused a larger
	// count, and so does this rather than wrap it.
	if len(li.Index.Entries) > math.MaxInt32 {
		return false, fmt.Errorf("writing index of layer %s: %d entries, more than an integer column holds", li.BlobDigest, len(li.Index.Entries))
	}
	packed, err := listing.Encode(li.Index.Entries, pathText)
	if err != nil {
		return false, fmt.Errorf("writing index of layer %s: %w", li.BlobDigest, err)
	}
	var wrote bool
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		inserted, err := queries.LayerIndexInsert(ctx, tx, dbsqlc.LayerIndexInsertParams{
			BlobDigest:       li.BlobDigest,
			DiffID:           li.DiffID,
			Compression:      li.Index.Compression,
			CompressedSize:   li.CompressedSize,
			UncompressedSize: li.Index.UncompressedSize,
			Entries:          int32(len(li.Index.Entries)),
			Files:            int32(files), // files <= entries
			FileBytes:        fileBytes,
		})
		if err != nil {
			return fmt.Errorf("writing index of layer %s: %w", li.BlobDigest, err)
		}
		if wrote = inserted == 1; !wrote {
			return nil
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"layer_files"},
			[]string{"blob_digest", "ordinal", "type", "path", "size", "mode", "uid", "gid", "digest", "link"},
			&entryRows{blob: li.BlobDigest, entries: li.Index.Entries, i: -1})
		if err != nil {
			return fmt.Errorf("writing entries of layer %s: %w", li.BlobDigest, err)
		}
		if int(n) != len(li.Index.Entries) {
			return fmt.Errorf("writing entries of layer %s: copied %d of %d", li.BlobDigest, n, len(li.Index.Entries))
		}
		if err := queries.LayerListingWrite(ctx, tx, dbsqlc.LayerListingWriteParams{Blobs: []string{li.BlobDigest}, Listings: [][]byte{packed}}); err != nil {
			return fmt.Errorf("writing the listing of layer %s: %w", li.BlobDigest, err)
		}
		return nil
	})
	return wrote, err
}

var qLayerIndexInsertMany = sqlfiles.Statement("layer_index_insert_many")

// SaveLayerIndexes stores many layer blobs' indexes and their entries in
// one transaction, as SaveLayerIndex does one (a blob already indexed is
// left as it is), and says how many it wrote: for bulk loads.
func (s *Store) SaveLayerIndexes(ctx context.Context, lis []LayerIndex) (int, error) {
	var (
		digests, diffIDs, compression []string
		compressed, uncompressed      []int64
		entries, files                []int32
		fileBytes                     []int64
	)
	byDigest := map[string]*LayerIndex{}
	for i := range lis {
		li := &lis[i]
		if len(li.Index.Entries) > math.MaxInt32 {
			return 0, fmt.Errorf("writing index of layer %s: %d entries, more than an integer column holds", li.BlobDigest, len(li.Index.Entries))
		}
		n, bytes := 0, int64(0)
		for _, e := range li.Index.Entries {
			if e.Type == fileindex.File {
				n++
				bytes += e.Size
			}
		}
		byDigest[li.BlobDigest] = li
		digests, diffIDs, compression = append(digests, li.BlobDigest), append(diffIDs, li.DiffID), append(compression, li.Index.Compression)
		compressed, uncompressed = append(compressed, li.CompressedSize), append(uncompressed, li.Index.UncompressedSize)
		entries, files, fileBytes = append(entries, int32(len(li.Index.Entries))), append(files, int32(n)), append(fileBytes, bytes)
	}
	wrote := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, qLayerIndexInsertMany, digests, diffIDs, compression, compressed, uncompressed, entries, files, fileBytes)
		if err != nil {
			return fmt.Errorf("writing layer indexes: %w", err)
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("writing layer indexes: %w", err)
		}
		wrote = len(inserted)
		src := &manyEntryRows{}
		for _, d := range inserted {
			li := byDigest[d]
			src.layers = append(src.layers, entryRows{blob: li.BlobDigest, entries: li.Index.Entries, i: -1})
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"layer_files"},
			[]string{"blob_digest", "ordinal", "type", "path", "size", "mode", "uid", "gid", "digest", "link"}, src)
		if err != nil {
			return fmt.Errorf("writing layer entries: %w", err)
		}
		listings := make([][]byte, len(inserted))
		for i, d := range inserted {
			if listings[i], err = listing.Encode(byDigest[d].Index.Entries, pathText); err != nil {
				return fmt.Errorf("writing index of layer %s: %w", d, err)
			}
		}
		if err := queries.LayerListingWrite(ctx, tx, dbsqlc.LayerListingWriteParams{Blobs: inserted, Listings: listings}); err != nil {
			return fmt.Errorf("writing layer listings: %w", err)
		}
		return nil
	})
	return wrote, err
}

// manyEntryRows feeds the entries of several layers to COPY, one layer
// after the other.
type manyEntryRows struct {
	layers []entryRows
}

func (r *manyEntryRows) Next() bool {
	for len(r.layers) > 0 {
		if r.layers[0].Next() {
			return true
		}
		r.layers = r.layers[1:]
	}
	return false
}
func (r *manyEntryRows) Err() error             { return nil }
func (r *manyEntryRows) Values() ([]any, error) { return r.layers[0].Values() }

// entryRows feeds index entries to COPY.
type entryRows struct {
	blob    string
	entries []fileindex.Entry
	i       int
}

func (r *entryRows) Next() bool { r.i++; return r.i < len(r.entries) }
func (r *entryRows) Err() error { return nil }
func (r *entryRows) Values() ([]any, error) {
	e := &r.entries[r.i]
	var digest []byte
	if e.Type == fileindex.File {
		digest = e.Digest[:]
	}
	var link *string
	if e.Link != "" {
		l := pathText(e.Link)
		link = &l
	}
	return []any{r.blob, int32(r.i), int16(e.Type), pathText(e.Path), e.Size, int32(e.Mode), int64(e.UID), int64(e.GID), digest, link}, nil
}

// pathText returns p as valid UTF-8 for a text column: p itself when it is,
// else with every byte that is not part of a valid sequence (and every
// backslash, so the mapping stays one to one) written as \xNN.
func pathText(p string) string {
	if utf8.ValidString(p) && !strings.Contains(p, `\x`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		switch {
		case r == utf8.RuneError && n <= 1, p[i] == '\\':
			fmt.Fprintf(&b, `\x%02x`, p[i])
			i++
		default:
			b.WriteString(p[i : i+n])
			i += n
		}
	}
	return b.String()
}

// RejectLayer records that a layer blob cannot be indexed.
func (s *Store) RejectLayer(ctx context.Context, r LayerRejection) error {
	err := queries.LayerReject(ctx, s.pool, dbsqlc.LayerRejectParams{
		BlobDigest: r.BlobDigest,
		DiffID:     r.DiffID,
		Registry:   r.Registry,
		Repository: r.Repository,
		Class:      r.Class,
		Reason:     r.Reason,
	})
	if err != nil {
		return fmt.Errorf("recording rejection of layer %s: %w", r.BlobDigest, err)
	}
	return nil
}

// LayerDone reports whether a layer blob needs no more work: it is indexed
// or rejected.
func (s *Store) LayerDone(ctx context.Context, blobDigest string) (bool, error) {
	done, err := queries.LayerDone(ctx, s.pool, blobDigest)
	if err != nil {
		return false, fmt.Errorf("looking up layer %s: %w", blobDigest, dbsqlc.Interpret(err))
	}
	if done == nil { // EXISTS OR EXISTS is never NULL
		return false, fmt.Errorf("looking up layer %s: %w", blobDigest, errNull)
	}
	return *done, nil
}

// PendingLayers lists the layer blobs of live images in a registry's
// repositories matching repoRegexp that are neither indexed nor rejected,
// each once.
func (s *Store) PendingLayers(ctx context.Context, registry, repoRegexp string) ([]PendingLayer, error) {
	rows, err := queries.LayersPending(ctx, s.pool, dbsqlc.LayersPendingParams{Registry: registry, RepositoryRegexp: repoRegexp})
	if err != nil {
		return nil, fmt.Errorf("listing layers to index: %w", err)
	}
	var out []PendingLayer
	for _, r := range rows {
		if r.DiffID == nil { // the query keeps only blobs with a diff ID
			return nil, fmt.Errorf("listing layers to index: layer %s: %w", r.Digest, errNull)
		}
		out = append(out, PendingLayer{Digest: r.Digest, DiffID: *r.DiffID, Size: r.Size, Repository: r.Repository})
	}
	return out, nil
}

// LayerIndexCount is how many layer blobs the file index holds.
func (s *Store) LayerIndexCount(ctx context.Context) (int, error) {
	n, err := queries.LayerIndexCount(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("counting indexed layers: %w", dbsqlc.Interpret(err))
	}
	return int(n), nil
}

// UnindexedLayers returns those of the blob digests that are neither
// indexed nor rejected.
func (s *Store) UnindexedLayers(ctx context.Context, digests []string) (map[string]bool, error) {
	unindexed, err := queries.LayersUnindexed(ctx, s.pool, digests)
	if err != nil {
		return nil, fmt.Errorf("looking up layers: %w", err)
	}
	out := make(map[string]bool, len(unindexed))
	for _, d := range unindexed {
		out[d] = true
	}
	return out, nil
}

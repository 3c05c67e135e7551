package report

import (
	"context"
	"fmt"

	"github.com/layerq/layerq/internal/fileindex"
)

// layerTars reads which of the layer blobs blobs have a file index, and
// the bytes of each one's tar: for the reports that compare final
// filesystems or uncompressed sizes (diff, growth, find).
func layerTars(ctx context.Context, db DB, blobs []string) (map[string]int64, error) {
	rows, err := queries.LayerSizes(ctx, db, blobs)
	if err != nil {
		return nil, fmt.Errorf("reading layer indexes: %w", err)
	}
	tars := make(map[string]int64, len(rows))
	for _, r := range rows {
		tars[r.BlobDigest] = r.UncompressedSize
	}
	return tars, nil
}

// stackOf is an image's layers' file indexes, bottom first, from cache
// (which must hold them); nil when tars says a layer has none.
func stackOf(cache *entryCache, tars map[string]int64, ls []ImageLayer) [][]fileindex.Entry {
	out := make([][]fileindex.Entry, len(ls))
	for i, l := range ls {
		if _, ok := tars[l.Digest]; !ok {
			return nil
		}
		out[i] = cache.entries[l.Digest]
	}
	return out
}

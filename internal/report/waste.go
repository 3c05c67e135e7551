package report

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/graph"
	sqlfiles "github.com/layerq/layerq/sql"
)

var qWastePending = sqlfiles.Query("waste_pending")

// PendingWaste works out the waste of up to limit live image manifests
// whose layers are all indexed and whose waste is not stored yet, with the
// bloat report's analysis, for graph.Store.SaveWaste. Rejected layers keep
// an image out, as the bloat report leaves it out.
func PendingWaste(ctx context.Context, db DB, limit int) ([]graph.ImageWaste, error) {
	rows, err := db.Query(ctx, qWastePending, limit)
	if err != nil {
		return nil, fmt.Errorf("querying images to analyze: %w", err)
	}
	digests, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(digests) == 0 {
		return nil, err
	}
	rows, err = db.Query(ctx, qBloatLayers, digests, make([]int64, len(digests)))
	if err != nil {
		return nil, fmt.Errorf("querying layers: %w", err)
	}
	type image struct {
		layers   []dedup.Layer
		blobs    []string
		rejected bool
	}
	images := map[string]*image{}
	var (
		mdigest          string
		repoID           int64
		l                dedup.Layer
		uncompressed     *int64
		rejected, inBase bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&mdigest, &repoID, &l.Position, &l.Digest, &l.MediaType, &l.Size, &l.CreatedBy, &uncompressed, &rejected, &inBase}, func() error {
		img := images[mdigest]
		if img == nil {
			img = &image{}
			images[mdigest] = img
		}
		c := l
		if uncompressed == nil || rejected {
			img.rejected = true
		} else {
			c.UncompressedSize = *uncompressed
		}
		img.layers = append(img.layers, c)
		img.blobs = append(img.blobs, l.Digest)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading layers: %w", err)
	}
	cache := newEntryCache(db, maxCachedEntries)
	var out []graph.ImageWaste
	for _, d := range digests {
		img := images[d]
		if img == nil || img.rejected {
			continue
		}
		if err := cache.load(ctx, img.blobs); err != nil {
			return nil, err
		}
		for j := range img.layers {
			img.layers[j].Entries = cache.entries[img.blobs[j]]
		}
		a := dedup.Analyze(img.layers, dedup.Options{})
		out = append(out, graph.ImageWaste{Digest: d, Layers: len(img.layers), WastedBytes: a.WastedBytes,
			WastedCompressedBytes: a.WastedCompressedBytes, FinalFiles: a.FinalFiles, FinalBytes: a.FinalBytes})
	}
	return out, nil
}

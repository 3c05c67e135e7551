package report

import (
	"context"
	"fmt"

	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/graph"
)

// PendingWaste works out the waste of up to limit live image manifests
// whose layers are all indexed and whose waste is not stored yet, with the
// bloat report's analysis, for graph.Store.SaveWaste. Rejected layers keep
// an image out, as the bloat report leaves it out.
func PendingWaste(ctx context.Context, db DB, limit int) ([]graph.ImageWaste, error) {
	digests, err := queries.WastePending(ctx, db, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("querying images to analyze: %w", err)
	}
	if len(digests) == 0 {
		return nil, nil
	}
	type image struct {
		layers   []dedup.Layer
		blobs    []string
		rejected bool
	}
	images := map[string]*image{}
	if err := forEachLayer(ctx, db, digests, make([]int64, len(digests)), func(r layerRow) error {
		img := images[r.manifest]
		if img == nil {
			img = &image{}
			images[r.manifest] = img
		}
		img.rejected = img.rejected || !r.indexed
		img.layers = append(img.layers, r.layer)
		img.blobs = append(img.blobs, r.layer.Digest)
		return nil
	}); err != nil {
		return nil, err
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

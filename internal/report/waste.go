package report

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
)

// PendingWaste works out the waste of up to limit live image manifests
// that the fold found ready (every layer indexed, none refused) and that
// are not analyzed yet, with the bloat report's analysis, for
// graph.Store.SaveWaste.
func PendingWaste(ctx context.Context, db DB, limit int) ([]graph.ImageWaste, error) {
	return pendingWaste(ctx, db, selection{re: repoglob.Compile("").Regexp()}, limit)
}

// pendingWaste is PendingWaste for the images sel selects.
func pendingWaste(ctx context.Context, db DB, sel selection, limit int) ([]graph.ImageWaste, error) {
	digests, err := queries.WastePending(ctx, db, dbsqlc.WastePendingParams{Repository: sel.re, Registry: sel.registry, Digests: sel.digests, Limit: int64(limit)})
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
		w, err := WasteOf(d, img.layers)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// WasteStore is where SettleWaste keeps what it works out
// (graph.Store).
type WasteStore interface {
	SaveWaste(ctx context.Context, ws []graph.ImageWaste) error
	ApplyAggregates(ctx context.Context) (int, error)
}

// SettleWaste works out and saves the waste of every image opts selects
// that is ready and not analyzed yet, then folds it into the totals the
// bloat report reads, so the report that follows judges those images: what
// serve does in the background, for a report run before it got there. It
// folds first, and stops at the first error of the store (graph.ErrReadOnly
// or one wrapping dbsqlc.ErrPermission for a read-only role: the report
// then leaves those images out as not analyzed yet).
//
// max bounds the images it works out (0: every one), so a report over a
// registry whose analysis serve has not caught up with (after an upgrade,
// say) answers in bounded time and leaves the rest waiting.
func SettleWaste(ctx context.Context, db DB, opts BloatOptions, store WasteStore, max int) error {
	return SettleWasteProgress(ctx, db, opts, store, max, nil)
}

// SettleWasteProgress is SettleWaste telling progress, when it is not nil,
// how many images it has analyzed and saved so far, after each batch: the
// images of a large registry indexed at once take minutes.
func SettleWasteProgress(ctx context.Context, db DB, opts BloatOptions, store WasteStore, max int, progress func(saved int)) error {
	// A role that may not fold may not save either: nothing to work out.
	if _, err := store.ApplyAggregates(ctx); err != nil {
		return err
	}
	sel, err := opts.selection(ctx, db)
	if err != nil {
		return err
	}
	const batch = 500
	saved := 0
	for max == 0 || saved < max {
		n := batch
		if max > 0 {
			n = min(batch, max-saved)
		}
		ws, err := pendingWaste(ctx, db, sel, n)
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			break
		}
		if err := store.SaveWaste(ctx, ws); err != nil {
			return err
		}
		saved += len(ws)
		if progress != nil {
			progress(saved)
		}
	}
	if saved > 0 {
		if _, err := store.ApplyAggregates(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WasteOf is the waste analysis of one image manifest from its layers
// (bottom first, each with its file index and uncompressed size), as
// image_waste keeps it.
func WasteOf(digest string, layers []dedup.Layer) (graph.ImageWaste, error) {
	f := dedup.Find(layers, dedup.Options{})
	a := dedup.Name(layers, f, dedup.Options{})
	pairs, err := json.Marshal(f.Hidden)
	if err != nil {
		return graph.ImageWaste{}, err
	}
	return graph.ImageWaste{Digest: digest, Layers: len(layers), WastedBytes: a.WastedBytes,
		WastedCompressedBytes: a.WastedCompressedBytes, FinalFiles: a.FinalFiles, FinalBytes: a.FinalBytes, Pairs: pairs}, nil
}

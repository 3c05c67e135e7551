package synth

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/report"
)

// entries is the file index of layer l (see files.go).
func (l layer) entries() []fileindex.Entry {
	if l.base {
		return baseEntries(l.k, l.b, l.step, l.n, l.derived)
	}
	return appEntries(l.step, l.key, l.parent)
}

// tarSize is the size of the tar a layer's entries make: a 512-byte
// header each, file contents padded to 512, two zero blocks at the end.
func tarSize(es []fileindex.Entry) int64 {
	n := int64(1024)
	for _, e := range es {
		n += 512 + (e.Size+511)/512*512
	}
	return n
}

// writeFiles gives every layer blob of images its file index, folds (the
// images' index state), works out the layers' near-duplicate keys, then
// works out and stores the waste of every live
// image, as serve does once an image's last layer is indexed.
func writeFiles(ctx context.Context, store *graph.Store, images []*image, sum *Summary, logf func(string, ...any)) error {
	phase := time.Now()
	byKey := map[string]*fileindex.Index{}
	var batch []graph.LayerIndex
	seen := map[string]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := store.SaveLayerIndexes(ctx, batch); err != nil {
			return fmt.Errorf("layer indexes: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for _, img := range images {
		for _, l := range img.layers {
			if seen[l.blob] {
				continue
			}
			seen[l.blob] = true
			idx := byKey[l.key]
			if idx == nil {
				es := l.entries()
				idx = &fileindex.Index{Entries: es, UncompressedSize: tarSize(es), Compression: "gzip"}
				byKey[l.key] = idx
			}
			if l.zstd { // the same entries, another compression
				c := *idx
				c.Compression = "zstd"
				idx = &c
			}
			batch = append(batch, graph.LayerIndex{BlobDigest: l.blob, DiffID: l.diffID, CompressedSize: l.size, Index: idx})
			sum.IndexedLayers++
			sum.Entries += len(idx.Entries)
			if len(batch) == 2000 {
				if err := flush(); err != nil {
					return err
				}
				logf("layer indexes: %d layers, %d entries: %s", sum.IndexedLayers, sum.Entries, time.Since(phase).Round(time.Millisecond))
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	logf("layer indexes done: %d layers, %d entries: %s", sum.IndexedLayers, sum.Entries, time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	if _, err := store.ApplyAggregates(ctx); err != nil {
		return fmt.Errorf("applying the aggregates: %w", err)
	}
	logf("index state folded: %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	if _, err := store.ApplyLayerKeys(ctx); err != nil {
		return fmt.Errorf("the layers' near-duplicate keys: %w", err)
	}
	logf("near-duplicate keys: %s", time.Since(phase).Round(time.Millisecond))

	// The waste of every live image, on every core.
	phase = time.Now()
	var live []*image
	for _, img := range images {
		if !img.deleted {
			live = append(live, img)
		}
	}
	const per = 500
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for lo := 0; lo < len(live); lo += per {
		chunk := live[lo:min(lo+per, len(live))]
		g.Go(func() error {
			ws := make([]graph.ImageWaste, 0, len(chunk))
			for _, img := range chunk {
				layers := make([]dedup.Layer, len(img.layers))
				for p, l := range img.layers {
					idx := byKey[l.key]
					layers[p] = dedup.Layer{Position: p, Digest: l.blob, MediaType: l.mediaType(), Size: l.size,
						UncompressedSize: idx.UncompressedSize, CreatedBy: l.createdBy, Entries: idx.Entries}
				}
				w, err := report.WasteOf(img.digest, layers)
				if err != nil {
					return err
				}
				ws = append(ws, w)
			}
			return store.SaveWaste(gctx, ws)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("image waste: %w", err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil { // the bloat totals
		return fmt.Errorf("applying the aggregates: %w", err)
	}
	logf("image waste of %d images: %s", len(live), time.Since(phase).Round(time.Millisecond))
	return nil
}

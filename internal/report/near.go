package report

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
)

// nearKeysFloor is the least --min-similarity the kept pairs serve
// (layer_pairs holds every pair of indexed layers at least 0.8 similar,
// migration 00014); below it the report compares every pair of layers
// that share a file.
const nearKeysFloor = 0.8

// LayerKeysStore works out the near-duplicate keys of the layers indexed
// since they were last worked out (graph.Store).
type LayerKeysStore interface {
	ApplyLayerKeys(ctx context.Context) (int, error)
	QueuedLayerKeys(ctx context.Context) (int64, error)
}

// SettleNearLayers works out the near-duplicate keys of the layers
// indexed since serve or a scan last did, when the report opts describes
// reads them (--kind layer at nearKeysFloor or more), so that it compares
// those layers too. When some are left uncompared (a read-only role or a
// standby may not work them out, or it failed), note says so for the
// user: the report still runs, on the pairs kept so far.
func SettleNearLayers(ctx context.Context, opts DuplicatesOptions, store LayerKeysStore) (note string, err error) {
	if opts.Kind != "layer" || opts.MinSimilarity < nearKeysFloor || opts.Exhaustive {
		return "", nil
	}
	_, err = store.ApplyLayerKeys(ctx)
	if err == nil || ctx.Err() != nil {
		return "", err
	}
	left, qerr := store.QueuedLayerKeys(ctx)
	if qerr != nil || left == 0 {
		return "", qerr
	}
	layers := output.Count(left, "layer", "layers")
	switch {
	case errors.Is(err, graph.ErrStandby):
		return fmt.Sprintf("%s indexed since the primary last worked out near-duplicate keys not compared yet (a standby does not)", layers), nil
	case errors.Is(err, graph.ErrReadOnly):
		return fmt.Sprintf("%s indexed since layerq-ingest serve or scan --layers last worked out near-duplicate keys not compared yet (a read-only role does not)", layers), nil
	}
	return fmt.Sprintf("%s not compared yet: %v", layers, err), nil
}

// loadNearLayers is the layer duplicates report from the kept pairs: the
// top pairs of live layers at least opts.MinSimilarity (>= nearKeysFloor)
// similar, with what the report shows of each layer.
func loadNearLayers(ctx context.Context, db DB, opts DuplicatesOptions, out *LayerDuplicates) error {
	var fetch func(limit int) ([]dbsqlc.LayerPair, error)
	if opts.Repositories.All() {
		fetch = func(limit int) ([]dbsqlc.LayerPair, error) {
			return queries.NearLayers(ctx, db, dbsqlc.NearLayersParams{MinSimilarity: opts.MinSimilarity, PageLimit: int64(limit)})
		}
	} else if ns, one, err := oneNamespace(ctx, db, opts.Repositories.Regexp(), ""); err != nil {
		return fmt.Errorf("querying layer duplicates: %w", err)
	} else if one { // one namespace's repositories: the blobs kept per namespace
		fetch = func(limit int) ([]dbsqlc.LayerPair, error) {
			return queries.NearLayersNamespace(ctx, db, dbsqlc.NearLayersNamespaceParams{
				Registry: ns.Registry, Namespace: ns.Namespace, MinSimilarity: opts.MinSimilarity, PageLimit: int64(limit)})
		}
	} else {
		fetch = func(limit int) ([]dbsqlc.LayerPair, error) {
			in, err := queries.NearLayersIn(ctx, db, dbsqlc.NearLayersInParams{
				Repository: opts.Repositories.Regexp(), MinSimilarity: opts.MinSimilarity, PageLimit: int64(limit)})
			return mapRows(in, func(r dbsqlc.NearLayersInRow) dbsqlc.LayerPair { return dbsqlc.LayerPair(r) }), err
		}
	}
	pairs, err := pagesByContent(ctx, db, opts.Limit, fetch, func(p dbsqlc.LayerPair) (string, string) { return p.LayerA, p.LayerB })
	if err != nil {
		return fmt.Errorf("querying layer duplicates: %w", err)
	}
	if len(pairs) == 0 {
		return nil
	}
	var digests []string
	for _, p := range pairs {
		digests = append(digests, p.LayerA, p.LayerB)
	}
	rows, err := queries.NearLayersSides(ctx, db, digests)
	if err != nil {
		return fmt.Errorf("querying the layers of near-duplicate pairs: %w", err)
	}
	sides := make(map[string]LayerSide, len(rows))
	for _, r := range rows {
		sides[r.BlobDigest] = LayerSide{Digest: r.BlobDigest, Files: int64(r.Files), FileBytes: r.FileBytes, Repository: r.Repository, CreatedBy: r.CreatedBy}
	}
	for _, p := range pairs {
		out.Pairs = append(out.Pairs, LayerDuplicate{A: sides[p.LayerA], B: sides[p.LayerB], SharedFiles: p.SharedFiles, BytesSaved: p.SharedBytes, Similarity: p.Similarity})
	}
	return nil
}

// pagesByContent reads pairs of layer blobs in their rank order, limit
// at a time and more while some are left out, and keeps the first limit
// pairs of distinct contents: a pair whose sides are two contents already
// paired (another encoding of one side, a gzip and a zstd copy say) is
// left out, so a pair of layers is listed, and its bytes counted, once.
//
// Each further read runs the query again from the top, for twice as many
// and the limit more: copies are few, so one more read is the most a page
// usually takes.
func pagesByContent[T any](ctx context.Context, db DB, limit int, fetch func(limit int) ([]T, error), sides func(T) (a, b string)) ([]T, error) {
	limit = pageSize(limit)
	n := limit
	for {
		page, err := fetch(n)
		if err != nil {
			return nil, err
		}
		var digests []string
		for _, p := range page {
			a, b := sides(p)
			digests = append(digests, a, b)
		}
		rows, err := queries.LayerContents(ctx, db, digests)
		if err != nil {
			return nil, err
		}
		content := make(map[string]string, len(rows))
		for _, r := range rows {
			content[r.Digest] = r.Content
		}
		of := func(d string) string {
			if c, ok := content[d]; ok {
				return c
			}
			return d
		}
		seen := map[[2]string]bool{}
		kept := make([]T, 0, min(len(page), limit))
		for _, p := range page {
			a, b := sides(p)
			key := [2]string{of(a), of(b)}
			if key[0] > key[1] {
				key[0], key[1] = key[1], key[0]
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			if kept = append(kept, p); len(kept) == limit {
				return kept, nil
			}
		}
		if len(page) < n || n >= math.MaxInt32 { // every pair read
			return kept, nil
		}
		n = int(min(2*int64(n)+int64(limit), math.MaxInt32))
	}
}

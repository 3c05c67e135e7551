package report

import (
	"context"
	"fmt"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// nearKeysFloor is the least --min-similarity the kept pairs serve
// (layer_pairs holds every pair of indexed layers at least 0.8 similar,
// migration 00014); below it the report compares every pair of layers
// that share a file.
const nearKeysFloor = 0.8

// loadNearLayers is the layer duplicates report from the kept pairs: the
// top pairs of live layers at least opts.MinSimilarity (>= nearKeysFloor)
// similar, with what the report shows of each layer.
func loadNearLayers(ctx context.Context, db DB, opts DuplicatesOptions, out *LayerDuplicates) error {
	var pairs []dbsqlc.LayerPair
	var err error
	if opts.Repositories.All() {
		pairs, err = queries.NearLayers(ctx, db, dbsqlc.NearLayersParams{MinSimilarity: opts.MinSimilarity, PageLimit: int64(opts.Limit)})
	} else {
		pairs, err = queries.NearLayersIn(ctx, db, dbsqlc.NearLayersInParams{
			Repository: opts.Repositories.Regexp(), MinSimilarity: opts.MinSimilarity, PageLimit: int64(opts.Limit)})
	}
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

package graph

import (
	"context"

	"github.com/layerq/layerq/internal/dbsqlc"
	sqlfiles "github.com/layerq/layerq/sql"
)

var qWasteInsert = sqlfiles.Statement("waste_insert")

// ImageWaste is the bloat analysis of one image manifest that depends on
// its layers alone (see the image_waste table): its totals, and the pairs
// of layers that hid bytes, before they are named.
type ImageWaste struct {
	Digest                string
	Layers                int
	WastedBytes           int64
	WastedCompressedBytes int64
	FinalFiles            int
	FinalBytes            int64
	// Pairs is the pairs of layers that hid bytes, before they are named
	// (dedup.Hidden, as JSON); nil: none.
	Pairs []byte
}

// SaveWaste stores image waste, a manifest already stored left as is (the
// next fold takes the manifests off the images waiting for the analysis,
// and into the bloat totals). A role
// that may not write gets an error wrapping dbsqlc.ErrPermission.
func (s *Store) SaveWaste(ctx context.Context, ws []ImageWaste) error {
	if len(ws) == 0 {
		return nil
	}
	var (
		digests              []string
		layers, files        []int32
		wasted, compr, final []int64
		pairs                []string
	)
	for _, w := range ws {
		digests = append(digests, w.Digest)
		layers = append(layers, int32(w.Layers))
		wasted = append(wasted, w.WastedBytes)
		compr = append(compr, w.WastedCompressedBytes)
		files = append(files, int32(w.FinalFiles))
		final = append(final, w.FinalBytes)
		p := string(w.Pairs)
		if w.Pairs == nil {
			p = "[]"
		}
		pairs = append(pairs, p)
	}
	_, err := s.pool.Exec(ctx, qWasteInsert, digests, layers, wasted, compr, files, final, pairs)
	return dbsqlc.Interpret(err)
}

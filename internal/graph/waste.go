package graph

import (
	"context"

	sqlfiles "github.com/layerq/layerq/sql"
)

var qWasteInsert = sqlfiles.Statement("waste_insert")

// ImageWaste is the bloat analysis of one image manifest that depends on
// its layers alone (see the image_waste table).
type ImageWaste struct {
	Digest                string
	Layers                int
	WastedBytes           int64
	WastedCompressedBytes int64
	FinalFiles            int
	FinalBytes            int64
}

// SaveWaste stores image waste; a manifest already stored is left as is.
func (s *Store) SaveWaste(ctx context.Context, ws []ImageWaste) error {
	if len(ws) == 0 {
		return nil
	}
	var (
		digests              []string
		layers, files        []int32
		wasted, compr, final []int64
	)
	for _, w := range ws {
		digests = append(digests, w.Digest)
		layers = append(layers, int32(w.Layers))
		wasted = append(wasted, w.WastedBytes)
		compr = append(compr, w.WastedCompressedBytes)
		files = append(files, int32(w.FinalFiles))
		final = append(final, w.FinalBytes)
	}
	_, err := s.pool.Exec(ctx, qWasteInsert, digests, layers, wasted, compr, files, final)
	return err
}

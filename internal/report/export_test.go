package report

import (
	"context"

	"github.com/layerq/layerq/internal/layerscan"
)

// LayerEntries reads the file index entries of blobs as the reports do.
func LayerEntries(ctx context.Context, db DB, blobs []string) (map[string][]layerscan.Entry, error) {
	c := newEntryCache(db, maxCachedEntries)
	err := c.load(ctx, blobs)
	return c.entries, err
}

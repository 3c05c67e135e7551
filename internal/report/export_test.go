package report

import (
	"context"

	"github.com/layerq/layerq/internal/fileindex"
)

// LayerEntries reads the file index entries of blobs as the reports do.
func LayerEntries(ctx context.Context, db DB, blobs []string) (map[string][]fileindex.Entry, error) {
	c := newEntryCache(db, maxCachedEntries)
	err := c.load(ctx, blobs)
	return c.entries, err
}

// OneNamespace says which registry and namespace a repository glob's
// repositories are exactly, if any, and the manifests in two of them.
func OneNamespace(ctx context.Context, db DB, glob, registry string) (reg, namespace string, shared int32, ok bool, err error) {
	ns, ok, err := oneNamespace(ctx, db, glob, registry)
	return ns.Registry, ns.Namespace, ns.SharedManifests, ok, err
}

// PathPattern is a path glob as find reads it: the name's LIKE pattern,
// the reversed name's, and the path's regexp.
var PathPattern = pathPattern

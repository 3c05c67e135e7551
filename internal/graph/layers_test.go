package graph_test

import (
	"context"
	"slices"
	"testing"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// SaveLayerIndexes writes what SaveLayerIndex writes, layer by layer, and
// leaves a layer already indexed as it is.
func TestSaveLayerIndexesAsOneByOne(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	file := func(path, content string, size int64) layerscan.Entry {
		e := layerscan.Entry{Path: path, Type: layerscan.File, Size: size, Mode: 0o644, UID: 1000, GID: 1000}
		copy(e.Digest[:], digest(content))
		return e
	}
	index := func(n int) *layerscan.Index {
		es := []layerscan.Entry{{Path: "etc", Type: layerscan.Dir, Mode: 0o755}, {Path: "etc/gone", Type: layerscan.Whiteout},
			{Path: "bin/sh", Type: layerscan.Symlink, Mode: 0o777, Link: "/bin/busybox"}, {Path: "etc/\xff", Type: layerscan.File, Size: 3}}
		for i := range n {
			es = append(es, file("etc/f"+string(rune('a'+i)), "c"+string(rune('a'+i)), int64(10*i)))
		}
		return &layerscan.Index{Entries: es, UncompressedSize: 4096, Compression: "gzip"}
	}
	if _, err := store.SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: "sha256:one", DiffID: "sha256:d1", CompressedSize: 100, Index: index(3)}); err != nil {
		t.Fatal(err)
	}
	wrote, err := store.SaveLayerIndexes(ctx, []graph.LayerIndex{
		{BlobDigest: "sha256:many", DiffID: "sha256:d1", CompressedSize: 100, Index: index(3)},
		{BlobDigest: "sha256:other", CompressedSize: 50, Index: index(5)},
		{BlobDigest: "sha256:one", CompressedSize: 1, Index: index(0)}, // indexed already: left as is
	})
	if err != nil || wrote != 2 {
		t.Fatalf("SaveLayerIndexes wrote %d (%v), want 2", wrote, err)
	}
	const files = `SELECT ordinal, type, path, size, mode, uid, gid, digest, link FROM layer_files WHERE blob_digest = $1 ORDER BY ordinal`
	const idx = `SELECT diff_id, compression, compressed_size, uncompressed_size, entries, files, file_bytes FROM layer_indexes WHERE blob_digest = $1`
	if one, many := rows(t, pool, files, "sha256:one"), rows(t, pool, files, "sha256:many"); len(one) != 7 || !slices.Equal(one, many) {
		t.Errorf("entries one by one:\n%v\nin a batch:\n%v", one, many)
	}
	if one, many := rows(t, pool, idx, "sha256:one"), rows(t, pool, idx, "sha256:many"); !slices.Equal(one, many) {
		t.Errorf("index row one by one %v, in a batch %v", one, many)
	}
	if other := rows(t, pool, files, "sha256:other"); len(other) != 9 {
		t.Errorf("%d entries of the second layer, want 9", len(other))
	}
}

package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// A blob written without a diff_id (an artifact's layer, or an image's
// layer no config names) whose diff_id a later config gives: what the fold
// counted under the blob's digest moves to the diff_id, per repository, per
// namespace, over the registry and in the duplicated encodings, and every
// aggregate equals its definition after it and after a delete.
func TestDiffIDLearnedLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)

	base := imageOf("learn", "os-l", "app-l")
	zs := zstdCopy(base) // the same contents, other blobs
	// An image holding zs's second blob with no diff_id named for it, and
	// an artifact holding its first.
	nodiff := zstdCopy(base)
	nodiff.Digest, nodiff.ConfigDigest = digest("manifest learn nodiff"), digest("config learn nodiff")
	nodiff.Layers[1].DiffID = ""
	art := image.Manifest{Digest: digest("artifact learn"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 400,
		Kind: image.KindArtifact, ConfigDigest: digest("artifact learn config"), ConfigSize: 2, ArtifactType: "application/x-test",
		Layers: []image.Layer{{Digest: zs.Layers[0].Digest, Size: zs.Layers[0].Size, MediaType: "application/octet-stream", HistoryIndex: -1}}}

	if err := store.Ingest(ctx, []image.Observation{
		obs("team-x/app", "1", t0, base), obs("team-x/nodiff", "1", t0, nodiff), obs("other/nodiff", "1", t0, nodiff),
		obs("team-y/arts", "1", t0, art),
	}); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var unnamed int
	if err := pool.QueryRow(ctx, `SELECT images FROM content_usage WHERE content = $1`, nodiff.Layers[1].Digest).Scan(&unnamed); err != nil || unnamed != 1 {
		t.Fatalf("before its diff_id is known, %s is counted in %d images (%v); want 1", nodiff.Layers[1].Digest, unnamed, err)
	}

	// zs names both blobs' diff_ids.
	if err := store.Ingest(ctx, []image.Observation{obs("team-z/zs", "1", t0.Add(time.Minute), zs)}); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var learned, underDigest, nsEncodings, regEncodings int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM blobs WHERE digest = ANY ($1) AND diff_id IS NOT NULL),
		(SELECT coalesce(sum(images), 0) FROM content_usage WHERE content = ANY ($1)),
		(SELECT coalesce(max(encodings), 0) FROM namespace_duplicate_blobs WHERE namespace = 'team-x' AND content = $2),
		(SELECT coalesce(max(encodings), 0) FROM registry_contents WHERE content = $2)`,
		[]string{zs.Layers[0].Digest, zs.Layers[1].Digest}, base.Layers[1].DiffID).Scan(&learned, &underDigest, &nsEncodings, &regEncodings); err != nil {
		t.Fatal(err)
	}
	if learned != 2 || underDigest != 0 || nsEncodings != 2 || regEncodings != 2 {
		t.Errorf("after zs: %d of its blobs with a diff_id, %d images counted under their digests, team-x holds %s under %d blobs and the registry under %d; want 2, 0, 2, 2",
			learned, underDigest, base.Layers[1].DiffID, nsEncodings, regEncodings)
	}

	// A delete folded after the change counts under the diff_id.
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "team-x/nodiff", nodiff.Digest, t0.Add(2*time.Minute), "test", "learn"); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
}

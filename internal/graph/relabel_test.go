package graph_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// Blobs written without a diff_id (images' layers no config names, an
// artifact's layer) whose diff_id later configs give: what the fold
// counted under each blob's digest moves to its diff_id, per repository,
// per namespace, over the registry and in the duplicated encodings, and
// every aggregate equals its definition after it, with a delete folded in
// the same fold and one after. Two encodings of one layer learn their
// diff_id in the same fold, and an uncompressed layer (its diff_id is its
// digest: its content stays) becomes an encoding of its content.
func TestDiffIDLearnedLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)

	base := imageOf("learn", "os-l", "app-l")
	// The same contents in two other encodings, first in images whose
	// configs name no diff_id, then in images whose configs do.
	unnamed := func(m image.Manifest, name string) image.Manifest {
		m.Digest, m.ConfigDigest = digest("manifest "+name), digest("config "+name)
		m.Layers = slices.Clone(m.Layers)
		for i := range m.Layers {
			m.Layers[i].DiffID = ""
		}
		return m
	}
	zs, gz9 := zstdCopy(base), recompressed(base, "gzip -9", 9, 10, "application/vnd.oci.image.layer.v1.tar+gzip")
	zsUnnamed, gz9Unnamed := unnamed(zs, "learn zstd unnamed"), unnamed(gz9, "learn gzip-9 unnamed")
	// A gzip layer, and the same layer uncompressed, first as an artifact's
	// layer and later in an image.
	gz := imageOf("learn-u", "os-l", "unc-l")
	unc := gz
	unc.Digest, unc.ConfigDigest = digest("manifest learn unc"), digest("config learn unc")
	unc.Layers = slices.Clone(gz.Layers)
	unc.Layers[1].Digest, unc.Layers[1].MediaType = unc.Layers[1].DiffID, "application/vnd.oci.image.layer.v1.tar"
	art := image.Manifest{Digest: digest("artifact learn"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 400,
		Kind: image.KindArtifact, ConfigDigest: digest("artifact learn config"), ConfigSize: 2, ArtifactType: "application/x-test",
		Layers: []image.Layer{{Digest: unc.Layers[1].Digest, Size: unc.Layers[1].Size, MediaType: "application/octet-stream", HistoryIndex: -1}}}

	if err := store.Ingest(ctx, []image.Observation{
		obs("team-x/app", "1", t0, base), obs("team-x/zs", "1", t0, zsUnnamed), obs("other/zs", "1", t0, zsUnnamed),
		obs("team-x/gz9", "1", t0, gz9Unnamed), obs("team-y/gz", "1", t0, gz), obs("team-y/arts", "1", t0, art),
	}); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var unnamedImages, unnamedRepositories int
	if err := pool.QueryRow(ctx, `SELECT images, repositories FROM content_usage WHERE content = $1`, zs.Layers[1].Digest).Scan(&unnamedImages, &unnamedRepositories); err != nil ||
		unnamedImages != 1 || unnamedRepositories != 2 {
		t.Fatalf("before its diff_id is known, %s is counted in %d images of %d repositories (%v); want 1 of 2", zs.Layers[1].Digest, unnamedImages, unnamedRepositories, err)
	}

	// zs and gz9 name both copies' diff_ids, unc its uncompressed layer's,
	// in one fold with a delete of an image holding the zstd copy.
	if err := store.Ingest(ctx, []image.Observation{obs("team-z/zs", "1", t0.Add(time.Minute), zs), obs("team-z/gz9", "1", t0.Add(time.Minute), gz9),
		obs("team-y/unc", "1", t0.Add(time.Minute), unc)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "other/zs", zsUnnamed.Digest, t0.Add(2*time.Minute), "test", "learn 1"); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var learned, underDigest, nsEncodings, regEncodings, uncEncodings int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM blobs WHERE digest = ANY ($1) AND diff_id IS NOT NULL),
		(SELECT coalesce(sum(images), 0) FROM content_usage WHERE content = ANY ($1)),
		(SELECT coalesce(max(encodings), 0) FROM namespace_duplicate_blobs WHERE namespace = 'team-x' AND content = $2),
		(SELECT coalesce(max(encodings), 0) FROM content_usage WHERE content = $2),
		(SELECT coalesce(max(encodings), 0) FROM registry_contents WHERE content = $3)`,
		[]string{zs.Layers[0].Digest, zs.Layers[1].Digest, gz9.Layers[0].Digest, gz9.Layers[1].Digest}, base.Layers[1].DiffID, unc.Layers[1].Digest,
	).Scan(&learned, &underDigest, &nsEncodings, &regEncodings, &uncEncodings); err != nil {
		t.Fatal(err)
	}
	if learned != 4 || underDigest != 0 || nsEncodings != 3 || regEncodings != 3 || uncEncodings != 2 {
		t.Errorf("after the names: %d of the copies' blobs with a diff_id, %d images counted under their digests, team-x holds %s under %d blobs and live images under %d, the registry holds %s under %d; want 4, 0, 3, 3, 2",
			learned, underDigest, base.Layers[1].DiffID, nsEncodings, regEncodings, unc.Layers[1].Digest, uncEncodings)
	}

	// A delete folded after: counted under the diff_id.
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "team-x/zs", zsUnnamed.Digest, t0.Add(3*time.Minute), "test", "learn 2"); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
}

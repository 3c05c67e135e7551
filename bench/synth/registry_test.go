package synth_test

import (
	"context"
	"slices"
	"testing"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// A synthetic registry pushed to the CNCF distribution registry and scanned
// holds what the generator says: tags, images, indexes, artifacts, and a
// cache bust at the lock-file step exactly where the generator put one.
func TestPushRegistry(t *testing.T) {
	t.Parallel()
	reg := registrytest.NewDistribution(t, registrytest.DistributionOptions{})
	ctx := context.Background()
	opts := synth.RegistryOptions{Repositories: 20, Namespaces: 4, Bases: 4, Pushes: 4, IndexEvery: 5, ArtifactEvery: 6, Seed: 3}
	sum, err := synth.PushRegistry(ctx, reg.Host, opts)
	if err != nil {
		t.Fatal(err)
	}
	// 4 bases; 20 repositories × (4 version tags + latest); an SBOM every 6th push.
	if sum.Tags != 4+20*5+sum.Artifacts || sum.Indexes != 4*4 || sum.Images != 4+16*4+4*4*2 || sum.Artifacts != 80/6 || sum.CacheBusts == 0 {
		t.Fatalf("summary %+v", sum)
	}
	// The same options push the same digests (to another registry kind).
	again, err := synth.PushRegistry(ctx, registrytest.New(t).Host, opts)
	if err != nil || !slices.Equal(again.Refs, sum.Refs) {
		t.Fatalf("the same options pushed something else: %v", err)
	}

	pool := pgtest.NewPool(t)
	w, err := walker.New(walker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(pool)
	res, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: "synth", Repositories: repoglob.Compile("**")})
	if err != nil || res.Errors != 0 {
		t.Fatalf("scan: %s, %v", res, err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	// Pushing an artifact with a subject to a registry without the referrers
	// API also tags the referrers index (sha256-<subject>): leave those out.
	// Every tag points at the digest the generator pushed.
	for _, r := range sum.Refs {
		var d string
		if err := pool.QueryRow(ctx, `SELECT t.manifest_digest FROM tags t JOIN repositories rp ON rp.id = t.repository_id
			WHERE rp.name = $1 AND t.name = $2`, r.Repository, r.Tag).Scan(&d); err != nil || d != r.Digest {
			t.Fatalf("%s:%s = %s (%v), pushed %s", r.Repository, r.Tag, d, err, r.Digest)
		}
	}
	var tags, indexes, artifacts, busts, code int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tags WHERE deleted_at IS NULL AND name NOT LIKE 'sha256-%'),
		(SELECT count(*) FROM manifests WHERE kind = 'index' AND digest NOT IN (SELECT manifest_digest FROM tags WHERE name LIKE 'sha256-%')),
		(SELECT count(*) FROM manifests WHERE kind = 'artifact'),
		(SELECT count(*) FROM cache_history WHERE first_changed_step LIKE 'COPY requirements.lock%'),
		(SELECT count(*) FROM cache_history WHERE first_changed_step LIKE 'COPY . .%')`).Scan(&tags, &indexes, &artifacts, &busts, &code); err != nil {
		t.Fatal(err)
	}
	// Every repository's builds form a stream per platform, 4 pushes: 3
	// consecutive pairs each, 16 single-platform and 4 × 2 platform streams.
	if tags != sum.Tags || indexes != sum.Indexes || artifacts != sum.Artifacts || busts != sum.CacheBusts || busts+code != (16+8)*3 {
		t.Errorf("graph: %d tags, %d indexes, %d artifacts, %d lock-file busts, %d code-only changes; generator: %+v", tags, indexes, artifacts, busts, code, sum)
	}
}

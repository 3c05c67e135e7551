package alert_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// stamped is an image built by a reproducible builder (Buildpacks' fixed
// date), of layers of the given sizes.
func stamped(name string, sizes ...int64) image.Manifest {
	at := time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)
	m := image.Manifest{Digest: digest("manifest " + name), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1000,
		Kind: image.KindImage, ConfigDigest: digest("config " + name), ConfigMediaType: "application/vnd.oci.image.config.v1+json", ConfigSize: 500,
		Platform: image.Platform{OS: "linux", Architecture: "amd64"}, Created: &at}
	var chain []string
	for i, size := range sizes {
		l := fmt.Sprintf("%s-%d", name, i)
		if i == 0 {
			l = "stamped-base"
		}
		chain = append(chain, l)
		m.History = append(m.History, image.HistoryEntry{CreatedBy: "RUN " + l, Created: &at})
		m.Layers = append(m.Layers, image.Layer{Digest: digest("blob " + l), Size: size, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
			DiffID: digest("diff " + l), ChainID: digest(fmt.Sprint("chain ", chain)), HistoryIndex: i, CreatedBy: "RUN " + l, Created: &at})
	}
	return m
}

// Builds stamped with a fixed date are ordered by when layerq first saw
// them: one pushed after another grows the stream and is alerted on; two a
// scan took in together (seen at the same time, their order unknown) are
// compared, but not alerted on.
func TestGrowthAlertsOnlyOnABuildSeenAfterTheOneBefore(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	d := &alert.Detector{DB: pool, Rules: alert.DefaultRules(), Sinks: []string{"nats"}}
	if _, err := d.Detect(ctx); err != nil { // the cursor starts here
		t.Fatal(err)
	}
	obs := func(repo, tag string, m image.Manifest) image.Observation {
		return image.Observation{Registry: "reg.test", Repository: repo, Tag: tag, Manifests: []image.Manifest{m}, ObservedAt: time.Now(), Source: "scan"}
	}
	// Pushed one after the other, 30 MB more the second time.
	if err := store.Ingest(ctx, []image.Observation{obs("team/pushed", "sha-1", stamped("pushed-1", 50_000_000, 1_000_000))}); err != nil {
		t.Fatal(err)
	}
	if err := store.Ingest(ctx, []image.Observation{obs("team/pushed", "sha-2", stamped("pushed-2", 50_000_000, 31_000_000))}); err != nil {
		t.Fatal(err)
	}
	// Taken in together, either order a growth of 30 MB.
	if err := store.Ingest(ctx, []image.Observation{
		obs("team/scanned", "sha-1", stamped("scanned-1", 50_000_000, 1_000_000)),
		obs("team/scanned", "sha-2", stamped("scanned-2", 50_000_000, 31_000_000)),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	var compared []string
	rows, err := pool.Query(ctx, `SELECT r.name FROM cache_transitions t JOIN repositories r ON r.id = t.repository_id WHERE t.stream_kind = 'created' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		compared = append(compared, name)
	}
	if !slices.Equal(compared, []string{"team/pushed", "team/scanned"}) {
		t.Fatalf("created comparisons of %v; want one per repository", compared)
	}
	if _, err := d.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	var grew []string
	rows, err = pool.Query(ctx, `SELECT payload->'data'->>'repository' FROM alerts WHERE kind = 'image_grew' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var repo string
		rows.Scan(&repo)
		grew = append(grew, repo)
	}
	if !slices.Equal(grew, []string{"team/pushed"}) {
		t.Errorf("image_grew alerts for %v; want one, for the build pushed after the one before it", grew)
	}
}

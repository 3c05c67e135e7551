package graph_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// image makes a synthetic image manifest with the given layers (names), each
// made by "RUN <name>", and one empty history entry on top.
func imageOf(name string, layers ...string) image.Manifest {
	m := image.Manifest{
		Digest: digest("manifest " + name), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1000,
		Kind: image.KindImage, ConfigDigest: digest("config " + name), ConfigMediaType: "application/vnd.oci.image.config.v1+json", ConfigSize: 500,
		Platform: image.Platform{OS: "linux", Architecture: "amd64"}, Created: &t0,
		Labels: map[string]string{"name": name},
	}
	for i, l := range layers {
		m.History = append(m.History, image.HistoryEntry{CreatedBy: "RUN " + l, Created: &t0})
		m.Layers = append(m.Layers, image.Layer{
			Digest: digest("blob " + l), Size: int64(100 * (i + 1)), MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
			DiffID: digest("diff " + l), ChainID: digest(fmt.Sprint("chain ", layers[:i+1])), HistoryIndex: i, CreatedBy: "RUN " + l, Created: &t0,
		})
	}
	m.History = append(m.History, image.HistoryEntry{CreatedBy: "CMD [\"sh\"]", EmptyLayer: true})
	return m
}

func obs(repo, tag string, at time.Time, ms ...image.Manifest) image.Observation {
	return image.Observation{Registry: "reg.test", Repository: repo, Tag: tag, Manifests: ms, ObservedAt: at, Source: "scan"}
}

type counts struct {
	repositories, manifests, memberships, tags, tagEvents, blobs, layers, history, children int
}

func count(t *testing.T, pool *pgxpool.Pool) counts {
	t.Helper()
	var c counts
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM repositories), (SELECT count(*) FROM manifests),
		(SELECT count(*) FROM repository_manifests), (SELECT count(*) FROM tags),
		(SELECT count(*) FROM tag_events), (SELECT count(*) FROM blobs),
		(SELECT count(*) FROM manifest_layers), (SELECT count(*) FROM config_history),
		(SELECT count(*) FROM index_children)`).Scan(&c.repositories, &c.manifests, &c.memberships, &c.tags,
		&c.tagEvents, &c.blobs, &c.layers, &c.history, &c.children)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// corpus: two bases sharing nothing, three apps on them, one index of two.
func corpus() []image.Observation {
	debian := imageOf("debian", "debian-rootfs")
	alpine := imageOf("alpine", "alpine-rootfs")
	api := imageOf("api", "debian-rootfs", "pip", "api-code")
	worker := imageOf("worker", "debian-rootfs", "pip", "worker-code")
	web := imageOf("web", "alpine-rootfs", "web-code")
	arm := imageOf("web-arm", "alpine-arm-rootfs", "web-code")
	idx := image.Manifest{Digest: digest("index web"), MediaType: "application/vnd.oci.image.index.v1+json", Size: 300, Kind: image.KindIndex,
		Children: []image.Child{
			{Digest: web.Digest, MediaType: web.MediaType, Size: web.Size, Platform: image.Platform{OS: "linux", Architecture: "amd64"}},
			{Digest: arm.Digest, MediaType: arm.MediaType, Size: arm.Size, Platform: image.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		}}
	return []image.Observation{
		obs("library/debian", "12", t0, debian),
		obs("library/alpine", "3", t0, alpine),
		obs("team/api", "1", t0, api),
		obs("team/worker", "1", t0, worker),
		obs("team/web", "1", t0, idx, web, arm),
		obs("mirror/debian", "12", t0, debian), // the same manifest in a second repository
	}
}

var corpusCounts = counts{
	repositories: 6,
	manifests:    7, // debian alpine api worker web web-arm index; no copy for the mirror
	memberships:  8, // one per (repository, manifest): team/web holds 3
	tags:         6,
	tagEvents:    6,
	// debian-rootfs alpine-rootfs pip api-code worker-code web-code alpine-arm-rootfs
	blobs:    7,
	layers:   1 + 1 + 3 + 3 + 2 + 2,
	history:  (1 + 1) + (1 + 1) + (3 + 1) + (3 + 1) + (2 + 1) + (2 + 1),
	children: 2,
}

func TestIngestTwiceLeavesOneCopy(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := graph.New(pool)
	ctx := context.Background()
	for range 2 {
		if err := s.Ingest(ctx, corpus()); err != nil {
			t.Fatal(err)
		}
		if got := count(t, pool); got != corpusCounts {
			t.Fatalf("counts = %+v, want %+v", got, corpusCounts)
		}
	}
	// What was written is what was observed.
	var createdBy, chain string
	var pos, hist int
	err := pool.QueryRow(ctx, `SELECT position, created_by, chain_id, history_index FROM manifest_layers
		WHERE manifest_digest = $1 AND position = 2`, digest("manifest api")).Scan(&pos, &createdBy, &chain, &hist)
	if err != nil {
		t.Fatal(err)
	}
	if createdBy != "RUN api-code" || chain != digest("chain [debian-rootfs pip api-code]") || hist != 2 {
		t.Errorf("layer 2 of api = %q %q %d", createdBy, chain, hist)
	}
	var os, arch, variant string
	err = pool.QueryRow(ctx, `SELECT os, architecture, variant FROM index_children WHERE index_digest = $1 AND position = 1`,
		digest("index web")).Scan(&os, &arch, &variant)
	if err != nil || os+"/"+arch+"/"+variant != "linux/arm64/v8" {
		t.Errorf("index child 1 platform = %s/%s/%s, %v", os, arch, variant, err)
	}
	var layerCount int
	var layersSize int64
	if err := pool.QueryRow(ctx, `SELECT layer_count, layers_size FROM manifests WHERE digest = $1`, digest("manifest api")).Scan(&layerCount, &layersSize); err != nil {
		t.Fatal(err)
	}
	if layerCount != 3 || layersSize != 100+200+300 {
		t.Errorf("api layer_count, layers_size = %d, %d; want 3, 600", layerCount, layersSize)
	}
}

func TestConcurrentIngestExactCounts(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := graph.New(pool)
	ctx := context.Background()
	// Many writers, each ingesting every observation in its own order and
	// batching, all at once.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := corpus()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
			for i := 0; i < len(o); i += 1 + w%3 {
				end := min(len(o), i+1+w%3)
				if err := s.Ingest(ctx, o[i:end]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := count(t, pool); got != corpusCounts {
		t.Fatalf("counts = %+v, want %+v", got, corpusCounts)
	}
}

type tagEvent struct {
	action, digest, previous string
}

func tagEvents(t *testing.T, pool *pgxpool.Pool, repo, tag string) []tagEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT e.action, coalesce(e.manifest_digest, ''), coalesce(e.previous_digest, '')
		FROM tag_events e JOIN repositories r ON r.id = e.repository_id
		WHERE r.name = $1 AND e.tag = $2 ORDER BY e.occurred_at, e.id`, repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []tagEvent
	for rows.Next() {
		var e tagEvent
		if err := rows.Scan(&e.action, &e.digest, &e.previous); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestTagMovesAndDeletes(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := graph.New(pool)
	ctx := context.Background()
	v1, v2 := imageOf("app-v1", "base", "v1"), imageOf("app-v2", "base", "v2")
	steps := []image.Observation{
		obs("team/app", "latest", t0, v1),
		obs("team/app", "latest", t0.Add(time.Minute), v1),   // unchanged: no event
		obs("team/app", "latest", t0.Add(2*time.Minute), v2), // moved
		obs("team/app", "latest", t0.Add(time.Minute), v1),   // late, older observation: ignored
	}
	for _, o := range steps {
		if err := s.Ingest(ctx, []image.Observation{o}); err != nil {
			t.Fatal(err)
		}
	}
	want := []tagEvent{{"push", v1.Digest, ""}, {"push", v2.Digest, v1.Digest}}
	if got := tagEvents(t, pool, "team/app", "latest"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	n, err := s.DeleteTags(ctx, "reg.test", "team/app", []string{"latest", "never-existed"}, t0.Add(3*time.Minute), "scan", "")
	if err != nil || n != 1 {
		t.Fatalf("DeleteTags = %d, %v; want 1", n, err)
	}
	if n, _ := s.DeleteTags(ctx, "reg.test", "team/app", []string{"latest"}, t0.Add(4*time.Minute), "scan", ""); n != 0 {
		t.Fatalf("second DeleteTags marked %d", n)
	}
	st, err := s.Repository(ctx, "reg.test", "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tags) != 0 || len(st.Manifests) != 2 {
		t.Fatalf("state after tag delete = %+v", st)
	}
	// Pushed again after the delete: comes back, with no previous digest.
	if err := s.Ingest(ctx, []image.Observation{obs("team/app", "latest", t0.Add(5*time.Minute), v1)}); err != nil {
		t.Fatal(err)
	}
	want = append(want, tagEvent{"delete", "", v2.Digest}, tagEvent{"push", v1.Digest, ""})
	if got := tagEvents(t, pool, "team/app", "latest"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	// Deleting the manifest marks its membership and the tag on it.
	ms, tags, err := s.DeleteManifest(ctx, "reg.test", "team/app", v1.Digest, t0.Add(6*time.Minute), "webhook", "ev-1")
	if err != nil || ms != 1 || tags != 1 {
		t.Fatalf("DeleteManifest = %d, %d, %v; want 1, 1", ms, tags, err)
	}
	st, _ = s.Repository(ctx, "reg.test", "team/app")
	if len(st.Tags) != 0 || len(st.Manifests) != 1 || !st.Manifests[v2.Digest] {
		t.Fatalf("state after manifest delete = %+v", st)
	}
	// The rows stay, marked.
	var marked int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM repository_manifests WHERE deleted_at IS NOT NULL`).Scan(&marked); err != nil || marked != 1 {
		t.Fatalf("marked memberships = %d, %v", marked, err)
	}
}

func TestFailuresCountAttempts(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := graph.New(pool)
	ctx := context.Background()
	f := graph.Failure{Registry: "reg.test", Repository: "old/app", Reference: "v1", Source: "scan", Class: "unsupported", Reason: "schema 1"}
	for range 3 {
		if err := s.RecordFailure(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	var rows, attempts int
	if err := pool.QueryRow(ctx, `SELECT count(*), max(attempts) FROM ingest_failures`).Scan(&rows, &attempts); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || attempts != 3 {
		t.Fatalf("failures rows, attempts = %d, %d; want 1, 3", rows, attempts)
	}
	if err := s.ClearFailures(ctx, "reg.test", "old/app", []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ingest_failures`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("after clear: %d rows, %v", rows, err)
	}
}

// Deletes and observations arriving out of order: the newest wins, whichever
// arrives last.
func TestDeletesAndLateObservations(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	s := graph.New(pool)
	ctx := context.Background()
	app := imageOf("app", "base", "code")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	two := []image.Observation{obs("team/app", "v1", at(0), app), obs("team/app", "latest", at(0), app)}
	if err := s.Ingest(ctx, two); err != nil {
		t.Fatal(err)
	}
	// One registry event deletes the manifest and so both its tags: two events.
	ms, tags, err := s.DeleteManifest(ctx, "reg.test", "team/app", app.Digest, at(10), "distribution", "ev-9")
	if err != nil || ms != 1 || tags != 2 {
		t.Fatalf("DeleteManifest = %d, %d, %v", ms, tags, err)
	}
	if n := len(tagEvents(t, pool, "team/app", "v1")) + len(tagEvents(t, pool, "team/app", "latest")); n != 4 {
		t.Fatalf("tag events = %d, want 2 pushes and 2 deletes", n)
	}
	// The same event replayed records nothing new.
	if _, _, err := s.DeleteManifest(ctx, "reg.test", "team/app", app.Digest, at(10), "distribution", "ev-9"); err != nil {
		t.Fatal(err)
	}
	// A scan that walked before the delete commits after it: no resurrection.
	if err := s.Ingest(ctx, []image.Observation{obs("team/app", "v1", at(5), app)}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Repository(ctx, "reg.test", "team/app")
	if len(st.Tags) != 0 || len(st.Manifests) != 0 {
		t.Fatalf("a late observation undid the delete: %+v", st)
	}
	// Pushed again after the delete: live again.
	if err := s.Ingest(ctx, []image.Observation{obs("team/app", "v1", at(20), app)}); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Repository(ctx, "reg.test", "team/app")
	if st.Tags["v1"] != app.Digest || !st.Manifests[app.Digest] || len(st.Tags) != 1 {
		t.Fatalf("after re-push: %+v", st)
	}
	// A delete older than the re-push does not apply.
	if n, err := s.DeleteTags(ctx, "reg.test", "team/app", []string{"v1"}, at(15), "scan", ""); err != nil || n != 0 {
		t.Fatalf("stale DeleteTags = %d, %v", n, err)
	}
	if ms, tags, err := s.DeleteManifest(ctx, "reg.test", "team/app", app.Digest, at(15), "scan", ""); err != nil || ms != 0 || tags != 0 {
		t.Fatalf("stale DeleteManifest = %d, %d, %v", ms, tags, err)
	}
}

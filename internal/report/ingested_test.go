package report_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// Reports on images ingested into the graph directly (no registry): a
// manifest's digest follows from its layers' names, so two repositories
// pushed the same layers hold the same image.

// pusher ingests synthetic images (layers by name) into reg.test, each
// push a minute after the one before.
func pusher(t *testing.T, store *graph.Store) func(repo, tag string, layers ...string) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return func(repo, tag string, layers ...string) {
		t.Helper()
		at = at.Add(time.Minute)
		m := image.Manifest{Digest: digestOfText(fmt.Sprint("manifest ", layers)), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1000,
			Kind: image.KindImage, ConfigDigest: digestOfText(fmt.Sprint("config ", layers)), ConfigMediaType: "application/vnd.oci.image.config.v1+json",
			ConfigSize: 500, Platform: image.Platform{OS: "linux", Architecture: "amd64"}, Created: &at}
		for i, l := range layers {
			m.History = append(m.History, image.HistoryEntry{CreatedBy: "RUN " + l, Created: &at})
			m.Layers = append(m.Layers, image.Layer{Digest: digestOfText("blob " + l), Size: 100, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
				DiffID: digestOfText("diff " + l), ChainID: digestOfText(fmt.Sprint("chain ", layers[:i+1])), HistoryIndex: i, CreatedBy: "RUN " + l, Created: &at})
		}
		obs := image.Observation{Registry: "reg.test", Repository: repo, Tag: tag, Manifests: []image.Manifest{m}, ObservedAt: at, Source: "scan"}
		if err := store.Ingest(context.Background(), []image.Observation{obs}); err != nil {
			t.Fatal(err)
		}
	}
}

// digestOfText is a digest of s.
func digestOfText(s string) string {
	h := sha256.Sum256([]byte(s))
	return fmt.Sprintf("sha256:%x", h[:])
}

// A base repository with two tags in use is two bases: each tag's builds,
// dependents and outdated builds apart.
func TestBasesPerTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewReportPool(t)
	store := graph.New(pool)
	push := pusher(t, store)
	push("library/os", "1", "os1")
	push("library/os", "2", "os2")
	push("team-a/api", "1", "os1", "api")
	push("team-b/web", "1", "os2", "web")
	push("team-c/job", "1", "os2", "job")
	push("library/os", "2", "os2b") // 2 moves: web and job are on an outdated build of it
	push("team-c/job", "2", "os2b", "job")
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := report.LoadBases(ctx, pool, report.BasesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []report.Base{
		{Registry: "reg.test", Repository: "library/os", Tag: "2", Current: digestOfText(fmt.Sprint("manifest ", []string{"os2b"})),
			Builds: 2, StaleBuilds: 1, Images: 3, Repositories: 2, StaleImages: 2, StaleRepositories: 2, PinnedBytes: 100,
			Dependents: []report.BaseDependent{
				{Registry: "reg.test", Repository: "team-c/job", Images: 2, StaleImages: 1},
				{Registry: "reg.test", Repository: "team-b/web", Images: 1, StaleImages: 1},
			}},
		{Registry: "reg.test", Repository: "library/os", Tag: "1", Current: digestOfText(fmt.Sprint("manifest ", []string{"os1"})),
			Builds: 1, Images: 1, Repositories: 1,
			Dependents: []report.BaseDependent{{Registry: "reg.test", Repository: "team-a/api", Images: 1}}},
	}
	if fmt.Sprint(got.Bases) != fmt.Sprint(want) {
		t.Errorf("bases\n got %+v\nwant %+v", got.Bases, want)
	}
}

// Which selections are one namespace's repositories (the fold keeps some
// figures per namespace): all of its repositories and no other, in one
// registry; and how many manifests are live in two of them.
func TestSelectionNamespace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewReportPool(t)
	store := graph.New(pool)
	push := pusher(t, store)
	push("team-a/api", "1", "os1", "api")
	push("team-a/web", "1", "os1", "web")
	push("team-b/job", "1", "os1", "job")
	push("team-b/job", "2", "os1", "job", "more")
	push("team-b/other", "1", "os1", "job") // the same image as team-b/job:1
	push("tools", "1", "os1", "tool")
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		glob, registry, want string
		shared               int32
	}{
		{"team-a/**", "", "reg.test team-a", 0},
		{"team-a/*", "", "reg.test team-a", 0},
		{"team-b/**", "", "reg.test team-b", 1},
		{"team-b/job", "", "", 0}, // part of team-b
		{"team-*/**", "", "", 0},  // two namespaces
		{"tools", "", "reg.test tools", 0},
		{"team-a/**", "reg.test", "reg.test team-a", 0},
		{"team-a/**", "other.test", "", 0}, // no repository
		{"nothing/**", "", "", 0},
	} {
		reg, ns, shared, ok, err := report.OneNamespace(ctx, pool, repoglob.Compile(c.glob).Regexp(), c.registry)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if ok {
			got = reg + " " + ns
		}
		if got != c.want || shared != c.shared {
			t.Errorf("%s (registry %q): %q with %d manifests in two repositories, want %q with %d", c.glob, c.registry, got, shared, c.want, c.shared)
		}
	}
}

package report_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// refGraph is a graph for looking references up: two registries, tags
// pushed one scan apart (so the newest is known), deletions, an artifact,
// repositories named like digests, and two manifests whose digests start
// alike.
type refGraph struct {
	pool *pgxpool.Pool
	// other is the name the graph gives the second registry: its host,
	// 127.0.0.1:PORT.
	other string
	// digests holds every manifest digest in the graph.
	digests []string
	// app holds the image of each tag of team/app, 1 to 6.
	app             map[string]string
	base, gone, sig string
	// index is multi/arch:1, an index of amd and arm.
	index, amd string
	// alike are two digests with the same first four hex digits; both are
	// in coll/a, the second in coll/b too.
	alike [2]string
}

// deletedAt is when the test deletes things: after the scans, whose
// observations a deletion must not predate.
var deletedAt = time.Date(2099, 1, 2, 3, 4, 0, 0, time.UTC)

const deletedText = "2099-01-02 03:04 UTC"

func refSetup(t *testing.T) refGraph {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewReportPool(t)
	store := graph.New(pool)
	w, err := walker.New(walker.Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	g := refGraph{pool: pool, app: map[string]string{}}
	reg, other := registrytest.New(t), registrytest.New(t)
	g.other = other.Host
	scanAs := func(r *registrytest.Server, name, glob string) {
		t.Helper()
		if _, err := scan.Run(ctx, store, w, scan.Options{Registry: r.Host, Name: name, Repositories: repoglob.Compile(glob)}); err != nil {
			t.Fatal(err)
		}
	}
	push := func(r *registrytest.Server, ref string, img v1.Image) string {
		t.Helper()
		d := r.PushImage(t, ref, img)
		if !slices.Contains(g.digests, d) {
			g.digests = append(g.digests, d)
		}
		return d
	}
	base := build(t, nil, sample.Docker, "ref-rootfs")
	g.base = push(reg, "library/base:1", base)
	push(reg, "shared/base:1", base)
	push(other, "shared/base:1", base)
	push(other, "tools/lint:1", build(t, base, sample.Docker, "lint"))
	gone := build(t, base, sample.Docker, "ref-gone")
	g.gone = push(reg, "team/gone:1", gone)
	push(reg, "cafe:latest", build(t, base, sample.Docker, "cafe"))
	push(reg, "f00d:1", build(t, base, sample.Docker, "f00d"))
	amd, arm := build(t, nil, sample.OCI, "ref-amd"), build(t, nil, sample.OCI, "ref-arm")
	idx, err := sample.Index([]v1.Image{amd, arm}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	g.index = reg.PushIndex(t, "multi/arch:1", idx)
	amdD, _ := amd.Digest()
	armD, _ := arm.Digest()
	g.amd = amdD.String()
	g.digests = append(g.digests, g.index, g.amd, armD.String())

	// Two images whose digests start with the same four hex digits: found
	// among label variants of base, which are deterministic.
	seen := map[string]v1.Image{}
	var alike [2]v1.Image
	for i := 0; alike[0] == nil; i++ {
		img, err := sample.Build(sample.Spec{Base: base, Labels: map[string]string{"variant": strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		if prev, ok := seen[d.Hex[:4]]; ok {
			alike = [2]v1.Image{prev, img}
		}
		seen[d.Hex[:4]] = img
	}
	g.alike[0] = push(reg, "coll/a:1", alike[0])
	g.alike[1] = push(reg, "coll/a:2", alike[1])
	push(reg, "coll/b:1", alike[1])

	app1 := build(t, base, sample.Docker, "app-1")
	d, _ := app1.Digest()
	mt, _ := app1.MediaType()
	raw, _ := app1.RawManifest()
	sig, err := sample.Artifact("application/vnd.dev.cosign.simplesigning.v1+json", []byte("sig"), v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	g.sig = push(reg, "team/signed:sig", sig)

	// team/app: tag 1 (and old) in the first scan, then one tag per scan.
	g.app["1"] = push(reg, "team/app:1", app1)
	push(reg, "team/app:old", app1)
	scanAs(reg, "reg.test", "")
	scanAs(other, other.Host, "")
	for i := 2; i <= 6; i++ {
		tag := strconv.Itoa(i)
		g.app[tag] = push(reg, "team/app:"+tag, build(t, base, sample.Docker, "app-"+tag))
		scanAs(reg, "reg.test", "team/app")
	}

	if n, err := store.DeleteTags(ctx, "reg.test", "team/app", []string{"old"}, deletedAt, "test", ""); err != nil || n != 1 {
		t.Fatalf("deleting team/app:old: %d, %v", n, err)
	}
	if m, n, err := store.DeleteManifest(ctx, "reg.test", "team/gone", g.gone, deletedAt, "test", ""); err != nil || m != 1 || n != 1 {
		t.Fatalf("deleting team/gone: %d, %d, %v", m, n, err)
	}
	if _, err := store.SeeAlias(ctx, other.Host, "localhost:"+port(other.Host)); err != nil {
		t.Fatal(err)
	}
	return g
}

func port(host string) string {
	_, p, _ := strings.Cut(host, ":")
	return p
}

func hex(d string) string { return strings.TrimPrefix(d, "sha256:") }

// unused is a prefix of four hex digits no digest in the graph starts with,
// the first of candidates.
func (g refGraph) unused(t *testing.T, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if !slices.ContainsFunc(g.digests, func(d string) bool { return strings.HasPrefix(hex(d), c) }) {
			return c
		}
	}
	t.Fatalf("every candidate prefix starts a digest: %v", candidates)
	return ""
}

// unique is the shortest prefix (of at least four hex digits) of d that no
// other digest in the graph starts with.
func (g refGraph) unique(d string) string {
	for n := 4; ; n++ {
		p := hex(d)[:n]
		if !slices.ContainsFunc(g.digests, func(o string) bool { return o != d && strings.HasPrefix(hex(o), p) }) {
			return p
		}
	}
}

func TestShortDigests(t *testing.T) {
	t.Parallel()
	g := refSetup(t)
	ctx := context.Background()
	six := g.app["6"]
	cases := []struct {
		ref, registry, repository, digest, tag string
	}{
		// Whole digests, as before.
		{"team/app@" + six, "reg.test", "team/app", six, ""},
		{"reg.test/team/app:6", "reg.test", "team/app", six, "6"},
		// Short ones, with or without sha256:, in any case.
		{"team/app@" + hex(six)[:12], "reg.test", "team/app", six, ""},
		{"team/app@sha256:" + hex(six)[:12], "reg.test", "team/app", six, ""},
		{"team/app@" + strings.ToUpper(hex(six)[:12]), "reg.test", "team/app", six, ""},
		{"reg.test/team/app@" + g.unique(six), "reg.test", "team/app", six, ""},
		// A digest alone: its repository is found.
		{hex(six)[:12], "reg.test", "team/app", six, ""},
		{"sha256:" + hex(six)[:12], "reg.test", "team/app", six, ""},
		{g.unique(six), "reg.test", "team/app", six, ""},
		// In several repositories: the first with a tag naming it, by
		// registry and name.
		{hex(g.base), g.other, "shared/base", g.base, ""},
		// One of two digests alike, in the one repository that holds it
		// alone.
		{"coll/b@" + hex(g.alike[1])[:4], "reg.test", "coll/b", g.alike[1], ""},
		// An index: the platform picks the child.
		{hex(g.index)[:12], "reg.test", "multi/arch", g.amd, ""},
		// A word of hex digits names the repository of that name first.
		{"cafe", "reg.test", "cafe", "", "latest"},
	}
	for _, c := range cases {
		ref, err := report.ParseRef(c.ref)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", c.ref, err)
			continue
		}
		img, err := report.LoadImage(ctx, g.pool, report.ImageOptions{Ref: ref, Platform: "linux/amd64"})
		if err != nil {
			t.Errorf("%s: %v", c.ref, err)
			continue
		}
		if img.Registry != c.registry || img.Repository != c.repository || c.digest != "" && img.Digest != c.digest || img.Tag != c.tag {
			t.Errorf("%s: %s/%s@%s tag %q; want %s/%s@%s tag %q", c.ref, img.Registry, img.Repository, img.Digest, img.Tag, c.registry, c.repository, c.digest, c.tag)
		}
	}

	// bloat --image resolves the same way: one image, not yet indexed.
	ref, _ := report.ParseRef(hex(six)[:12])
	b, err := loadBloat(ctx, g.pool, report.BloatOptions{Image: &ref, SmallLayer: 1})
	if err != nil || b.Pending+b.Analyzed != 1 {
		t.Errorf("bloat --image %s: %+v, %v; want one image", ref, b, err)
	}
}

func TestAmbiguousShortDigests(t *testing.T) {
	t.Parallel()
	g := refSetup(t)
	ctx := context.Background()
	prefix := hex(g.alike[0])[:4]
	// Listed in digest order, each in the first repository holding it.
	first, second := g.alike[0], g.alike[1]
	if second < first {
		first, second = second, first
	}
	cands := "reg.test/coll/a@" + hex(first)[:12] + " and reg.test/coll/a@" + hex(second)[:12]
	cases := []struct{ ref, want string }{
		{prefix, prefix + " is ambiguous: 2 manifests have digests starting " + prefix + ": " + cands + "; give more digits"},
		{"coll/a@" + prefix, "coll/a@sha256:" + prefix + " is ambiguous: 2 manifests have digests starting " + prefix + ": " + cands + "; give more digits"},
		// One manifest, one name, two registries: as before.
		{"shared/base:1", "shared/base:1 is ambiguous: it is in " + g.other + "/shared/base, reg.test/shared/base; prefix the registry"},
	}
	for _, c := range cases {
		ref, err := report.ParseRef(c.ref)
		if err != nil {
			t.Fatalf("ParseRef(%q): %v", c.ref, err)
		}
		_, err = report.LoadImage(ctx, g.pool, report.ImageOptions{Ref: ref})
		if !errors.Is(err, report.ErrAmbiguous) || errors.Is(err, report.ErrNotFound) || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.ref, err, c.want)
		}
		_, err = loadBloat(ctx, g.pool, report.BloatOptions{Image: &ref, SmallLayer: 1})
		if !errors.Is(err, report.ErrAmbiguous) {
			t.Errorf("bloat --image %s: %v, want ambiguous", c.ref, err)
		}
	}
	// More digits settle it.
	ref, _ := report.ParseRef(g.unique(g.alike[0]))
	img, err := report.LoadImage(ctx, g.pool, report.ImageOptions{Ref: ref})
	if err != nil || img.Digest != g.alike[0] || img.Repository != "coll/a" {
		t.Errorf("%s: %+v, %v", ref, img, err)
	}
}

func TestNotFoundSaysWhatIsUnknown(t *testing.T) {
	t.Parallel()
	g := refSetup(t)
	ctx := context.Background()
	tags := "live tags, newest first: 6, 5, 4, 3, 2 and 1 more"
	nowhere := g.unused(t, "0000", "0001", "0002")
	word := g.unused(t, "beef", "dead", "face")
	local := "localhost:" + port(g.other)
	cases := []struct{ ref, want string }{
		// The tag.
		{"team/app:9", `team/app:9: reg.test/team/app has no tag "9"; ` + tags},
		{"reg.test/team/app:9", `reg.test/team/app:9: reg.test/team/app has no tag "9"; ` + tags},
		{"team/app:old", `team/app:old: tag "old" was deleted from reg.test/team/app at ` + deletedText + "; " + tags},
		{"team/gone:1", `team/gone:1: tag "1" was deleted from reg.test/team/gone at ` + deletedText + "; it has no live tags"},
		{"f00d", `f00d:latest: reg.test/f00d has no tag "latest"; live tags, newest first: 1`},
		// The digest.
		{"team/gone@" + hex(g.gone)[:12], "team/gone@sha256:" + hex(g.gone)[:12] + ": manifest " + hex(g.gone)[:12] + " was deleted from reg.test/team/gone at " + deletedText},
		{hex(g.gone)[:12], hex(g.gone)[:12] + ": manifest " + hex(g.gone)[:12] + " was deleted from reg.test/team/gone at " + deletedText},
		{"team/app@" + hex(g.base)[:8], "team/app@sha256:" + hex(g.base)[:8] + ": reg.test/team/app has no manifest whose digest starts with " + hex(g.base)[:8] +
			"; did you mean " + g.other + "/shared/base@" + hex(g.base)[:12] + ", reg.test/library/base@" + hex(g.base)[:12] + " or reg.test/shared/base@" + hex(g.base)[:12] + "?"},
		{"team/app@" + nowhere, "team/app@sha256:" + nowhere + ": no manifest in the graph has a digest starting " + nowhere + "; live tags of reg.test/team/app, newest first: 6, 5, 4, 3, 2 and 1 more"},
		{"team/app@sha256:" + strings.Repeat(nowhere, 16), "team/app@sha256:" + strings.Repeat(nowhere, 16) + ": no manifest in the graph has that digest; live tags of reg.test/team/app, newest first: 6, 5, 4, 3, 2 and 1 more"},
		{"sha256:" + nowhere, "sha256:" + nowhere + ": no manifest in the graph has a digest starting " + nowhere + "; check the digest, or scan the registry that holds it"},
		{word, word + ": no manifest in the graph has a digest starting " + word + ", and no repository is named " + word + "; check the digest, or scan the registry that holds it"},
		{hex(g.sig)[:12], hex(g.sig)[:12] + ": the manifest with that digest is an artifact, not an image (it is in reg.test/team/signed)"},
		// The repository.
		{"team/ap:1", "team/ap:1: no repository team/ap in the graph; did you mean team/app?"},
		{"app:1", "app:1: no repository app in the graph; did you mean team/app?"},
		{"base:1", "base:1: no repository base in the graph; did you mean " + g.other + "/shared/base, reg.test/shared/base or library/base?"},
		{"nobody/here:1", "nobody/here:1: no repository nobody/here in the graph; check the name (layerq storage lists the repositories), or scan its registry"},
		{"reg.test/team/ap:1", "reg.test/team/ap:1: registry reg.test has no repository team/ap; did you mean reg.test/team/app?"},
		{"reg.test/tools/lint:1", "reg.test/tools/lint:1: registry reg.test has no repository tools/lint; did you mean " + g.other + "/tools/lint?"},
		// The registry.
		{local + "/tools/lint:1", local + "/tools/lint:1: the graph has no registry " + local + " (events of " + g.other + " call it that); its registries are " +
			g.other + " and reg.test; did you mean " + g.other + "/tools/lint:1?"},
		{"localhost:1/nobody/here:1", "localhost:1/nobody/here:1: the graph has no registry localhost:1; its registries are " + g.other + " and reg.test; give the registry as the graph names it"},
		{"registry.example.com/team/app@" + hex(g.app["6"])[:12], "registry.example.com/team/app@sha256:" + hex(g.app["6"])[:12] + ": the graph has no registry registry.example.com; its registries are " +
			g.other + " and reg.test; did you mean reg.test/team/app@sha256:" + hex(g.app["6"])[:12] + "?"},
	}
	for _, c := range cases {
		ref, err := report.ParseRef(c.ref)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", c.ref, err)
			continue
		}
		_, err = report.LoadImage(ctx, g.pool, report.ImageOptions{Ref: ref, Platform: "linux/amd64"})
		if !errors.Is(err, report.ErrNotFound) || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.ref, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: the message is more than one line", c.ref)
		}
	}
}

func TestParseShortRefs(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("3f2a", 16)
	cases := []struct {
		in, repo, tag, digest, str string
		bad                        bool
	}{
		{in: "team/app@sha256:" + h, repo: "team/app", digest: "sha256:" + h, str: "team/app@sha256:" + h},
		{in: "team/app@" + h, repo: "team/app", digest: "sha256:" + h, str: "team/app@sha256:" + h},
		{in: "team/app@3F2A1B", repo: "team/app", digest: "sha256:3f2a1b", str: "team/app@sha256:3f2a1b"},
		{in: "team/app@sha256:3f2a", repo: "team/app", digest: "sha256:3f2a", str: "team/app@sha256:3f2a"},
		{in: "localhost:5000/team/app@3f2a1b2c3d4e", repo: "localhost:5000/team/app", digest: "sha256:3f2a1b2c3d4e", str: "localhost:5000/team/app@sha256:3f2a1b2c3d4e"},
		{in: "3f2a1b2c3d4e", digest: "sha256:3f2a1b2c3d4e", str: "3f2a1b2c3d4e"},
		{in: "sha256:3f2a", digest: "sha256:3f2a", str: "sha256:3f2a"},
		{in: h, digest: "sha256:" + h, str: h},
		// Too short, or not hex: a repository name.
		{in: "abc", repo: "abc", tag: "latest", str: "abc:latest"},
		{in: "abcg", repo: "abcg", tag: "latest", str: "abcg:latest"},
		{in: "sha256", repo: "sha256", tag: "latest", str: "sha256:latest"},
		{in: "team/app@sha256:abc", bad: true},
		{in: "team/app@abc", bad: true},
		{in: "team/app@3f2g", bad: true},
		{in: "team/app@" + h + "0", bad: true},
		{in: "sha256:abc", bad: true},
		{in: "sha256:" + h + "0", bad: true},
		{in: "team/app@", bad: true},
		{in: "@3f2a", bad: true},
	}
	for _, c := range cases {
		r, err := report.ParseRef(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseRef(%q) = %+v, want an error", c.in, r)
			}
			continue
		}
		if err != nil || r.Repository != c.repo || r.Tag != c.tag || r.Digest != c.digest || r.String() != c.str {
			t.Errorf("ParseRef(%q) = %+v (%s), %v", c.in, r, r, err)
		}
	}
	_, err := report.ParseRef("team/app@sha256:abc")
	if err == nil || err.Error() != `bad digest in "team/app@sha256:abc": want sha256: and 64 hex digits, or the first 4 or more of them` {
		t.Errorf("short digest error: %v", err)
	}
}

package report_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// history is a registry with a known push history, scanned after each
// round so the graph sees tags move:
//
//	round 1: library/debian:12 = d1; team-a/api:latest = a1 (d1 + package.json, npm ci, COPY . .);
//	         team-b/web:v1 = w1 (d1 + COPY . ., npm ci: the install after the source)
//	round 2: team-a/api:latest = a2 (a1 with new source); team-b/web:v2 = w2 (new source)
//	round 3: library/debian:12 = d2 (a new build of the base); team-a/api:latest = a3 (on d2);
//	         team-a/api-mirror:latest = a3; team-b/tool:1 = t (d2 + one step);
//	         team-c/flat:1 = f (one squashed layer, annotated as built on d1)
//
// Every image stays in the registry (untagged ones too), so all are live.
type history struct {
	pool                       *pgxpool.Pool
	d1, d2, a1, a2, a3, w1, w2 v1.Image
	tool, flat                 v1.Image
	live                       map[string][]v1.Image // repository -> live images
}

func step(createdBy, path, content string) sample.Step {
	return sample.Step{CreatedBy: createdBy, Files: []sample.File{{Path: path, Content: sample.Text(content, 3000+len(content)*97)}}}
}

func day(n int) time.Time { return sample.Epoch.Add(time.Duration(n) * 24 * time.Hour) }

func newHistory(t *testing.T) *history {
	t.Helper()
	reg := registrytest.New(t)
	h := &history{pool: pgtest.NewReportPool(t)}
	ctx := context.Background()
	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(h.pool)
	rescan := func() {
		t.Helper()
		if _, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: "reg.test", Repositories: repoglob.Compile("")}); err != nil {
			t.Fatal(err)
		}
	}
	app := func(base v1.Image, src string, created time.Time) v1.Image {
		return mustBuild(t, sample.Spec{Base: base, Created: created, Steps: []sample.Step{
			step("COPY package.json package-lock.json ./ # buildkit", "app/package.json", "deps v1"),
			step("RUN /bin/sh -c npm ci # buildkit", "app/node_modules/x.js", "node modules v1"),
			step("COPY . . # buildkit", "app/src.js", src),
		}})
	}
	web := func(src string, created time.Time) v1.Image {
		return mustBuild(t, sample.Spec{Base: h.d1, Created: created, Steps: []sample.Step{
			step("COPY . . # buildkit", "web/src.js", src),
			step("RUN /bin/sh -c npm ci # buildkit", "web/node_modules/y.js", "web modules "+src),
		}})
	}
	h.d1 = mustBuild(t, sample.Spec{Created: day(0), Steps: []sample.Step{step("ADD rootfs.tar.xz / # buildkit", "etc/os-release", "debian build 1")}})
	h.d2 = mustBuild(t, sample.Spec{Created: day(10), Steps: []sample.Step{step("ADD rootfs.tar.xz / # buildkit", "etc/os-release", "debian build 2")}})
	h.a1, h.a2 = app(h.d1, "api source 1", day(1)), app(h.d1, "api source 2", day(2))
	h.a3 = app(h.d2, "api source 2", day(11))
	h.w1, h.w2 = web("web source 1", day(1)), web("web source 2", day(3))
	h.tool = mustBuild(t, sample.Spec{Base: h.d2, Created: day(12), Steps: []sample.Step{step("RUN /bin/sh -c make tool # buildkit", "usr/bin/tool", "tool")}})

	d1, _ := h.d1.Digest()
	h.flat = mustBuild(t, sample.Spec{Created: day(13), Annotations: map[string]string{
		"org.opencontainers.image.base.name": "reg.test/library/debian:12", "org.opencontainers.image.base.digest": d1.String()},
		Format: sample.OCI, Steps: []sample.Step{step("COPY / / # squashed", "everything", "flattened")}})
	reg.PushImage(t, "library/debian:12", h.d1)
	reg.PushImage(t, "team-a/api:latest", h.a1)
	reg.PushImage(t, "team-b/web:v1", h.w1)
	rescan()
	reg.PushImage(t, "team-a/api:latest", h.a2)
	reg.PushImage(t, "team-b/web:v2", h.w2)
	rescan()
	reg.PushImage(t, "library/debian:12", h.d2)
	reg.PushImage(t, "team-a/api:latest", h.a3)
	reg.PushImage(t, "team-a/api-mirror:latest", h.a3)
	reg.PushImage(t, "team-b/tool:1", h.tool)
	reg.PushImage(t, "team-c/flat:1", h.flat)
	rescan()
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	h.live = map[string][]v1.Image{
		"library/debian":    {h.d1, h.d2},
		"team-a/api":        {h.a1, h.a2, h.a3},
		"team-a/api-mirror": {h.a3},
		"team-b/web":        {h.w1, h.w2},
		"team-b/tool":       {h.tool},
		"team-c/flat":       {h.flat},
	}
	return h
}

// blob is a layer or config of an image, as the registry stores it.
type blob struct {
	digest string
	size   int64
}

// imageBlobs lists an image's layers (in order) and its config.
func imageBlobs(t *testing.T, img v1.Image) (layers []blob, config blob) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, _ := l.Digest()
		s, _ := l.Size()
		layers = append(layers, blob{d.String(), s})
	}
	cd, _ := img.ConfigName()
	raw, _ := img.RawConfigFile()
	return layers, blob{cd.String(), int64(len(raw))}
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// expectStorage works out the storage rows from the pushed images.
func expectStorage(t *testing.T, live map[string][]v1.Image, group func(repo string) string) (rows []report.StorageRow, logical, physical int64) {
	t.Helper()
	holders := map[string]map[string]bool{} // blob -> groups
	sizes := map[string]int64{}
	per := map[string]*report.StorageRow{}
	for repo, imgs := range live {
		g := group(repo)
		r := per[g]
		if r == nil {
			r = &report.StorageRow{Registry: "reg.test", Name: g}
			per[g] = r
		}
		for _, img := range imgs {
			layers, cfg := imageBlobs(t, img)
			r.Images++
			for _, b := range append(layers, cfg) {
				r.LogicalBytes += b.size
				logical += b.size
				sizes[b.digest] = b.size
				if holders[b.digest] == nil {
					holders[b.digest] = map[string]bool{}
				}
				holders[b.digest][g] = true
			}
		}
	}
	for d, gs := range holders {
		physical += sizes[d]
		for g := range gs {
			per[g].PhysicalBytes += sizes[d]
			if len(gs) == 1 {
				per[g].UniqueBytes += sizes[d]
			} else {
				per[g].SharedBytes += sizes[d]
			}
		}
	}
	for _, r := range per {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b report.StorageRow) int {
		if a.PhysicalBytes != b.PhysicalBytes {
			return int(b.PhysicalBytes - a.PhysicalBytes)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return rows, logical, physical
}

func TestStorage(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	for _, by := range []string{report.ByRepository, report.ByNamespace} {
		t.Run(by, func(t *testing.T) {
			group := func(repo string) string { return repo }
			if by == report.ByNamespace {
				group = func(repo string) string { return strings.Split(repo, "/")[0] }
			}
			want, logical, physical := expectStorage(t, h.live, group)
			got, err := report.LoadStorage(ctx, h.pool, report.StorageOptions{By: by})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Entries) != fmt.Sprint(want) || got.Matching != int64(len(want)) {
				t.Errorf("rows (%d matching)\n got %+v\nwant %+v", got.Matching, got.Entries, want)
			}
			// --limit 2: the two largest, of every row.
			two, err := report.LoadStorage(ctx, h.pool, report.StorageOptions{By: by, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(want) <= 2 || fmt.Sprint(two.Entries) != fmt.Sprint(want[:2]) || two.Matching != int64(len(want)) || fmt.Sprint(two.Registries) != fmt.Sprint(got.Registries) {
				t.Errorf("--limit 2: %d of %d rows %+v; want the first 2 of %d", len(two.Entries), two.Matching, two.Entries, len(want))
			}
			wantTotal := report.StorageTotal{Registry: "reg.test", Images: 10, LogicalBytes: logical, PhysicalBytes: physical,
				DedupFactor: float64(int64(float64(logical)/float64(physical)*10000+0.5)) / 10000}
			if len(got.Registries) != 1 || got.Registries[0] != wantTotal {
				t.Errorf("registry totals %+v, want %+v", got.Registries, wantTotal)
			}
		})
	}
	// The mirror holds one image, all of whose blobs team-a/api holds too.
	got, err := report.LoadStorage(ctx, h.pool, report.StorageOptions{By: report.ByRepository, Names: repoglob.Compile("team-a/api-mirror")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || got.Entries[0].UniqueBytes != 0 || got.Entries[0].SharedBytes != got.Entries[0].PhysicalBytes ||
		got.Entries[0].LogicalBytes != got.Entries[0].PhysicalBytes {
		t.Errorf("mirror row %+v: want every byte shared, logical = physical", got.Entries)
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	got, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Limit: 0, Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(img v1.Image, n int) int64 {
		layers, _ := imageBlobs(t, img)
		var s int64
		for _, l := range layers[:n] {
			s += l.size
		}
		return s
	}
	type tr struct {
		kind, tag     string
		from, to      v1.Image
		reused, total int
		first         int // -1: none
		step          string
	}
	want := map[string][]tr{
		// The base's tag moved to a new build: nothing reused.
		"library/debian": {{"tag", "12", h.d1, h.d2, 0, 1, 0, "ADD rootfs.tar.xz / # buildkit"}},
		// Tag stream: new source busts only the last step; then a new base busts all.
		"team-a/api": {
			{"tag", "latest", h.a1, h.a2, 3, 4, 3, "COPY . . # buildkit"},
			{"tag", "latest", h.a2, h.a3, 0, 4, 0, "ADD rootfs.tar.xz / # buildkit"},
		},
		// No tag moved: the builds in created order; the source copied
		// before the install busts the install too.
		"team-b/web": {{"created", "", h.w1, h.w2, 1, 3, 1, "COPY . . # buildkit"}},
	}
	// The builds the streams hold: the tag pushes (debian's 12 twice,
	// api's latest three times), or the images (web's two).
	builds := map[string]int64{"library/debian": 2, "team-a/api": 3, "team-b/web": 2}
	if len(got.Repositories) != len(want) {
		t.Fatalf("%d repositories with pushes, want %d: %+v", len(got.Repositories), len(want), got.Repositories)
	}
	var all report.CacheTotal  // over every repository, from the images
	anew := map[string]int64{} // the bytes each repository's builds pushed anew
	for _, r := range got.Repositories {
		w, ok := want[r.Repository]
		if !ok {
			t.Errorf("unexpected repository %s", r.Repository)
			continue
		}
		if len(r.Transitions) != len(w) {
			t.Errorf("%s: %d transitions, want %d: %+v", r.Repository, len(r.Transitions), len(w), r.Transitions)
			continue
		}
		var reused, total, rb, tb int64
		for i, x := range w {
			g := r.Transitions[i]
			first := -1
			if g.FirstChangedPosition != nil {
				first = *g.FirstChangedPosition
			}
			wantBytes, totalBytes := sum(x.to, x.reused), sum(x.to, x.total)
			if g.StreamKind != x.kind || g.Tag != x.tag || g.Registry != "reg.test" || g.Repository != r.Repository ||
				g.Platform != "linux/amd64" || g.ConfigPlatform != "" || g.From != digestOf(t, x.from) || g.To != digestOf(t, x.to) ||
				g.ReusedLayers != x.reused || g.TotalLayers != x.total || g.ReusedBytes != wantBytes || g.TotalBytes != totalBytes ||
				first != x.first || g.FirstChangedStep != x.step || g.ReuseRatio != float64(wantBytes)/float64(totalBytes) {
				t.Errorf("%s transition %d:\n got %+v (first %d)\nwant %+v reused bytes %d of %d", r.Repository, i, g, first, x, wantBytes, totalBytes)
			}
			reused, total, rb, tb = reused+int64(x.reused), total+int64(x.total), rb+wantBytes, tb+totalBytes
		}
		all.Repositories++
		all.Builds += builds[r.Repository]
		all.Compared += int64(len(w))
		all.ReusedLayers, all.TotalLayers, all.ReusedBytes, all.TotalBytes = all.ReusedLayers+reused, all.TotalLayers+total, all.ReusedBytes+rb, all.TotalBytes+tb
		anew[r.Repository] = tb - rb
		if r.StreamKind != w[0].kind || r.Builds != builds[r.Repository] || r.Compared != int64(len(w)) ||
			r.ReusedLayers != reused || r.TotalLayers != total || r.ReusedBytes != rb || r.TotalBytes != tb ||
			r.ReuseRatio != float64(rb)/float64(tb) {
			t.Errorf("%s totals %+v; want %s streams, %d builds, %d compared, %d/%d layers, %d/%d bytes",
				r.Repository, r, w[0].kind, builds[r.Repository], len(w), reused, total, rb, tb)
		}
	}
	all.ReuseRatio = float64(all.ReusedBytes) / float64(all.TotalBytes)
	if got.Total != all {
		t.Errorf("total %+v, want %+v", got.Total, all)
	}
	// Listed by the bytes pushed anew, most first.
	for i := 1; i < len(got.Repositories); i++ {
		if a, b := got.Repositories[i-1].Repository, got.Repositories[i].Repository; anew[a] < anew[b] {
			t.Errorf("%s (%d bytes anew) listed before %s (%d)", a, anew[a], b, anew[b])
		}
	}
	// --top 1: the repository whose builds pushed the most anew, alone,
	// with its transitions and months; the totals stay.
	most := ""
	for r, n := range anew {
		if most == "" || n > anew[most] {
			most = r
		}
	}
	one, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Top: 1, Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Repositories) != 1 || one.Repositories[0].Repository != most || len(one.Repositories[0].Transitions) != len(want[most]) ||
		one.Total != all || len(one.Busters) != 2 {
		t.Errorf("--top 1: %+v; want %s alone, total %+v", one, most, all)
	}
	for _, m := range one.OverTime {
		if m.Repository != most {
			t.Errorf("--top 1 lists the months of %s", m.Repository)
		}
	}
	// Busters: the base moving (twice, in two repositories), then COPY . .
	// (twice, in two repositories), each with its advice.
	if len(got.Busters) != 2 {
		t.Fatalf("busters %+v, want 2", got.Busters)
	}
	b0, b1 := got.Busters[0], got.Busters[1]
	if b0.Step != "ADD rootfs.tar.xz /" || !b0.BaseChanged || b0.Busts != 2 || b0.Repositories != 2 || !strings.Contains(b0.Advice, "base image changed") {
		t.Errorf("first buster %+v", b0)
	}
	if b1.Step != "COPY . ." || b1.BaseChanged || b1.Busts != 2 || b1.Repositories != 2 || !strings.Contains(b1.Advice, "lock file first") {
		t.Errorf("second buster %+v", b1)
	}
	// Over time: one row per repository and day of the push.
	if len(got.OverTime) < 3 {
		t.Errorf("over time %+v: want a row for each repository with pushes", got.OverTime)
	}
	var days int64
	for _, d := range got.OverTime {
		days += d.Compared
	}
	if days != 4 {
		t.Errorf("over time counts %d compared, want 4", days)
	}

	// --limit keeps each repository's latest pushes; the totals stay.
	lim, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Limit: 1, Busters: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range lim.Repositories {
		if len(r.Transitions) != 1 || (r.Repository == "team-a/api" && (r.Transitions[0].To != digestOf(t, h.a3) || r.Compared != 2 || r.Builds != 3)) {
			t.Errorf("--limit 1: %s %+v", r.Repository, r)
		}
	}
	if len(lim.Busters) != 1 {
		t.Errorf("--busters 1 gave %d", len(lim.Busters))
	}
	// --busters 0 lists them all: as many as a limit past their number.
	allBusters, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Busters: 0})
	if err != nil {
		t.Fatal(err)
	}
	many, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Busters: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(allBusters.Busters) < 2 || !reflect.DeepEqual(allBusters.Busters, many.Busters) {
		t.Errorf("--busters 0 gave %d busters, --busters 1000 %d", len(allBusters.Busters), len(many.Busters))
	}
	// --since an hour ago: the tag moves the scans saw just now, not the
	// created stream, whose builds are dated by their configs (in 2024);
	// every tag push is in the window (debian's 2, api's 3).
	recent, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Since: time.Now().Add(-time.Hour), Busters: 5})
	if err != nil {
		t.Fatal(err)
	}
	// api's builds pushed more bytes anew than debian's: listed first.
	if len(recent.Repositories) != 2 || recent.Repositories[1].Repository != "library/debian" || recent.Repositories[0].Repository != "team-a/api" ||
		recent.Repositories[1].Builds != 2 || recent.Repositories[1].Compared != 1 || recent.Repositories[1].StreamKind != "tag" ||
		recent.Repositories[0].Builds != 3 || recent.Repositories[0].Compared != 2 ||
		recent.Repositories[0].ReusedLayers != 3 || recent.Repositories[0].TotalLayers != 8 {
		t.Errorf("--since 1h repositories %+v", recent.Repositories)
	}
	if tt := recent.Total; tt.Repositories != 2 || tt.Builds != 5 || tt.Compared != 3 || tt.ReusedLayers != 3 || tt.TotalLayers != 9 {
		t.Errorf("--since 1h total %+v: want 2 repositories, 5 builds, 3 compared, 3 of 9 layers reused", tt)
	}
	// --top 1: api alone, with its months and transitions; the totals and
	// busters still count debian.
	top, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Since: time.Now().Add(-time.Hour), Busters: 5, Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Repositories) != 1 || top.Repositories[0].Repository != "team-a/api" || len(top.Repositories[0].Transitions) != 2 ||
		top.Total != recent.Total || len(top.Busters) != 2 || len(top.OverTime) != 1 || top.OverTime[0].Repository != "team-a/api" {
		t.Errorf("--since 1h --top 1: %+v", top)
	}
	if len(recent.Busters) != 2 || recent.Busters[0].Busts != 2 || !recent.Busters[0].BaseChanged || recent.Busters[1].Busts != 1 || recent.Busters[1].Step != "COPY . ." {
		t.Errorf("--since 1h busters %+v", recent.Busters)
	}
	if len(recent.OverTime) != 2 || recent.OverTime[0].Compared != 2 {
		t.Errorf("--since 1h over time %+v", recent.OverTime)
	}
	// --since after every push: nothing.
	none, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Since: time.Now().Add(time.Hour), Busters: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Repositories) != 0 || len(none.Busters) != 0 {
		t.Errorf("--since the future: %+v", none)
	}
}

func TestBases(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	got, err := report.LoadBases(ctx, h.pool, report.BasesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d1Layers, _ := imageBlobs(t, h.d1)
	want := report.Base{
		Registry: "reg.test", Repository: "library/debian", Tag: "12", Current: digestOf(t, h.d2),
		Builds: 2, StaleBuilds: 1, Images: 8, Repositories: 5, StaleImages: 5, StaleRepositories: 3,
		PinnedBytes: d1Layers[0].size,
		Dependents: []report.BaseDependent{
			{Registry: "reg.test", Repository: "team-a/api", Images: 3, StaleImages: 2},
			{Registry: "reg.test", Repository: "team-b/web", Images: 2, StaleImages: 2},
			{Registry: "reg.test", Repository: "team-a/api-mirror", Images: 1},
			{Registry: "reg.test", Repository: "team-b/tool", Images: 1},
			{Registry: "reg.test", Repository: "team-c/flat", Images: 1, StaleImages: 1},
		},
	}
	if len(got.Bases) != 1 || fmt.Sprint(got.Bases[0]) != fmt.Sprint(want) {
		t.Fatalf("bases\n got %+v\nwant [%+v]", got.Bases, want)
	}
	// Each image names its base; a1 sits on the old build.
	for _, c := range []struct {
		repo   string
		img    v1.Image
		stale  bool
		source string
	}{{"team-a/api", h.a1, true, "chain"}, {"team-a/api", h.a3, false, "chain"}, {"team-b/web", h.w2, true, "chain"},
		{"team-b/tool", h.tool, false, "chain"}, {"team-c/flat", h.flat, true, "annotation"}} {
		img, err := report.LoadImage(ctx, h.pool, report.ImageOptions{Ref: report.Ref{Repository: c.repo, Digest: digestOf(t, c.img)}})
		if err != nil {
			t.Fatal(err)
		}
		wantBase := h.d2
		if c.stale {
			wantBase = h.d1
		}
		b := img.Base
		if b == nil || b.Digest != digestOf(t, wantBase) || b.Repository != "library/debian" || b.Tag != "12" || b.Layers != 1 ||
			b.Source != c.source || b.Stale != c.stale || (c.stale && b.Current != digestOf(t, h.d2)) {
			t.Errorf("%s@%s base %+v, want debian:12 build %s (stale %v)", c.repo, digestOf(t, c.img), b, digestOf(t, wantBase), c.stale)
		}
	}
	// Only team-b's dependents.
	got, err = report.LoadBases(ctx, h.pool, report.BasesOptions{Repositories: repoglob.Compile("team-b/*")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Bases) != 1 || got.Bases[0].Images != 3 || got.Bases[0].StaleImages != 2 || got.Bases[0].Repositories != 2 || got.Bases[0].PinnedBytes != d1Layers[0].size {
		t.Errorf("team-b/* bases %+v", got.Bases)
	}
}

// The cache report's shapes, in every format, against golden files (the
// times a scan saw the tags move are masked: they are the test's own).
func TestCacheGolden(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	ctx := context.Background()
	got, err := report.LoadCache(ctx, h.pool, report.CacheOptions{Limit: 0, Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	when := regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?Z?|\d{4}-[\d:TZ -]*…`)
	for _, f := range []struct {
		name string
		opts output.Options
	}{
		{"table", output.Options{Format: output.TableFormat}},
		{"tty100", output.Options{Format: output.TableFormat, Width: 100}},
		{"json", output.Options{Format: output.JSONFormat}},
		{"csv", output.Options{Format: output.CSVFormat}},
	} {
		var buf bytes.Buffer
		if err := output.Print(&buf, f.opts, got); err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "cache."+f.name+".golden"), when.ReplaceAll(buf.Bytes(), []byte("<time>")))
	}
	checkCSVKeys(t, "cache", got)
}

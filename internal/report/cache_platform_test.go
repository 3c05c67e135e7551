package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
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

// cacheRegistry is a CNCF distribution registry and a graph that scans it.
type cacheRegistry struct {
	reg  *registrytest.Server
	pool *pgxpool.Pool
}

func newCacheRegistry(t *testing.T) *cacheRegistry {
	t.Helper()
	return &cacheRegistry{reg: registrytest.NewDistribution(t, registrytest.DistributionOptions{}), pool: pgtest.NewReportPool(t)}
}

// rescan scans the whole registry and folds the aggregates, as a scan
// followed by a report would.
func (c *cacheRegistry) rescan(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(c.pool)
	if _, err := scan.Run(ctx, store, w, scan.Options{Registry: c.reg.Host, Name: "reg.test", Repositories: repoglob.Compile("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
}

// transitions counts the compared builds kept for repository, of one kind
// of stream, per platform.
func (c *cacheRegistry) transitions(t *testing.T, repository, kind string) map[string]int {
	t.Helper()
	rows, err := c.pool.Query(context.Background(), `SELECT t.platform, count(*) FROM cache_transitions t
		JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1 AND t.stream_kind = $2 GROUP BY 1`, repository, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		out[p] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compared is a transition as a test works it out from the images: the
// later build's leading layers that are the earlier build's, their bytes.
type compared struct {
	reused, total   int
	reusedB, totalB int64
	first           *int
}

func compare(t *testing.T, from, to v1.Image) compared {
	t.Helper()
	fl, _ := imageBlobs(t, from)
	tl, _ := imageBlobs(t, to)
	c := compared{total: len(tl)}
	for i, l := range tl {
		c.totalB += l.size
		if c.first == nil && i < len(fl) && fl[i].digest == l.digest {
			c.reused++
			c.reusedB += l.size
		} else if c.first == nil {
			pos := i
			c.first = &pos
		}
	}
	return c
}

func (c compared) matches(g report.Transition) bool {
	samePos := (c.first == nil) == (g.FirstChangedPosition == nil) && (c.first == nil || *c.first == *g.FirstChangedPosition)
	return g.ReusedLayers == c.reused && g.TotalLayers == c.total && g.ReusedBytes == c.reusedB && g.TotalBytes == c.totalB &&
		samePos && g.ReuseRatio == float64(c.reusedB)/float64(c.totalB)
}

func repository(t *testing.T, c *report.Cache, name string) report.CacheRepository {
	t.Helper()
	for _, r := range c.Repositories {
		if r.Repository == name {
			return r
		}
	}
	t.Fatalf("no repository %s in %+v", name, c.Repositories)
	return report.CacheRepository{}
}

// multiPlatform is a two-platform build as buildah makes it: an arm64
// child whose config says amd64 (cross-built, labelled with the platform
// the builder ran on) and an amd64 child whose config agrees with its
// index entry; then a rebuild in which only the arm64 child changed.
type multiPlatform struct {
	arm1, arm2, amd1 v1.Image
	i1, i2           v1.ImageIndex
}

func newMultiPlatform(t *testing.T) multiPlatform {
	t.Helper()
	var m multiPlatform
	arm := func(src string, created time.Time) v1.Image {
		return mustBuild(t, sample.Spec{Created: created, Arch: "amd64", Steps: []sample.Step{
			step("ADD rootfs-arm64.tar.xz / # buildkit", "etc/os-release", "debian arm64"),
			step("RUN /bin/sh -c make app # buildkit", "usr/bin/app", src),
		}})
	}
	m.arm1, m.arm2 = arm("arm64 app 1", day(20)), arm("arm64 app 2", day(21))
	m.amd1 = mustBuild(t, sample.Spec{Created: day(20).Add(time.Hour), Steps: []sample.Step{
		step("ADD rootfs-amd64.tar.xz / # buildkit", "etc/os-release", "debian amd64"),
		step("RUN /bin/sh -c make app # buildkit", "usr/bin/app", "amd64 app 1"),
	}})
	platforms := []v1.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "amd64"}}
	var err error
	if m.i1, err = sample.Index([]v1.Image{m.arm1, m.amd1}, platforms, sample.OCI); err != nil {
		t.Fatal(err)
	}
	if m.i2, err = sample.Index([]v1.Image{m.arm2, m.amd1}, platforms, sample.OCI); err != nil {
		t.Fatal(err)
	}
	return m
}

// Two children of one index pushed once are two streams, not one rebuild;
// a child's platform is the one its index declares, whatever its config
// says; pushing the index again with one child rebuilt compares each
// platform with itself.
func TestCacheStreamsKeepPlatformsApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCacheRegistry(t)
	m := newMultiPlatform(t)

	// team-c/multi: per-platform tags first (as `buildah build` then
	// `buildah manifest create` leave them), then the index under a tag of
	// its own; its second build under another tag: no tag moves, so the
	// report shows its created streams.
	// team-c/multi-tag: one tag moving from one index to the other, and a
	// per-platform tag moving from one arm64 child to the other.
	c.reg.PushImage(t, "team-c/multi:1-arm64", m.arm1)
	c.reg.PushImage(t, "team-c/multi:1-amd64", m.amd1)
	c.rescan(t)
	// Pushed on their own, both images are what their configs say:
	// linux/amd64. Nothing tells a scan otherwise yet.
	if got := c.transitions(t, "team-c/multi", "created"); len(got) != 1 || got["linux/amd64"] != 1 {
		t.Errorf("before the index: created transitions per platform %v, want one under linux/amd64", got)
	}

	c.reg.PushIndex(t, "team-c/multi:1", m.i1)
	c.reg.PushIndex(t, "team-c/multi-tag:latest", m.i1)
	c.reg.PushImage(t, "team-c/multi-tag:latest-arm64", m.arm1)
	c.rescan(t)
	// The index lists the mislabelled image as linux/arm64/v8: it leaves
	// the amd64 stream, and each stream holds one build.
	for _, repo := range []string{"team-c/multi", "team-c/multi-tag"} {
		for _, kind := range []string{"created", "tag"} {
			if got := c.transitions(t, repo, kind); len(got) != 0 {
				t.Errorf("%s, %s streams after one push of the index: transitions per platform %v, want none", repo, kind, got)
			}
		}
	}
	once, err := report.LoadCache(ctx, c.pool, report.CacheOptions{Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(once.Repositories) != 0 || len(once.Busters) != 0 || len(once.Rows()) != 0 {
		t.Errorf("after one push of the index the report shows %+v", once)
	}

	c.reg.PushIndex(t, "team-c/multi:2", m.i2)
	c.reg.PushIndex(t, "team-c/multi-tag:latest", m.i2)
	c.reg.PushImage(t, "team-c/multi-tag:latest-arm64", m.arm2)
	c.rescan(t)

	// Created streams: arm64 holds arm1 then arm2; amd64 holds amd1 alone
	// (pushed twice, one image).
	for _, repo := range []string{"team-c/multi", "team-c/multi-tag"} {
		if got := c.transitions(t, repo, "created"); len(got) != 1 || got["linux/arm64"] != 1 {
			t.Errorf("%s created transitions per platform %v, want one under linux/arm64", repo, got)
		}
	}
	// Tag streams: latest compared per platform, latest-arm64 once.
	if got := c.transitions(t, "team-c/multi-tag", "tag"); len(got) != 2 || got["linux/arm64"] != 2 || got["linux/amd64"] != 1 {
		t.Errorf("team-c/multi-tag tag transitions per platform %v, want linux/arm64 2, linux/amd64 1", got)
	}

	got, err := report.LoadCache(ctx, c.pool, report.CacheOptions{Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	armRebuilt, amdAgain := compare(t, m.arm1, m.arm2), compare(t, m.amd1, m.amd1)
	if armRebuilt.reused != 1 || armRebuilt.total != 2 || *armRebuilt.first != 1 || amdAgain.reused != 2 || amdAgain.first != nil {
		t.Fatalf("the fixture's own comparison: %+v, %+v", armRebuilt, amdAgain)
	}
	arm1, arm2, amd1 := digestOf(t, m.arm1), digestOf(t, m.arm2), digestOf(t, m.amd1)

	// team-c/multi: three images (arm1, amd1, arm2), one compared.
	multi := repository(t, got, "team-c/multi")
	if multi.StreamKind != "created" || multi.Builds != 3 || multi.Compared != 1 ||
		multi.ReusedLayers != 1 || multi.TotalLayers != 2 || multi.ReusedBytes != armRebuilt.reusedB || multi.TotalBytes != armRebuilt.totalB ||
		multi.ReuseRatio != float64(armRebuilt.reusedB)/float64(armRebuilt.totalB) {
		t.Errorf("team-c/multi %+v; want created streams, 3 builds, 1 compared, 1 of 2 layers, %d of %d bytes", multi, armRebuilt.reusedB, armRebuilt.totalB)
	}
	if len(multi.Transitions) != 1 {
		t.Fatalf("team-c/multi transitions %+v", multi.Transitions)
	}
	if x := multi.Transitions[0]; x.StreamKind != "created" || x.Tag != "" || x.Platform != "linux/arm64" || x.ConfigPlatform != "linux/amd64" ||
		x.From != arm1 || x.To != arm2 || !armRebuilt.matches(x) || x.FirstChangedStep != "RUN /bin/sh -c make app # buildkit" {
		t.Errorf("team-c/multi transition %+v; want arm1 to arm2 under linux/arm64 (config linux/amd64), %+v", x, armRebuilt)
	}

	// team-c/multi-tag: latest pushed twice with two platforms, latest-arm64
	// twice with one: six builds, three compared.
	multiTag := repository(t, got, "team-c/multi-tag")
	wantRB, wantTB := 2*armRebuilt.reusedB+amdAgain.reusedB, 2*armRebuilt.totalB+amdAgain.totalB
	if multiTag.StreamKind != "tag" || multiTag.Builds != 6 || multiTag.Compared != 3 ||
		multiTag.ReusedLayers != 4 || multiTag.TotalLayers != 6 || multiTag.ReusedBytes != wantRB || multiTag.TotalBytes != wantTB ||
		multiTag.ReuseRatio != float64(wantRB)/float64(wantTB) {
		t.Errorf("team-c/multi-tag %+v; want tag streams, 6 builds, 3 compared, 4 of 6 layers, %d of %d bytes", multiTag, wantRB, wantTB)
	}
	type key struct{ tag, platform string }
	want := map[key]struct {
		from, to, config string
		c                compared
	}{
		{"latest", "linux/arm64"}:       {arm1, arm2, "linux/amd64", armRebuilt},
		{"latest", "linux/amd64"}:       {amd1, amd1, "", amdAgain},
		{"latest-arm64", "linux/arm64"}: {arm1, arm2, "linux/amd64", armRebuilt},
	}
	if len(multiTag.Transitions) != len(want) {
		t.Fatalf("team-c/multi-tag transitions %+v, want %d", multiTag.Transitions, len(want))
	}
	for _, x := range multiTag.Transitions {
		w, ok := want[key{x.Tag, x.Platform}]
		if !ok || x.StreamKind != "tag" || x.From != w.from || x.To != w.to || x.ConfigPlatform != w.config || !w.c.matches(x) {
			t.Errorf("team-c/multi-tag transition %+v; want %+v", x, w)
		}
		delete(want, key{x.Tag, x.Platform})
	}

	// --since an hour ago: every tag push was seen in the window, the
	// created streams' builds are dated 2024 by their configs.
	recent, err := report.LoadCache(ctx, c.pool, report.CacheOptions{Since: time.Now().Add(-time.Hour), Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recent.Repositories) != 1 || recent.Repositories[0].Repository != "team-c/multi-tag" || recent.Repositories[0].StreamKind != "tag" ||
		recent.Repositories[0].Builds != 6 || recent.Repositories[0].Compared != 3 || recent.Repositories[0].ReusedBytes != wantRB {
		t.Errorf("--since 1h: %+v; want team-c/multi-tag alone, 6 builds, 3 compared", recent.Repositories)
	}

	// The disagreement shows: in the table's platform cell and a note
	// above it.
	var table bytes.Buffer
	if err := output.Print(&table, output.Options{Format: output.TableFormat}, got); err != nil {
		t.Fatal(err)
	}
	if s := table.String(); !strings.Contains(s, "linux/arm64 (config: linux/amd64)") || !strings.Contains(s, "say linux/amd64 in their configs") ||
		!strings.Contains(s, "team-c/multi (builds in created order): 3 builds, 1 compared") ||
		!strings.Contains(s, "team-c/multi-tag (tag streams): 6 builds, 3 compared") {
		t.Errorf("table:\n%s", s)
	}
}

// An index whose children arrived first (a webhook per manifest, children
// first) moves them into its platforms' created streams, and the streams
// are what they would be had everything arrived at once.
func TestCacheIndexAfterItsChildren(t *testing.T) {
	t.Parallel()
	c := newCacheRegistry(t)
	m := newMultiPlatform(t)
	c.reg.PushImage(t, "team-c/late:arm64-1", m.arm1)
	c.reg.PushImage(t, "team-c/late:amd64-1", m.amd1)
	c.reg.PushImage(t, "team-c/late:arm64-2", m.arm2)
	c.rescan(t)
	// By their configs the three are one amd64 stream: arm1, amd1, arm2.
	if got := c.transitions(t, "team-c/late", "created"); len(got) != 1 || got["linux/amd64"] != 2 {
		t.Fatalf("before the indexes: %v", got)
	}
	c.reg.PushIndex(t, "team-c/late:1", m.i1)
	c.reg.PushIndex(t, "team-c/late:2", m.i2)
	c.rescan(t)
	if got := c.transitions(t, "team-c/late", "created"); len(got) != 1 || got["linux/arm64"] != 1 {
		t.Errorf("after the indexes: created transitions per platform %v, want one under linux/arm64", got)
	}
	var from, to string
	if err := c.pool.QueryRow(context.Background(), `SELECT from_digest, to_digest FROM cache_transitions WHERE stream_kind = 'created'`).Scan(&from, &to); err != nil {
		t.Fatal(err)
	}
	if from != digestOf(t, m.arm1) || to != digestOf(t, m.arm2) {
		t.Errorf("the arm64 stream compares %s with %s, want arm1 with arm2", from, to)
	}
}

// Builds and comparisons are counted apart, and the one ratio is reused
// bytes over the bytes of the compared builds.
func TestCacheCountsBuildsAndComparisons(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCacheRegistry(t)
	base := mustBuild(t, sample.Spec{Created: day(0), Steps: []sample.Step{step("ADD rootfs.tar.xz / # buildkit", "etc/os-release", "debian")}})
	app := func(deps, src string, created time.Time) v1.Image {
		return mustBuild(t, sample.Spec{Base: base, Created: created, Steps: []sample.Step{
			step("COPY go.mod go.sum ./ # buildkit", "src/go.mod", deps),
			step("RUN /bin/sh -c go mod download # buildkit", "root/go/pkg/mod/x", "modules "+deps),
			step("COPY . . # buildkit", "src/main.go", src),
		}})
	}
	// team-a/api: four builds under four tags, none moved: one created
	// stream of four builds, three compared.
	api := []v1.Image{app("deps 1", "api 1", day(1)), app("deps 1", "api 2", day(2)), app("deps 2", "api 3", day(3)), app("deps 2", "api 4", day(4))}
	for i, img := range api {
		c.reg.PushImage(t, fmt.Sprintf("team-a/api:v%d", i+1), img)
	}
	// team-a/worker: latest pushed three times, stable once: tag streams
	// of four builds, two compared.
	worker := []v1.Image{app("deps 1", "worker 1", day(1)), app("deps 1", "worker 2", day(2)), app("deps 1", "worker 3", day(3))}
	c.reg.PushImage(t, "team-a/worker:latest", worker[0])
	c.reg.PushImage(t, "team-a/worker:stable", worker[0])
	c.rescan(t)
	for _, img := range worker[1:] {
		c.reg.PushImage(t, "team-a/worker:latest", img)
		c.rescan(t)
	}

	got, err := report.LoadCache(ctx, c.pool, report.CacheOptions{Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, kind string, builds int64, imgs []v1.Image) {
		t.Helper()
		r := repository(t, got, name)
		var rl, tl int
		var rb, tb int64
		for i := 1; i < len(imgs); i++ {
			x := compare(t, imgs[i-1], imgs[i])
			rl, tl, rb, tb = rl+x.reused, tl+x.total, rb+x.reusedB, tb+x.totalB
		}
		if r.StreamKind != kind || r.Builds != builds || r.Compared != int64(len(imgs)-1) ||
			r.ReusedLayers != int64(rl) || r.TotalLayers != int64(tl) || r.ReusedBytes != rb || r.TotalBytes != tb ||
			r.ReuseRatio != float64(rb)/float64(tb) || r.ReuseRatio <= 0 || r.ReuseRatio >= 1 {
			t.Errorf("%s %+v; want %s streams, %d builds, %d compared, %d of %d layers, %d of %d bytes (%.4f)",
				name, r, kind, builds, len(imgs)-1, rl, tl, rb, tb, float64(rb)/float64(tb))
		}
	}
	check("team-a/api", "created", 4, api)
	check("team-a/worker", "tag", 4, worker)
	// Four layers each: v2 reuses the base, go.mod and the download (3);
	// v3 the base alone (go.mod changed); v4 three again.
	if r := repository(t, got, "team-a/api"); r.ReusedLayers != 7 || r.TotalLayers != 12 {
		t.Errorf("team-a/api reused %d of %d layers, want 7 of 12 (3 + 1 + 3 of 4 each)", r.ReusedLayers, r.TotalLayers)
	}
	// worker: latest moved twice, each time reusing all but the source.
	if r := repository(t, got, "team-a/worker"); r.ReusedLayers != 6 || r.TotalLayers != 8 {
		t.Errorf("team-a/worker reused %d of %d layers, want 6 of 8", r.ReusedLayers, r.TotalLayers)
	}

	// --since the day v3 was built: api's v3 and v4 are built in the window
	// and compared with the build before them; every push of worker's tags
	// was seen in it (by the scans, just now).
	got, err = report.LoadCache(ctx, c.pool, report.CacheOptions{Since: day(3), Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	check("team-a/api", "created", 2, api[1:])
	check("team-a/worker", "tag", 4, worker)
}

// The CSV records are the listed transitions with the keys of a
// transition's JSON, in order; every ratio is a fraction.
func TestCacheMachineOutput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCacheRegistry(t)

	// Nothing to compare yet: one line saying so.
	var empty bytes.Buffer
	none, err := report.LoadCache(ctx, c.pool, report.CacheOptions{Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := output.Print(&empty, output.Options{Format: output.TableFormat}, none); err != nil {
		t.Fatal(err)
	}
	if s := empty.String(); !strings.HasPrefix(s, "no rebuilds to compare yet") || strings.Count(s, "\n") != 1 {
		t.Errorf("empty table %q", s)
	}

	m := newMultiPlatform(t)
	c.reg.PushIndex(t, "team-c/multi:latest", m.i1)
	c.rescan(t)
	c.reg.PushIndex(t, "team-c/multi:latest", m.i2)
	c.rescan(t)
	got, err := report.LoadCache(ctx, c.pool, report.CacheOptions{Busters: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Repositories) != 1 || len(got.Repositories[0].Transitions) != 2 {
		t.Fatalf("repositories %+v", got.Repositories)
	}

	var out bytes.Buffer
	if err := output.Print(&out, output.Options{Format: output.CSVFormat}, got); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 3 {
		t.Fatalf("CSV %v: want a header and two records", records)
	}
	for i, x := range got.Repositories[0].Transitions {
		keys, values := jsonObject(t, x)
		if strings.Join(records[0], ",") != strings.Join(keys, ",") {
			t.Fatalf("CSV header\n %v\nJSON keys of a transition\n %v", records[0], keys)
		}
		for j, k := range keys {
			if k == "at" { // CSV writes whole seconds
				at, err := time.Parse(time.RFC3339, records[i+1][j])
				if err != nil || !at.Equal(x.At.Truncate(time.Second)) {
					t.Errorf("record %d, at = %q (%v); JSON says %s", i, records[i+1][j], err, x.At)
				}
				continue
			}
			if want := values[k]; records[i+1][j] != want {
				t.Errorf("record %d, %s = %q; JSON says %q", i, k, records[i+1][j], want)
			}
		}
	}

	js, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "percent") || strings.Contains(string(js), `"stream"`) {
		t.Errorf("JSON holds a percentage or a stream in words: %s", js)
	}
	var ratios []float64
	for _, r := range got.Repositories {
		ratios = append(ratios, r.ReuseRatio)
		for _, x := range r.Transitions {
			ratios = append(ratios, x.ReuseRatio)
		}
	}
	for _, mo := range got.OverTime {
		ratios = append(ratios, mo.ReuseRatio)
	}
	for _, r := range ratios {
		if r < 0 || r > 1 {
			t.Errorf("ratio %v is not a fraction", r)
		}
	}
}

// jsonObject returns the keys of v's JSON object in order, and each value
// as CSV would write it (a fraction with four decimals, null as empty).
func jsonObject(t *testing.T, v any) ([]string, map[string]string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var keys []string
	values := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw any
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		key := k.(string)
		keys = append(keys, key)
		switch x := raw.(type) {
		case nil:
			values[key] = ""
		case json.Number:
			values[key] = x.String()
			if key == "reuse_ratio" {
				f, _ := x.Float64()
				values[key] = strconv.FormatFloat(f, 'f', 4, 64)
			}
		default:
			values[key] = fmt.Sprint(x)
		}
	}
	return keys, values
}

package report_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/dbsqlc"
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

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) { pgtest.Main(m) }

func build(t testing.TB, base v1.Image, f sample.Format, steps ...string) v1.Image {
	t.Helper()
	s := sample.Spec{Base: base, Format: f}
	for i, st := range steps {
		s.Steps = append(s.Steps, sample.Step{CreatedBy: "RUN " + st, Files: []sample.File{{Path: "f/" + st, Content: sample.Text(st, 1000*(i+1))}}})
	}
	img, err := sample.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushed is one live (repository, image manifest) pair the test knows of.
type pushed struct {
	repo string
	img  v1.Image
}

type corpus struct {
	pool     *pgxpool.Pool
	live     []pushed // every live image manifest membership
	app1     v1.Image
	arm      v1.Image
	crossArm v1.Image
}

// setup pushes a known corpus, scans it, and deletes one manifest, so that
// the test knows exactly which memberships are live.
func setup(t *testing.T) corpus {
	t.Helper()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)
	ctx := context.Background()

	base := build(t, nil, sample.Docker, "debian-rootfs", "apt-get-install")
	app1 := build(t, base, sample.Docker, "app1-code")
	app2 := build(t, base, sample.Docker, "app2-code", "app2-assets")
	arm, err := sample.Build(sample.Spec{Format: sample.OCI, Arch: "arm64", Variant: "v8", Steps: []sample.Step{
		{CreatedBy: "RUN arm-rootfs", Files: []sample.File{{Path: "f/arm-rootfs", Content: sample.Text("arm-rootfs", 1000)}}},
		{CreatedBy: "RUN app2-assets", Files: []sample.File{{Path: "f/app2-assets", Content: sample.Text("app2-assets", 2000)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	amd2 := build(t, nil, sample.OCI, "amd-rootfs")
	gone := build(t, base, sample.Docker, "gone-code")
	idx, err := sample.Index([]v1.Image{amd2, arm}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "library/base:1", base)
	reg.PushImage(t, "team/app1:1", app1)
	reg.PushImage(t, "mirror/app1:1", app1)
	reg.PushImage(t, "team/app2:1", app2)
	reg.PushImage(t, "team/app2:2", app2) // a second tag: still one manifest
	app2zstd, err := sample.Recompress(app2, sample.Zstd, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app2-zstd:1", app2zstd) // the same layers, other blobs
	reg.PushIndex(t, "multi/arch:1", idx)
	// A cross-build its builder mislabelled: the index says arm64/v8, the
	// image's config says amd64.
	crossAmd := build(t, nil, sample.OCI, "cross-amd")
	crossArm := build(t, nil, sample.OCI, "cross-arm")
	cross, err := sample.Index([]v1.Image{crossAmd, crossArm}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	reg.PushIndex(t, "multi/cross:1", cross)
	goneDigest := reg.PushImage(t, "team/gone:1", gone)
	d, _ := app1.Digest()
	mt, _ := app1.MediaType()
	raw, _ := app1.RawManifest()
	sig, err := sample.Artifact("application/vnd.dev.cosign.simplesigning.v1+json", []byte("sig"), v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app1:sig", sig) // artifacts never count as sharing

	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(pool)
	if _, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: "reg.test", Repositories: repoglob.Compile("")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "team/gone", goneDigest, time.Now(), "test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	return corpus{pool: pool, app1: app1, arm: arm, live: []pushed{
		{"library/base", base}, {"team/app1", app1}, {"mirror/app1", app1}, {"team/app2", app2}, {"team/app2-zstd", app2zstd},
		{"multi/arch", amd2}, {"multi/arch", arm}, {"multi/cross", crossAmd}, {"multi/cross", crossArm},
	}, crossArm: crossArm}
}

// expectTopShared computes top-shared from what the test pushed: per
// layer content (diff_id), the live image manifests and repositories
// holding it, and per encoding (blob) its size and the manifests listing
// it; contents held by at least minImages manifests.
func expectTopShared(t *testing.T, live []pushed, keep func(repo string) bool, minImages int) []report.SharedLayer {
	t.Helper()
	type agg struct {
		l     report.SharedLayer
		ms    map[string]bool
		repos map[string]bool
		blobs map[string]*report.Encoding
		blobM map[string]map[string]bool
	}
	leastMediaType := map[string]string{}
	for _, p := range live {
		layers, _ := p.img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			mt, _ := l.MediaType()
			if m, ok := leastMediaType[d.String()]; !ok || string(mt) < m {
				leastMediaType[d.String()] = string(mt)
			}
		}
	}
	byContent := map[string]*agg{}
	for _, p := range live {
		if !keep(p.repo) {
			continue
		}
		md, _ := p.img.Digest()
		layers, _ := p.img.Layers()
		cf, _ := p.img.ConfigFile()
		for i, l := range layers {
			d, _ := l.Digest()
			sz, _ := l.Size()
			mt, _ := l.MediaType()
			content := cf.RootFS.DiffIDs[i].String()
			a := byContent[content]
			if a == nil {
				a = &agg{l: report.SharedLayer{Content: content}, ms: map[string]bool{}, repos: map[string]bool{},
					blobs: map[string]*report.Encoding{}, blobM: map[string]map[string]bool{}}
				byContent[content] = a
			}
			a.ms[md.String()] = true
			a.repos[p.repo] = true
			if a.blobs[d.String()] == nil {
				a.blobs[d.String()] = &report.Encoding{Digest: d.String(), MediaType: string(mt), Compression: report.Compression(string(mt)), Size: sz}
				a.blobM[d.String()] = map[string]bool{}
			}
			// One blob listed by a Docker and an OCI manifest: the least
			// media type it is listed with anywhere, whichever was walked
			// first.
			a.blobs[d.String()].MediaType = leastMediaType[d.String()]
			a.blobM[d.String()][md.String()] = true
		}
	}
	var out []report.SharedLayer
	for _, a := range byContent {
		a.l.Images, a.l.Repositories = int64(len(a.ms)), int64(len(a.repos))
		if a.l.Images < int64(minImages) {
			continue
		}
		for d, e := range a.blobs {
			e.Images = int64(len(a.blobM[d]))
			a.l.StoredBytes += e.Size
			a.l.SavedBytes += e.Size * (e.Images - 1)
			a.l.Encodings = append(a.l.Encodings, *e)
		}
		slices.SortFunc(a.l.Encodings, func(x, y report.Encoding) int {
			return cmp.Or(cmp.Compare(x.Size, y.Size), cmp.Compare(x.Digest, y.Digest))
		})
		for r := range a.repos {
			a.l.SampleRepositories = append(a.l.SampleRepositories, r)
		}
		slices.Sort(a.l.SampleRepositories)
		a.l.SampleRepositories = a.l.SampleRepositories[:min(5, len(a.l.SampleRepositories))]
		out = append(out, a.l)
	}
	slices.SortFunc(out, func(a, b report.SharedLayer) int {
		return cmp.Or(-cmp.Compare(a.Images, b.Images), -cmp.Compare(a.Repositories, b.Repositories), -cmp.Compare(a.StoredBytes, b.StoredBytes), cmp.Compare(a.Content, b.Content))
	})
	return out
}

func TestTopShared(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	for _, glob := range []string{"**", "team/*", "multi/**"} {
		for _, minImages := range []int{1, 2} {
			t.Run(fmt.Sprint(glob, minImages), func(t *testing.T) {
				g := repoglob.Compile(glob)
				got, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 100, Repositories: g, MinImages: minImages})
				if err != nil {
					t.Fatal(err)
				}
				want := expectTopShared(t, c.live, g.Match, minImages)
				if len(got.Layers) != len(want) {
					t.Fatalf("%d layers, want %d", len(got.Layers), len(want))
				}
				for i := range want {
					g, w := got.Layers[i], want[i]
					g.CreatedBy = "" // checked below
					if fmt.Sprint(g) != fmt.Sprint(w) {
						t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
					}
				}
			})
		}
	}
	// The figures for the base layers, worked by hand: each base layer's
	// content is in base, app1 (twice, one manifest), app2 and app2's zstd
	// copy: 4 manifests in 5 repositories, under two blobs (gzip in 3
	// manifests, zstd in 1); the deleted image and the signature do not
	// count.
	got, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 2, Repositories: repoglob.Compile("")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != 2 {
		t.Fatalf("limit 2 gave %d rows", len(got.Layers))
	}
	for _, l := range got.Layers {
		if l.Images != 4 || l.Repositories != 5 || len(l.Encodings) != 2 || !strings.HasPrefix(l.CreatedBy, "RUN ") {
			t.Errorf("base layer %+v", l)
			continue
		}
		byComp := map[string]report.Encoding{}
		for _, e := range l.Encodings {
			byComp[e.Compression] = e
		}
		gz, zs := byComp["gzip"], byComp["zstd"]
		if gz.Images != 3 || zs.Images != 1 || l.StoredBytes != gz.Size+zs.Size || l.SavedBytes != 2*gz.Size {
			t.Errorf("base layer encodings %+v", l)
		}
	}
	// Each ranking, over the whole graph and under a filter, agrees with
	// the figures worked out above.
	for _, sortBy := range []string{report.SortImages, report.SortRepositories, report.SortSaved, report.SortStored} {
		for _, glob := range []string{"**", "team/**"} {
			g := repoglob.Compile(glob)
			got, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 3, Repositories: g, SortBy: sortBy, MinImages: 1})
			if err != nil {
				t.Fatal(err)
			}
			want := expectTopShared(t, c.live, g.Match, 1)
			key := func(l report.SharedLayer) int64 {
				return map[string]int64{report.SortImages: l.Images, report.SortRepositories: l.Repositories, report.SortSaved: l.SavedBytes, report.SortStored: l.StoredBytes}[sortBy]
			}
			slices.SortStableFunc(want, func(a, b report.SharedLayer) int { return -cmp.Compare(key(a), key(b)) })
			var gotKeys, wantKeys []string
			for i := range got.Layers {
				gotKeys = append(gotKeys, fmt.Sprint(got.Layers[i].Content, key(got.Layers[i])))
				wantKeys = append(wantKeys, fmt.Sprint(want[i].Content, key(want[i])))
			}
			if !slices.Equal(gotKeys, wantKeys) {
				t.Errorf("sort by %s over %s:\n got %v\nwant %v", sortBy, glob, gotKeys, wantKeys)
			}
		}
	}
	if _, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: -1}); err == nil {
		t.Error("limit -1 accepted")
	}
	// Limit 0 lists all, as a limit past their number does.
	all, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 0, MinImages: 1})
	if err != nil {
		t.Fatal(err)
	}
	many, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 100000, MinImages: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Layers) < 2 || !slices.EqualFunc(all.Layers, many.Layers, func(a, b report.SharedLayer) bool { return a.Content == b.Content }) {
		t.Errorf("limit 0 listed %d layers, a limit of 100,000 %d", len(all.Layers), len(many.Layers))
	}
}

func TestImage(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	ref, _ := report.ParseRef("team/app1:1")
	img, err := report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref, Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := c.app1.Digest()
	layers, _ := c.app1.Layers()
	if img.Digest != d.String() || img.Registry != "reg.test" || img.Tag != "1" || len(img.Layers) != 3 || img.LayerCount != 3 {
		t.Fatalf("image = %+v", img)
	}
	wantBy := []string{"RUN debian-rootfs", "RUN apt-get-install", "RUN app1-code"}
	// Base layers' contents: in library/base, team/app2, team/app2-zstd
	// (other blobs, the same diff_ids) and team/gone (deleted: not
	// counted) besides this manifest; app1 itself is in two repositories
	// but is one manifest.
	wantShared := []int64{3, 3, 0}
	wantBase := []bool{true, true, false}
	var total int64
	for i, l := range img.Layers {
		ld, _ := layers[i].Digest()
		sz, _ := layers[i].Size()
		total += sz
		if l.Position != i || l.Digest != ld.String() || l.Size != sz || l.CreatedBy != wantBy[i] || l.OtherImages != wantShared[i] ||
			l.FromBase != wantBase[i] || l.Compression != "gzip" {
			t.Errorf("layer %d = %+v; want %s %d %q shared %d from base %v", i, l, ld, sz, wantBy[i], wantShared[i], wantBase[i])
		}
	}
	if img.Size != total {
		t.Errorf("size = %d, want %d", img.Size, total)
	}
	if img.Base == nil || img.Base.Repository != "library/base" || img.Base.Layers != 2 || img.Platform != "linux/amd64" || len(img.Platforms) != 0 {
		t.Errorf("base %+v, platform %q %v", img.Base, img.Platform, img.Platforms)
	}

	// The zstd copy of app2: the same contents, so the same base (by chain
	// id) and the same sharing, under other blobs.
	ref, _ = report.ParseRef("team/app2-zstd:1")
	if img, err = report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref, Platform: "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
	// Base layers: base, app1 and app2 besides it; app2-code: app2;
	// app2-assets: app2 and multi/arch's arm64 image, whose second layer
	// has the same content.
	wantShared = []int64{3, 3, 1, 2}
	if img.Base == nil || img.Base.Repository != "library/base" || img.Base.Layers != 2 || len(img.Layers) != 4 {
		t.Fatalf("zstd image %+v", img)
	}
	for i, l := range img.Layers {
		if l.Compression != "zstd" || l.OtherImages != wantShared[i] || l.FromBase != (i < 2) {
			t.Errorf("zstd layer %d = %+v, want %d other images", i, l, wantShared[i])
		}
	}

	// An index: the platform picks the child.
	ref, _ = report.ParseRef("reg.test/multi/arch:1")
	img, err = report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref, Platform: "linux/arm64/v8"})
	if err != nil {
		t.Fatal(err)
	}
	armD, _ := c.arm.Digest()
	if img.Digest != armD.String() || img.IndexDigest == "" || img.Platform != "linux/arm64/v8" || len(img.Layers) != 2 ||
		img.ConfigPlatform != "" || len(img.Platforms) != 2 || img.Platforms[0].Platform != "linux/amd64" {
		t.Fatalf("arm image = %+v", img)
	}
	// The mislabelled child: the index's platform, the config's beside it,
	// by the index and by its own digest.
	crossD, _ := c.crossArm.Digest()
	for _, r := range []string{"multi/cross:1", "multi/cross@" + crossD.String()} {
		ref, _ = report.ParseRef(r)
		img, err = report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref, Platform: "linux/arm64"})
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != crossD.String() || img.Platform != "linux/arm64/v8" || img.ConfigPlatform != "linux/amd64" {
			t.Errorf("%s: digest %s platform %q config %q", r, img.Digest, img.Platform, img.ConfigPlatform)
		}
	}
	ref, _ = report.ParseRef("multi/arch:1")
	_, err = report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref, Platform: "linux/s390x"})
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8") {
		t.Errorf("missing platform: %v", err)
	}
	for _, bad := range []string{"team/gone:1", "team/app1:nope", "nobody/here:1"} {
		ref, _ := report.ParseRef(bad)
		if _, err := report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref, Platform: "linux/amd64"}); !errors.Is(err, report.ErrNotFound) {
			t.Errorf("%s: err = %v, want not found", bad, err)
		}
	}
	ref, _ = report.ParseRef("team/app1:sig")
	if _, err := report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref}); err == nil || !strings.Contains(err.Error(), "is an artifact") {
		t.Errorf("artifact: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("a", 64)
	cases := []struct {
		in, repo, tag, digest string
		bad                   bool
	}{
		{in: "library/debian:12", repo: "library/debian", tag: "12"},
		{in: "library/debian", repo: "library/debian", tag: "latest"},
		{in: "localhost:5000/team/app", repo: "localhost:5000/team/app", tag: "latest"},
		{in: "localhost:5000/team/app:v1", repo: "localhost:5000/team/app", tag: "v1"},
		{in: "team/app@" + digest, repo: "team/app", digest: digest},
		{in: "team/app@sha256:abc", bad: true},
		{in: "", bad: true},
		{in: ":v1", bad: true},
		{in: "team/app:", bad: true},
	}
	for _, c := range cases {
		r, err := report.ParseRef(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseRef(%q) = %+v, want an error", c.in, r)
			}
			continue
		}
		if err != nil || r.Repository != c.repo || r.Tag != c.tag || r.Digest != c.digest {
			t.Errorf("ParseRef(%q) = %+v, %v", c.in, r, err)
		}
	}
}

// The rendered reports, in every format, against golden files: the corpus
// is deterministic, so a change in output is a reviewable diff. Tables are
// rendered piped (every value whole) and on terminals 80 and 120 columns
// wide.
func TestGolden(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	all := repoglob.Compile("")
	top, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 5, Repositories: all})
	if err != nil {
		t.Fatal(err)
	}
	image := func(ref, platform string) *report.Image {
		r, _ := report.ParseRef(ref)
		img, err := report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: r, Platform: platform})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	storage, err := report.LoadStorage(ctx, c.pool, report.StorageOptions{Names: all})
	if err != nil {
		t.Fatal(err)
	}
	bases, err := report.LoadBases(ctx, c.pool, report.BasesOptions{Repositories: all})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "blob", Repositories: all, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	none, err := report.LoadTopShared(ctx, c.pool, report.TopSharedOptions{Limit: 5, Repositories: repoglob.Compile("nothing/**")})
	if err != nil {
		t.Fatal(err)
	}
	formats := []struct {
		name string
		opts output.Options
	}{
		{"table", output.Options{Format: output.TableFormat}},
		{"tty80", output.Options{Format: output.TableFormat, Width: 80}},
		{"tty120", output.Options{Format: output.TableFormat, Width: 120}},
		{"wide", output.Options{Format: output.WideFormat, Width: 80}},
		{"json", output.Options{Format: output.JSONFormat}},
		{"csv", output.Options{Format: output.CSVFormat}},
	}
	for _, r := range []struct {
		name   string
		report output.Table
	}{
		{"top_shared", top}, {"image", image("team/app2:2", "")}, {"image_index", image("multi/cross:1", "linux/arm64")},
		{"storage", storage}, {"bases", bases}, {"duplicates_blob", blobs}, {"empty", none},
	} {
		for _, f := range formats {
			var buf bytes.Buffer
			if err := output.Print(&buf, f.opts, r.report); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", r.name+"."+f.name+".golden"), buf.Bytes())
			if f.opts.Width > 0 && f.opts.Format == output.TableFormat {
				for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
					if n := len([]rune(line)); n > f.opts.Width {
						t.Errorf("%s %s line %d is %d columns wide: %q", r.name, f.name, i, n, line)
					}
				}
			}
		}
		checkCSVKeys(t, r.name, r.report)
	}
}

// checkCSVKeys checks that every CSV header of report is a key of its JSON,
// and that its table's wide columns are among the CSV ones.
func checkCSVKeys(t *testing.T, name string, report output.Table) {
	t.Helper()
	b, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, v := range x {
				keys[k] = true
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(doc)
	for _, c := range report.Columns() {
		if !keys[c.Key] && len(report.Rows()) > 0 {
			t.Errorf("%s: CSV header %q is not a JSON key (keys: %v)", name, c.Key, slices.Sorted(maps.Keys(keys)))
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (rerun with -update and review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// A layer stored gzip and zstd: the smaller encoding is kept, the larger is
// what is stored again, on its own row.
func TestBlobDuplicates(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	type enc struct {
		digest string
		size   int64
	}
	encodings := map[string]map[string]enc{} // diff_id -> blob -> encoding
	for _, p := range c.live {
		layers, _ := p.img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			id, _ := l.DiffID()
			sz, _ := l.Size()
			if encodings[id.String()] == nil {
				encodings[id.String()] = map[string]enc{}
			}
			encodings[id.String()][d.String()] = enc{d.String(), sz}
		}
	}
	var wantTwice int64
	wantLayers := 0
	for _, es := range encodings {
		if len(es) < 2 {
			continue
		}
		wantLayers++
		var sizes []int64
		for _, e := range es {
			sizes = append(sizes, e.size)
		}
		slices.Sort(sizes)
		for _, s := range sizes[1:] {
			wantTwice += s
		}
	}
	r, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "blob", Repositories: repoglob.Compile(""), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := r.(*report.BlobDuplicates)
	if len(got.Layers) != wantLayers || got.BytesStoredTwice != wantTwice || wantLayers != 4 {
		t.Fatalf("%d layers stored twice, %d bytes; want %d (4: app2's and its zstd copy's), %d", len(got.Layers), got.BytesStoredTwice, wantLayers, wantTwice)
	}
	for _, l := range got.Layers {
		es := encodings[l.DiffID]
		if len(l.Blobs) != len(es) {
			t.Fatalf("%s: %d blobs, want %d", l.DiffID, len(l.Blobs), len(es))
		}
		var extra int64
		for i, b := range l.Blobs {
			if es[b.Digest].size != b.Size || b.Kept != (i == 0) || (i > 0) != (b.ExtraBytes == b.Size) || (i == 0) != (b.ExtraBytes == 0) {
				t.Errorf("%s blob %d: %+v", l.DiffID, i, b)
			}
			if i > 0 && b.Size < l.Blobs[0].Size {
				t.Errorf("%s: kept %d bytes over %d", l.DiffID, l.Blobs[0].Size, b.Size)
			}
			extra += b.ExtraBytes
		}
		if extra != l.BytesStoredTwice {
			t.Errorf("%s: rows say %d stored again, the layer %d", l.DiffID, extra, l.BytesStoredTwice)
		}
	}

	// Every repository reads the kept per-content figures; a --repo
	// filter groups the live blobs afresh. A filter that every
	// repository matches gives the same rows.
	live, err := dbsqlc.New().DuplicatesBlob(ctx, c.pool, dbsqlc.DuplicatesBlobParams{Repository: ".", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalLayers != int64(wantLayers) || len(live) == 0 || live[0].TotalLayers != int64(wantLayers) || live[0].TotalBytesStoredTwice != wantTwice {
		t.Errorf("totals: kept %d layers; grouped afresh %+v; want %d layers, %d bytes", got.TotalLayers, live, wantLayers, wantTwice)
	}
	// A page of one keeps the totals of all.
	one, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "blob", Repositories: repoglob.Compile(""), Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p := one.(*report.BlobDuplicates); len(p.Layers) != 1 || p.TotalLayers != int64(wantLayers) || p.BytesStoredTwice != wantTwice ||
		!strings.Contains(p.Preamble()[0], "the 1 that store the most again below") {
		t.Errorf("--limit 1: %d layers shown, totals %d layers, %d bytes, %q; want 1, %d, %d", len(p.Layers), p.TotalLayers, p.BytesStoredTwice, p.Preamble()[0], wantLayers, wantTwice)
	}
	liveOne, err := dbsqlc.New().DuplicatesBlob(ctx, c.pool, dbsqlc.DuplicatesBlobParams{Repository: ".", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(liveOne) != 1 || liveOne[0].TotalLayers != int64(wantLayers) || liveOne[0].TotalBytesStoredTwice != wantTwice {
		t.Errorf("grouped afresh, limit 1: %+v; want totals %d layers, %d bytes", liveOne, wantLayers, wantTwice)
	}
	if len(live) != len(got.Layers) {
		t.Fatalf("grouped afresh: %d layers; kept: %d", len(live), len(got.Layers))
	}
	for i, l := range live {
		k := got.Layers[i]
		if *l.DiffID != k.DiffID || l.StoredBytes != k.StoredBytes || l.BytesStoredTwice != k.BytesStoredTwice || len(l.Digests) != len(k.Blobs) {
			t.Errorf("row %d grouped afresh: %s %d %d %v; kept: %+v", i, *l.DiffID, l.StoredBytes, l.BytesStoredTwice, l.Digests, k)
		}
	}
}

package report_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/pgtest"
	"github.com/layerq/layerq/internal/registrytest"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/walker"
)

func content(seed string, n int) []byte { return sample.Text(seed, n) }

func file(p string, n int) sample.File { return sample.File{Path: p, Content: content(p, n)} }

func dir(p string) sample.File { return sample.File{Path: p, Type: tar.TypeDir} }

// The bloat corpus: a base and an app on it whose steps hit every overlay
// case, each with a known byte count.
var (
	baseStep = sample.Step{CreatedBy: "ADD rootfs.tar / # buildkit", Files: []sample.File{
		dir("etc"), file("etc/passwd", 100),
		dir("usr"), dir("usr/bin"), {Path: "usr/bin/tool", Content: content("usr/bin/tool", 3000), Mode: 0o755},
		dir("usr/share"), dir("usr/share/doc"), file("usr/share/doc/a", 500), file("usr/share/doc/b", 700),
		dir("opt"), dir("opt/data"), file("opt/data/x", 400), file("opt/data/y", 600),
		dir("srv"), file("srv/f", 250),
	}}
	appSteps = []sample.Step{
		{CreatedBy: "RUN /bin/sh -c apt-get update # buildkit", Files: []sample.File{
			dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"),
			file("var/lib/apt/lists/a", 4000), file("var/lib/apt/lists/b", 6000), dir("var/lib/apt/lists/partial"),
		}},
		installStep(sample.Epoch),
		{CreatedBy: "RUN /bin/sh -c rm -rf /var/lib/apt/lists/* # buildkit", Files: []sample.File{
			dir("var/lib/apt/lists"), sample.Whiteout("var/lib/apt/lists/a"), sample.Whiteout("var/lib/apt/lists/b"), sample.Whiteout("var/lib/apt/lists/partial"),
		}},
		{CreatedBy: "RUN /bin/sh -c chmod 0700 /usr/bin/tool # buildkit", Files: []sample.File{
			{Path: "usr/bin/tool", Content: content("usr/bin/tool", 3000), Mode: 0o700},
		}},
		{CreatedBy: "RUN /bin/sh -c rm -rf /usr/share/doc /usr/bin/curl # buildkit", Files: []sample.File{
			sample.Whiteout("usr/share/doc"), sample.Whiteout("usr/bin/curl"),
		}},
		{CreatedBy: "COPY data /opt/data # buildkit", Files: []sample.File{
			sample.OpaqueWhiteout("opt/data"), file("opt/data/z", 50),
		}},
		{CreatedBy: "RUN /bin/sh -c rm /srv/f && mkdir /srv/f && echo > /srv/f/inner # buildkit", Files: []sample.File{
			dir("srv/f"), file("srv/f/inner", 10),
		}},
		{CreatedBy: "RUN /bin/sh -c rm -rf /srv/f && echo > /srv/f # buildkit", Files: []sample.File{
			sample.Whiteout("srv/f"), file("srv/f", 20),
		}},
		{CreatedBy: "RUN /bin/sh -c echo config > /etc/passwd # buildkit", Files: []sample.File{
			file("etc/passwd", 120),
		}},
	}
)

// installStep installs curl, with a hard link to it; mtime tells rebuilds apart.
func installStep(mtime time.Time) sample.Step {
	return sample.Step{CreatedBy: "RUN /bin/sh -c apt-get install -y curl # buildkit", Files: []sample.File{
		{Path: "usr/bin/curl", Content: content("usr/bin/curl", 2000), Mode: 0o755, ModTime: mtime},
		{Path: "usr/bin/curl-hl", Type: tar.TypeLink, Linkname: "usr/bin/curl", ModTime: mtime},
	}}
}

type bloatCorpus struct {
	pool       *pgxpool.Pool
	base, app  v1.Image
	zbase      v1.Image
	rebuild    v1.Image
	child      v1.Image
	layerSizes []int64 // compressed sizes of app's layers
	layerTars  []int64 // uncompressed sizes of app's layers
}

func mustBuild(t *testing.T, s sample.Spec) v1.Image {
	t.Helper()
	img, err := sample.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func setupBloat(t *testing.T) bloatCorpus {
	t.Helper()
	ctx := context.Background()
	reg := registrytest.New(t)
	c := bloatCorpus{pool: pgtest.NewPool(t)}
	c.base = mustBuild(t, sample.Spec{Steps: []sample.Step{baseStep}})
	c.app = mustBuild(t, sample.Spec{Base: c.base, Steps: appSteps})
	var err error
	if c.zbase, err = sample.Recompress(c.base, sample.Zstd, sample.OCI); err != nil {
		t.Fatal(err)
	}
	c.rebuild = mustBuild(t, sample.Spec{Base: c.base, Steps: []sample.Step{installStep(sample.Epoch.Add(time.Hour))}})
	reg.PushImage(t, "lib/deb:12", c.base)
	reg.PushImage(t, "zstd/deb:12", c.zbase)
	reg.PushImage(t, "team/app:1", c.app)
	reg.PushImage(t, "team/rebuild:1", c.rebuild)
	// An image built FROM team/app, in another repository: team/app is its
	// base, not the other way round.
	c.child = mustBuild(t, sample.Spec{Base: c.app, Steps: []sample.Step{{CreatedBy: "COPY extra /extra # buildkit", Files: []sample.File{file("extra", 10)}}}})
	reg.PushImage(t, "team/child:1", c.child)
	// An SBOM beside the app: its blob is no file system and is never indexed.
	ad, _ := c.app.Digest()
	amt, _ := c.app.MediaType()
	araw, _ := c.app.RawManifest()
	sbom, err := sample.Artifact("application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), v1.Descriptor{MediaType: amt, Digest: ad, Size: int64(len(araw))})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/app:sbom", sbom)
	// The app and its rebuild as two platforms of one index.
	idx, err := sample.Index([]v1.Image{c.app, c.rebuild}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, sample.Docker)
	if err != nil {
		t.Fatal(err)
	}
	reg.PushIndex(t, "team/multi:1", idx)

	layers, _ := c.app.Layers()
	for _, l := range layers {
		sz, _ := l.Size()
		rc, _ := l.Uncompressed()
		n, _ := io.Copy(io.Discard, rc)
		c.layerSizes, c.layerTars = append(c.layerSizes, sz), append(c.layerTars, n)
	}

	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(c.pool)
	if _, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: "reg.test", Repositories: repoglob.Compile("**")}); err != nil {
		t.Fatal(err)
	}
	ls, err := layerindex.Pending(ctx, store, "reg.test", reg.Host, repoglob.Compile("**").Regexp())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := layerindex.Run(ctx, &layerindex.Indexer{Store: store}, w, ls, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// base (twice: gzip, zstd), 9 app layers, the rebuilt install layer,
	// the child's layer.
	if sum.Indexed != 13 || sum.Skipped != 0 || sum.Rejected+sum.Failed != 0 {
		t.Fatalf("indexing: %+v", sum)
	}
	return c
}

func TestBloat(t *testing.T) {
	t.Parallel()
	c := setupBloat(t)
	ctx := context.Background()
	got, err := report.LoadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	// lib/deb, zstd/deb, team/app, team/rebuild, team/child, and the two
	// children of team/multi.
	if got.Analyzed != 7 || got.Pending != 0 {
		t.Errorf("analyzed %d, pending %d; want 7, 0", got.Analyzed, got.Pending)
	}
	// team/app, team/child on it (the same waste, inside its base), and
	// team/multi's app child.
	if len(got.Images) != 3 || got.Images[0].Repository != "team/app" || got.Images[1].Repository != "team/child" || got.Images[2].Repository != "team/multi" {
		t.Fatalf("images shown: %+v", got.Images)
	}
	if ch := got.Images[1]; ch.BaseLayers != 10 || ch.Layers != 11 || len(ch.LayerRuns) != 0 || ch.WastedBytes != 15560 || !ch.Pairs[0].InBase {
		t.Errorf("team/child: %d layers, %d from the base, runs %+v, wasted %d, first pair in base %v",
			ch.Layers, ch.BaseLayers, ch.LayerRuns, ch.WastedBytes, ch.Pairs[0].InBase)
	}
	img := got.Images[0]
	appDigest, _ := c.app.Digest()
	if img.Repository != "team/app" || img.Tag != "1" || img.Digest != appDigest.String() || img.Layers != 10 || img.BaseLayers != 1 {
		t.Errorf("image = %s:%s@%s, %d layers (%d base)", img.Repository, img.Tag, img.Digest, img.Layers, img.BaseLayers)
	}
	step := func(i int) string {
		if i == 0 {
			return baseStep.CreatedBy
		}
		return appSteps[i-1].CreatedBy
	}
	est := func(n int64, layer int) int64 {
		return int64(float64(n) * float64(c.layerSizes[layer]) / float64(c.layerTars[layer]))
	}
	type pair struct {
		added, hidden int
		kind          string
		bytes         int64
		files         int
		top           string // the first top path
		fix           string // a word the fix must contain
	}
	// Worked by hand from the corpus above.
	want := []pair{
		{1, 3, "removed", 10000, 2, "/var/lib/apt/lists/b", "apt-get update with rm -rf /var/lib/apt/lists/* in one RUN"},
		{0, 4, "metadata_changed", 3000, 1, "/usr/bin/tool", "--chmod"},
		{0, 5, "removed", 1200, 2, "/usr/share/doc", "same RUN"},
		{0, 6, "opaque_hidden", 1000, 2, "/opt/data", "whole directory"},
		{0, 7, "replaced", 250, 1, "/srv/f", "final type"},
		{0, 9, "overwritten", 100, 1, "/etc/passwd", "final version once"},
		{7, 8, "removed", 10, 1, "/srv/f", "same RUN"},
	}
	var total, totalCompressed int64
	if len(img.Pairs) != len(want) {
		t.Fatalf("%d pairs, want %d: %+v", len(img.Pairs), len(want), img.Pairs)
	}
	for i, w := range want {
		p := img.Pairs[i]
		if p.AddedByPosition != w.added || p.HiddenByPosition != w.hidden || p.AddedBy != step(w.added) || p.HiddenBy != step(w.hidden) ||
			p.Kind != w.kind || p.Bytes != w.bytes || p.Files != w.files || p.CompressedBytes != est(w.bytes, w.added) ||
			len(p.TopPaths) == 0 || p.TopPaths[0].Path != w.top || !strings.Contains(p.Fix, w.fix) {
			t.Errorf("pair %d = %+v\nwant %+v (compressed %d)", i, p, w, est(w.bytes, w.added))
		}
		total += w.bytes
		totalCompressed += est(w.bytes, w.added)
	}
	if tp := img.Pairs[0].TopPaths; len(tp) != 2 || tp[0].Bytes != 6000 || tp[1].Path != "/var/lib/apt/lists/a" || tp[1].Bytes != 4000 {
		t.Errorf("apt lists top paths = %+v", tp)
	}
	if img.WastedBytes != 15560 || total != 15560 || img.WastedCompressedBytes != totalCompressed || got.WastedBytes != 3*15560 {
		t.Errorf("wasted = %d (report %d), compressed %d; want 15560, %d", img.WastedBytes, got.WastedBytes, img.WastedCompressedBytes, totalCompressed)
	}
	// What stays: passwd 120, tool 3000, curl 2000 (via its hard link),
	// opt/data/z 50, srv/f 20.
	if img.FinalFiles != 5 || img.FinalBytes != 120+3000+2000+50+20 {
		t.Errorf("final: %d files, %d bytes", img.FinalFiles, img.FinalBytes)
	}

	// Layer runs: positions 1-5 and 7-9 are small RUN layers; 6 is a COPY.
	if len(img.LayerRuns) != 2 || img.ExtraLayers != 6 {
		t.Fatalf("layer runs = %+v, extra %d", img.LayerRuns, img.ExtraLayers)
	}
	for i, w := range [][2]int{{1, 5}, {7, 9}} {
		r := img.LayerRuns[i]
		var bytes int64
		for p := w[0]; p <= w[1]; p++ {
			bytes += c.layerSizes[p]
		}
		if r.FromPosition != w[0] || r.ToPosition != w[1] || r.Layers != w[1]-w[0]+1 || r.Bytes != bytes || len(r.Steps) != r.Layers || r.Steps[0] != step(w[0]) {
			t.Errorf("run %d = %+v, want %v (%d bytes)", i, r, w, bytes)
		}
	}
	if img.ExtraManifestBytes <= 6*100 {
		t.Errorf("extra manifest bytes = %d for 6 layers", img.ExtraManifestBytes)
	}

	t.Run("thresholds", func(t *testing.T) {
		b, err := report.LoadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), MinBytes: 20000, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Images) != 0 {
			t.Errorf("--min-bytes 20000 with no small layers shows %d images", len(b.Images))
		}
		b, err = report.LoadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("lib/*"), MaxLayers: 0, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		if b.Analyzed != 1 || len(b.Images) != 0 {
			t.Errorf("lib/*: analyzed %d, shown %d", b.Analyzed, len(b.Images))
		}
		b, err = report.LoadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), MaxLayers: 1, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		var over []string
		for _, i := range b.Images {
			if i.OverMaxLayers {
				over = append(over, i.Repository)
			}
		}
		if strings.Join(over, ",") != "team/app,team/child,team/multi,team/multi,team/rebuild" {
			t.Errorf("over --max-layers 1: %v", over)
		}
	})

	t.Run("an index", func(t *testing.T) {
		ref, _ := report.ParseRef("team/multi:1")
		b, err := report.LoadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), Image: &ref, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Both children are analyzed; the rebuild wastes nothing and has
		// no small layers, so only the app is shown.
		if b.Analyzed != 2 || len(b.Images) != 1 || b.Images[0].Repository != "team/multi" || b.Images[0].Tag != "1" || b.Images[0].WastedBytes != 15560 {
			t.Errorf("--image team/multi:1: analyzed %d, images %+v", b.Analyzed, b.Images)
		}
	})

	t.Run("one image", func(t *testing.T) {
		ref, _ := report.ParseRef("team/app:1")
		b, err := report.LoadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), Image: &ref})
		if err != nil {
			t.Fatal(err)
		}
		if b.Analyzed != 1 || len(b.Images) != 1 || b.Images[0].WastedBytes != 15560 {
			t.Errorf("--image team/app:1: %+v", b)
		}
		for _, f := range []output.Format{output.TableFormat, output.JSONFormat, output.CSVFormat} {
			var buf bytes.Buffer
			if err := output.Print(&buf, output.Options{Format: f}, b); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "bloat."+string(f)+".golden"), buf.Bytes())
		}
	})
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	c := setupBloat(t)
	ctx := context.Background()
	all := repoglob.Compile("**")

	t.Run("blob", func(t *testing.T) {
		r, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "blob", Repositories: all, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		b := r.(*report.BlobDuplicates)
		gl, _ := c.base.Layers()
		zl, _ := c.zbase.Layers()
		gs, _ := gl[0].Size()
		zs, _ := zl[0].Size()
		diff, _ := gl[0].DiffID()
		if len(b.Layers) != 1 || b.Layers[0].DiffID != diff.String() || len(b.Layers[0].Blobs) != 2 ||
			b.Layers[0].StoredBytes != gs+zs || b.Layers[0].BytesStoredTwice != max(gs, zs) || b.BytesStoredTwice != max(gs, zs) {
			t.Errorf("blob duplicates = %+v; want the base layer as gzip (%d) and zstd (%d)", b, gs, zs)
		}
		if r, _ := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "blob", Repositories: repoglob.Compile("lib/*"), Limit: 10}); len(r.(*report.BlobDuplicates).Layers) != 0 {
			t.Errorf("lib/* alone has blob duplicates")
		}
	})

	t.Run("layer", func(t *testing.T) {
		r, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "layer", Repositories: all, Limit: 10, MinSimilarity: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		l := r.(*report.LayerDuplicates)
		al, _ := c.app.Layers()
		rl, _ := c.rebuild.Layers()
		ad, _ := al[2].Digest()
		rd, _ := rl[1].Digest()
		if ad == rd {
			t.Fatal("the rebuild has the same digest: the corpus is wrong")
		}
		// The base's gzip and zstd copies match too, but share a diff_id:
		// they are blob duplicates, not listed here.
		if len(l.Pairs) != 1 {
			t.Fatalf("layer duplicates = %+v; want the install layer and its rebuild", l.Pairs)
		}
		p := l.Pairs[0]
		ids := map[string]bool{p.A.Digest: true, p.B.Digest: true}
		if !ids[ad.String()] || !ids[rd.String()] || p.Similarity != 1 || p.SharedFiles != 1 || p.BytesSaved != 2000 ||
			p.A.FileBytes != 2000 || p.B.FileBytes != 2000 || !strings.Contains(p.A.CreatedBy, "apt-get install") {
			t.Errorf("pair = %+v", p)
		}
	})

	t.Run("file", func(t *testing.T) {
		r, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "file", Repositories: all, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		f := r.(*report.FileDuplicates)
		// Every File entry of the 13 distinct layer blobs (the base twice:
		// gzip and zstd), from the specs.
		steps := append([]sample.Step{baseStep, baseStep, installStep(sample.Epoch.Add(time.Hour)),
			{Files: []sample.File{file("extra", 10)}}}, appSteps...)
		var files, total int64
		unique := map[string]int64{}
		for _, s := range steps {
			for _, e := range s.Files {
				if (e.Type == 0 || e.Type == tar.TypeReg) && !strings.HasPrefix(filepath.Base(e.Path), ".wh.") {
					files++
					total += int64(len(e.Content))
					unique[string(e.Content)] = int64(len(e.Content))
				}
			}
		}
		var uniqueBytes int64
		for _, n := range unique {
			uniqueBytes += n
		}
		if f.Layers != 13 || f.Unindexed != 0 || f.Files != files || f.TotalBytes != total || f.UniqueFiles != int64(len(unique)) || f.UniqueBytes != uniqueBytes {
			t.Errorf("file duplicates = %+v; want 13 layers, %d files, %d bytes, %d unique, %d unique bytes", f, files, total, len(unique), uniqueBytes)
		}
		if want := float64(uniqueBytes) / float64(total); f.DedupRatio != want {
			t.Errorf("ratio = %v, want %v", f.DedupRatio, want)
		}
		// tool (3000, three times: both base copies and the chmod) and curl
		// (2000, twice) are the top extra copies; the whiteouts are empty
		// files and not listed.
		if len(f.Top) < 2 || f.Top[0].ExtraBytes != 6000 || f.Top[0].SamplePath != "usr/bin/tool" || f.Top[1].ExtraBytes != 2000 || f.Top[1].SamplePath != "usr/bin/curl" {
			t.Errorf("top = %+v", f.Top)
		}
	})

	t.Run("bad kind", func(t *testing.T) {
		_, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "tree", Repositories: all, Limit: 3})
		if err == nil || !strings.Contains(err.Error(), "use blob, layer or file") {
			t.Errorf("err = %v", err)
		}
	})
}

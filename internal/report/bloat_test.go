package report_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
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
	reg := registrytest.New(t)
	c := bloatCorpus{pool: pgtest.NewReportPool(t)}
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
	// The app and its rebuild as two platforms of one index, which
	// declares for the app another platform than its config says.
	idx, err := sample.Index([]v1.Image{c.app, c.rebuild}, []v1.Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}, sample.Docker)
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

	// base (twice: gzip, zstd), 9 app layers, the rebuilt install layer,
	// the child's layer.
	if sum := scanLayers(t, c.pool, reg); sum.Indexed != 13 || sum.Skipped != 0 || sum.Rejected+sum.Failed != 0 {
		t.Fatalf("indexing: %+v", sum)
	}
	return c
}

// scanLayers scans reg into the graph as registry "reg.test", as
// `layerq-ingest scan --layers` does: the manifests, then every layer's
// file index, then the fold (which keeps image_bases).
func scanLayers(t *testing.T, pool *pgxpool.Pool, reg *registrytest.Server) layerindex.Summary {
	t.Helper()
	ctx := context.Background()
	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(pool)
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
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	return sum
}

// loadBloat runs the bloat report as layerq does: the fold, the waste of
// images not analyzed yet, then the report.
func loadBloat(ctx context.Context, pool *pgxpool.Pool, opts report.BloatOptions) (*report.Bloat, error) {
	store := graph.New(pool)
	if _, err := store.ApplyAggregates(ctx); err != nil {
		return nil, err
	}
	if err := report.SettleWaste(ctx, pool, opts, store, 0); err != nil {
		return nil, err
	}
	return report.LoadBloat(ctx, pool, opts)
}

func TestBloat(t *testing.T) {
	t.Parallel()
	c := setupBloat(t)
	ctx := context.Background()
	got, err := loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	// The totals the fold keeps per repository are those counted afresh.
	for _, glob := range []string{"**", "team/*", "lib/deb"} {
		opts := report.BloatOptions{Repositories: repoglob.Compile(glob), Limit: 2}
		kept, err := report.LoadBloat(ctx, c.pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		opts.Afresh = true
		afresh, err := report.LoadBloat(ctx, c.pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(kept, afresh) {
			t.Errorf("--repo %s: kept totals\n%+v\ncounted afresh\n%+v", glob, kept, afresh)
		}
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
	if ch := got.Images[1]; ch.BaseLayers != 10 || ch.Layers != 11 || len(ch.LayerRuns) != 0 || ch.WastedBytes != 15560 || !ch.Pairs[0].InBase || !ch.Pairs[0].FromBase {
		t.Errorf("team/child: %d layers, %d from the base, runs %+v, wasted %d, first pair in base %v",
			ch.Layers, ch.BaseLayers, ch.LayerRuns, ch.WastedBytes, ch.Pairs[0].InBase)
	}
	img := got.Images[0]
	appDigest, _ := c.app.Digest()
	// The base is the one-layer image the app's first layer makes, in
	// lib/deb (gzip) and zstd/deb (zstd, the same chain): of two as tall and
	// as old, the lower digest.
	bd, _ := c.base.Digest()
	zd, _ := c.zbase.Digest()
	base := "lib/deb:12"
	if zd.String() < bd.String() {
		base = "zstd/deb:12"
	}
	if img.Repository != "team/app" || img.Tag != "1" || img.Digest != appDigest.String() || img.Layers != 10 || img.BaseLayers != 1 || img.Base != base {
		t.Errorf("image = %s:%s@%s, %d layers (%d base, %s)", img.Repository, img.Tag, img.Digest, img.Layers, img.BaseLayers, img.Base)
	}
	// The image report says the same of the base.
	ref, _ := report.ParseRef("team/app:1")
	if im, err := report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref}); err != nil || im.Base == nil || im.Base.Layers != img.BaseLayers ||
		im.Base.Repository+":"+im.Base.Tag != img.Base {
		t.Errorf("image report: base %+v (%v); bloat: %d layers of %s", im.Base, err, img.BaseLayers, img.Base)
	}
	if img.Platform != "linux/amd64" || img.ConfigPlatform != "" || got.Images[2].Platform != "linux/arm/v7" || got.Images[2].ConfigPlatform != "linux/amd64" {
		t.Errorf("platforms %q (config %q), %q (config %q); want the config's linux/amd64 and the index's linux/arm/v7, whose config says linux/amd64",
			img.Platform, img.ConfigPlatform, got.Images[2].Platform, got.Images[2].ConfigPlatform)
	}
	// The base's layer is named by the base, not by its history step.
	step := func(i int) string {
		if i == 0 {
			return base + " (base layer #0)"
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
	// Worked by hand from the corpus above. What the base's layer added
	// (position 0) this image's steps cannot remove: the advice says how
	// to live with the base, or pick another.
	want := []pair{
		{1, 3, "removed", 10000, 2, "/var/lib/apt/lists/b", "apt-get update with rm -rf /var/lib/apt/lists/* in one RUN"},
		{0, 4, "metadata_changed", 3000, 1, "/usr/bin/tool", "come with the base image " + base + ": changing their mode or owner"},
		{0, 5, "removed", 1200, 2, "/usr/share/doc", "come with the base image " + base + ": a later rm only hides them"},
		{0, 6, "opaque_hidden", 1000, 2, "/opt/data", "replaced a directory that the base image " + base + " fills"},
		{0, 7, "replaced", 250, 1, "/srv/f", "gave a path of the base image " + base + " another type"},
		{0, 9, "overwritten", 100, 1, "/etc/passwd", "come with the base image " + base + ": rewriting them"},
		{7, 8, "removed", 10, 1, "/srv/f", "same RUN"},
	}
	var total, totalCompressed int64
	if len(img.Pairs) != len(want) {
		t.Fatalf("%d pairs, want %d: %+v", len(img.Pairs), len(want), img.Pairs)
	}
	for i, w := range want {
		p := img.Pairs[i]
		if p.AddedByPosition != w.added || p.HiddenByPosition != w.hidden || p.AddedBy != step(w.added) || p.HiddenBy != step(w.hidden) ||
			p.FromBase != (w.added == 0) || p.InBase || p.Kind != w.kind || p.Bytes != w.bytes || p.Files != w.files || p.CompressedBytes != est(w.bytes, w.added) ||
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
		b, err := loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), MinBytes: 20000, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Images) != 0 {
			t.Errorf("--min-bytes 20000 with no small layers shows %d images", len(b.Images))
		}
		b, err = loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("lib/*"), MaxLayers: 0, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		if b.Analyzed != 1 || len(b.Images) != 0 {
			t.Errorf("lib/*: analyzed %d, shown %d", b.Analyzed, len(b.Images))
		}
		b, err = loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), MaxLayers: 1, SmallLayer: 1})
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
		b, err := loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), Image: &ref, SmallLayer: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Both children are analyzed; the rebuild wastes nothing and has
		// no small layers, so only the app is shown.
		if b.Analyzed != 2 || len(b.Images) != 1 || b.Images[0].Repository != "team/multi" || b.Images[0].Tag != "1" || b.Images[0].WastedBytes != 15560 ||
			b.Images[0].Platform != "linux/arm/v7" {
			t.Errorf("--image team/multi:1: analyzed %d, images %+v", b.Analyzed, b.Images)
		}
	})

	t.Run("one image", func(t *testing.T) {
		ref, _ := report.ParseRef("team/app:1")
		b, err := loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**"), Image: &ref})
		if err != nil {
			t.Fatal(err)
		}
		if b.Analyzed != 1 || len(b.Images) != 1 || b.Images[0].WastedBytes != 15560 {
			t.Errorf("--image team/app:1: %+v", b)
		}
		printed := map[output.Format][]byte{}
		for _, f := range []output.Format{output.TableFormat, output.JSONFormat, output.CSVFormat} {
			var buf bytes.Buffer
			if err := output.Print(&buf, output.Options{Format: f}, b); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "bloat."+string(f)+".golden"), buf.Bytes())
			printed[f] = buf.Bytes()
		}
		// Every CSV column is a JSON key of the report (pairs and layer
		// runs both show here).
		keys := jsonKeys(t, printed[output.JSONFormat])
		head, err := csv.NewReader(bytes.NewReader(printed[output.CSVFormat])).Read()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range head {
			if !keys[h] {
				t.Errorf("CSV column %s is no JSON key of the report", h)
			}
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
		// The keys of the layers scanned, as `layerq duplicates --kind
		// layer` works them out before it reads.
		if n, err := graph.New(c.pool).ApplyLayerKeys(ctx); err != nil || n != 13 {
			t.Fatalf("ApplyLayerKeys took %d layers (%v), want the 13 scanned", n, err)
		}
		r, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "layer", Repositories: all, Limit: 10, MinSimilarity: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		l := r.(*report.LayerDuplicates)
		checkCSVKeys(t, "duplicates layer", l)
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
		checkCSVKeys(t, "duplicates file", f)
		// Every File entry of the 13 distinct layer blobs (the base twice:
		// gzip and zstd), from the specs.
		files, total, unique, uniqueBytes := specFiles(append([]sample.Step{baseStep, baseStep, installStep(sample.Epoch.Add(time.Hour)),
			{Files: []sample.File{file("extra", 10)}}}, appSteps...))
		if f.Layers != 13 || f.Unindexed != 0 || f.Files != files || f.TotalBytes != total || f.UniqueFiles != unique || f.UniqueBytes != uniqueBytes {
			t.Errorf("file duplicates = %+v; want 13 layers, %d files, %d bytes, %d unique, %d unique bytes", f, files, total, unique, uniqueBytes)
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
		// Every repository reads what the fold keeps; a filter that selects
		// them all counts afresh, and agrees.
		afresh, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "file", Repositories: repoglob.Compile("*/**"), Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f, afresh) {
			t.Errorf("file duplicates kept:\n%+v\ncounted afresh:\n%+v", f, afresh)
		}

		// One namespace: team holds the base once (gzip), the app's steps,
		// the rebuild's install and the child's extra file; lib the base
		// alone.
		for _, ns := range []struct {
			glob   string
			layers int64
			steps  []sample.Step
		}{
			{"team/**", 12, append([]sample.Step{baseStep, installStep(sample.Epoch.Add(time.Hour)), {Files: []sample.File{file("extra", 10)}}}, appSteps...)},
			{"lib/**", 1, []sample.Step{baseStep}},
		} {
			files, total, unique, uniqueBytes := specFiles(ns.steps)
			r, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "file", Repositories: repoglob.Compile(ns.glob), Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			got := r.(*report.FileDuplicates)
			if got.Layers != ns.layers || got.Unindexed != 0 || got.Files != files || got.TotalBytes != total ||
				got.UniqueFiles != unique || got.UniqueBytes != uniqueBytes {
				t.Errorf("%s: file duplicates = %+v; want %d layers, %d files, %d bytes, %d unique, %d unique bytes",
					ns.glob, got, ns.layers, files, total, unique, uniqueBytes)
			}
			// team holds tool in the base and its chmod copy, curl in the
			// app's and the rebuild's installs.
			if top := got.Top; ns.glob == "team/**" && (len(top) != 2 || top[0].SamplePath != "usr/bin/tool" || top[0].ExtraBytes != 3000 ||
				top[1].SamplePath != "usr/bin/curl" || top[1].ExtraBytes != 2000) {
				t.Errorf("%s: top = %+v; want usr/bin/tool and usr/bin/curl each stored again once", ns.glob, top)
			}
		}
	})

	t.Run("bad kind", func(t *testing.T) {
		_, err := report.LoadDuplicates(ctx, c.pool, report.DuplicatesOptions{Kind: "tree", Repositories: all, Limit: 3})
		if err == nil || !strings.Contains(err.Error(), "use blob, layer or file") {
			t.Errorf("err = %v", err)
		}
	})
}

// specFiles counts the regular files the steps' layers hold, as the file
// index lists them (whiteouts are not files): how many, their bytes, the
// distinct contents and their bytes.
func specFiles(steps []sample.Step) (files, total, unique, uniqueBytes int64) {
	contents := map[string]int64{}
	for _, s := range steps {
		for _, e := range s.Files {
			if (e.Type == 0 || e.Type == tar.TypeReg) && !strings.HasPrefix(filepath.Base(e.Path), ".wh.") {
				files++
				total += int64(len(e.Content))
				contents[string(e.Content)] = int64(len(e.Content))
			}
		}
	}
	for _, n := range contents {
		uniqueBytes += n
	}
	return files, total, int64(len(contents)), uniqueBytes
}

// The debian corpus: library/debian:12 with its history as buildah writes
// it (the ADD that made its first layer marked empty_layer, its CMD not),
// apt lists in that layer and a second layer deleting its docs;
// team-a/api:1.3 on it, whose one RUN deletes the apt lists the base
// ships; the same image recompressed with zstd (team-b/worker-zstd:1.0),
// and with no platform in its config (team-c/bare:1); and
// library/classic:1, whose classic history maps onto its layers as it
// should.
var (
	debianADD   = "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / "
	debianCMD   = `/bin/sh -c #(nop)  CMD ["bash"]`
	debianSteps = []sample.Step{
		{CreatedBy: debianADD, Empty: true},
		{CreatedBy: debianCMD, Files: []sample.File{
			dir("etc"), file("etc/os-release", 20),
			dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"),
			file("var/lib/apt/lists/main", 6000), file("var/lib/apt/lists/security", 4000),
			dir("usr"), dir("usr/share"), dir("usr/share/doc"), file("usr/share/doc/a", 700), file("usr/share/doc/b", 300),
		}},
		{CreatedBy: "/bin/sh -c rm -rf /usr/share/doc", Files: []sample.File{sample.Whiteout("usr/share/doc")}},
	}
	apiStep = sample.Step{CreatedBy: "RUN /bin/sh -c apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/* # buildkit", Files: []sample.File{
		dir("usr/bin"), {Path: "usr/bin/curl", Content: content("usr/bin/curl", 2000), Mode: 0o755},
		sample.Whiteout("var/lib/apt/lists/main"), sample.Whiteout("var/lib/apt/lists/security"),
	}}
	classicSteps = []sample.Step{
		{CreatedBy: debianADD, Files: []sample.File{file("etc/os-release", 30)}},
		{CreatedBy: debianCMD, Empty: true},
		{CreatedBy: "/bin/sh -c apt-get install -y make", Files: []sample.File{file("usr/bin/make", 40)}},
	}
	// debianMismatch is what the walker says of the debian layers' history.
	debianMismatch = `layer #0 is from history entry #0 (/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327…, marked empty_layer), ` +
		`not #1 (/bin/sh -c #(nop) CMD ["bash"]), which makes no layer`
)

// jsonKeys are the object keys anywhere in a JSON document.
func jsonKeys(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return keys
}

type debianCorpus struct {
	pool              *pgxpool.Pool
	debian, api, zapi v1.Image
	bare, classic     v1.Image
}

func setupDebian(t *testing.T) debianCorpus {
	t.Helper()
	ctx := context.Background()
	reg := registrytest.New(t)
	c := debianCorpus{pool: pgtest.NewReportPool(t)}
	c.debian = mustBuild(t, sample.Spec{Steps: debianSteps})
	c.api = mustBuild(t, sample.Spec{Base: c.debian, Steps: []sample.Step{apiStep}})
	var err error
	if c.zapi, err = sample.Recompress(c.api, sample.Zstd, sample.OCI); err != nil {
		t.Fatal(err)
	}
	cf, _ := c.api.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "", ""
	if c.bare, err = mutate.ConfigFile(c.api, cf); err != nil {
		t.Fatal(err)
	}
	c.classic = mustBuild(t, sample.Spec{Steps: classicSteps})
	reg.PushImage(t, "library/debian:12", c.debian)
	reg.PushImage(t, "team-a/api:1.3", c.api)
	reg.PushImage(t, "team-b/worker-zstd:1.0", c.zapi)
	reg.PushImage(t, "team-c/bare:1", c.bare)
	reg.PushImage(t, "library/classic:1", c.classic)

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
	// debian's 2 layers, the api layer gzip and zstd (the zstd copy's base
	// layers are blobs of their own too: 2 more), classic's 2.
	if sum, err := layerindex.Run(ctx, &layerindex.Indexer{Store: store}, w, ls, 2, nil); err != nil || sum.Indexed != 8 {
		t.Fatalf("indexing: %+v, %v", sum, err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// The base is the one the image report names, whatever the encoding of
// the layers: a zstd copy of an image on a gzip base has the same base.
// What the base's layers add is marked from_base, what its own steps hide
// in_base, and the base's layers are named by the base.
func TestBloatBase(t *testing.T) {
	t.Parallel()
	c := setupDebian(t)
	ctx := context.Background()
	got, err := loadBloat(ctx, c.pool, report.BloatOptions{Repositories: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	// debian, api, its zstd copy and its bare copy; classic wastes nothing.
	if got.Analyzed != 5 || got.Pending != 0 || len(got.Images) != 4 {
		t.Fatalf("analyzed %d, pending %d, shown %+v", got.Analyzed, got.Pending, got.Images)
	}
	// Sorted by waste, then repository.
	names := []string{"team-a/api", "team-b/worker-zstd", "team-c/bare", "library/debian"}
	for i, img := range got.Images {
		if img.Repository != names[i] {
			t.Fatalf("image %d is %s, want %s", i, img.Repository, names[i])
		}
	}
	base := "library/debian:12 (base layer #0)"
	for _, img := range got.Images[:3] {
		t.Run(img.Repository, func(t *testing.T) {
			// By hand: base layer #0 adds the apt lists (10000 bytes), the
			// image's RUN (#2) deletes them; base layer #1 deletes the docs
			// #0 added (1000 bytes).
			if img.Layers != 3 || img.BaseLayers != 2 || img.Base != "library/debian:12" || img.WastedBytes != 11000 || len(img.Pairs) != 2 || len(img.LayerRuns) != 0 {
				t.Fatalf("%d layers, %d of %s, wasted %d, pairs %+v, runs %+v", img.Layers, img.BaseLayers, img.Base, img.WastedBytes, img.Pairs, img.LayerRuns)
			}
			lists, docs := img.Pairs[0], img.Pairs[1]
			if lists.AddedBy != base || lists.AddedByPosition != 0 || lists.HiddenBy != apiStep.CreatedBy || lists.HiddenByPosition != 2 ||
				lists.Kind != "removed" || lists.Bytes != 10000 || lists.Files != 2 || !lists.FromBase || lists.InBase ||
				len(lists.TopPaths) != 2 || lists.TopPaths[0] != (dedup.PathSize{Path: "/var/lib/apt/lists/main", Bytes: 6000}) ||
				lists.Fix != "these files come with the base image library/debian:12: a later rm only hides them, every pull still downloads them; use a slimmer base, or drop the rm, which only stores whiteouts" {
				t.Errorf("apt lists pair = %+v", lists)
			}
			if docs.AddedBy != base || docs.HiddenBy != "library/debian:12 (base layer #1)" || docs.HiddenByPosition != 1 || docs.Bytes != 1000 ||
				!docs.InBase || !docs.FromBase || !strings.HasPrefix(docs.Fix, "inside the base image library/debian:12, not this image's steps") {
				t.Errorf("docs pair = %+v", docs)
			}
			// The image report says the same of the base.
			ref, _ := report.ParseRef(img.Repository + ":" + img.Tag)
			im, err := report.LoadImage(ctx, c.pool, report.ImageOptions{Ref: ref})
			if err != nil || im.Base == nil || im.Base.Layers != 2 || im.Base.Repository != "library/debian" || im.Base.Tag != "12" {
				t.Errorf("image report: base %+v (%v)", im.Base, err)
			}
		})
	}
	if got.Images[0].Platform != "linux/amd64" || got.Images[2].Platform != "" {
		t.Errorf("platforms %q and %q; want linux/amd64 and nothing", got.Images[0].Platform, got.Images[2].Platform)
	}
	// The base itself: no base known, and its first layer is ADD's, not
	// CMD's, as buildah's history would have it.
	if d := got.Images[3]; d.BaseLayers != 0 || d.Base != "" || len(d.Pairs) != 1 || d.Pairs[0].AddedBy != debianADD || d.Pairs[0].Bytes != 1000 || d.Pairs[0].FromBase {
		t.Errorf("library/debian = %+v", d)
	}

	t.Run("csv", func(t *testing.T) {
		var csvOut bytes.Buffer
		if err := output.Print(&csvOut, output.Options{Format: output.CSVFormat}, got); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&csvOut).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		head := "registry,repository,tag,digest,platform,config_platform,base,base_layers,over_max_layers,kind,bytes,compressed_bytes,files," +
			"added_by_position,added_by,hidden_by_position,hidden_by,in_base,from_base,top_paths,from_position,to_position,steps,fix"
		// One record per pair: 2 for each of the three images on the
		// base, 1 for the base.
		if len(recs) != 1+7 || strings.Join(recs[0], ",") != head {
			t.Fatalf("csv = %q", recs)
		}
		zd, _ := c.zapi.Digest()
		// The compressed cost: the bytes at the ratio of the zstd blob of
		// the layer that added them.
		zl, _ := c.zapi.Layers()
		zsize, _ := zl[0].Size()
		rc, _ := zl[0].Uncompressed()
		ztar, _ := io.Copy(io.Discard, rc)
		rc.Close()
		compressed := fmt.Sprint(int64(float64(10000) * float64(zsize) / float64(ztar)))
		// The zstd copy's first pair, every value whole.
		want := []string{"reg.test", "team-b/worker-zstd", "1.0", zd.String(), "linux/amd64", "", "library/debian:12", "2", "false",
			"removed", "10000", compressed, "2", "0", base, "2", apiStep.CreatedBy, "false", "true",
			"/var/lib/apt/lists/main\n/var/lib/apt/lists/security", "", "", "",
			"these files come with the base image library/debian:12: a later rm only hides them, every pull still downloads them; use a slimmer base, or drop the rm, which only stores whiteouts"}
		if strings.Join(recs[3], "|") != strings.Join(want, "|") {
			t.Errorf("record = %q\nwant     %q", recs[3], want)
		}
		if recs[5][1] != "team-c/bare" || recs[5][4] != "" {
			t.Errorf("bare record = %q", recs[5])
		}
	})

	t.Run("table", func(t *testing.T) {
		var buf bytes.Buffer
		if err := output.Print(&buf, output.Options{Format: output.TableFormat}, got); err != nil {
			t.Fatal(err)
		}
		var bare string
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.HasPrefix(l, "team-c/bare:1 ") {
				bare = l
			}
		}
		// No platform: the column is blank, then the waste (11000 bytes).
		if f := strings.Fields(bare); len(f) < 3 || f[1] != "10.7" || f[2] != "KiB" {
			t.Errorf("bare line %q in\n%s", bare, buf.String())
		}
	})
}

// A pair of layers is listed once whatever encodings each is stored in:
// the install layer beside its rebuild, which the registry also holds as
// zstd, is one pair of contents, not one per encoding; on the kept pairs
// and the exhaustive comparison alike, and at a limit the left-out copy
// would otherwise fill.
func TestLayerDuplicatesOncePerContent(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)
	base := mustBuild(t, sample.Spec{Steps: []sample.Step{baseStep}})
	app := mustBuild(t, sample.Spec{Base: base, Steps: []sample.Step{installStep(sample.Epoch)}})
	rebuild := mustBuild(t, sample.Spec{Base: base, Steps: []sample.Step{installStep(sample.Epoch.Add(time.Hour))}})
	zrebuild, err := sample.Recompress(rebuild, sample.Zstd, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "lib/base:1", base)
	reg.PushImage(t, "team/app:1", app)
	reg.PushImage(t, "team/rebuild:1", rebuild)
	reg.PushImage(t, "zstd/rebuild:1", zrebuild)
	// base (gzip, zstd), install, its rebuild (gzip, zstd).
	if sum := scanLayers(t, pool, reg); sum.Indexed != 5 {
		t.Fatalf("indexing: %+v", sum)
	}
	ctx := context.Background()
	if _, err := graph.New(pool).ApplyLayerKeys(ctx); err != nil {
		t.Fatal(err)
	}
	al, _ := app.Layers()
	install, _ := al[1].Digest()
	rl, _ := rebuild.Layers()
	zl, _ := zrebuild.Layers()
	gz, _ := rl[1].Digest()
	zst, _ := zl[1].Digest()
	for _, min := range []float64{0.9, 0.5} { // kept pairs; every pair compared
		for _, limit := range []int{1, 10, 0} {
			r, err := report.LoadDuplicates(ctx, pool, report.DuplicatesOptions{Kind: "layer", Repositories: repoglob.Compile("**"), Limit: limit, MinSimilarity: min})
			if err != nil {
				t.Fatal(err)
			}
			pairs := r.(*report.LayerDuplicates).Pairs
			if len(pairs) != 1 {
				t.Fatalf("--min-similarity %g --limit %d: %d pairs %+v; want the install layer and its rebuild once", min, limit, len(pairs), pairs)
			}
			p := pairs[0]
			other := p.B.Digest
			if p.B.Digest == install.String() {
				other = p.A.Digest
			}
			if (p.A.Digest != install.String() && p.B.Digest != install.String()) || (other != gz.String() && other != zst.String()) || p.BytesSaved != 2000 {
				t.Errorf("--min-similarity %g --limit %d: pair %+v", min, limit, p)
			}
		}
	}
}

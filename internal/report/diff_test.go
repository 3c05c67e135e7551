package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// rootfs is a base's one layer holding files (under etc, usr and usr/lib),
// and useradd an app step that writes the same /etc/passwd wherever it runs.
func rootfs(files ...sample.File) sample.Step {
	return sample.Step{CreatedBy: "ADD rootfs.tar / # buildkit", Files: append([]sample.File{dir("etc"), dir("usr"), dir("usr/lib")}, files...)}
}

var useradd = sample.Step{CreatedBy: "RUN /bin/sh -c useradd app # buildkit", Files: []sample.File{file("etc/passwd", 80)}}

// layerSizes is what the registry stores for img's layers and what their
// tars hold, worked out from the image itself.
func layerSizes(t *testing.T, img v1.Image) (compressed, tars []int64) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		sz, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		compressed, tars = append(compressed, sz), append(tars, n)
	}
	return compressed, tars
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// A new push of an app on a rebuilt base, with a new file, a removed one, a
// changed one in the base and a chmod: every figure of the diff is known
// from the images built here.
func TestDiff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)

	base1 := mustBuild(t, sample.Spec{Steps: []sample.Step{rootfs(
		sample.File{Path: "etc/os-release", Content: content("os-release 1", 100)}, file("etc/keep", 50), file("usr/lib/libx.so", 5000))}})
	base2 := mustBuild(t, sample.Spec{Steps: []sample.Step{rootfs(
		sample.File{Path: "etc/os-release", Content: content("os-release 2", 120)}, file("etc/keep", 50), file("usr/lib/libx.so", 5000),
		file("usr/lib/liby.so", 700))}})
	app12 := mustBuild(t, sample.Spec{Base: base1, Steps: []sample.Step{
		{CreatedBy: "COPY app /app # buildkit", Files: []sample.File{dir("app"),
			{Path: "app/main", Content: content("app/main", 2000), Mode: 0o755}, file("app/old.txt", 300)}},
		useradd,
	}})
	app13 := mustBuild(t, sample.Spec{Base: base2, Steps: []sample.Step{
		{CreatedBy: "COPY app /app # buildkit", Files: []sample.File{dir("app"),
			{Path: "app/main", Content: content("app/main", 2000), Mode: 0o700}, file("app/new.bin", 30000)}},
		useradd,
	}})
	// 1.4 on 1.3's base build: the bottom is shared, and a later step
	// removes a file of it and chmods another.
	app14 := mustBuild(t, sample.Spec{Base: base2, Steps: []sample.Step{
		{CreatedBy: "COPY app /app # buildkit", Files: []sample.File{dir("app"),
			{Path: "app/main", Content: content("app/main", 2000), Mode: 0o700}, file("app/new.bin", 31000)}},
		{CreatedBy: "RUN /bin/sh -c rm /etc/keep && chmod 755 /usr/lib/libx.so # buildkit", Files: []sample.File{
			sample.Whiteout("etc/keep"), {Path: "usr/lib/libx.so", Content: content("usr/lib/libx.so", 5000), Mode: 0o755}}},
		useradd,
	}})
	reg.PushImage(t, "lib/deb:12-r1", base1)
	reg.PushImage(t, "lib/deb:12", base2)
	reg.PushImage(t, "team/api:1.2", app12)
	reg.PushImage(t, "team/api:1.3", app13)
	reg.PushImage(t, "team/api:1.4", app14)
	if sum := scanLayers(t, pool, reg); sum.Indexed != 7 || sum.Rejected+sum.Failed != 0 { // useradd made one blob for both
		t.Fatalf("indexing: %+v", sum)
	}

	load := func(a, b string, limit int) *report.Diff {
		t.Helper()
		ra, err := report.ParseRef(a)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := report.ParseRef(b)
		if err != nil {
			t.Fatal(err)
		}
		d, err := report.LoadDiff(ctx, pool, report.DiffOptions{A: ra, B: rb, Platform: "linux/amd64", Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := load("team/api:1.2", "team/api:1.3", 0)

	c12, t12 := layerSizes(t, app12)
	c13, t13 := layerSizes(t, app13)
	cb1, _ := layerSizes(t, base1)
	cb2, _ := layerSizes(t, base2)
	if d.A.Size != sum(c12) || d.B.Size != sum(c13) || d.DeltaBytes != sum(c13)-sum(c12) {
		t.Errorf("sizes a %d, b %d, delta %d; want %d, %d, %d", d.A.Size, d.B.Size, d.DeltaBytes, sum(c12), sum(c13), sum(c13)-sum(c12))
	}
	if d.A.UncompressedSize == nil || *d.A.UncompressedSize != sum(t12) || d.B.UncompressedSize == nil || *d.B.UncompressedSize != sum(t13) ||
		d.DeltaUncompressedBytes == nil || *d.DeltaUncompressedBytes != sum(t13)-sum(t12) {
		t.Errorf("uncompressed a %v, b %v, delta %v; want %d, %d", d.A.UncompressedSize, d.B.UncompressedSize, d.DeltaUncompressedBytes, sum(t12), sum(t13))
	}
	if d.Bases != "other build" || d.BaseDelta == nil || *d.BaseDelta != sum(cb2)-sum(cb1) ||
		d.A.Base == nil || d.A.Base.Repository != "lib/deb" || d.B.Base == nil || d.B.Base.Repository != "lib/deb" {
		t.Errorf("bases %q, delta %v, a %+v, b %+v; want another build of lib/deb, %d bytes bigger", d.Bases, d.BaseDelta, d.A.Base, d.B.Base, sum(cb2)-sum(cb1))
	}

	// Layers: nothing shared (the base moved); the COPY changed; useradd
	// made the same layer on both.
	var layers []string
	var layerDelta int64
	for _, l := range d.Layers {
		pos := func(p *int) string {
			if p == nil {
				return "-"
			}
			return fmt.Sprint(*p)
		}
		layers = append(layers, fmt.Sprintf("%s %s>%s %d/%d %s", l.Change, pos(l.PositionA), pos(l.PositionB), l.SizeA, l.SizeB, shortStepOf(l.CreatedBy)))
		layerDelta += l.DeltaBytes
	}
	want := []string{
		fmt.Sprintf("removed 0>- %d/0 ADD", c12[0]),
		fmt.Sprintf("removed 1>- %d/0 COPY", c12[1]),
		fmt.Sprintf("kept 2>2 %d/%d RUN", c12[2], c13[2]),
		fmt.Sprintf("added ->0 0/%d ADD", c13[0]),
		fmt.Sprintf("added ->1 0/%d COPY", c13[1]),
	}
	if d.SharedLayers != 0 || strings.Join(layers, "\n") != strings.Join(want, "\n") {
		t.Errorf("shared %d, layers\n%s\nwant 0 shared and\n%s", d.SharedLayers, strings.Join(layers, "\n"), strings.Join(want, "\n"))
	}
	if layerDelta != d.DeltaBytes {
		t.Errorf("the layer rows add up to %d, not the delta %d", layerDelta, d.DeltaBytes)
	}

	// Files, by what the images hold.
	if !d.FilesCompared {
		t.Fatalf("files not compared: %s", d.FilesNote)
	}
	var files []string
	var fileDelta int64
	for _, f := range d.FileChanges {
		files = append(files, fmt.Sprintf("%s %s %d>%d %s%d %s%s", f.Change, f.Path, f.BytesA, f.BytesB, f.Side, f.Position, f.ModeA, f.ModeB))
		fileDelta += f.DeltaBytes
	}
	wantFiles := []string{
		"added app/new.bin 0>30000 b1 ",
		"added usr/lib/liby.so 0>700 b0 ",
		"removed app/old.txt 300>0 a1 ",
		"changed etc/os-release 100>120 b0 ",
		"mode app/main 2000>2000 b1 0755 0:00700 0:0",
	}
	if strings.Join(files, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("file changes\n%s\nwant\n%s", strings.Join(files, "\n"), strings.Join(wantFiles, "\n"))
	}
	wantTotals := report.DiffFiles{Added: 2, AddedBytes: 30700, Removed: 1, RemovedBytes: 300, Changed: 1, ChangedBytes: 20, Metadata: 1, Listed: 5,
		Unchanged: 3, UnchangedBytes: 50 + 5000 + 80}
	if d.Files != wantTotals {
		t.Errorf("file totals %+v, want %+v", d.Files, wantTotals)
	}
	finalA, finalB := int64(100+50+5000+2000+300+80), int64(120+50+5000+700+2000+30000+80)
	if d.A.FinalFiles != 6 || d.A.FinalBytes != finalA || d.B.FinalFiles != 7 || d.B.FinalBytes != finalB {
		t.Errorf("final files a %d/%d b %d/%d; want 6/%d 7/%d", d.A.FinalFiles, d.A.FinalBytes, d.B.FinalFiles, d.B.FinalBytes, finalA, finalB)
	}
	if fileDelta != finalB-finalA {
		t.Errorf("the file changes add up to %d, not b's file bytes less a's, %d", fileDelta, finalB-finalA)
	}

	// --limit lists the largest; the totals stay whole.
	if l := load("team/api:1.2", "team/api:1.3", 2); len(l.FileChanges) != 2 || l.FileChanges[0].Path != "app/new.bin" ||
		l.FileChanges[1].Path != "usr/lib/liby.so" || l.Files.Listed != 2 || l.Files.Added != 2 || l.Files.Removed != 1 {
		t.Errorf("--limit 2: %+v, totals %+v", l.FileChanges, l.Files)
	}

	// The other way round, and across repositories: the base's own change.
	back := load("team/api:1.3", "team/api:1.2", 0)
	if back.DeltaBytes != -d.DeltaBytes || back.Files.Added != 1 || back.Files.Removed != 2 || back.Files.ChangedBytes != -20 {
		t.Errorf("reversed: delta %d, files %+v", back.DeltaBytes, back.Files)
	}
	bases := load("lib/deb:12-r1", "lib/deb:12", 0)
	if bases.Bases != "none" || len(bases.FileChanges) != 2 || bases.Files.Added != 1 || bases.Files.AddedBytes != 700 || bases.Files.Changed != 1 {
		t.Errorf("base to base: bases %q, files %+v", bases.Bases, bases.Files)
	}
	same := load("team/api:1.3", "team/api:1.3", 0)
	if same.SharedLayers != 3 || len(same.Layers) != 0 || len(same.FileChanges) != 0 || same.DeltaBytes != 0 {
		t.Errorf("an image against itself: %+v", same)
	}

	// Over a shared bottom: b removes a file of it (a's, from the shared
	// layer), rewrites one file and chmods another; what neither changes
	// is unchanged, from the bottom or from a layer each holds.
	over := load("team/api:1.3", "team/api:1.4", 0)
	files = nil
	for _, f := range over.FileChanges {
		files = append(files, fmt.Sprintf("%s %s %d>%d %s%d %s%s", f.Change, f.Path, f.BytesA, f.BytesB, f.Side, f.Position, f.ModeA, f.ModeB))
	}
	wantFiles = []string{
		"changed app/new.bin 30000>31000 b1 ",
		"removed etc/keep 50>0 a0 ",
		"mode usr/lib/libx.so 5000>5000 b2 0644 0:00755 0:0",
	}
	if strings.Join(files, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("file changes over a shared bottom\n%s\nwant\n%s", strings.Join(files, "\n"), strings.Join(wantFiles, "\n"))
	}
	wantTotals = report.DiffFiles{Removed: 1, RemovedBytes: 50, Changed: 1, ChangedBytes: 1000, Metadata: 1, Listed: 3,
		Unchanged: 4, UnchangedBytes: 120 + 700 + 2000 + 80}
	if over.SharedLayers != 1 || over.Files != wantTotals {
		t.Errorf("over a shared bottom: %d shared, file totals %+v, want 1 and %+v", over.SharedLayers, over.Files, wantTotals)
	}
	if over.A.FinalFiles != 7 || over.B.FinalFiles != 6 || over.B.FinalBytes-over.A.FinalBytes != 1000-50 {
		t.Errorf("over a shared bottom: final files a %d/%d b %d/%d", over.A.FinalFiles, over.A.FinalBytes, over.B.FinalFiles, over.B.FinalBytes)
	}

	// Rendered: golden files, and CSV records that add up too.
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
		if err := output.Print(&buf, f.opts, d); err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "diff."+f.name+".golden"), buf.Bytes())
		if f.name == "csv" {
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var layerSum, fileSum int64
			delta := slices.Index(recs[0], "delta_bytes")
			for _, r := range recs[1:] {
				var n int64
				fmt.Sscan(r[delta], &n)
				if r[0] == "layer" {
					layerSum += n
				} else {
					fileSum += n
				}
			}
			if layerSum != d.DeltaBytes || fileSum != finalB-finalA {
				t.Errorf("CSV deltas: layers %d, files %d; want %d, %d", layerSum, fileSum, d.DeltaBytes, finalB-finalA)
			}
		}
	}
	checkCSVKeys(t, "diff", d)

	// An image whose layers have no file index: the layers compare, the
	// files do not, and the report says how to index them.
	plain := mustBuild(t, sample.Spec{Base: base2, Steps: []sample.Step{{CreatedBy: "COPY x /x # buildkit", Files: []sample.File{file("x", 10)}}}})
	reg.PushImage(t, "team/plain:1", plain)
	w, err := walker.New(walker.Options{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scan.Run(ctx, graph.New(pool), w, scan.Options{Registry: reg.Host, Name: "reg.test", Repositories: repoglob.Compile("team/plain")}); err != nil {
		t.Fatal(err)
	}
	p := load("team/api:1.3", "team/plain:1", 0)
	if p.FilesCompared || p.DeltaUncompressedBytes != nil || p.SharedLayers != 1 ||
		p.FilesNote != "files not compared: 1 layer without a file index; index them with layerq-ingest scan --layers" {
		t.Errorf("unindexed side: compared %v, shared %d, note %q", p.FilesCompared, p.SharedLayers, p.FilesNote)
	}
}

// shortStepOf is a step's instruction word.
func shortStepOf(createdBy string) string {
	s := strings.TrimPrefix(createdBy, "/bin/sh -c #(nop) ")
	word, _, _ := strings.Cut(s, " ")
	return word
}

// The reports read each layer's file index entries in tar order, however
// Postgres returns them: here half of each layer's rows are rewritten, so
// they lie after the others in the table, and the listings are written
// again from them.
func TestLayerEntriesInTarOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)
	files := []sample.File{dir("srv"), dir("srv/data")}
	for i := range 40 {
		files = append(files, file(fmt.Sprintf("srv/data/f%02d", i), 10+i))
	}
	reg.PushImage(t, "team/data:1", mustBuild(t, sample.Spec{Steps: []sample.Step{rootfs(files...),
		{CreatedBy: "RUN /bin/sh -c rm /srv/data/f07 # buildkit", Files: []sample.File{dir("srv/data"), sample.Whiteout("srv/data/f07"), file("srv/data/f08", 5)}}}}))
	scanLayers(t, pool, reg)

	var blobs []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(blob_digest) FROM layer_indexes`).Scan(&blobs); err != nil || len(blobs) != 2 {
		t.Fatalf("indexed layers %v, %v; want 2", blobs, err)
	}
	// Each layer's paths and sizes in tar order, as the table says.
	want := func() map[string][]string {
		out := map[string][]string{}
		rows, err := pool.Query(ctx, `SELECT blob_digest, type, path, size FROM layer_files ORDER BY blob_digest, ordinal`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var blob, path string
			var typ int16
			var size int64
			if err := rows.Scan(&blob, &typ, &path, &size); err != nil {
				t.Fatal(err)
			}
			out[blob] = append(out[blob], fmt.Sprintf("%d %s %d", typ, path, size))
		}
		return out
	}()
	check := func(when string) {
		t.Helper()
		got, err := report.LayerEntries(ctx, pool, blobs)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			var paths []string
			for _, e := range got[b] {
				paths = append(paths, fmt.Sprintf("%d %s %d", e.Type, e.Path, e.Size))
			}
			if !slices.Equal(paths, want[b]) {
				t.Errorf("%s: layer %s read as\n%s\nwant\n%s", when, b, strings.Join(paths, "\n"), strings.Join(want[b], "\n"))
			}
		}
	}
	check("as written")
	if _, err := pool.Exec(ctx, `UPDATE layer_files SET size = size WHERE ordinal % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	var outOfOrder bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM (SELECT ordinal < lag(ordinal) OVER (PARTITION BY blob_digest ORDER BY ctid) AS back
		FROM layer_files) x WHERE back)`).Scan(&outOfOrder); err != nil || !outOfOrder {
		t.Fatalf("the table's rows are in tar order still (%v): the test would not see a reader that relies on it", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE layer_listings SET listing = layerq_layer_listing(blob_digest)`); err != nil {
		t.Fatal(err)
	}
	check("rewritten")
}

package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// A tag pushed again on a rebuilt base, with a new file: the push's growth
// is the base's move plus its own step's change, to the byte, compressed
// and uncompressed, from the images built here; the base's own push is a
// step of its own; a CI gate crosses, passes, or cannot judge.
func TestGrowth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)

	base1 := mustBuild(t, sample.Spec{Steps: []sample.Step{rootfs(file("etc/os-release", 100), file("usr/lib/libx.so", 5000))}})
	base2 := mustBuild(t, sample.Spec{Steps: []sample.Step{rootfs(file("etc/os-release", 100), file("usr/lib/libx.so", 5000), file("usr/lib/liby.so", 700))}})
	app := func(b *sample.Spec, files ...sample.File) sample.Spec {
		b.Steps = []sample.Step{{CreatedBy: "COPY app /app # buildkit", Files: append([]sample.File{dir("app")}, files...)}, useradd}
		return *b
	}
	app1 := mustBuild(t, app(&sample.Spec{Base: base1}, file("app/main", 2000)))
	app2 := mustBuild(t, app(&sample.Spec{Base: base2}, file("app/main", 2000), file("app/new.bin", 30000)))

	reg.PushImage(t, "lib/deb:12", base1)
	reg.PushImage(t, "team/api:latest", app1)
	scanLayers(t, pool, reg)
	reg.PushImage(t, "lib/deb:12", base2)
	reg.PushImage(t, "team/api:latest", app2)
	scanLayers(t, pool, reg)

	c1, t1 := layerSizes(t, app1)
	c2, t2 := layerSizes(t, app2)
	cb1, tb1 := layerSizes(t, base1)
	cb2, tb2 := layerSizes(t, base2)
	load := func(opts report.GrowthOptions) *report.Growth {
		t.Helper()
		if opts.MinBytes == 0 {
			opts.MinBytes = 1
		}
		if opts.Repositories == (repoglob.Glob{}) {
			opts.Repositories = repoglob.Compile("**")
		}
		opts.TopPaths = 3
		if opts.FailOverBytes == 0 {
			opts.FailOverBytes = -1
		}
		if opts.FailOverPercent == 0 {
			opts.FailOverPercent = -1
		}
		g, err := report.LoadGrowth(ctx, pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := load(report.GrowthOptions{})
	// Over every repository's history the comparisons and those that grew
	// are counted from the counts kept per day; at another --min-bytes,
	// the comparisons from the rollups, and those that grew not at all.
	if g.Compared != 2 || g.Grew == nil || *g.Grew != 2 || len(g.Pushes) != 2 {
		t.Fatalf("compared %d, grew %v, listed %d; want 2, 2, 2: %+v", g.Compared, g.Grew, len(g.Pushes), g.Pushes)
	}
	if g := load(report.GrowthOptions{MinBytes: 2}); g.Compared != 2 || g.Grew != nil {
		t.Errorf("--min-bytes 2 over the whole history: compared %d, grew %v; want 2, not counted", g.Compared, g.Grew)
	}
	if g := load(report.GrowthOptions{Since: sample.Epoch}); g.Compared != 2 || g.Grew == nil || *g.Grew != 2 {
		t.Errorf("in a window: compared %d, grew %v; want 2, 2", g.Compared, g.Grew)
	}
	// A window over every repository is counted per day (its whole days
	// from the kept counts, its first from the comparisons): from before,
	// at, and after the comparisons and their day's midnight, the counts
	// are the comparisons' own (both repositories' tags moved).
	var first, last time.Time
	if err := pool.QueryRow(ctx, `SELECT min(occurred_at), max(occurred_at) FROM cache_transitions WHERE stream_kind = 'tag'`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	midnight := first.UTC().Truncate(24 * time.Hour)
	for _, since := range []time.Time{midnight.Add(-36 * time.Hour), midnight.Add(-24 * time.Hour), midnight.Add(-time.Microsecond), midnight,
		first, first.Add(time.Microsecond), last, last.Add(time.Microsecond), midnight.Add(24 * time.Hour)} {
		var compared, grew int64
		if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE total_bytes > from_bytes) FROM cache_transitions
			WHERE stream_kind = 'tag' AND occurred_at >= $1`, since).Scan(&compared, &grew); err != nil {
			t.Fatal(err)
		}
		g := load(report.GrowthOptions{Since: since})
		if g.Grew == nil {
			t.Fatalf("since %s: those that grew not counted", since.Format(time.RFC3339Nano))
		}
		if g.Compared != compared || *g.Grew != grew {
			t.Errorf("since %s: compared %d, grew %d; want %d, %d", since.Format(time.RFC3339Nano), g.Compared, *g.Grew, compared, grew)
		}
	}
	api, deb := g.Pushes[0], g.Pushes[1]
	i64 := func(n int64) *int64 { return &n }
	str := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	causes := func(p report.GrowthPush) string {
		var lines []string
		for _, c := range p.Causes {
			var paths []string
			for _, tp := range c.TopPaths {
				paths = append(paths, fmt.Sprintf("%s=%d", tp.Path, tp.Bytes))
			}
			lines = append(lines, fmt.Sprintf("%s %q %s %s>%s %s +%d -%d %d unc %s [%s]", c.Kind, c.Base, shortDigest(c.BaseFrom), shortDigest(c.BaseTo),
				str(c.BaseDeltaBytes), shortStepOf(c.Step), c.AddedBytes, c.RemovedBytes, c.DeltaBytes, str(c.DeltaUncompressedBytes), strings.Join(paths, " ")))
		}
		return strings.Join(lines, "\n")
	}

	// team/api: the base moved, and COPY app added new.bin.
	if api.Repository != "team/api" || api.Tag != "latest" || api.From != digestOf(t, app1) || api.To != digestOf(t, app2) ||
		api.FromBytes != sum(c1) || api.ToBytes != sum(c2) || api.DeltaBytes != sum(c2)-sum(c1) || !api.BaseMoved ||
		str(api.DeltaUncompressedBytes) != str(i64(sum(t2)-sum(t1))) {
		t.Errorf("team/api push: %+v; want %d → %d bytes, %d uncompressed", api, sum(c1), sum(c2), sum(t2)-sum(t1))
	}
	want := strings.Join([]string{
		fmt.Sprintf("base %q %s %s>%s  +%d -%d %d unc %d []",
			"lib/deb:12", shortDigest(digestOf(t, base1)), shortDigest(digestOf(t, base2)), fmt.Sprint(sum(cb2)-sum(cb1)),
			c2[0], c1[0], c2[0]-c1[0], t2[0]-t1[0]),
		fmt.Sprintf("step \"\"  >nil COPY +%d -%d %d unc %d [app/new.bin=30000 app/main=2000]", c2[1], c1[1], c2[1]-c1[1], t2[1]-t1[1]),
	}, "\n")
	if got := causes(api); got != want {
		t.Errorf("team/api causes:\n%s\nwant\n%s", got, want)
	}
	var parts, partsUnc int64
	for _, c := range api.Causes {
		parts += c.DeltaBytes
		partsUnc += *c.DeltaUncompressedBytes
	}
	if parts != api.DeltaBytes || partsUnc != *api.DeltaUncompressedBytes {
		t.Errorf("causes add up to %d (%d uncompressed), the push grew %d (%d)", parts, partsUnc, api.DeltaBytes, *api.DeltaUncompressedBytes)
	}
	// lib/deb: the base itself, its one step.
	wantDeb := fmt.Sprintf("step \"\"  >nil ADD +%d -%d %d unc %d [usr/lib/libx.so=5000 usr/lib/liby.so=700 etc/os-release=100]",
		cb2[0], cb1[0], cb2[0]-cb1[0], tb2[0]-tb1[0])
	if deb.Repository != "lib/deb" || deb.BaseMoved || causes(deb) != wantDeb {
		t.Errorf("lib/deb push: %+v\n%s\nwant\n%s", deb, causes(deb), wantDeb)
	}

	// Filters and thresholds.
	if g := load(report.GrowthOptions{Repositories: repoglob.Compile("team/**")}); g.Compared != 1 || len(g.Pushes) != 1 || g.Pushes[0].Repository != "team/api" {
		t.Errorf("--repo team/**: %+v", g)
	}
	if g := load(report.GrowthOptions{MinBytes: api.DeltaBytes + 1, Since: sample.Epoch}); g.Compared != 2 || *g.Grew != 0 || len(g.Pushes) != 0 {
		t.Errorf("--min-bytes over every growth: %+v", g)
	}
	if g := load(report.GrowthOptions{Limit: 1}); len(g.Pushes) != 1 || g.Pushes[0].Repository != "team/api" {
		t.Errorf("--limit 1: %+v", g)
	}
	future := load(report.GrowthOptions{Since: time.Now().Add(time.Hour)})
	if future.Compared != 0 || len(future.Pushes) != 0 {
		t.Errorf("a window after the pushes: %+v", future)
	}

	gate := func(g *report.Growth, bytes int64, pct float64) int {
		err := report.GrowthGate{Bytes: bytes, Percent: pct}.Judge(g)
		var ge *report.GateError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ge):
			return ge.Status
		}
		t.Fatal(err)
		return -1
	}
	debPct := float64(deb.DeltaBytes) * 100 / float64(deb.FromBytes)
	for _, c := range []struct {
		bytes int64
		pct   float64
		g     *report.Growth
		want  int
	}{
		{api.DeltaBytes - 1, -1, nil, report.GateCrossed},
		{api.DeltaBytes, -1, nil, 0},
		{-1, debPct - 0.01, nil, report.GateCrossed}, // both pushes over
		{-1, 1e6, nil, 0},
		{-1, -1, nil, 0},
		{1 << 40, -1, future, report.GateCannotJudge}, // nothing compared: never a blind pass
		{-1, -1, future, 0},
	} {
		g := c.g
		if g == nil {
			g = load(report.GrowthOptions{FailOverBytes: c.bytes, FailOverPercent: c.pct})
		}
		if got := gate(g, c.bytes, c.pct); got != c.want {
			t.Errorf("gate bytes %d, percent %g: exit %d, want %d (over %d bytes, %d percent)", c.bytes, c.pct, got, c.want, g.OverBytes, g.OverPercent)
		}
	}
	if g := load(report.GrowthOptions{FailOverPercent: debPct - 0.01}); g.OverPercent != 2 {
		t.Errorf("over %g%%: %d pushes, want 2", debPct-0.01, g.OverPercent)
	}

	// A push whose earlier build's base is not known (base0 is in no
	// repository of its own), now on lib/deb:12: the old bottom layer goes
	// with the base's move, not with a step of the image's own.
	base0 := mustBuild(t, sample.Spec{Steps: []sample.Step{rootfs(file("etc/os-release", 90))}})
	reg.PushImage(t, "team/late:latest", mustBuild(t, app(&sample.Spec{Base: base0}, file("app/main", 2000))))
	scanLayers(t, pool, reg)
	reg.PushImage(t, "team/late:latest", mustBuild(t, app(&sample.Spec{Base: base2}, file("app/main", 2000))))
	scanLayers(t, pool, reg)
	late := load(report.GrowthOptions{Repositories: repoglob.Compile("team/late")})
	if len(late.Pushes) != 1 || !late.Pushes[0].BaseMoved || len(late.Pushes[0].Causes) != 1 || late.Pushes[0].Causes[0].Kind != "base" ||
		late.Pushes[0].Causes[0].BaseFrom != "" || late.Pushes[0].Causes[0].DeltaBytes != late.Pushes[0].DeltaBytes {
		t.Errorf("team/late: %+v", late.Pushes)
	} else if rows := late.TableRows(); len(rows) != 2 || !strings.HasPrefix(fmt.Sprint(rows[1][0]), "- base moved: lib/deb:12 a build not known as its base → ") {
		t.Errorf("team/late's table rows: %q", rows)
	}

	// Rendered, the times fixed.
	for i := range g.Pushes {
		g.Pushes[i].At = sample.Epoch
	}
	for _, f := range []struct {
		name string
		opts output.Options
	}{
		{"table", output.Options{Format: output.TableFormat}},
		{"json", output.Options{Format: output.JSONFormat}},
		{"csv", output.Options{Format: output.CSVFormat}},
	} {
		var buf bytes.Buffer
		if err := output.Print(&buf, f.opts, g); err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "growth."+f.name+".golden"), buf.Bytes())
	}
	checkCSVKeys(t, "growth", g)
}

func shortDigest(d string) string {
	if d == "" {
		return ""
	}
	return output.Digest(d).Short()
}

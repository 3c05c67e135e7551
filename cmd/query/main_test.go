package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/pgtest"
	"github.com/layerq/layerq/internal/registrytest"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/walker"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The tests here run the command line one at a time: urfave/cli shares its
// help flag between apps, and parsing it is not safe in parallel.

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = clierr.Run(context.Background(), newApp(&out, &errOut), append([]string{"layerq"}, args...))
	return out.String(), errOut.String(), err
}

// seeded is a database holding a base image and two apps on it.
func seeded(t *testing.T) (url string, base, app v1.Image) {
	t.Helper()
	url = pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	step := func(name string, n int) sample.Step {
		return sample.Step{CreatedBy: "RUN " + name, Files: []sample.File{{Path: name, Content: sample.Text(name, n)}}}
	}
	var err error
	if base, err = sample.Build(sample.Spec{Steps: []sample.Step{step("rootfs", 4000)}}); err != nil {
		t.Fatal(err)
	}
	if app, err = sample.Build(sample.Spec{Base: base, Steps: []sample.Step{step("app", 100)}}); err != nil {
		t.Fatal(err)
	}
	other, err := sample.Build(sample.Spec{Base: base, Steps: []sample.Step{step("other", 100)}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "library/base:1", base)
	reg.PushImage(t, "team/app:1", app)
	reg.PushImage(t, "team/other:1", other)
	scanInto(t, url, reg, false)
	return url, base, app
}

// scanInto scans reg into the database at url as "reg.test", and with
// layers indexes every layer too.
func scanInto(t *testing.T, url string, reg *registrytest.Server, layers bool) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w, err := walker.New(walker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.New(pool)
	if _, err := scan.Run(ctx, store, w, scan.Options{Registry: reg.Host, Name: "reg.test", Repositories: repoglob.Compile("")}); err != nil {
		t.Fatal(err)
	}
	if !layers {
		return
	}
	ls, err := layerindex.Pending(ctx, store, "reg.test", reg.Host, repoglob.Compile("").Regexp())
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := layerindex.Run(ctx, &layerindex.Indexer{Store: store}, w, ls, 1, nil); err != nil || sum.Indexed != len(ls) {
		t.Fatalf("indexing: %+v, %v", sum, err)
	}
}

func TestTopSharedJSONAndCSV(t *testing.T) {
	url, base, _ := seeded(t)
	layers, _ := base.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()

	out, _, err := runCLI(t, "--database-url", url, "-o", "json", "top-shared", "--limit", "1")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Layers []map[string]any `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(got.Layers) != 1 {
		t.Fatalf("rows = %d", len(got.Layers))
	}
	row := got.Layers[0]
	for k, want := range map[string]any{"digest": d.String(), "size": float64(size), "manifests": float64(3), "repositories": float64(3), "bytes_saved": float64(2 * size), "created_by": "RUN rootfs"} {
		if row[k] != want {
			t.Errorf("%s = %v, want %v", k, row[k], want)
		}
	}
	for _, k := range []string{"diff_id", "sample_repositories"} {
		if _, ok := row[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}

	out, _, err = runCLI(t, "--database-url", url, "--output", "csv", "top-shared", "--repo", "team/*")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Header, the base layer (2 manifests under team/*), and the two app layers.
	if len(recs) != 4 || strings.Join(recs[0], ",") != "digest,size,manifests,repositories,bytes_saved,created_by,sample_repositories" {
		t.Fatalf("csv = %q", recs)
	}
	if recs[1][0] != d.String() || recs[1][2] != "2" || recs[1][3] != "2" || recs[1][5] != "RUN rootfs" || recs[1][6] != "team/app,team/other" {
		t.Fatalf("csv row = %q", recs[1])
	}
}

func TestImageCommand(t *testing.T) {
	url, _, app := seeded(t)
	d, _ := app.Digest()
	out, _, err := runCLI(t, "--database-url", url, "image", "team/app@"+d.String())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "image:    reg.test/team/app@"+d.String() || !strings.HasPrefix(lines[len(lines)-1], "1         sha256:") || !strings.HasSuffix(lines[len(lines)-1], "RUN app") {
		t.Fatalf("output:\n%s", out)
	}
	_, _, err = runCLI(t, "--database-url", url, "image", "team/app:9")
	if err == nil || err.Error() != "team/app:9: not found in the graph (check the name with a scan, or the tag may be deleted)" {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-o", "yaml", "top-shared"}, `unknown output format "yaml": use table, json or csv`},
		{[]string{"top-shared", "--limit", "0"}, "--limit must be at least 1, got 0"},
		{[]string{"top-shared", "--limit", "ten"}, `invalid value "ten" for flag -limit: parse error (see layerq top-shared --help)`},
		{[]string{"image"}, `image takes one reference, like library/debian:12, with flags before it (got 0 arguments: [])`},
		{[]string{"image", "x:1", "--platform", "linux/arm64"}, `image takes one reference, like library/debian:12, with flags before it (got 3 arguments: ["x:1" "--platform" "linux/arm64"])`},
		{[]string{"image", "team/app@sha256:abc"}, `bad digest in "team/app@sha256:abc": want sha256: followed by 64 hex digits`},
		{[]string{"--database-url", "postgres://u:pw@127.0.0.1:1/db", "top-shared"}, "cannot use postgres://u:xxxxx@127.0.0.1:1/db: connection refused (check --database-url or DATABASE_URL)"},
		{[]string{"dedupe"}, `unknown command "dedupe" (see layerq --help)`},
		{[]string{"bloat", "--image", "x@sha256:1"}, `bad digest in "x@sha256:1": want sha256: followed by 64 hex digits`},
		{[]string{"bloat", "team/app:1"}, `bloat takes no arguments (got ["team/app:1"]): give an image with --image REF`},
		{[]string{"bloat", "--min-bytes", "-1"}, "--min-bytes and --max-layers must not be negative, --small-layer must be positive"},
		{[]string{"--database-url", "postgres://u:pw@127.0.0.1:1/db", "duplicates", "--kind", "tree"}, "cannot use postgres://u:xxxxx@127.0.0.1:1/db: connection refused (check --database-url or DATABASE_URL)"},
	}
	for _, c := range cases {
		out, stderr, err := runCLI(t, c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
		if out != "" || stderr != "" {
			t.Errorf("%v printed %q / %q; want nothing but the error", c.args, out, stderr)
		}
	}
}

// bloated is a database holding one image whose third step deletes what the
// second added (8000 bytes), with its layers indexed.
func bloated(t *testing.T) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{
		{CreatedBy: "ADD rootfs /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=x\n")}}},
		{CreatedBy: "RUN /bin/sh -c make", Files: []sample.File{{Path: "build/out.o", Content: sample.Bytes("o", 8000)}}},
		{CreatedBy: "RUN /bin/sh -c rm -rf /build", Files: []sample.File{sample.Whiteout("build")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/bloated:1", img)
	scanInto(t, url, reg, true)
	return url
}

func TestBloatGate(t *testing.T) {
	url := bloated(t)
	out, _, err := runCLI(t, "--database-url", url, "-o", "json", "bloat", "--fail-over", "7999")
	if err == nil || err.Error() != "1 images waste more than 7999 bytes (--fail-over)" || exitCode(err) != 3 {
		t.Fatalf("--fail-over 7999: err = %v (exit %d)", err, exitCode(err))
	}
	var got struct {
		Images []struct {
			Repository  string `json:"repository"`
			Tag         string `json:"tag"`
			WastedBytes int64  `json:"wasted_bytes"`
			Pairs       []struct {
				AddedBy  string `json:"added_by"`
				HiddenBy string `json:"hidden_by"`
				Bytes    int64  `json:"bytes"`
			} `json:"pairs"`
			LayerRuns []struct {
				Layers int `json:"layers"`
			} `json:"layer_runs"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(got.Images) != 1 || got.Images[0].Repository != "team/bloated" || got.Images[0].Tag != "1" || got.Images[0].WastedBytes != 8000 ||
		len(got.Images[0].Pairs) != 1 || got.Images[0].Pairs[0].AddedBy != "RUN /bin/sh -c make" || got.Images[0].Pairs[0].HiddenBy != "RUN /bin/sh -c rm -rf /build" ||
		len(got.Images[0].LayerRuns) != 1 || got.Images[0].LayerRuns[0].Layers != 2 {
		t.Errorf("report = %s", out)
	}
	if _, _, err := runCLI(t, "--database-url", url, "bloat", "--fail-over", "8000"); err != nil {
		t.Errorf("--fail-over 8000: %v", err)
	}
	_, _, err = runCLI(t, "--database-url", url, "bloat", "--max-layers", "2", "--image", "team/bloated:1")
	if err == nil || err.Error() != "1 images have more than 2 layers (--max-layers)" || exitCode(err) != 3 {
		t.Errorf("--max-layers 2: %v", err)
	}
	out, _, err = runCLI(t, "--database-url", url, "-o", "csv", "duplicates", "--kind", "file")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "content,size,copies,layers,extra_bytes,sample_path\n") {
		t.Errorf("duplicates csv = %q", out)
	}
	out, _, err = runCLI(t, "--database-url", url, "duplicates", "--kind", "file")
	if err != nil || !strings.Contains(out, "3 layers, 2 files, 7.8 KiB; 2 distinct contents, 7.8 KiB\nfile-level dedup ratio (unique / total bytes): 1.0000; it would save 0 B\n") {
		t.Errorf("duplicates table = %q, %v", out, err)
	}
}

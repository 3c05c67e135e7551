package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	neturl "net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/clierr"
	"github.com/layerq/layerq/internal/database"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
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

	// The output flag after the command, where users type it.
	out, _, err := runCLI(t, "--database-url", url, "top-shared", "--limit", "1", "-o", "json")
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
	diffID, _ := layers[0].DiffID()
	for k, want := range map[string]any{"content": diffID.String(), "stored_bytes": float64(size), "images": float64(3), "repositories": float64(3),
		"saved_bytes": float64(2 * size), "created_by": "RUN rootfs"} {
		if row[k] != want {
			t.Errorf("%s = %v, want %v", k, row[k], want)
		}
	}
	if encs, _ := row["encodings"].([]any); len(encs) != 1 || encs[0].(map[string]any)["digest"] != d.String() || encs[0].(map[string]any)["images"] != float64(3) {
		t.Errorf("encodings = %v, want %s in 3 images", row["encodings"], d)
	}
	if _, ok := row["sample_repositories"]; !ok {
		t.Errorf("JSON lacks sample_repositories")
	}

	out, _, err = runCLI(t, "--database-url", url, "--output", "csv", "top-shared", "--repo", "team/*", "--min-images", "1")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Header, the base layer (2 manifests under team/*), and the two app layers.
	if len(recs) != 4 || strings.Join(recs[0], ",") != "content,images,repositories,stored_bytes,saved_bytes,encodings,created_by,sample_repositories" {
		t.Fatalf("csv = %q", recs)
	}
	if recs[1][0] != diffID.String() || recs[1][1] != "2" || recs[1][2] != "2" || recs[1][3] != fmt.Sprint(size) || recs[1][4] != fmt.Sprint(size) ||
		!strings.Contains(recs[1][5], d.String()) || recs[1][6] != "RUN rootfs" || recs[1][7] != "team/app,team/other" {
		t.Fatalf("csv row = %q", recs[1])
	}
	// --limit 0 lists all, as in every report: the 3 layers (the base's,
	// shared, and each app's), over every repository and under team/*.
	for _, c := range []struct {
		args []string
		rows int
	}{
		{[]string{"top-shared", "--min-images", "1", "--limit", "0"}, 3},
		{[]string{"top-shared", "--min-images", "1", "--limit", "0", "--repo", "team/*"}, 3},
		{[]string{"top-shared", "--min-images", "1", "--limit", "1"}, 1},
	} {
		out, _, err := runCLI(t, append([]string{"--database-url", url, "-o", "csv"}, c.args...)...)
		if recs, _ := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil || len(recs) != 1+c.rows {
			t.Errorf("%v: %d records, %v; want a header and %d", c.args, len(recs), err, c.rows)
		}
	}
	for _, kind := range []string{"blob", "layer", "file"} {
		all, _, err := runCLI(t, "--database-url", url, "-o", "json", "duplicates", "--kind", kind, "--limit", "0")
		many, _, err2 := runCLI(t, "--database-url", url, "-o", "json", "duplicates", "--kind", kind, "--limit", "1000")
		if err != nil || err2 != nil || all != many {
			t.Errorf("duplicates --kind %s --limit 0: %v, %v\n%s\nwant as --limit 1000:\n%s", kind, err, err2, all, many)
		}
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
	// Piped, a table prints every value whole.
	last := strings.Fields(lines[len(lines)-1])
	if lines[0] != "image:     reg.test/team/app@"+d.String() || len(last) < 2 || last[0] != "1" || !strings.HasPrefix(last[1], "sha256:") || len(last[1]) != 71 ||
		!strings.HasSuffix(lines[len(lines)-1], "RUN app") {
		t.Fatalf("output:\n%s", out)
	}
	_, _, err = runCLI(t, "--database-url", url, "image", "team/app:9")
	if err == nil || err.Error() != `team/app:9: reg.test/team/app has no tag "9"; live tags, newest first: 1` {
		t.Fatalf("missing tag: %v", err)
	}
	// --platform of an image of one platform: its own, or an error, never
	// another platform's figures shown as asked for.
	if _, _, err = runCLI(t, "--database-url", url, "image", "team/app:1", "--platform", "linux/amd64"); err != nil {
		t.Errorf("--platform linux/amd64 of a linux/amd64 image: %v", err)
	}
	_, _, err = runCLI(t, "--database-url", url, "image", "team/app:1", "--platform", "linux/arm64")
	if err == nil || err.Error() != "team/app:1 is an image for linux/amd64 only, not an index: drop --platform linux/arm64 (it picks the image of an index)" {
		t.Errorf("--platform linux/arm64 of a linux/amd64 image: %v", err)
	}
	_, _, err = runCLI(t, "--database-url", url, "diff", "team/app:1", "team/other:1", "--platform", "windows/amd64")
	if err == nil || !strings.Contains(err.Error(), "is an image for linux/amd64 only") {
		t.Errorf("diff --platform windows/amd64 of linux/amd64 images: %v", err)
	}
}

// An empty report whose --repo matches no live repository says so on
// stderr (the report's own empty line can only guess); one that matches
// says nothing more.
func TestEmptyReportNamesAnUnmatchedRepo(t *testing.T) {
	url, _, _ := seeded(t)
	const note = "layerq: --repo %q matches no repository with live images (* matches within a path segment, ** across%s)\n"
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"top-shared", "--repo", "team"}, fmt.Sprintf(note, "team", `; "team" names one repository, "team/**" a whole namespace`)},
		{[]string{"cache", "--repo", "nothing/**"}, fmt.Sprintf(note, "nothing/**", "")},
		{[]string{"duplicates", "--kind", "blob", "--repo", "tema/*"}, fmt.Sprintf(note, "tema/*", "")},
		{[]string{"top-shared", "--repo", "team/app", "--min-images", "99"}, ""}, // matches: the report is empty on its own
		{[]string{"storage", "--by", "namespace", "--repo", "nothing"}, fmt.Sprintf(note, "nothing", `; "nothing" names one repository, "nothing/**" a whole namespace`)},
		{[]string{"top-shared", "--min-images", "99"}, ""},
	} {
		_, errOut, err := runCLI(t, append([]string{"--database-url", url}, c.args...)...)
		if err != nil || errOut != c.wantErr {
			t.Errorf("%v: stderr %q, %v; want %q", c.args, errOut, err, c.wantErr)
		}
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-o", "yaml", "top-shared"}, `unknown output format "yaml": use table, wide, json or csv`},
		{[]string{"top-shared", "-o", "yaml"}, `unknown output format "yaml": use table, wide, json or csv`},
		{[]string{"top-shared", "--limit", "-1"}, "--limit -1: give 0 (all) or more"},
		{[]string{"duplicates", "--limit", "-1"}, "--limit -1: give 0 (all) or more"},
		{[]string{"top-shared", "--limit", "ten"}, `--limit "ten": give a whole number (see layerq top-shared --help)`},
		{[]string{"top-shared", "--limit", "99999999999999999999"}, `--limit "99999999999999999999": give a whole number (this one is out of range) (see layerq top-shared --help)`},
		{[]string{"duplicates", "--min-similarity", "90%"}, `--min-similarity "90%": give a number, like 0.9 (see layerq duplicates --help)`},
		{[]string{"bloat", "--wait", "soon"}, `--wait "soon": give a duration, like 10m or 36h (see layerq bloat --help)`},
		{[]string{"image"}, `image takes one reference, like library/debian:12 (got 0 arguments: [])`},
		{[]string{"image", "x:1", "y:2", "--platform", "linux/arm64"}, `image takes one reference, like library/debian:12 (got 2 arguments: ["x:1" "y:2"])`},
		{[]string{"image", "team/app@sha256:abc"}, `bad digest in "team/app@sha256:abc": want sha256: and 64 hex digits, or the first 4 or more of them`},
		{[]string{"top-shard"}, `unknown command "top-shard": did you mean "top-shared"? (see layerq --help)`},
		{[]string{"top-shared", "--limt", "3"}, `flag provided but not defined: -limt; did you mean "--limit"? (see layerq top-shared --help)`},
		{[]string{"--database-url", "postgres://u:pw@127.0.0.1:1/db", "top-shared"}, "cannot use postgres://u:xxxxx@127.0.0.1:1/db: connection refused (check --database-url or DATABASE_URL)"},
		{[]string{"dedupe"}, `unknown command "dedupe" (see layerq --help)`},
		{[]string{"bloat", "--image", "x@sha256:1"}, `bad digest in "x@sha256:1": want sha256: and 64 hex digits, or the first 4 or more of them`},
		{[]string{"bloat", "team/app:1"}, `bloat takes no arguments (got ["team/app:1"]): give an image with --image REF`},
		{[]string{"bloat", "--min-bytes", "-1"}, "--min-bytes -1: give 0 or more"},
		{[]string{"--database-url", "postgres://u:pw@127.0.0.1:1/db", "duplicates", "--kind", "tree"}, "cannot use postgres://u:xxxxx@127.0.0.1:1/db: connection refused (check --database-url or DATABASE_URL)"},
		{[]string{"storage", "--by", "team"}, `--by "team": choose repository or namespace`},
		{[]string{"storage", "team/app"}, `storage takes no arguments (got ["team/app"])`},
		{[]string{"bases", "x"}, `bases takes no arguments (got ["x"])`},
		{[]string{"cache", "--since", "yesterday"}, `--since "yesterday": give a positive duration like 36h or 30d, at most 36500d`},
		{[]string{"cache", "--since", "-3h"}, `--since "-3h": give a positive duration like 36h or 30d, at most 36500d`},
		{[]string{"cache", "--since", "999999999h"}, `--since "999999999h": give a positive duration like 36h or 30d, at most 36500d`},
		{[]string{"growth", "--since", "200000d"}, `--since "200000d": give a positive duration like 36h or 30d, at most 36500d`},
		{[]string{"cache", "--limit", "-1"}, "--limit must be at least 0 (got -1)"},
		{[]string{"cache", "--top", "-2"}, "--top must be at least 0 (got -2)"},
		{[]string{"cache", "--busters", "-1"}, "--busters must be at least 0 (got -1)"},
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
	if err == nil || err.Error() != "1 image wastes more than 7999 bytes (--fail-over)" || exitCode(err) != 3 {
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
	if err == nil || err.Error() != "1 image has more than 2 layers (--max-layers)" || exitCode(err) != 3 {
		t.Errorf("--max-layers 2: %v", err)
	}
	// A glob that matches nothing (a typo) judges nothing: never a pass.
	for _, gate := range [][]string{{"--fail-over", "1"}, {"--max-layers", "1"}, {"--wait", "1s"}} {
		_, _, err = runCLI(t, append([]string{"--database-url", url, "bloat", "--repo", "team/bloatd"}, gate...)...)
		if err == nil || exitCode(err) != 4 || err.Error() != "cannot judge (exit status 4): no live image selected: check --repo and --image, or wait for the push to arrive" {
			t.Errorf("%v on a --repo that matches nothing: %v (exit %d)", gate, err, exitCode(err))
		}
	}
	if _, _, err = runCLI(t, "--database-url", url, "bloat", "--repo", "team/bloatd"); err != nil {
		t.Errorf("no gate on a --repo that matches nothing: %v", err)
	}
	out, _, err = runCLI(t, "--database-url", url, "-o", "csv", "duplicates", "--kind", "file")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "digest,size,copies,layers,extra_bytes,sample_path\n") {
		t.Errorf("duplicates csv = %q", out)
	}
	out, _, err = runCLI(t, "--database-url", url, "duplicates", "--kind", "file")
	if err != nil || !strings.Contains(out, "3 layers, 2 files, 7.8 KiB; 2 distinct contents, 7.8 KiB\nfile-level dedup ratio (unique / total bytes): 100.0%; it would save 0 B\n") {
		t.Errorf("duplicates table = %q, %v", out, err)
	}
}

// The seeded graph: library/base (rootfs), team/app and team/other (rootfs
// + one step each), all in one registry.
func TestStorageBasesCacheCommands(t *testing.T) {
	url, base, _ := seeded(t)
	blobSize := func(img v1.Image) (layers []int64, config int64) {
		ls, _ := img.Layers()
		for _, l := range ls {
			n, _ := l.Size()
			layers = append(layers, n)
		}
		raw, _ := img.RawConfigFile()
		return layers, int64(len(raw))
	}
	bl, bc := blobSize(base)

	out, _, err := runCLI(t, "--database-url", url, "-o", "csv", "storage", "--by", "namespace")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// library holds the rootfs layer (shared with team) and its config;
	// team holds rootfs once, two app layers and two configs.
	if len(recs) != 3 || strings.Join(recs[0], ",") != "registry,name,images,logical_bytes,physical_bytes,unique_bytes,shared_bytes" {
		t.Fatalf("csv = %q", recs)
	}
	library := []string{"reg.test", "library", "1", fmt.Sprint(bl[0] + bc), fmt.Sprint(bl[0] + bc), fmt.Sprint(bc), fmt.Sprint(bl[0])}
	if team := recs[1]; team[1] != "team" || team[2] != "2" || team[5] == "0" || team[6] != fmt.Sprint(bl[0]) {
		t.Errorf("team row %q", team)
	}
	if strings.Join(recs[2], ",") != strings.Join(library, ",") {
		t.Errorf("library row %q, want %q", recs[2], library)
	}
	// By namespace, the glob of a namespace's repositories names it.
	for _, glob := range []string{"team", "team/**", "t*/**"} {
		out, _, err = runCLI(t, "--database-url", url, "-o", "csv", "storage", "--by", "namespace", "--repo", glob)
		if want := strings.Join(recs[0], ",") + "\n" + strings.Join(recs[1], ",") + "\n"; err != nil || out != want {
			t.Errorf("--by namespace --repo %s: %q, %v; want %q", glob, out, err, want)
		}
	}

	out, _, err = runCLI(t, "--database-url", url, "-o", "json", "storage")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		By         string           `json:"by"`
		Rows       []map[string]any `json:"rows"`
		Registries []map[string]any `json:"registries"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if st.By != "repository" || len(st.Rows) != 3 || len(st.Registries) != 1 || st.Registries[0]["images"] != float64(3) {
		t.Fatalf("storage json %s", out)
	}
	phys := st.Registries[0]["physical_bytes"].(float64)
	var sumUnique float64
	for _, r := range st.Rows {
		sumUnique += r["unique_bytes"].(float64)
	}
	// Every blob but the shared rootfs layer is unique to one repository.
	if phys != sumUnique+float64(bl[0]) {
		t.Errorf("physical %v, unique summed %v, rootfs %d", phys, sumUnique, bl[0])
	}

	out, _, err = runCLI(t, "--database-url", url, "bases")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], "BASE") || !strings.HasPrefix(lines[len(lines)-1], "library/base  1") ||
		!strings.Contains(lines[len(lines)-1], "team/app (1), team/other (1)") {
		t.Fatalf("bases table:\n%s", out)
	}
	out, _, err = runCLI(t, "--database-url", url, "bases", "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// builds in use, stale builds, images, repositories, stale images, stale repositories
	if len(recs) != 2 || strings.Join(recs[0][4:10], " ") != "builds_in_use stale_builds images repositories stale_images stale_repositories" ||
		strings.Join(recs[1][4:10], " ") != "1 0 2 2 0 0" {
		t.Errorf("bases csv %q", recs)
	}

	// One scan, no tag moves: the created streams; each repository has one
	// build, so there are no pushes to compare.
	out, _, err = runCLI(t, "--database-url", url, "-o", "json", "cache")
	if err != nil {
		t.Fatal(err)
	}
	var cache struct {
		Repositories []any `json:"repositories"`
		OverTime     []any `json:"over_time"`
		Busters      []any `json:"busters"`
	}
	if err := json.Unmarshal([]byte(out), &cache); err != nil || len(cache.Repositories) != 0 || cache.OverTime == nil || cache.Busters == nil {
		t.Fatalf("cache json %s (%v)", out, err)
	}
}

// As a member of layerq_reader, the reports run on the aggregates as of the
// last fold, and say so; the role folds nothing.
func TestReadOnlyRole(t *testing.T) {
	url, _, _ := seeded(t)
	if _, _, err := runCLI(t, "--database-url", url, "storage"); err != nil { // folds, as the writer
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	role := fmt.Sprintf("reader_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'pw' IN ROLE layerq_reader"); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(ctx, "DROP ROLE "+role)
	u, _ := neturl.Parse(url)
	u.User = neturl.UserPassword(role, "pw")
	// A change the writer has not folded yet.
	if _, err := admin.Exec(ctx, `UPDATE repository_manifests SET deleted_at = now()
		WHERE repository_id = (SELECT id FROM repositories WHERE name = 'team/other')`); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, "--database-url", u.String(), "-o", "csv", "storage")
	if err != nil {
		t.Fatalf("storage as a reader: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "read-only database role: figures as of the last fold") {
		t.Errorf("stderr = %q", errOut)
	}
	if !strings.Contains(out, "team/other") {
		t.Errorf("the reader folded the delete (or lost the row): %q", out)
	}
	var queued int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM aggregate_queue`).Scan(&queued); err != nil || queued == 0 {
		t.Errorf("queue = %d, %v: the reader's run emptied it", queued, err)
	}
	out, _, err = runCLI(t, "--database-url", url, "-o", "csv", "storage")
	if err != nil || strings.Contains(out, "team/other") {
		t.Errorf("the writer's storage still shows team/other after folding the delete: %v\n%s", err, out)
	}

	// A layer queued for its near-duplicate keys: the reader's report
	// leaves it queued, the writer's works it out before it reads.
	if _, err := admin.Exec(ctx, `INSERT INTO layer_keys_queue (blob_digest) VALUES ('sha256:queued')`); err != nil {
		t.Fatal(err)
	}
	keysQueued := func() int {
		t.Helper()
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM layer_keys_queue`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, errOut, err := runCLI(t, "--database-url", u.String(), "duplicates", "--kind", "layer"); err != nil || keysQueued() != 1 ||
		!strings.Contains(errOut, "layerq: 1 layer indexed since layerq-ingest serve or scan --layers last worked out near-duplicate keys not compared yet") {
		t.Errorf("duplicates --kind layer as a reader: %v (stderr %q); %d queued, want the 1 left, and said", err, errOut, keysQueued())
	}
	if _, errOut, err := runCLI(t, "--database-url", url, "duplicates", "--kind", "layer"); err != nil || keysQueued() != 0 || strings.Contains(errOut, "not compared") {
		t.Errorf("duplicates --kind layer as the writer: %v (stderr %q); %d queued, want none", err, errOut, keysQueued())
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(out, "layerq version ") || !strings.Contains(out, runtime.Version()) || strings.Count(out, "\n") != 1 {
		t.Errorf("version = %q, %v", out, err)
	}
	out, _, err = runCLI(t, "version", "-o", "json")
	var v map[string]any
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v["go_version"] != runtime.Version() || v["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json = %q, %v", out, err)
	}
}

// Reports read from a standby (a read replica), as a team pointing layerq
// at it to spare the primary: they run without folding (nothing may be
// written there), say how far behind the standby is, and show what the
// primary shows once it is replayed; a URL naming both hosts with
// target_session_attrs=prefer-standby reads the standby.
func TestReportsFromAStandby(t *testing.T) {
	pair := pgtest.NewPair(t)
	reg := registrytest.New(t)
	base, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN rootfs", Files: []sample.File{{Path: "rootfs", Content: sample.Text("rootfs", 4000)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "library/base:1", base)
	reg.PushImage(t, "team/app:1", base)
	scanInto(t, pair.PrimaryURL, reg, false)
	primary, _, err := runCLI(t, "--database-url", pair.PrimaryURL, "-o", "csv", "storage") // folds, on the primary
	if err != nil || !strings.Contains(primary, "team/app") {
		t.Fatalf("storage on the primary: %v\n%s", err, primary)
	}
	both := strings.Replace(pair.URL, "target_session_attrs=read-write", "target_session_attrs=prefer-standby", 1)
	for _, url := range []string{pair.StandbyURL, both} {
		var out, errOut string
		deadline := time.Now().Add(20 * time.Second)
		for {
			if out, errOut, err = runCLI(t, "--database-url", url, "-o", "csv", "storage"); err == nil && out == primary {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("storage from the standby (%s): %v\n%s\nwant, as the primary shows:\n%s", url, err, out, primary)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !regexp.MustCompile(`^layerq: reading a standby, [0-9.]+ ?[µm]?s behind its primary: figures as of the last fold on the primary`).MatchString(errOut) {
			t.Errorf("stderr from the standby = %q", errOut)
		}
	}
	// A report that reads the file index works there too.
	if out, errOut, err := runCLI(t, "--database-url", pair.StandbyURL, "bloat"); err != nil {
		t.Errorf("bloat from the standby: %v\n%s%s", err, out, errOut)
	}
}

// Reports through PgBouncer in session mode, the pooler deployments put
// before Postgres (and what keeps a report's connection from starting a
// new backend): the pooler forwards only the startup parameters it knows,
// so layerq sends none of its own; the fold (a session advisory lock) and
// the reports work, on a fresh server connection and on one a report used
// before (reset with DISCARD ALL), and JIT is off as on a direct
// connection.
func TestReportsThroughPgBouncer(t *testing.T) {
	url, _, _ := seeded(t)
	via := pgtest.Bouncer(t, url)
	// The first report folds what the scan queued, through the pooler.
	first, errOut, err := runCLI(t, "--database-url", via, "-o", "csv", "storage")
	if err != nil {
		t.Fatalf("storage through pgbouncer: %v\n%s%s", err, first, errOut)
	}
	direct, _, err := runCLI(t, "--database-url", url, "-o", "csv", "storage")
	if err != nil {
		t.Fatal(err)
	}
	// Three repositories of one image each: library/base, team/app and
	// team/other (seeded pushes them).
	records, err := csv.NewReader(strings.NewReader(first)).ReadAll()
	if err != nil || len(records) != 4 || first != direct {
		t.Fatalf("storage through pgbouncer:\n%s\ndirect:\n%s(%v)", first, direct, err)
	}
	for i := range 2 {
		again, errOut, err := runCLI(t, "--database-url", via, "-o", "csv", "storage")
		if err != nil || again != first {
			t.Fatalf("storage through pgbouncer, run %d: %v\n%s%s\nwant\n%s", i+2, err, again, errOut, first)
		}
	}
	if out, errOut, err := runCLI(t, "--database-url", via, "bases"); err != nil || !strings.Contains(out, "library/base") {
		t.Fatalf("bases through pgbouncer: %v\n%s%s", err, out, errOut)
	}
	ctx := context.Background()
	pool, err := database.Open(ctx, database.Options{URL: via})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var jit string
	var queued int
	if err := pool.QueryRow(ctx, `SELECT current_setting('jit'), (SELECT count(*) FROM aggregate_queue)`).Scan(&jit, &queued); err != nil || jit != "off" || queued != 0 {
		t.Fatalf("through pgbouncer: jit = %q, %d changes not folded (%v); want off and 0", jit, queued, err)
	}
}

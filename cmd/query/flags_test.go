package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// Every flag may follow the report's name and its argument: the report is
// the same wherever the flags were typed.
func TestFlagsWhereUsersTypeThem(t *testing.T) {
	url, base, app := seeded(t)
	d, _ := app.Digest()

	var first string
	for i, args := range [][]string{
		{"--database-url", url, "-o", "json", "image", "--platform", "linux/amd64", "team/app:1"},
		{"image", "team/app:1", "-o", "json", "--platform", "linux/amd64", "--database-url", url},
		{"image", "--database-url=" + url, "team/app:1", "--output=json", "--platform=linux/amd64", "--no-trunc"},
	} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if i == 0 {
			first = out
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if !strings.Contains(out, d.String()) {
				t.Fatalf("image report lacks the digest %s:\n%s", d, out)
			}
			continue
		}
		if out != first {
			t.Errorf("%q printed\n%s\nwant, as with the flags first,\n%s", args, out, first)
		}
	}

	// Global flags after the report's name.
	layers, _ := base.Layers()
	diffID, _ := layers[0].DiffID()
	for _, args := range [][]string{
		{"--database-url", url, "--output", "csv", "top-shared", "--limit", "1"},
		{"top-shared", "--limit", "1", "--database-url", url, "--output", "csv"},
		{"top-shared", "--database-url", url, "--limit", "1", "--data-dir", t.TempDir(), "-o", "csv"},
	} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		// The rootfs layer, in all three images.
		if err != nil || len(recs) != 2 || recs[1][0] != diffID.String() || recs[1][1] != "3" {
			t.Errorf("%q: %q, %v", args, recs, err)
		}
	}

	// Two references, the flags anywhere among them.
	var diffOut string
	for i, args := range [][]string{
		{"--database-url", url, "-o", "csv", "diff", "--platform", "linux/amd64", "team/app:1", "team/other:1"},
		{"diff", "team/app:1", "-o", "csv", "team/other:1", "--database-url", url, "--platform", "linux/amd64"},
	} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		// app's layer removed, other's added, both above the base.
		if err != nil || len(recs) != 3 || recs[1][1] != "removed" || recs[2][1] != "added" {
			t.Errorf("%q: %q, %v", args, recs, err)
		}
		if i > 0 && out != diffOut {
			t.Errorf("%q printed\n%s\nwant\n%s", args, out, diffOut)
		}
		diffOut = out
	}

	// find, its flags on either side of the global ones.
	var findOut string
	for i, args := range [][]string{
		{"--database-url", url, "-o", "csv", "find", "--layer", diffID.String(), "--repo", "team/**"},
		{"find", "--repo", "team/**", "-o", "csv", "--layer", diffID.String(), "--database-url", url},
	} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		// The base layer, in team/app and team/other.
		if err != nil || len(recs) != 3 || recs[1][1] != "team/app" || recs[2][1] != "team/other" || recs[1][5] != "0" {
			t.Errorf("%q: %q, %v", args, recs, err)
		}
		if i > 0 && out != findOut {
			t.Errorf("%q printed\n%s\nwant\n%s", args, out, findOut)
		}
		findOut = out
	}

	// A report needing no database takes them too.
	out, _, err := runCLI(t, "version", "--data-dir", t.TempDir(), "-o", "json", "--database-url", "postgres://unused")
	var v map[string]any
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v["go_version"] == nil {
		t.Errorf("version with global flags after it = %q, %v", out, err)
	}
}

func TestArgumentMistakesAreOneLine(t *testing.T) {
	const zebras = `"10 zebras": give bytes like 52428800, 50MB or 1.5GiB`
	cases := []struct {
		args []string
		want string
	}{
		// An unknown flag after the argument is refused as before it.
		{[]string{"image", "team/app:1", "--zzz"}, "flag provided but not defined: -zzz (see layerq image --help)"},
		{[]string{"image", "team/app:1", "--platfrom", "linux/arm64"}, `flag provided but not defined: -platfrom; did you mean "--platform"? (see layerq image --help)`},
		{[]string{"image", "team/app:1", "-o"}, "flag needs an argument: -o (see layerq image --help)"},
		{[]string{"image", "team/app:1", "-o", "yaml"}, `unknown output format "yaml": use table, wide, json or csv`},
		// Two references, flags among them or not.
		{[]string{"image", "x:1", "y:2"}, `image takes one reference, like library/debian:12 (got 2 arguments: ["x:1" "y:2"])`},
		{[]string{"image", "x:1", "-o", "json", "y:2", "--platform", "linux/arm64"}, `image takes one reference, like library/debian:12 (got 2 arguments: ["x:1" "y:2"])`},
		// After --, what looks like a flag is an argument.
		{[]string{"image", "-o", "json", "--", "-x", "y:2"}, `image takes one reference, like library/debian:12 (got 2 arguments: ["-x" "y:2"])`},
		{[]string{"bloat", "--", "-x"}, `bloat takes no arguments (got ["-x"]): give an image with --image REF`},
		{[]string{"bloat", "team/app:1", "--fail-over", "10MB"}, `bloat takes no arguments (got ["team/app:1"]): give an image with --image REF`},
		{[]string{"top-shared", "extra", "-o", "json"}, `top-shared takes no arguments (got ["extra"])`},
		{[]string{"diff", "x:1", "-o", "json"}, `diff takes two image references, A and B, like team-a/api:1.2 team-a/api:1.3 (got 1 argument: ["x:1"])`},
		{[]string{"diff", "x:1", "y:1", "z:1"}, `diff takes two image references, A and B, like team-a/api:1.2 team-a/api:1.3 (got 3 arguments: ["x:1" "y:1" "z:1"])`},
		{[]string{"diff", "x:1", "y:1", "--limit", "-1"}, `--limit must be at least 0 (got -1)`},
		{[]string{"growth", "x"}, `growth takes no arguments (got ["x"])`},
		{[]string{"find"}, `find takes one of --layer DIGEST, --path GLOB or --same-as REF:/PATH (got 0)`},
		{[]string{"find", "--path", "x", "--layer", "sha256:1"}, `find takes one of --layer DIGEST, --path GLOB or --same-as REF:/PATH (got 2)`},
		{[]string{"find", "log4j.jar"}, `find takes no arguments (got ["log4j.jar"]): say what to find with --layer, --path or --same-as, a glob in quotes (--path '**/*.jar': the shell turns one unquoted into the file names it matches here)`},
		{[]string{"find", "--path", "a.jar", "b.jar"}, `find takes no arguments (got ["b.jar"]): say what to find with --layer, --path or --same-as, a glob in quotes (--path '**/*.jar': the shell turns one unquoted into the file names it matches here)`},
		{[]string{"find", "--layer", "abc"}, `--layer "abc": give a layer's blob digest or diff_id in full, sha256: and 64 hex digits`},
		{[]string{"find", "--same-as", "team/app:1"}, `--same-as "team/app:1": give an image and a path in it, like team-a/api:1.3:/app/config.yaml`},
		{[]string{"growth", "--fail-over", "ten"}, `--fail-over "ten": give bytes like 52428800, 50MB or 1.5GiB, or a percentage like 10%`},
		{[]string{"growth", "--fail-over", "-5%"}, `--fail-over "-5%": give a percentage like 10% or bytes like 50MB`},
		{[]string{"growth", "--since", "yesterday"}, `--since "yesterday": give a positive duration like 36h or 30d, at most 36500d`},
		{[]string{"growth", "--min-bytes", "0"}, `--min-bytes 0: give at least 1 byte (pushes that grew by less, or shrank, are left out)`},
		{[]string{"growth", "--limit", "-2"}, `--limit -2: give 0 (all) or more`},
		{[]string{"duplicates", "a", "b"}, `duplicates takes no arguments (got ["a" "b"])`},
		{[]string{"cache", "x", "--limit", "0"}, `cache takes no arguments (got ["x"])`},
		{[]string{"version", "x"}, `version takes no arguments (got ["x"])`},
		// Byte sizes: a bad one names the flag, with an example.
		{[]string{"bloat", "--fail-over", "10 zebras"}, "--fail-over " + zebras},
		{[]string{"bloat", "--min-bytes", "10 zebras"}, "--min-bytes " + zebras},
		{[]string{"bloat", "--small-layer", "10 zebras"}, "--small-layer " + zebras},
		{[]string{"bloat", "--small-layer", "-1MB"}, `--small-layer "-1MB": give bytes like 52428800, 50MB or 1.5GiB`},
		{[]string{"bloat", "--small-layer", "0MiB"}, "--small-layer 0: give 1 or more"},
		{[]string{"bloat", "--image", "team/app:1", "--repo", "other/**"}, "--image team/app:1 and --repo other/** both select images: give one (--image names the repository itself)"},
	}
	for _, c := range cases {
		out, stderr, err := runCLI(t, c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: err = %v\nwant %s", c.args, err, c.want)
		}
		if out != "" || stderr != "" {
			t.Errorf("%q printed %q / %q; want nothing but the error", c.args, out, stderr)
		}
	}
}

// wasteful is a database holding team/big:1, whose second step deletes the
// 10,000,001 bytes its first added, with its layers indexed: just over 10MB
// (10,000,000 bytes), under 10MiB (10,485,760 bytes).
func wasteful(t *testing.T) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	reg := registrytest.New(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{
		{CreatedBy: "RUN /bin/sh -c fetch", Files: []sample.File{{Path: "tmp/big", Content: make([]byte, 10_000_001)}}},
		{CreatedBy: "RUN /bin/sh -c rm -rf /tmp/big", Files: []sample.File{sample.Whiteout("tmp/big")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "team/big:1", img)
	scanInto(t, url, reg, true)
	return url
}

func TestBloatSizesWithUnits(t *testing.T) {
	url := wasteful(t)
	bloat := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := runCLI(t, append([]string{"bloat", "--image", "team/big:1", "--database-url", url}, args...)...)
		return out, err
	}
	cases := []struct {
		failOver string
		want     string // "": passes
	}{
		{"10MB", "1 image wastes more than 10000000 bytes (--fail-over)"},
		{"9.5MiB", "1 image wastes more than 9961472 bytes (--fail-over)"},
		{"0.01GB", "1 image wastes more than 10000000 bytes (--fail-over)"},
		{"10000000", "1 image wastes more than 10000000 bytes (--fail-over)"},
		{"10000001", ""},
		{"10MiB", ""},
		{"1.5GiB", ""},
	}
	for _, c := range cases {
		_, err := bloat("--fail-over", c.failOver)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("--fail-over %s: %v (exit %d); want a pass", c.failOver, err, exitCode(err))
		case c.want != "" && (err == nil || err.Error() != c.want || exitCode(err) != exitCrossed):
			t.Errorf("--fail-over %s: %v; want %q, exit %d", c.failOver, err, c.want, exitCrossed)
		}
	}

	// --min-bytes hides an image wasting fewer bytes (and no layer is
	// under 1 byte, so none is in a run of small layers, which would show).
	for _, c := range []struct {
		minBytes string
		images   int
	}{{"10MB", 1}, {"10MiB", 0}} {
		out, err := bloat("--min-bytes", c.minBytes, "--small-layer", "1B", "-o", "json")
		var got struct {
			Images []struct {
				WastedBytes int64 `json:"wasted_bytes"`
			} `json:"images"`
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got.Images) != c.images ||
			c.images == 1 && got.Images[0].WastedBytes != 10_000_001 {
			t.Errorf("--min-bytes %s: %v, %s; want %d images", c.minBytes, err, out, c.images)
		}
	}
}

package report_test

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// find on the bloat corpus, whose steps are known: /usr/bin/tool is the
// base's, copied up by the app's chmod at layer 4 (so the base's copy is
// hidden in the app and what is built on it); the apt lists are removed at
// layer 3; team/multi is an index of the app and the rebuild.
func TestFind(t *testing.T) {
	t.Parallel()
	c := setupBloat(t)
	ctx := context.Background()
	load := func(opts report.FindOptions) *report.Find {
		t.Helper()
		if opts.Repositories == (repoglob.Glob{}) {
			opts.Repositories = repoglob.Compile("**")
		}
		f, err := report.LoadFind(ctx, c.pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	// repository@position[path]:state for each match.
	lines := func(f *report.Find) []string {
		var out []string
		for _, m := range f.Found {
			state := findState(m)
			who := m.Repository
			if m.Repository == "team/multi" {
				who += "(" + m.Platform + ")"
			}
			out = append(out, fmt.Sprintf("%s@%d %s %d %s", who, m.Position, m.Path, m.Size, state))
		}
		slices.Sort(out)
		return out
	}
	check := func(name string, f *report.Find, matches, images, repos int, want []string) {
		t.Helper()
		if got := lines(f); f.Matches != matches || f.Images != images || f.Repositories != repos || !slices.Equal(got, want) {
			t.Errorf("%s: %d matches in %d images of %d repositories:\n%s\nwant %d, %d, %d:\n%s", name, f.Matches, f.Images, f.Repositories,
				strings.Join(got, "\n"), matches, images, repos, strings.Join(want, "\n"))
		}
	}
	tool := []string{
		"lib/deb@0 usr/bin/tool 3000 visible",
		"team/app@0 usr/bin/tool 3000 hidden by 4",
		"team/app@4 usr/bin/tool 3000 visible",
		"team/child@0 usr/bin/tool 3000 hidden by 4",
		"team/child@4 usr/bin/tool 3000 visible",
		"team/multi(linux/arm/v7)@0 usr/bin/tool 3000 hidden by 4",
		"team/multi(linux/arm/v7)@4 usr/bin/tool 3000 visible",
		"team/multi(linux/arm64/v8)@0 usr/bin/tool 3000 visible",
		"team/rebuild@0 usr/bin/tool 3000 visible",
		"zstd/deb@0 usr/bin/tool 3000 visible",
	}
	check("--path usr/bin/tool", load(report.FindOptions{Path: "/usr/bin/tool"}), 10, 7, 6, tool)
	check("--path tool (a name at any depth)", load(report.FindOptions{Path: "tool"}), 10, 7, 6, tool)
	check("--path '**/t?ol'", load(report.FindOptions{Path: "**/t?ol"}), 10, 7, 6, tool)
	check("--path 'usr/*/tool'", load(report.FindOptions{Path: "usr/*/tool"}), 10, 7, 6, tool)
	check("--path 'usr/tool' (no such path)", load(report.FindOptions{Path: "usr/tool"}), 0, 0, 0, nil)
	// The same content as the app's (chmod-ed) tool: the same files.
	app, err := report.ParseRef("team/app:1")
	if err != nil {
		t.Fatal(err)
	}
	check("--same-as team/app:1:/usr/bin/tool", load(report.FindOptions{SameAs: &app, SamePath: "/usr/bin/tool"}), 10, 7, 6, tool)
	// --repo, and --limit keeping the counts.
	team := load(report.FindOptions{Path: "usr/bin/tool", Repositories: repoglob.Compile("team/**")})
	check("--path usr/bin/tool --repo team/**", team, 8, 5, 4, slices.DeleteFunc(slices.Clone(tool), func(s string) bool {
		return strings.HasPrefix(s, "lib/") || strings.HasPrefix(s, "zstd/")
	}))
	// The page is the first matches by registry, repository, image,
	// position and path, at any size.
	key := func(m report.FindMatch) string {
		return fmt.Sprint(m.Registry, " ", m.Repository, " ", m.Digest, " ", m.Position, " ", m.Path)
	}
	for _, glob := range []string{"usr/bin/tool", "var/lib/apt/lists/*"} {
		all := load(report.FindOptions{Path: glob}).Found
		slices.SortFunc(all, func(a, b report.FindMatch) int {
			return cmp.Or(cmp.Compare(a.Registry, b.Registry), cmp.Compare(a.Repository, b.Repository), cmp.Compare(a.Digest, b.Digest),
				cmp.Compare(a.Position, b.Position), cmp.Compare(a.Path, b.Path))
		})
		for limit := 1; limit < len(all); limit++ {
			l := load(report.FindOptions{Path: glob, Limit: limit})
			if got, want := slices.Collect(mapSeq(l.Found, key)), slices.Collect(mapSeq(all[:limit], key)); !slices.Equal(got, want) || l.Matches != len(all) {
				t.Errorf("--path %s --limit %d: %d matches, listed\n%s\nwant %d, listed\n%s", glob, limit, l.Matches,
					strings.Join(got, "\n"), len(all), strings.Join(want, "\n"))
			}
		}
	}
	if l := load(report.FindOptions{Path: "usr/bin/tool", Limit: 3}); l.Matches != 10 || l.Images != 7 || l.Repositories != 6 {
		t.Errorf("--limit 3: %d matches, %d images, %d repositories; want 10, 7, 6", l.Matches, l.Images, l.Repositories)
	}
	// The apt lists, removed by a later layer.
	var lists []string
	for _, who := range []string{"team/app", "team/child", "team/multi(linux/arm/v7)"} {
		lists = append(lists, who+"@1 var/lib/apt/lists/a 4000 hidden by -1", who+"@1 var/lib/apt/lists/b 6000 hidden by -1")
	}
	slices.Sort(lists)
	check("--path 'var/lib/apt/lists/*'", load(report.FindOptions{Path: "var/lib/apt/lists/*"}), 6, 3, 3, lists)

	// A layer: the chmod layer, by blob digest; the base's, by diff_id
	// (both its encodings).
	layers, err := c.app.Layers()
	if err != nil {
		t.Fatal(err)
	}
	chmod, _ := layers[4].Digest()
	check("--layer the chmod layer", load(report.FindOptions{Layer: chmod.String()}), 3, 3, 3, []string{
		"team/app@4  0 -", "team/child@4  0 -", "team/multi(linux/arm/v7)@4  0 -"})
	baseDiff, _ := layers[0].DiffID()
	check("--layer the base's diff_id", load(report.FindOptions{Layer: baseDiff.String()}), 7, 7, 6, []string{
		"lib/deb@0  0 -", "team/app@0  0 -", "team/child@0  0 -", "team/multi(linux/arm/v7)@0  0 -", "team/multi(linux/arm64/v8)@0  0 -",
		"team/rebuild@0  0 -", "zstd/deb@0  0 -"})

	checkCSVKeys(t, "find", load(report.FindOptions{Path: "usr/bin/tool"}))

	// Mistakes, in one line each.
	if _, err := report.LoadFind(ctx, c.pool, report.FindOptions{Layer: "sha256:" + strings.Repeat("0", 64), Repositories: repoglob.Compile("**")}); !errors.Is(err, report.ErrNotFound) {
		t.Errorf("--layer of no layer: %v", err)
	}
	if _, err := report.LoadFind(ctx, c.pool, report.FindOptions{SameAs: &app, SamePath: "/usr/bin/curl", Repositories: repoglob.Compile("**")}); !errors.Is(err, report.ErrNotFound) ||
		err.Error() != "team/app:1 shows no regular file at usr/bin/curl" {
		t.Errorf("--same-as a path the image removed: %v", err)
	}
	if _, err := report.ParseLayer("abc"); err == nil || err.Error() != `--layer "abc": give a layer's blob digest or diff_id in full, sha256: and 64 hex digits` {
		t.Errorf("ParseLayer(abc) = %v", err)
	}
}

// A file's state comes from the layers at and above it, but for a hard
// link above it, at its path, at a directory holding it or below it, to a
// file below it: the image is then read whole (without the layer below,
// the link has no target and would change nothing). And find reads the
// live images as of the last fold: one deleted since is still listed,
// by its digest.
func TestFindStateFromTheLayersAbove(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)
	reg.PushImage(t, "team/links:1", mustBuild(t, sample.Spec{Steps: []sample.Step{
		{CreatedBy: "COPY base / # buildkit", Files: []sample.File{file("lib/a", 10), file("base/x", 20)}},
		{CreatedBy: "COPY app / # buildkit", Files: []sample.File{file("lib/b", 30), file("app/c", 40), file("lib/e", 60)}},
		{CreatedBy: "RUN ln -f /lib/a /lib/b", Files: []sample.File{{Path: "lib/b", Type: tar.TypeLink, Linkname: "lib/a"},
			{Path: "lib/e/a", Type: tar.TypeLink, Linkname: "lib/a"}}},
		{CreatedBy: "COPY d /app/ # buildkit", Files: []sample.File{file("app/d", 50)}},
	}}))
	if sum := scanLayers(t, pool, reg); sum.Indexed != 4 {
		t.Fatalf("indexing: %+v", sum)
	}
	for _, c := range []struct {
		glob string
		want string // position, size, state
	}{
		{"lib/b", "1 30 hidden by 0"}, // the link put lib/a's file (layer 0's) there
		{"lib/a", "0 10 visible"},     // the link is another path of it
		{"app/c", "1 40 visible"},     // read from layer 1 up
		{"app/*", "1 40 visible; 3 50 visible"},
		{"lib/e", "1 60 hidden by -1"}, // a link below it made it a directory
	} {
		f, err := report.LoadFind(context.Background(), pool, report.FindOptions{Path: c.glob, Repositories: repoglob.Compile("**")})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range f.Found {
			got = append(got, fmt.Sprintf("%d %d %s", m.Position, m.Size, findState(m)))
		}
		if strings.Join(got, "; ") != c.want {
			t.Errorf("--path %s: %q, want %q", c.glob, strings.Join(got, "; "), c.want)
		}
	}
	var digest string
	if err := pool.QueryRow(context.Background(), `UPDATE repository_manifests SET deleted_at = now() RETURNING manifest_digest`).Scan(&digest); err != nil {
		t.Fatal(err)
	}
	f, err := report.LoadFind(context.Background(), pool, report.FindOptions{Path: "app/c", Repositories: repoglob.Compile("**")})
	if err != nil {
		t.Fatal(err)
	}
	if f.Matches != 1 || f.Images != 1 || len(f.Found) != 1 || f.Found[0].Digest != digest {
		t.Errorf("deleted since the last fold: %d matches in %d images, listed %+v; want 1 in 1, listed %s", f.Matches, f.Images, f.Found, digest)
	}
}

// findState is a match's state as the tests write it: visible, hidden by
// a layer (-1: removed), or - (unknown, or a layer search).
func findState(m report.FindMatch) string {
	switch {
	case m.Visible == nil:
		return "-"
	case *m.Visible:
		return "visible"
	}
	return fmt.Sprintf("hidden by %d", *m.HiddenBy)
}

// mapSeq yields f of each of s.
func mapSeq[T, U any](s []T, f func(T) U) iter.Seq[U] {
	return func(yield func(U) bool) {
		for _, v := range s {
			if !yield(f(v)) {
				return
			}
		}
	}
}

// A name glob reads the name index by a LIKE pattern alone: LIKE's own
// wildcards and escape in file names are literal, ? is one character and
// * any run of them, and a glob with a directory still matches the path.
func TestFindNames(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewReportPool(t)
	names := []string{"a_b", "axb", "a%b", `a\b`, "ab", "sub/a_b", "t.ol", "tool", "log4j-core-2.14.1.jar", "log4j-core-2.14.1.txt", "log4j-core.jar", "é/ü.txt", "ool", "stool", "a/x/b"}
	var files []sample.File
	for _, n := range names {
		files = append(files, file(n, 10))
	}
	// A path twice in one layer's tar: the second copy is the one shown.
	files = append(files, file("dup", 10), file("dup", 20))
	reg.PushImage(t, "team/names:1", mustBuild(t, sample.Spec{Steps: []sample.Step{{CreatedBy: "COPY . / # buildkit", Files: files}}}))
	if sum := scanLayers(t, pool, reg); sum.Indexed != 1 {
		t.Fatalf("indexing: %+v", sum)
	}
	for _, c := range []struct {
		glob string
		want []string
	}{
		{"a_b", []string{"a_b", "sub/a_b"}},
		{"a%b", []string{"a%b"}},
		{`a\b`, []string{`a\b`}},
		{"a?b", []string{"a%b", `a\b`, "a_b", "axb", "sub/a_b"}},
		{"a*b", []string{"a%b", `a\b`, "a_b", "ab", "axb", "sub/a_b"}},
		{"**/a_b", []string{"a_b", "sub/a_b"}},
		{"sub/a?b", []string{"sub/a_b"}},
		{"/a_b", []string{"a_b"}},
		{"t.ol", []string{"t.ol"}},
		{"log4j-core-*.jar", []string{"log4j-core-2.14.1.jar"}},
		{"log4j-core*", []string{"log4j-core-2.14.1.jar", "log4j-core-2.14.1.txt", "log4j-core.jar"}},
		{"*b", []string{"a%b", "a/x/b", `a\b`, "a_b", "ab", "axb", "sub/a_b"}},
		// ** in a name crosses "/".
		{"**/a**b", []string{"a%b", "a/x/b", `a\b`, "a_b", "ab", "axb", "sub/a_b"}},
		{"a**", []string{"a%b", "a/x/b", `a\b`, "a_b", "ab", "axb", "sub/a_b"}},
		{"ü.txt", []string{"é/ü.txt"}},
		{"**/é/?.txt", []string{"é/ü.txt"}},
		{"é/*", []string{"é/ü.txt"}},
		{"dup", []string{"dup", "dup"}},
		// A name by its end (the index of names reversed).
		{"*.jar", []string{"log4j-core-2.14.1.jar", "log4j-core.jar"}},
		{"**/*.txt", []string{"log4j-core-2.14.1.txt", "é/ü.txt"}},
		{"*ü.txt", []string{"é/ü.txt"}},
		{"*_b", []string{"a_b", "sub/a_b"}},
		{`*\b`, []string{`a\b`}},
		{"*%b", []string{"a%b"}},
		{"?ool", []string{"tool"}},
		{"é/*.txt", []string{"é/ü.txt"}},
		{"sub/*b", []string{"sub/a_b"}},
		{"*.pem", nil},
	} {
		f, err := report.LoadFind(context.Background(), pool, report.FindOptions{Path: c.glob, Repositories: repoglob.Compile("**")})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(mapSeq(f.Found, func(m report.FindMatch) string { return m.Path }))
		if !slices.Equal(got, c.want) || f.Matches != len(c.want) || (f.Images != 1) != (len(c.want) == 0) {
			t.Errorf("--path %q: %d matches in %d images: %q, want %q", c.glob, f.Matches, f.Images, got, c.want)
		}
	}
	if _, err := report.LoadFind(context.Background(), pool, report.FindOptions{Path: "a\xff*", Repositories: repoglob.Compile("**")}); err == nil ||
		err.Error() != `--path "a\xff*": give the glob in UTF-8` {
		t.Errorf("--path of bytes not UTF-8: %v", err)
	}
	// The two copies of dup: in the tar's order, on every page; the first
	// hidden by the second, in its own layer.
	state := func(m report.FindMatch) string { return fmt.Sprint(m.Size, " ", findState(m)) }
	for limit, want := range map[int][]string{0: {"10 hidden by 0", "20 visible"}, 1: {"10 hidden by 0"}} {
		f, err := report.LoadFind(context.Background(), pool, report.FindOptions{Path: "dup", Limit: limit, Repositories: repoglob.Compile("**")})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Collect(mapSeq(f.Found, state)); !slices.Equal(got, want) || f.Matches != 2 {
			t.Errorf("--path dup --limit %d: %d matches, %q; want 2, %q", limit, f.Matches, got, want)
		}
	}
}

// Which index a search reads: a name's literal start (the name index), a
// literal end after a wildcard start (the index of names reversed), and
// no test that another implies (it would only lower the planner's
// estimate). The results alone do not show it, so the patterns are
// stated.
func TestPathPattern(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ glob, like, endLike, re string }{
		{"tool", "tool", "", ""},
		{"/usr/bin/tool", "tool", "", `^usr/bin/tool$`},
		{"log4j-core-*.jar", "log4j-core-%.jar", "", ""},
		{"*.pem", "", "mep.%", ""},
		{"**/*.pem", "", "mep.%", ""},
		{"?ool", "", "loo_", ""},
		{"*-core-*.jar", "", "raj.%-eroc-%", ""},
		{"*_b", "", `b\_%`, ""},
		{"*core*", "%core%", "", ""},
		{"etc/ssl/*.pem", "", "mep.%", `^etc/ssl/[^/]*\.pem$`},
		{"**/a**b", "", "b%", `^(.*/)?a.*b$`},
		{"a**", "%", "", `^(.*/)?a.*$`},
		{"*ü.txt", "", "txt.ü%", ""},
	} {
		if like, endLike, re := report.PathPattern(c.glob); like != c.like || endLike != c.endLike || re != c.re {
			t.Errorf("%q: %q, %q, %q; want %q, %q, %q", c.glob, like, endLike, re, c.like, c.endLike, c.re)
		}
	}
}

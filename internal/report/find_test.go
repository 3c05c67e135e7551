package report_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
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
			state := "-"
			switch {
			case m.Visible == nil:
			case *m.Visible:
				state = "visible"
			default:
				state = fmt.Sprintf("hidden by %d", *m.HiddenBy)
			}
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
		"team/multi(linux/arm64)@0 usr/bin/tool 3000 visible",
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
	check("--same-as team/app:1:/usr/bin/tool", load(report.FindOptions{SameAs: &app, SamePath: "/usr/bin/tool", Platform: "linux/amd64"}), 10, 7, 6, tool)
	// --repo, and --limit keeping the counts.
	team := load(report.FindOptions{Path: "usr/bin/tool", Repositories: repoglob.Compile("team/**")})
	check("--path usr/bin/tool --repo team/**", team, 8, 5, 4, slices.DeleteFunc(slices.Clone(tool), func(s string) bool {
		return strings.HasPrefix(s, "lib/") || strings.HasPrefix(s, "zstd/")
	}))
	if l := load(report.FindOptions{Path: "usr/bin/tool", Limit: 3}); len(l.Found) != 3 || l.Matches != 10 || l.Images != 7 {
		t.Errorf("--limit 3: %d listed, %d matches, %d images", len(l.Found), l.Matches, l.Images)
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
		"lib/deb@0  0 -", "team/app@0  0 -", "team/child@0  0 -", "team/multi(linux/arm/v7)@0  0 -", "team/multi(linux/arm64)@0  0 -",
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

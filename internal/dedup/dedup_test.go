package dedup

import (
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/overlay"
)

func f(p string, size int64, d byte) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.File, Size: size, Mode: 0o644, Digest: [16]byte{d}}
}

func wh(p string) fileindex.Entry { return fileindex.Entry{Path: p, Type: fileindex.Whiteout} }

// The base's own waste is marked in_base, and the base's RUN layers are
// never proposed for merging.
func TestBaseLayers(t *testing.T) {
	layers := []Layer{
		{Position: 0, Size: 100, UncompressedSize: 200, CreatedBy: "RUN /bin/sh -c make base", Entries: []fileindex.Entry{f("tmp/x", 1000, 1)}},
		{Position: 1, Size: 100, UncompressedSize: 100, CreatedBy: "RUN /bin/sh -c rm /tmp/x", Entries: []fileindex.Entry{wh("tmp/x")}},
		{Position: 2, Size: 100, UncompressedSize: 400, CreatedBy: "RUN /bin/sh -c apk add curl", Entries: []fileindex.Entry{f("var/cache/apk/i", 400, 2)}},
		{Position: 3, Size: 50, UncompressedSize: 100, CreatedBy: "RUN /bin/sh -c rm -rf /var/cache/apk", Entries: []fileindex.Entry{wh("var/cache/apk")}},
	}
	a := Analyze(layers, Options{BaseLayers: 2})
	if len(a.Pairs) != 2 || a.WastedBytes != 1400 || a.WastedCompressedBytes != 500+100 {
		t.Fatalf("analysis = %+v", a)
	}
	if p := a.Pairs[0]; p.Bytes != 1000 || !p.InBase || !p.FromBase || !strings.HasPrefix(p.Fix, "inside the base image, ") || p.Kind != "removed" ||
		p.AddedBy != "the base image (base layer #0)" || p.HiddenBy != "the base image (base layer #1)" {
		t.Errorf("base pair = %+v", p)
	}
	if p := a.Pairs[1]; p.Bytes != 400 || p.InBase || p.FromBase || !strings.Contains(p.Fix, "apk add --no-cache") || p.TopPaths[0].Path != "/var/cache/apk" ||
		p.AddedBy != "RUN /bin/sh -c apk add curl" || p.HiddenBy != "RUN /bin/sh -c rm -rf /var/cache/apk" {
		t.Errorf("own pair = %+v", p)
	}
	if len(a.LayerRuns) != 1 || a.LayerRuns[0].Kind != "layer_run" || a.LayerRuns[0].FromPosition != 2 || a.LayerRuns[0].ToPosition != 3 || a.LayerRuns[0].Bytes != 150 || a.ExtraLayers != 1 {
		t.Errorf("runs = %+v", a.LayerRuns)
	}
	if a.ExtraManifestBytes != DescriptorBytes("", "", 50) {
		t.Errorf("extra manifest bytes = %d", a.ExtraManifestBytes)
	}
}

func TestIsRun(t *testing.T) {
	for s, want := range map[string]bool{
		"RUN /bin/sh -c make # buildkit":           true,
		"/bin/sh -c apt-get update":                true,
		"|2 A=1 B=2 /bin/sh -c make":               true,
		"/bin/sh -c #(nop) COPY file:abc in /app ": false,
		"COPY . . # buildkit":                      false,
		"ADD rootfs.tar /":                         false,
	} {
		if IsRun(s) != want {
			t.Errorf("IsRun(%q) = %v", s, !want)
		}
	}
}

func TestFixes(t *testing.T) {
	cases := []struct {
		kind         overlay.Kind
		added, paths string
		want         string
	}{
		{overlay.Removed, "RUN apt-get update", "/var/lib/apt/lists", "apt-get update with rm -rf /var/lib/apt/lists/* in one RUN"},
		{overlay.Removed, "RUN pip install -r r.txt", "/root/.cache/pip", "--no-cache-dir"},
		{overlay.Removed, "RUN npm ci", "/root/.npm/_cacache", "npm cache clean"},
		{overlay.Removed, "RUN make", "/src/build", "delete in the same RUN"},
		{overlay.MetadataChanged, "COPY app /app", "/app/run", "--chmod"},
		{overlay.Overwritten, "COPY a /a", "/a", "final version once"},
	}
	for _, c := range cases {
		if got := fix(c.kind, c.added, "RUN x", []PathSize{{Path: c.paths}}, false); !strings.Contains(got, c.want) {
			t.Errorf("fix(%s, %q, %s) = %q, want %q in it", c.kind, c.added, c.paths, got, c.want)
		}
	}
}

func TestDotDirectories(t *testing.T) {
	layers := []Layer{
		{Position: 0, CreatedBy: "RUN npm ci", Entries: []fileindex.Entry{f(".npm/_cacache/x", 100, 1)}},
		{Position: 1, CreatedBy: "RUN rm -rf /.npm", Entries: []fileindex.Entry{wh(".npm")}},
	}
	a := Analyze(layers, Options{})
	if len(a.Pairs) != 1 || a.Pairs[0].TopPaths[0].Path != "/.npm" || !strings.Contains(a.Pairs[0].Fix, "npm cache clean") {
		t.Errorf("pairs = %+v", a.Pairs)
	}
}

// Bytes a base layer added cannot be removed by the image's own steps,
// whatever the step that hid them: the pair says so, names the base, and
// the advice fits how they were hidden.
func TestFromBase(t *testing.T) {
	base := Layer{Position: 0, Size: 100, UncompressedSize: 100, CreatedBy: `/bin/sh -c #(nop)  CMD ["bash"]`, Entries: []fileindex.Entry{
		f("var/lib/apt/lists/a", 4000, 1), f("var/lib/apt/lists/b", 6000, 2), f("usr/bin/tool", 300, 3), f("etc/motd", 20, 4),
		f("etc/issue", 30, 5), f("srv/f", 50, 6), f("opt/data/x", 70, 7),
	}}
	tool := f("usr/bin/tool", 300, 3)
	tool.Mode = 0o700
	app := []Layer{base,
		{Position: 1, CreatedBy: "RUN /bin/sh -c apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*", Entries: []fileindex.Entry{
			wh("var/lib/apt/lists/a"), wh("var/lib/apt/lists/b"), f("usr/bin/curl", 900, 8),
		}},
		{Position: 2, CreatedBy: "RUN /bin/sh -c chmod 0700 /usr/bin/tool", Entries: []fileindex.Entry{tool}},
		{Position: 3, CreatedBy: "COPY motd /etc/motd", Entries: []fileindex.Entry{f("etc/motd", 25, 9)}},
		{Position: 4, CreatedBy: "COPY issue /etc/issue", Entries: []fileindex.Entry{f("etc/issue", 30, 5)}},
		{Position: 5, CreatedBy: "RUN /bin/sh -c rm /srv/f && mkdir /srv/f", Entries: []fileindex.Entry{{Path: "srv/f", Type: fileindex.Dir}}},
		{Position: 6, CreatedBy: "COPY data /opt/data", Entries: []fileindex.Entry{{Path: "opt/data", Type: fileindex.Opaque}}},
	}
	a := Analyze(app, Options{BaseLayers: 1, BaseName: "library/debian:12"})
	want := []struct {
		hidden int
		kind   string
		bytes  int64
		fix    string
	}{
		{1, "removed", 10000, "these files come with the base image library/debian:12: a later rm only hides them, every pull still downloads them; use a slimmer base, or drop the rm, which only stores whiteouts"},
		{2, "metadata_changed", 300, "these files come with the base image library/debian:12: changing their mode or owner copies each whole"},
		{6, "opaque_hidden", 70, "a later step replaced a directory that the base image library/debian:12 fills"},
		{5, "replaced", 50, "a later step gave a path of the base image library/debian:12 another type"},
		{4, "rewritten", 30, "these files come with the base image library/debian:12 already, unchanged: don't add them again"},
		{3, "overwritten", 20, "these files come with the base image library/debian:12: rewriting them stores them again"},
	}
	if len(a.Pairs) != len(want) {
		t.Fatalf("pairs = %+v", a.Pairs)
	}
	for i, w := range want {
		p := a.Pairs[i]
		if p.HiddenByPosition != w.hidden || p.Kind != w.kind || p.Bytes != w.bytes || !p.FromBase || p.InBase ||
			p.AddedByPosition != 0 || p.AddedBy != "library/debian:12 (base layer #0)" || p.HiddenBy != app[w.hidden].CreatedBy ||
			!strings.HasPrefix(p.Fix, w.fix) {
			t.Errorf("pair %d = %+v\nwant hidden by #%d, %s, %d bytes, fix %q…", i, p, w.hidden, w.kind, w.bytes, w.fix)
		}
	}
	// A package database the base ships, rewritten by an install.
	dpkg := []Layer{
		{Position: 0, Entries: []fileindex.Entry{f("var/lib/dpkg/status", 5000, 1)}},
		{Position: 1, CreatedBy: "RUN /bin/sh -c apt-get install -y curl", Entries: []fileindex.Entry{f("var/lib/dpkg/status", 5100, 2)}},
	}
	if p := Analyze(dpkg, Options{BaseLayers: 1}).Pairs[0]; p.Kind != "overwritten" || !p.FromBase ||
		p.Fix != "the package database of the base image, rewritten by an install: each step that installs packages stores it whole again, so install them in one RUN" {
		t.Errorf("dpkg pair = %+v", p)
	}
	// The same layers with no base known: the apt lists are the RUN's to
	// clean, as far as layerq can tell.
	a = Analyze(app, Options{})
	if p := a.Pairs[0]; p.FromBase || p.InBase || p.AddedBy != base.CreatedBy || !strings.Contains(p.Fix, "clean apt in the same RUN") {
		t.Errorf("no base: %+v", p)
	}
}

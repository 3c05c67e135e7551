package dedup

import (
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/layerscan"
	"github.com/layerq/layerq/internal/overlay"
)

func f(p string, size int64, d byte) layerscan.Entry {
	return layerscan.Entry{Path: p, Type: layerscan.File, Size: size, Mode: 0o644, Digest: [16]byte{d}}
}

func wh(p string) layerscan.Entry { return layerscan.Entry{Path: p, Type: layerscan.Whiteout} }

// The base's own waste is marked in_base, and the base's RUN layers are
// never proposed for merging.
func TestBaseLayers(t *testing.T) {
	layers := []Layer{
		{Position: 0, Size: 100, UncompressedSize: 200, CreatedBy: "RUN /bin/sh -c make base", Entries: []layerscan.Entry{f("tmp/x", 1000, 1)}},
		{Position: 1, Size: 100, UncompressedSize: 100, CreatedBy: "RUN /bin/sh -c rm /tmp/x", Entries: []layerscan.Entry{wh("tmp/x")}},
		{Position: 2, Size: 100, UncompressedSize: 400, CreatedBy: "RUN /bin/sh -c apk add curl", Entries: []layerscan.Entry{f("var/cache/apk/i", 400, 2)}},
		{Position: 3, Size: 50, UncompressedSize: 100, CreatedBy: "RUN /bin/sh -c rm -rf /var/cache/apk", Entries: []layerscan.Entry{wh("var/cache/apk")}},
	}
	a := Analyze(layers, Options{BaseLayers: 2})
	if len(a.Pairs) != 2 || a.WastedBytes != 1400 || a.WastedCompressedBytes != 500+100 {
		t.Fatalf("analysis = %+v", a)
	}
	if p := a.Pairs[0]; p.Bytes != 1000 || !p.InBase || !strings.HasPrefix(p.Fix, "inside the base image") || p.Kind != "removed" {
		t.Errorf("base pair = %+v", p)
	}
	if p := a.Pairs[1]; p.Bytes != 400 || p.InBase || !strings.Contains(p.Fix, "apk add --no-cache") || p.TopPaths[0].Path != "/var/cache/apk" {
		t.Errorf("own pair = %+v", p)
	}
	if len(a.LayerRuns) != 1 || a.LayerRuns[0].FromPosition != 2 || a.LayerRuns[0].ToPosition != 3 || a.LayerRuns[0].Bytes != 150 || a.ExtraLayers != 1 {
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
		{Position: 0, CreatedBy: "RUN npm ci", Entries: []layerscan.Entry{f(".npm/_cacache/x", 100, 1)}},
		{Position: 1, CreatedBy: "RUN rm -rf /.npm", Entries: []layerscan.Entry{wh(".npm")}},
	}
	a := Analyze(layers, Options{})
	if len(a.Pairs) != 1 || a.Pairs[0].TopPaths[0].Path != "/.npm" || !strings.Contains(a.Pairs[0].Fix, "npm cache clean") {
		t.Errorf("pairs = %+v", a.Pairs)
	}
}

package sample

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func TestBytesAndText(t *testing.T) {
	const n = 1 << 20
	b1, b2 := Bytes("seed", n), Bytes("seed", n)
	if len(b1) != n || !bytes.Equal(b1, b2) {
		t.Fatalf("Bytes not deterministic or wrong length %d", len(b1))
	}
	if bytes.Equal(b1, Bytes("other", n)) {
		t.Fatal("Bytes ignores its seed")
	}
	if !bytes.Equal(Bytes("seed", 13), b1[:13]) {
		t.Fatal("Bytes(seed, 13) is not a prefix of Bytes(seed, n)")
	}
	if z := gzipSize(t, b1); z < n {
		t.Fatalf("Bytes compressed to %d < %d bytes: should be incompressible", z, n)
	}

	t1 := Text("seed", n)
	if len(t1) != n || !bytes.Equal(t1, Text("seed", n)) {
		t.Fatalf("Text not deterministic or wrong length %d", len(t1))
	}
	if bytes.Equal(t1, Text("other", n)) {
		t.Fatal("Text ignores its seed")
	}
	if r := float64(n) / float64(gzipSize(t, t1)); r < 3 || r > 5 {
		t.Fatalf("Text gzip ratio %.2f, want 3..5", r)
	}
	if r := float64(n) / float64(gzipSize(t, binaryData("seed", n))); r < 1.8 || r > 3 {
		t.Fatalf("binaryData gzip ratio %.2f, want 1.8..3", r)
	}
	if len(Bytes("x", 0)) != 0 || len(Text("x", 0)) != 0 || len(Text("x", 1)) != 1 {
		t.Fatal("bad lengths for tiny n")
	}
}

func readTar(t *testing.T, l v1.Layer) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var hdrs []*tar.Header
	contents := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		contents[h.Name] = b
	}
	return hdrs, contents
}

func TestLayerEntries(t *testing.T) {
	later := Epoch.Add(36 * time.Hour)
	long := strings.Repeat("d", 120) + "/file.txt" // needs a PAX record
	files := []File{
		{Path: "usr", Type: tar.TypeDir},
		{Path: "usr/bin", Type: tar.TypeDir, Mode: 0o700, ModTime: later},
		{Path: "usr/bin/tool", Content: []byte("#!/bin/sh\n"), Mode: 0o755, UID: 1000, GID: 100},
		{Path: "usr/bin/alias", Type: tar.TypeSymlink, Linkname: "tool"},
		{Path: "usr/bin/hard", Type: tar.TypeLink, Linkname: "usr/bin/tool"},
		{Path: "etc/motd", Content: []byte("hi\n"), ModTime: later.Add(500 * time.Millisecond)}, // parent not added
		Whiteout("var/lib/apt/lists/lock"),
		OpaqueWhiteout("var/cache"),
		{Path: long, Content: []byte("x")},
	}
	l, err := Layer(files, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, contents := readTar(t, l)
	want := []struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
		link     string
		mtime    time.Time
	}{
		{"usr", tar.TypeDir, 0o755, 0, 0, "", Epoch},
		{"usr/bin", tar.TypeDir, 0o700, 0, 0, "", later},
		{"usr/bin/tool", tar.TypeReg, 0o755, 1000, 100, "", Epoch},
		{"usr/bin/alias", tar.TypeSymlink, 0o777, 0, 0, "tool", Epoch},
		{"usr/bin/hard", tar.TypeLink, 0o644, 0, 0, "usr/bin/tool", Epoch},
		{"etc/motd", tar.TypeReg, 0o644, 0, 0, "", later},
		{"var/lib/apt/lists/.wh.lock", tar.TypeReg, 0o644, 0, 0, "", Epoch},
		{"var/cache/.wh..wh..opq", tar.TypeReg, 0o644, 0, 0, "", Epoch},
		{long, tar.TypeReg, 0o644, 0, 0, "", Epoch},
	}
	if len(hdrs) != len(want) {
		t.Fatalf("%d entries, want %d (no parent directories may be added)", len(hdrs), len(want))
	}
	for i, w := range want {
		h := hdrs[i]
		if h.Name != w.name || h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid ||
			h.Linkname != w.link || !h.ModTime.Equal(w.mtime) || h.Uname != "" || h.Gname != "" {
			t.Errorf("entry %d = %q type %q mode %o uid %d gid %d link %q mtime %v uname %q gname %q; want %+v",
				i, h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, h.ModTime, h.Uname, h.Gname, w)
		}
	}
	if string(contents["usr/bin/tool"]) != "#!/bin/sh\n" || len(contents["var/cache/.wh..wh..opq"]) != 0 {
		t.Error("wrong contents")
	}

	// Same files, same layer; media types and blob encodings per compression.
	again, err := Layer(files, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("same files gave digests %s and %s", d1, d2)
	}
	diffID, _ := l.DiffID()
	for _, c := range []struct {
		c     Compression
		mt    types.MediaType
		magic []byte
	}{
		{Gzip, types.DockerLayer, []byte{0x1f, 0x8b}},
		{Zstd, types.OCILayerZStd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
		{Uncompressed, types.DockerUncompressedLayer, []byte("usr")},
	} {
		l, err := Layer(files, c.c)
		if err != nil {
			t.Fatal(err)
		}
		mt, _ := l.MediaType()
		id, _ := l.DiffID()
		d, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := io.ReadAll(rc)
		rc.Close()
		if mt != c.mt || id != diffID || !bytes.HasPrefix(blob, c.magic) {
			t.Errorf("%v: media type %s diff_id %s blob %x..., want %s %s %x", c.c, mt, id, blob[:4], c.mt, diffID, c.magic)
		}
		if (c.c == Uncompressed) != (d == diffID) {
			t.Errorf("%v: digest %s vs diff_id %s", c.c, d, diffID)
		}
		if hdrs, _ := readTar(t, l); len(hdrs) != len(want) {
			t.Errorf("%v: %d entries", c.c, len(hdrs))
		}
	}
}

func TestLayerRejectsBadEntries(t *testing.T) {
	for _, f := range []File{
		{Path: ""},
		{Path: "/etc/passwd"},
		{Path: "usr/"},
		{Path: "usr", Type: tar.TypeDir, Content: []byte("x")},
		{Path: "lib", Type: tar.TypeSymlink},
	} {
		if _, err := Layer([]File{f}, Gzip); err == nil {
			t.Errorf("Layer(%+v) succeeded", f)
		}
	}
}

// testBase builds a small two-step base image.
func testBase(t *testing.T) v1.Image {
	t.Helper()
	img, err := Build(Spec{
		Steps: []Step{
			{CreatedBy: "ADD rootfs.tar /", Files: []File{
				{Path: "etc", Type: tar.TypeDir},
				{Path: "etc/os-release", Content: []byte("ID=test\n")},
				{Path: "usr", Type: tar.TypeDir},
				{Path: "usr/lib", Type: tar.TypeDir},
				{Path: "usr/lib/libc.so", Content: Bytes("libc", 50_000)},
			}},
			{CreatedBy: `CMD ["sh"]`, Empty: true},
		},
		Labels: map[string]string{"base": "yes", "override": "base"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func appSpec(base v1.Image) Spec {
	return Spec{
		Base: base,
		Steps: []Step{
			{CreatedBy: "ENV A=1", Empty: true, Comment: "buildkit.dockerfile.v0"},
			{CreatedBy: "COPY app /app", Files: []File{
				{Path: "app", Type: tar.TypeDir},
				{Path: "app/main.py", Content: Text("main", 20_000)},
			}},
			{CreatedBy: "RUN true"}, // empty tar layer
			{CreatedBy: "WORKDIR /app", Empty: true},
			{CreatedBy: "RUN make", Files: []File{{Path: "app/bin", Content: Bytes("bin", 30_000), Mode: 0o755}}},
			{CreatedBy: `CMD ["/app/bin"]`, Empty: true},
		},
		Created:     Epoch.Add(48 * time.Hour),
		Labels:      map[string]string{"override": "app", "team": "a"},
		Annotations: map[string]string{"org.opencontainers.image.base.name": "test/base:1"},
	}
}

func TestBuildReproducible(t *testing.T) {
	spec := appSpec(testBase(t))
	a, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(appSpec(testBase(t)))
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("same Spec, digests %s and %s", da, db)
	}
	ra, _ := a.RawManifest()
	rb, _ := b.RawManifest()
	ca, _ := a.RawConfigFile()
	cb, _ := b.RawConfigFile()
	if !bytes.Equal(ra, rb) || !bytes.Equal(ca, cb) {
		t.Fatal("same Spec, different manifest or config bytes")
	}

	spec.Created = spec.Created.Add(time.Second)
	c, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Fatal("different Created, same digest")
	}
}

func TestBuildHistoryAndRootfs(t *testing.T) {
	base := testBase(t)
	spec := appSpec(base)
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}

	// base: 1 layer + 1 empty; app: 3 layers + 3 empty.
	if len(cf.History) != 2+6 {
		t.Fatalf("history has %d entries, want 8", len(cf.History))
	}
	wantBy := []string{"ADD rootfs.tar /", `CMD ["sh"]`, "ENV A=1", "COPY app /app", "RUN true", "WORKDIR /app", "RUN make", `CMD ["/app/bin"]`}
	wantEmpty := []bool{false, true, true, false, false, true, false, true}
	for i, h := range cf.History {
		if h.CreatedBy != wantBy[i] || h.EmptyLayer != wantEmpty[i] {
			t.Errorf("history[%d] = %q empty=%v, want %q empty=%v", i, h.CreatedBy, h.EmptyLayer, wantBy[i], wantEmpty[i])
		}
	}
	for i, h := range cf.History[:2] {
		if want := Epoch.Add(time.Duration(i) * time.Second); !h.Created.Equal(want) {
			t.Errorf("base history[%d] created %v, want %v", i, h.Created.Time, want)
		}
	}
	for i, h := range cf.History[2:] {
		if want := spec.Created.Add(time.Duration(i) * time.Second); !h.Created.Equal(want) {
			t.Errorf("step %d created %v, want %v", i, h.Created.Time, want)
		}
	}
	if cf.History[2].Comment != "buildkit.dockerfile.v0" {
		t.Errorf("comment %q", cf.History[2].Comment)
	}
	if !cf.Created.Equal(spec.Created) {
		t.Errorf("config created %v", cf.Created.Time)
	}

	if len(layers) != 4 || len(m.Layers) != 4 || len(cf.RootFS.DiffIDs) != 4 || cf.RootFS.Type != "layers" {
		t.Fatalf("layers %d, manifest layers %d, diff_ids %d (type %q); want 4", len(layers), len(m.Layers), len(cf.RootFS.DiffIDs), cf.RootFS.Type)
	}
	nonEmpty := 0
	for _, h := range cf.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty != len(cf.RootFS.DiffIDs) {
		t.Fatalf("%d non-empty history entries for %d diff_ids", nonEmpty, len(cf.RootFS.DiffIDs))
	}
	for i, l := range layers {
		id, _ := l.DiffID()
		d, _ := l.Digest()
		if id != cf.RootFS.DiffIDs[i] || d != m.Layers[i].Digest {
			t.Errorf("layer %d: diff_id %s digest %s; config %s manifest %s", i, id, d, cf.RootFS.DiffIDs[i], m.Layers[i].Digest)
		}
		if m.Layers[i].MediaType != types.DockerLayer {
			t.Errorf("layer %d media type %s", i, m.Layers[i].MediaType)
		}
	}
	baseLayers, _ := base.Layers()
	if bd, _ := baseLayers[0].Digest(); bd != m.Layers[0].Digest {
		t.Error("base layer not kept")
	}
	// "RUN true" is an empty tar: no entries.
	if hdrs, _ := readTar(t, layers[2]); len(hdrs) != 0 {
		t.Errorf("empty step layer has %d entries", len(hdrs))
	}
	if hdrs, _ := readTar(t, layers[1]); len(hdrs) != 2 || hdrs[1].Name != "app/main.py" {
		t.Errorf("COPY layer entries %v", hdrs)
	}

	if m.MediaType != types.DockerManifestSchema2 || m.Config.MediaType != types.DockerConfigJSON {
		t.Errorf("media types %s / %s", m.MediaType, m.Config.MediaType)
	}
	if m.Annotations["org.opencontainers.image.base.name"] != "test/base:1" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Variant != "" {
		t.Errorf("platform %s/%s/%s", cf.OS, cf.Architecture, cf.Variant)
	}
	if l := cf.Config.Labels; len(l) != 3 || l["base"] != "yes" || l["override"] != "app" || l["team"] != "a" {
		t.Errorf("labels %v", l)
	}
	if _, err := Build(Spec{Steps: []Step{{CreatedBy: "ENV", Empty: true, Files: []File{{Path: "x"}}}}}); err == nil {
		t.Error("Empty step with files accepted")
	}
}

func TestBuildFormats(t *testing.T) {
	base := testBase(t)
	baseLayers, _ := base.Layers()
	baseDigest, _ := baseLayers[0].Digest()
	for _, c := range []struct {
		name       string
		spec       Spec
		manifest   types.MediaType
		config     types.MediaType
		newLayer   types.MediaType
		baseLayer  types.MediaType
		arch, vrnt string
	}{
		{"oci", Spec{Base: base, Format: OCI, Arch: "arm64", Variant: "v8"},
			types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, types.OCILayer, "arm64", "v8"},
		{"docker+zstd", Spec{Base: base, Compression: Zstd},
			types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayerZStd, types.OCILayer, "amd64", ""},
		{"docker+uncompressed", Spec{Base: base, Compression: Uncompressed},
			types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerUncompressedLayer, types.DockerLayer, "amd64", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Steps = []Step{{CreatedBy: "RUN x", Files: []File{{Path: "x", Content: Text("x", 5000)}}}}
			img, err := Build(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := img.Manifest()
			cf, _ := img.ConfigFile()
			if m.MediaType != c.manifest || m.Config.MediaType != c.config {
				t.Errorf("manifest %s config %s", m.MediaType, m.Config.MediaType)
			}
			if m.Layers[0].MediaType != c.baseLayer || m.Layers[0].Digest != baseDigest {
				t.Errorf("base layer %s %s, want %s %s", m.Layers[0].MediaType, m.Layers[0].Digest, c.baseLayer, baseDigest)
			}
			if m.Layers[1].MediaType != c.newLayer {
				t.Errorf("new layer %s", m.Layers[1].MediaType)
			}
			ls, _ := img.Layers()
			if mt, _ := ls[0].MediaType(); mt != c.baseLayer {
				t.Errorf("base layer object media type %s", mt)
			}
			if cf.Architecture != c.arch || cf.Variant != c.vrnt {
				t.Errorf("platform %s/%s", cf.Architecture, cf.Variant)
			}
		})
	}
}

func TestRecompress(t *testing.T) {
	img, err := Build(appSpec(testBase(t)))
	if err != nil {
		t.Fatal(err)
	}
	z, err := Recompress(img, Zstd, Docker) // zstd forces OCI
	if err != nil {
		t.Fatal(err)
	}
	om, _ := img.Manifest()
	zm, _ := z.Manifest()
	ocf, _ := img.RawConfigFile()
	zcf, _ := z.RawConfigFile()
	if !bytes.Equal(ocf, zcf) || om.Config.Digest != zm.Config.Digest {
		t.Fatal("config (diff_ids, history) changed")
	}
	if zm.MediaType != types.OCIManifestSchema1 || zm.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types %s / %s", zm.MediaType, zm.Config.MediaType)
	}
	if len(zm.Layers) != len(om.Layers) || len(zm.Layers) != 4 {
		t.Fatalf("%d layers, want %d", len(zm.Layers), len(om.Layers))
	}
	zl, _ := z.Layers()
	ol, _ := img.Layers()
	for i := range zm.Layers {
		if zm.Layers[i].Digest == om.Layers[i].Digest || zm.Layers[i].MediaType != types.OCILayerZStd {
			t.Errorf("layer %d: digest %s media type %s", i, zm.Layers[i].Digest, zm.Layers[i].MediaType)
		}
		zid, _ := zl[i].DiffID()
		oid, _ := ol[i].DiffID()
		if zid != oid {
			t.Errorf("layer %d diff_id %s, want %s", i, zid, oid)
		}
	}
	if zm.Annotations["org.opencontainers.image.base.name"] != "test/base:1" {
		t.Error("annotations lost")
	}

	// Back to gzip/Docker: the original image again.
	back, err := Recompress(z, Gzip, Docker)
	if err != nil {
		t.Fatal(err)
	}
	d0, _ := img.Digest()
	if d, _ := back.Digest(); d != d0 {
		t.Errorf("gzip round trip digest %s, want %s", d, d0)
	}

	u, err := Recompress(img, Uncompressed, OCI)
	if err != nil {
		t.Fatal(err)
	}
	um, _ := u.Manifest()
	ucf, _ := u.ConfigFile()
	for i, l := range um.Layers {
		if l.MediaType != types.OCIUncompressedLayer || l.Digest != ucf.RootFS.DiffIDs[i] {
			t.Errorf("uncompressed layer %d: %s %s", i, l.MediaType, l.Digest)
		}
	}

	// zstd output must not depend on the number of CPUs.
	prev := runtime.GOMAXPROCS(1)
	z1, err := Recompress(img, Zstd, OCI)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := z1.Digest()
	if dz, _ := z.Digest(); d1 != dz {
		t.Errorf("zstd digest %s with GOMAXPROCS=1, %s with %d", d1, dz, prev)
	}
}

func TestIndex(t *testing.T) {
	var imgs []v1.Image
	for _, a := range []struct{ arch, variant string }{{"amd64", ""}, {"arm64", "v8"}} {
		img, err := Build(Spec{
			Steps:   []Step{{CreatedBy: "ADD x /", Files: []File{{Path: "arch", Content: []byte(a.arch)}}}},
			Arch:    a.arch,
			Variant: a.variant,
			Format:  OCI,
		})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	for _, c := range []struct {
		f         Format
		platforms []v1.Platform
		mt        types.MediaType
	}{
		{OCI, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}, types.OCIImageIndex},
		{Docker, nil, types.DockerManifestList}, // platforms from the configs
	} {
		idx, err := Index(imgs, c.platforms, c.f)
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if im.MediaType != c.mt || len(im.Manifests) != 2 {
			t.Fatalf("index %s with %d manifests", im.MediaType, len(im.Manifests))
		}
		want := []string{"linux/amd64", "linux/arm64/v8"}
		for i, d := range im.Manifests {
			if d.Platform == nil || d.Platform.String() != want[i] {
				t.Errorf("manifest %d platform %v, want %s", i, d.Platform, want[i])
			}
			if dd, _ := imgs[i].Digest(); d.Digest != dd || d.MediaType != types.OCIManifestSchema1 {
				t.Errorf("manifest %d: %s %s", i, d.Digest, d.MediaType)
			}
			child, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if cd, _ := child.Digest(); cd != d.Digest {
				t.Errorf("child %d digest %s", i, cd)
			}
		}
		d1, _ := idx.Digest()
		again, _ := Index(imgs, c.platforms, c.f)
		if d2, _ := again.Digest(); d1 != d2 {
			t.Error("index not reproducible")
		}
	}
	if _, err := Index(imgs, []v1.Platform{{OS: "linux"}}, OCI); err == nil {
		t.Error("platform count mismatch accepted")
	}
}

func TestArtifact(t *testing.T) {
	img := testBase(t)
	subject, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	art, err := Artifact("application/spdx+json", content, *subject)
	if err != nil {
		t.Fatal(err)
	}
	m, err := art.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.ArtifactType != "application/spdx+json" || m.SchemaVersion != 2 {
		t.Errorf("manifest %s artifactType %q", m.MediaType, m.ArtifactType)
	}
	const emptyDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	if m.Config.MediaType != types.OCIEmptyJSON || m.Config.Size != 2 || m.Config.Digest.String() != emptyDigest {
		t.Errorf("config %+v", m.Config)
	}
	if raw, _ := art.RawConfigFile(); string(raw) != "{}" {
		t.Errorf("config content %q", raw)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest || m.Subject.MediaType != types.DockerManifestSchema2 || m.Subject.Size != subject.Size {
		t.Errorf("subject %+v, want %+v", m.Subject, subject)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != "application/spdx+json" || m.Layers[0].Size != int64(len(content)) {
		t.Fatalf("layers %+v", m.Layers)
	}
	ls, err := art.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatalf("Layers: %v %d", err, len(ls))
	}
	rc, _ := ls[0].Compressed()
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("blob %q", got)
	}
	cl, err := partial.ConfigLayer(art)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := cl.Digest(); d.String() != emptyDigest {
		t.Errorf("config layer digest %s", d)
	}
	a2, _ := Artifact("application/spdx+json", content, *subject)
	d1, _ := art.Digest()
	if d2, _ := a2.Digest(); d1 != d2 {
		t.Error("artifact not reproducible")
	}
	if _, err := Artifact("", content, *subject); err == nil {
		t.Error("empty artifactType accepted")
	}
	if _, err := Artifact("x/y", content, v1.Descriptor{}); err == nil {
		t.Error("empty subject accepted")
	}
}

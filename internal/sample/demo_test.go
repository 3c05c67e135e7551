package sample

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// demoCache holds one DemoContent result shared by the tests of this file.
var demoCache struct {
	items []DemoItem
	err   error
	done  bool
}

func demoItems(t *testing.T) []DemoItem {
	t.Helper()
	if !demoCache.done {
		demoCache.items, demoCache.err = DemoContent()
		demoCache.done = true
	}
	if demoCache.err != nil {
		t.Fatal(demoCache.err)
	}
	return demoCache.items
}

func findItem(t *testing.T, items []DemoItem, repo, tag string) DemoItem {
	t.Helper()
	for _, it := range items {
		if it.Repository == repo && it.Tag == tag {
			return it
		}
	}
	t.Fatalf("no demo item %s:%s", repo, tag)
	return DemoItem{}
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var ds []v1.Hash
	for _, l := range m.Layers {
		ds = append(ds, l.Digest)
	}
	return ds
}

func equalHashes(a, b []v1.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDemoContent(t *testing.T) {
	items := demoItems(t)

	apiDigest, err := findItem(t, items, "team-a/api", "1.0").Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	sbomTag := "sha256-" + apiDigest.Hex + ".sbom"
	want := []struct {
		repo, tag, kind string
		layers          int // per image (per child for the index)
		history         int
	}{
		{"library/debian", "12", KindImage, 1, 2},
		{"library/alpine", "3.20", KindIndex, 1, 2},
		{"library/python", "3.12", KindImage, 3, 8},
		{"team-a/api", "1.0", KindImage, 6, 14},
		{"team-a/worker", "1.0", KindImage, 6, 14},
		{"team-b/web", "2.3", KindImage, 4, 7},
		{"team-b/web", "2.4", KindImage, 4, 7},
		{"team-c/legacy", "1.0", KindImage, 6, 8},
		{"team-a/api", "1.0-rebuild", KindImage, 6, 14},
		{"mirror/python", "3.12-zstd", KindImage, 3, 8},
		{"library/debian", "12", KindImage, 1, 2},
		{"team-c/legacy", "1.1", KindImage, 6, 8},
		{"team-a/api", sbomTag, KindArtifact, 1, 0},
	}
	if len(items) != len(want) {
		t.Fatalf("%d items, want %d", len(items), len(want))
	}
	blobs := map[v1.Hash]int64{}
	for i, w := range want {
		it := items[i]
		if it.Repository != w.repo || it.Tag != w.tag || it.Kind != w.kind {
			t.Fatalf("item %d = %s:%s (%s), want %s:%s (%s)", i, it.Repository, it.Tag, it.Kind, w.repo, w.tag, w.kind)
		}
		imgs := []v1.Image{it.Image}
		if it.Kind == KindIndex {
			im, err := it.Index.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			imgs = nil
			for _, d := range im.Manifests {
				img, err := it.Index.Image(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				imgs = append(imgs, img)
			}
		}
		for _, img := range imgs {
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != w.layers {
				t.Errorf("%s:%s has %d layers, want %d", w.repo, w.tag, len(m.Layers), w.layers)
			}
			for _, l := range m.Layers {
				blobs[l.Digest] = l.Size
			}
			if it.Kind == KindArtifact {
				continue
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if len(cf.History) != w.history || len(cf.RootFS.DiffIDs) != w.layers {
				t.Errorf("%s:%s: %d history entries, %d diff_ids; want %d, %d", w.repo, w.tag, len(cf.History), len(cf.RootFS.DiffIDs), w.history, w.layers)
			}
			nonEmpty := 0
			for _, h := range cf.History {
				if h.CreatedBy == "" || h.Created.IsZero() {
					t.Errorf("%s:%s: history entry %+v", w.repo, w.tag, h)
				}
				if !h.EmptyLayer {
					nonEmpty++
				}
			}
			if nonEmpty != w.layers {
				t.Errorf("%s:%s: %d non-empty history entries for %d layers", w.repo, w.tag, nonEmpty, w.layers)
			}
		}
	}
	var total int64
	for _, s := range blobs {
		total += s
	}
	t.Logf("%d unique layer blobs, %.1f MB", len(blobs), float64(total)/1e6)
	if total > 30e6 || total < 15e6 {
		t.Errorf("unique layer blobs total %d bytes, want 15..30 MB", total)
	}

	// Determinism of the whole content.
	again, err := DemoContent()
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		d1, _ := items[i].Digest()
		d2, _ := again[i].Digest()
		if d1 != d2 {
			t.Errorf("%s:%s digest %s then %s", items[i].Repository, items[i].Tag, d1, d2)
		}
	}
}

func TestDemoSharing(t *testing.T) {
	items := demoItems(t)
	debian := layerDigests(t, findItem(t, items, "library/debian", "12").Image)
	python := layerDigests(t, findItem(t, items, "library/python", "3.12").Image)
	api := layerDigests(t, findItem(t, items, "team-a/api", "1.0").Image)
	worker := layerDigests(t, findItem(t, items, "team-a/worker", "1.0").Image)
	rebuild := layerDigests(t, findItem(t, items, "team-a/api", "1.0-rebuild").Image)
	legacy := layerDigests(t, findItem(t, items, "team-c/legacy", "1.0").Image)
	web23 := layerDigests(t, findItem(t, items, "team-b/web", "2.3").Image)
	web24 := layerDigests(t, findItem(t, items, "team-b/web", "2.4").Image)
	zpython := findItem(t, items, "mirror/python", "3.12-zstd").Image

	if !equalHashes(python[:1], debian) || !equalHashes(legacy[:1], debian) {
		t.Error("python and legacy do not start with debian's layer")
	}
	// api and worker share exactly python's layers.
	shared := 0
	inWorker := map[v1.Hash]bool{}
	for _, d := range worker {
		inWorker[d] = true
	}
	for _, d := range api {
		if inWorker[d] {
			shared++
		}
	}
	if shared != len(python) || !equalHashes(api[:3], python) || !equalHashes(worker[:3], python) {
		t.Errorf("api and worker share %d layers, want exactly python's %d", shared, len(python))
	}
	// The rebuild shares the base layers and none of the app layers.
	if !equalHashes(rebuild[:3], python) {
		t.Error("rebuild does not share python's layers")
	}
	for i := 3; i < 6; i++ {
		if rebuild[i] == api[i] {
			t.Errorf("rebuild app layer %d kept digest %s", i, api[i])
		}
	}
	apiImg := findItem(t, items, "team-a/api", "1.0").Image
	rebuildImg := findItem(t, items, "team-a/api", "1.0-rebuild").Image
	al, _ := apiImg.Layers()
	rl, _ := rebuildImg.Layers()
	for i := 3; i < 6; i++ {
		ah, ac := readTar(t, al[i])
		rh, rc := readTar(t, rl[i])
		if len(ah) != len(rh) {
			t.Fatalf("layer %d: %d vs %d entries", i, len(ah), len(rh))
		}
		for j := range ah {
			if ah[j].Name != rh[j].Name || !bytes.Equal(ac[ah[j].Name], rc[rh[j].Name]) || rh[j].ModTime.Sub(ah[j].ModTime).Hours() != 24 {
				t.Fatalf("layer %d entry %s: rebuild differs other than by a one-day mtime", i, ah[j].Name)
			}
		}
	}
	// web 2.4 changes only its last layer.
	if !equalHashes(web23[:3], web24[:3]) || web23[3] == web24[3] {
		t.Error("web 2.3 and 2.4 should differ in exactly the last layer")
	}
	alpine := findItem(t, items, "library/alpine", "3.20").Index
	im, _ := alpine.IndexManifest()
	amd64, _ := alpine.Image(im.Manifests[0].Digest)
	if !equalHashes(web23[:1], layerDigests(t, amd64)) {
		t.Error("web does not start with alpine amd64's layer")
	}
	// The zstd mirror: same diff_ids as python, all blobs different.
	pcf, _ := findItem(t, items, "library/python", "3.12").Image.ConfigFile()
	zcf, _ := zpython.ConfigFile()
	if !equalHashes(pcf.RootFS.DiffIDs, zcf.RootFS.DiffIDs) {
		t.Error("zstd mirror diff_ids differ")
	}
	zm, _ := zpython.Manifest()
	for i, l := range zm.Layers {
		if l.Digest == python[i] || l.MediaType != types.OCILayerZStd {
			t.Errorf("zstd layer %d: %s %s", i, l.Digest, l.MediaType)
		}
	}
}

func TestDemoDetails(t *testing.T) {
	items := demoItems(t)
	python := findItem(t, items, "library/python", "3.12").Image
	pd, _ := python.Digest()
	for _, tag := range []string{"1.0", "1.0-rebuild"} {
		for _, repo := range []string{"team-a/api", "team-a/worker"} {
			if repo == "team-a/worker" && tag != "1.0" {
				continue
			}
			m, _ := findItem(t, items, repo, tag).Image.Manifest()
			if m.Annotations["org.opencontainers.image.base.name"] != "library/python:3.12" ||
				m.Annotations["org.opencontainers.image.base.digest"] != pd.String() {
				t.Errorf("%s:%s annotations %v", repo, tag, m.Annotations)
			}
		}
	}

	// Debian: classic ADD + CMD history.
	dcf, _ := findItem(t, items, "library/debian", "12").Image.ConfigFile()
	if !strings.HasPrefix(dcf.History[0].CreatedBy, "/bin/sh -c #(nop) ADD file:") || !strings.HasSuffix(dcf.History[0].CreatedBy, " in / ") ||
		dcf.History[1].CreatedBy != `/bin/sh -c #(nop)  CMD ["bash"]` || !dcf.History[1].EmptyLayer {
		t.Errorf("debian history %+v", dcf.History)
	}

	// Alpine: two platforms with different content.
	alpine := findItem(t, items, "library/alpine", "3.20").Index
	im, _ := alpine.IndexManifest()
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 ||
		im.Manifests[0].Platform.String() != "linux/amd64" || im.Manifests[1].Platform.String() != "linux/arm64/v8" {
		t.Fatalf("alpine index %+v", im)
	}
	a0, _ := alpine.Image(im.Manifests[0].Digest)
	a1, _ := alpine.Image(im.Manifests[1].Digest)
	if layerDigests(t, a0)[0] == layerDigests(t, a1)[0] {
		t.Error("alpine arches share their layer")
	}
	a1cf, _ := a1.ConfigFile()
	if a1cf.Architecture != "arm64" || a1cf.Variant != "v8" {
		t.Errorf("arm64 config platform %s/%s", a1cf.Architecture, a1cf.Variant)
	}

	// Legacy: apt lists added, whited out, and the chmod copy-up.
	legacy := findItem(t, items, "team-c/legacy", "1.0").Image
	ls, _ := legacy.Layers()
	updHdrs, _ := readTar(t, ls[1])
	var listed int64
	added := map[string]bool{}
	for _, h := range updHdrs {
		if strings.HasPrefix(h.Name, "var/lib/apt/lists/") {
			listed += h.Size
			added[strings.TrimPrefix(h.Name, "var/lib/apt/lists/")] = true
		}
	}
	if listed < 2_500_000 || listed > 3_500_000 {
		t.Errorf("apt-get update adds %d bytes of lists, want about 3 MB", listed)
	}
	rmHdrs, _ := readTar(t, ls[3])
	whiteouts := 0
	for _, h := range rmHdrs {
		if base, ok := strings.CutPrefix(h.Name, "var/lib/apt/lists/.wh."); ok {
			if !added[base] {
				t.Errorf("whiteout for %s which was not added", base)
			}
			whiteouts++
		}
	}
	if whiteouts != len(added) {
		t.Errorf("%d whiteouts for %d added entries", whiteouts, len(added))
	}
	instHdrs, _ := readTar(t, ls[2])
	var hasCurl, hasLib bool
	for _, h := range instHdrs {
		hasCurl = hasCurl || h.Name == "usr/bin/curl"
		hasLib = hasLib || (h.Name == "usr/lib/x86_64-linux-gnu/libcurl.so.4" && h.Typeflag == tar.TypeSymlink)
	}
	if !hasCurl || !hasLib {
		t.Error("apt-get install curl layer lacks curl or libcurl.so.4")
	}
	cpHdrs, cpC := readTar(t, ls[4])
	chHdrs, chC := readTar(t, ls[5])
	if cpHdrs[len(cpHdrs)-1].Name != "app/run.sh" || chHdrs[len(chHdrs)-1].Name != "app/run.sh" ||
		cpHdrs[len(cpHdrs)-1].Mode != 0o644 || chHdrs[len(chHdrs)-1].Mode != 0o755 ||
		!bytes.Equal(cpC["app/run.sh"], chC["app/run.sh"]) || len(chC["app/run.sh"]) < 500_000 {
		t.Error("chmod layer is not a full copy of run.sh with mode 0755")
	}
	lcf, _ := legacy.ConfigFile()
	for i, want := range []string{"/bin/sh -c apt-get update", "/bin/sh -c apt-get install -y curl", "/bin/sh -c rm -rf /var/lib/apt/lists/*"} {
		if lcf.History[2+i].CreatedBy != want {
			t.Errorf("legacy history[%d] = %q", 2+i, lcf.History[2+i].CreatedBy)
		}
	}

	// SBOM artifact.
	sbom := items[len(items)-1]
	api := findItem(t, items, "team-a/api", "1.0").Image
	ad, _ := api.Digest()
	sm, _ := sbom.Image.Manifest()
	if sm.ArtifactType != "application/spdx+json" || sm.Subject == nil || sm.Subject.Digest != ad ||
		sm.Subject.MediaType != types.DockerManifestSchema2 || sm.Config.MediaType != types.OCIEmptyJSON {
		t.Errorf("sbom manifest %+v", sm)
	}
	sl, _ := sbom.Image.Layers()
	rc, _ := sl[0].Compressed()
	doc, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(doc, []byte(`"spdxVersion": "SPDX-2.3"`)) || !bytes.Contains(doc, []byte(`"name": "fastapi"`)) {
		t.Errorf("sbom content %.200s", doc)
	}
}

func TestDemoPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	pushed, err := Demo(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	items := demoItems(t)
	if len(pushed) != len(items) {
		t.Fatalf("pushed %d references, want %d", len(pushed), len(items))
	}
	for i, p := range pushed {
		it := items[i]
		want, _ := it.Digest()
		if p.Repository != it.Repository || p.Tag != it.Tag || p.Kind != it.Kind || p.Digest != want.String() {
			t.Errorf("pushed[%d] = %+v, want %s:%s %s %s", i, p, it.Repository, it.Tag, it.Kind, want)
		}
		// A tag pushed again later names the later push: the earlier one
		// is read by its digest.
		refText := host + "/" + p.Repository + ":" + p.Tag
		for _, q := range pushed[i+1:] {
			if q.Repository == p.Repository && q.Tag == p.Tag {
				refText = host + "/" + p.Repository + "@" + p.Digest
			}
		}
		ref, err := name.ParseReference(refText)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref)
		if err != nil {
			t.Fatalf("get %s: %v", ref, err)
		}
		if desc.Digest.String() != p.Digest {
			t.Errorf("%s: registry has %s, pushed %s", ref, desc.Digest, p.Digest)
		}
		var raw []byte
		if it.Index != nil {
			raw, _ = it.Index.RawManifest()
			if !desc.MediaType.IsIndex() {
				t.Errorf("%s: media type %s", ref, desc.MediaType)
			}
		} else {
			raw, _ = it.Image.RawManifest()
			img, err := desc.Image()
			if err != nil {
				t.Fatal(err)
			}
			if !equalHashes(layerDigests(t, img), layerDigests(t, it.Image)) {
				t.Errorf("%s: layers differ", ref)
			}
			ls, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				if _, err := remote.Layer(ref.Context().Digest(mustDigest(t, l).String())); err != nil {
					t.Errorf("%s: layer: %v", ref, err)
				}
			}
		}
		if !bytes.Equal(desc.Manifest, raw) {
			t.Errorf("%s: manifest bytes differ", ref)
		}
	}

	// Every blob can be fetched back and hashes to its digest.
	apiRef, _ := name.ParseReference(host + "/team-a/api:1.0")
	img, err := remote.Image(apiRef)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != mustDigest(t, l) {
			t.Errorf("blob %s hashes to %s (%v)", mustDigest(t, l), h, err)
		}
	}

	// The SBOM is listed as a referrer of team-a/api:1.0.
	ad, _ := img.Digest()
	refs, err := remote.Referrers(apiRef.Context().Digest(ad.String()))
	if err != nil {
		t.Fatal(err)
	}
	rim, _ := refs.IndexManifest()
	if len(rim.Manifests) != 1 || rim.Manifests[0].Digest.String() != pushed[len(pushed)-1].Digest ||
		rim.Manifests[0].ArtifactType != "application/spdx+json" {
		t.Errorf("referrers %+v", rim.Manifests)
	}

	// Pushing again is idempotent.
	again, err := Demo(context.Background(), "http://"+host)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i] != pushed[i] {
			t.Errorf("second push %+v, first %+v", again[i], pushed[i])
		}
	}
}

func mustDigest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// repoBlobs is a registry blob store scoped per repository, like a real
// registry's (the default in-memory one is global, so every blob pushed once
// "exists" in every repository).
type repoBlobs struct {
	mu sync.Mutex
	m  map[string]map[v1.Hash][]byte
}

// key normalizes the repository the in-process registry passes: for
// uploads it includes a trailing "/blobs".
func key(repo string) string { return strings.TrimSuffix(repo, "/blobs") }

func (b *repoBlobs) get(repo string, h v1.Hash) ([]byte, bool) {
	repo = key(repo)
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.m[repo][h]
	return c, ok
}

func (b *repoBlobs) put(repo string, h v1.Hash, c []byte) {
	repo = key(repo)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m[repo] == nil {
		b.m[repo] = map[v1.Hash][]byte{}
	}
	b.m[repo][h] = c
}

func (b *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	if c, ok := b.get(repo, h); ok {
		return io.NopCloser(bytes.NewReader(c)), nil
	}
	return nil, registry.ErrNotFound
}

func (b *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	if c, ok := b.get(repo, h); ok {
		return int64(len(c)), nil
	}
	return 0, registry.ErrNotFound
}

func (b *repoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	c, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	b.put(repo, h, c)
	return nil
}

func TestDemoPushMountsAcrossRepositories(t *testing.T) {
	blobs := &repoBlobs{m: map[string]map[v1.Hash][]byte{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithBlobHandler(blobs))
	var mu sync.Mutex
	var uploaded int64
	mounts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const uploads = "/blobs/uploads/"
		repo, _, isUpload := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), uploads)
		if isUpload && r.Method == http.MethodPost && r.URL.Query().Get("from") != "" {
			// Cross-repository mount (the in-process registry lacks it).
			h, err := v1.NewHash(r.URL.Query().Get("mount"))
			if c, ok := blobs.get(r.URL.Query().Get("from"), h); err == nil && ok {
				blobs.put(repo, h, c)
				mu.Lock()
				mounts++
				mu.Unlock()
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+h.String())
				w.Header().Set("Docker-Content-Digest", h.String())
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
		if isUpload && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			uploaded += int64(len(body))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	pushed, err := Demo(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	// Every layer of every pushed image is readable from its own repository.
	for _, p := range pushed {
		if p.Kind == KindIndex {
			continue
		}
		ref, _ := name.ParseReference(host + "/" + p.Repository + "@" + p.Digest)
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		for _, l := range ls {
			if _, ok := blobs.get(p.Repository, mustDigest(t, l)); !ok {
				t.Errorf("%s: layer %s missing from the repository", p.Repository, mustDigest(t, l))
			}
		}
	}
	var unique int64
	seen := map[v1.Hash]bool{}
	for _, repo := range blobs.m {
		for h, c := range repo {
			if !seen[h] {
				seen[h] = true
				unique += int64(len(c))
			}
		}
	}
	t.Logf("uploaded %.1f MB, %d mounts, %.1f MB unique blobs", float64(uploaded)/1e6, mounts, float64(unique)/1e6)
	// debian 12.7's layer is mounted into python, api, worker and legacy,
	// python's two into api and worker, alpine amd64's into web, debian
	// 12.8's into legacy (1.1).
	if mounts != 4+2*2+1+1 {
		t.Errorf("%d cross-repository mounts, want 10", mounts)
	}
	// Each layer blob is uploaded once; only config blobs may be uploaded
	// again (mirror/python has python's config).
	if uploaded > 40e6 || uploaded < unique || uploaded > unique+16<<10 {
		t.Errorf("uploaded %d bytes for %d bytes of unique blobs", uploaded, unique)
	}
}

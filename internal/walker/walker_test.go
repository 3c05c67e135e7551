package walker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

func newWalker(t *testing.T) *walker.Walker {
	t.Helper()
	w, err := walker.New(walker.Options{Jobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustBuild(t *testing.T, s sample.Spec) v1.Image {
	t.Helper()
	img, err := sample.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// appSpec: a base layer, an ENV, two layers and a CMD.
func appSpec(f sample.Format) sample.Spec {
	return sample.Spec{
		Format: f,
		Labels: map[string]string{"team": "a"},
		Annotations: map[string]string{
			"org.opencontainers.image.base.name":   "library/debian:12",
			"org.opencontainers.image.base.digest": "sha256:" + strings.Repeat("ab", 32),
		},
		Steps: []sample.Step{
			{CreatedBy: "ADD rootfs.tar /", Files: []sample.File{{Path: "etc/os-release", Content: []byte("ID=debian\n")}}},
			{CreatedBy: "ENV PATH=/usr/local/bin", Empty: true},
			{CreatedBy: "RUN pip install -r requirements.txt", Files: []sample.File{{Path: "usr/lib/site.py", Content: sample.Text("site", 5000)}}},
			{CreatedBy: "COPY . /app", Files: []sample.File{{Path: "app/main.py", Content: []byte("print('hi')\n")}}},
			{CreatedBy: `CMD ["python3"]`, Empty: true},
		},
	}
}

func chainIDs(diffIDs []v1.Hash) []string {
	var out []string
	chain := ""
	for i, d := range diffIDs {
		if i == 0 {
			chain = d.String()
		} else {
			s := sha256.Sum256([]byte(chain + " " + d.String()))
			chain = "sha256:" + hex.EncodeToString(s[:])
		}
		out = append(out, chain)
	}
	return out
}

func TestWalkImage(t *testing.T) {
	t.Parallel()
	for _, f := range []sample.Format{sample.Docker, sample.OCI} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			img := mustBuild(t, appSpec(f))
			digest := reg.PushImage(t, "team-a/api:1.0", img)
			obs, err := newWalker(t).Walk(context.Background(), reg.Host, "team-a/api", "1.0")
			if err != nil {
				t.Fatal(err)
			}
			if obs.Tag != "1.0" || obs.Repository != "team-a/api" || len(obs.Manifests) != 1 {
				t.Fatalf("observation = %+v", obs)
			}
			m := obs.Root()
			raw, _ := img.RawManifest()
			mt, _ := img.MediaType()
			cfgName, _ := img.ConfigName()
			if m.Digest != digest || m.Size != int64(len(raw)) || m.MediaType != string(mt) || m.Kind != image.KindImage || m.ConfigDigest != cfgName.String() {
				t.Fatalf("manifest = %s %d %s %s %s; want %s %d %s image %s", m.Digest, m.Size, m.MediaType, m.Kind, m.ConfigDigest, digest, len(raw), mt, cfgName)
			}
			if m.Platform.OS != "linux" || m.Platform.Architecture != "amd64" || m.Labels["team"] != "a" || m.Created == nil {
				t.Errorf("platform/labels/created = %+v %v %v", m.Platform, m.Labels, m.Created)
			}
			if m.BaseName != "library/debian:12" || m.BaseDigest != "sha256:"+strings.Repeat("ab", 32) {
				t.Errorf("base = %q %q", m.BaseName, m.BaseDigest)
			}
			if len(m.History) != 5 || !m.History[1].EmptyLayer || !m.History[4].EmptyLayer || m.History[2].EmptyLayer {
				t.Fatalf("history = %+v", m.History)
			}
			cf, _ := img.ConfigFile()
			layers, _ := img.Layers()
			chains := chainIDs(cf.RootFS.DiffIDs)
			wantBy := []string{"ADD rootfs.tar /", "RUN pip install -r requirements.txt", "COPY . /app"}
			wantHist := []int{0, 2, 3}
			if len(m.Layers) != 3 || m.HistoryMismatch != "" {
				t.Fatalf("layers = %d, mismatch %q", len(m.Layers), m.HistoryMismatch)
			}
			for i, l := range m.Layers {
				d, _ := layers[i].Digest()
				sz, _ := layers[i].Size()
				if l.Digest != d.String() || l.Size != sz || l.DiffID != cf.RootFS.DiffIDs[i].String() || l.ChainID != chains[i] {
					t.Errorf("layer %d = %+v; want digest %s size %d diff %s chain %s", i, l, d, sz, cf.RootFS.DiffIDs[i], chains[i])
				}
				if l.CreatedBy != wantBy[i] || l.HistoryIndex != wantHist[i] {
					t.Errorf("layer %d made by %q (history %d); want %q (%d)", i, l.CreatedBy, l.HistoryIndex, wantBy[i], wantHist[i])
				}
			}
			// By digest: the same manifest, no tag.
			obs2, err := newWalker(t).Walk(context.Background(), reg.Host, "team-a/api", digest)
			if err != nil || obs2.Tag != "" || obs2.Root().Digest != digest {
				t.Fatalf("walk by digest = %+v, %v", obs2, err)
			}
		})
	}
}

func TestWalkIndex(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	amd := mustBuild(t, sample.Spec{Format: sample.OCI, Steps: []sample.Step{{CreatedBy: "ADD amd64 /", Files: []sample.File{{Path: "a", Content: []byte("amd64")}}}}})
	arm := mustBuild(t, sample.Spec{Format: sample.OCI, Arch: "arm64", Variant: "v8", Steps: []sample.Step{{CreatedBy: "ADD arm64 /", Files: []sample.File{{Path: "a", Content: []byte("arm64")}}}}})
	idx, err := sample.Index([]v1.Image{amd, arm}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	digest := reg.PushIndex(t, "library/alpine:3.20", idx)
	obs, err := newWalker(t).Walk(context.Background(), reg.Host, "library/alpine", "3.20")
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Manifests) != 3 {
		t.Fatalf("%d manifests, want index + 2", len(obs.Manifests))
	}
	root := obs.Root()
	amdD, _ := amd.Digest()
	armD, _ := arm.Digest()
	if root.Digest != digest || root.Kind != image.KindIndex || len(root.Children) != 2 {
		t.Fatalf("root = %+v", root)
	}
	if c := root.Children[1]; c.Digest != armD.String() || c.Platform != (image.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}) {
		t.Errorf("child 1 = %+v", c)
	}
	if obs.Manifests[1].Digest != amdD.String() || obs.Manifests[2].Digest != armD.String() || obs.Manifests[2].Platform.Architecture != "arm64" {
		t.Errorf("children walked = %s %s", obs.Manifests[1].Digest, obs.Manifests[2].Digest)
	}
	if obs.Manifests[1].Layers[0].CreatedBy != "ADD amd64 /" {
		t.Errorf("child history = %+v", obs.Manifests[1].Layers)
	}
}

func TestWalkArtifact(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	img := mustBuild(t, appSpec(sample.OCI))
	reg.PushImage(t, "team-a/api:1.0", img)
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	raw, _ := img.RawManifest()
	sbom, err := sample.Artifact("application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	sbomDigest := reg.PushImage(t, "team-a/api:sbom", sbom)
	obs, err := newWalker(t).Walk(context.Background(), reg.Host, "team-a/api", "sbom")
	if err != nil {
		t.Fatal(err)
	}
	m := obs.Root()
	if m.Digest != sbomDigest || m.Kind != image.KindArtifact || m.ArtifactType != "application/spdx+json" || m.SubjectDigest != d.String() || len(m.Layers) != 1 || m.Layers[0].DiffID != "" {
		t.Fatalf("artifact = %+v", m)
	}
}

func TestHistoryMismatchRecorded(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	img := mustBuild(t, appSpec(sample.OCI))
	// A builder that marks its ADD empty and its CMD not: the counts still
	// match, so layers are attributed per the spec, in order. Drop one
	// non-empty entry and the counts no longer match: that is recorded.
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.History = cf.History[1:] // lose "ADD rootfs.tar /"
	img2, err := mutateConfig(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	reg.PushImage(t, "odd/builder:1", img2)
	obs, err := newWalker(t).Walk(context.Background(), reg.Host, "odd/builder", "1")
	if err != nil {
		t.Fatal(err)
	}
	m := obs.Root()
	if m.HistoryMismatch != "config history has 2 non-empty entries for 3 layers" {
		t.Fatalf("mismatch = %q", m.HistoryMismatch)
	}
	// Attributed in order as far as entries go; the rest unattributed.
	if m.Layers[0].CreatedBy != "RUN pip install -r requirements.txt" || m.Layers[1].CreatedBy != "COPY . /app" || m.Layers[2].HistoryIndex != -1 {
		t.Fatalf("layers = %+v", m.Layers)
	}
}

func TestWalkFailures(t *testing.T) {
	t.Parallel()
	img := mustBuild(t, appSpec(sample.OCI))
	goodDigest, _ := img.Digest()
	schema1 := []byte(`{"schemaVersion":1,"name":"old/app","tag":"v1","architecture":"amd64","fsLayers":[],"history":[]}`)
	huge, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + strings.Repeat("0", 64), "size": 2},
		"layers":      []any{},
		"annotations": map[string]string{"padding": strings.Repeat("x", walker.MaxManifestBytes)},
	})
	cases := []struct {
		name      string
		setup     func(t *testing.T, reg *registrytest.Server) (repo, ref string)
		class     walker.Class
		reason    string
		permanent bool
	}{
		{"schema1", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.PutManifest(t, "old/app", "v1", "application/vnd.docker.distribution.manifest.v1+prettyjws", schema1)
			return "old/app", "v1"
		}, walker.Unsupported, "schema 1", true},
		{"oversize", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.PutManifest(t, "big/app", "v1", "application/vnd.oci.image.manifest.v1+json", huge)
			return "big/app", "v1"
		}, walker.TooLarge, "larger than 4194304 bytes", true},
		{"wrong digest", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.PushImage(t, "team/app:1", img)
			other := mustBuild(t, sample.Spec{Format: sample.OCI})
			otherRaw, _ := other.RawManifest()
			reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/"+goodDigest.String()) {
					w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
					w.Write(otherRaw)
					return true
				}
				return false
			})
			return "team/app", goodDigest.String()
		}, walker.Invalid, "does not match its digest", true},
		{"config wrong digest", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.PushImage(t, "team/app:1", img)
			cfgName, _ := img.ConfigName()
			reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+cfgName.String()) {
					w.Write([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
					return true
				}
				return false
			})
			return "team/app", "1"
		}, walker.Invalid, "does not match its digest", true},
		{"401", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.Intercept(status(http.StatusUnauthorized))
			return "team/app", "1"
		}, walker.Unauthorized, "401 Unauthorized", false},
		{"404", func(t *testing.T, reg *registrytest.Server) (string, string) {
			return "team/app", "missing"
		}, walker.NotFound, "not found (404)", true},
		{"503", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.Intercept(status(http.StatusServiceUnavailable))
			return "team/app", "1"
		}, walker.Registry, "503 Service Unavailable", false},
		{"not json", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.PutManifest(t, "bad/app", "v1", "application/vnd.oci.image.manifest.v1+json", []byte("<html>"))
			return "bad/app", "v1"
		}, walker.Invalid, "not valid JSON", true},
		{"endless body", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				// No length, and bytes until the client hangs up.
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Write([]byte(`{"schemaVersion":2,"annotations":{"x":"`))
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						break
					}
				}
				return true
			})
			return "team/app", "1"
		}, walker.TooLarge, "larger than 4194304 bytes", true},
		{"redirect loop", func(t *testing.T, reg *registrytest.Server) (string, string) {
			reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
				return true
			})
			return "team/app", "1"
		}, walker.Registry, "stopped after 10 redirects", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			repo, ref := c.setup(t, reg)
			_, err := newWalker(t).Walk(context.Background(), reg.Host, repo, ref)
			var we *walker.Error
			if !errors.As(err, &we) {
				t.Fatalf("err = %v (%T), want *walker.Error", err, err)
			}
			if we.Class != c.class || !strings.Contains(we.Reason, c.reason) || we.Permanent() != c.permanent {
				t.Fatalf("err = %s %q permanent=%v; want %s containing %q permanent=%v", we.Class, we.Reason, we.Permanent(), c.class, c.reason, c.permanent)
			}
		})
	}
}

// A registry whose certificate does not verify is refused with the reason,
// as a failure that may heal (a certificate can be renewed).
func TestTLSErrorIsRecorded(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS() // a certificate nobody trusts
	defer srv.Close()
	// A registry by name (a loopback address would be tried over plain
	// HTTP too): registry.test is dialled at the server.
	tr := walker.DefaultTransport(4)
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	w, err := walker.New(walker.Options{Transport: tr, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Walk(context.Background(), "registry.test", "team/app", "1")
	var we *walker.Error
	if !errors.As(err, &we) || we.Class != walker.Registry || !strings.Contains(we.Reason, "certificate") || we.Permanent() {
		t.Fatalf("err = %v (%T); want a transient registry error naming the certificate", err, err)
	}
}

func status(code int) registrytest.Interceptor {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"code":"X","message":"status %d"}]}`, code)
		return true
	}
}

func TestNULsAreDropped(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	img := mustBuild(t, sample.Spec{Labels: map[string]string{"a\x00": "b\x00c"}, Steps: []sample.Step{
		{CreatedBy: "RUN echo \x00", Files: []sample.File{{Path: "x", Content: []byte("x")}}},
	}})
	reg.PushImage(t, "odd/nul:1", img)
	obs, err := newWalker(t).Walk(context.Background(), reg.Host, "odd/nul", "1")
	if err != nil {
		t.Fatal(err)
	}
	m := obs.Root()
	if m.Layers[0].CreatedBy != "RUN echo " || m.History[0].CreatedBy != "RUN echo " || m.Labels["a"] != "bc" {
		t.Fatalf("NULs kept: %q %q %v", m.Layers[0].CreatedBy, m.History[0].CreatedBy, m.Labels)
	}
}

func TestStalledRegistryTimesOut(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			<-release // accepts the request, never answers
			return true
		}
		return false
	})
	w, err := walker.New(walker.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Walk(context.Background(), reg.Host, "slow/app", "1")
	var we *walker.Error
	if !errors.As(err, &we) || we.Class != walker.Registry || we.Permanent() || !strings.HasSuffix(we.Reason, "timed out") {
		t.Fatalf("err = %v", err)
	}
}

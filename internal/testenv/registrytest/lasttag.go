package registrytest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// NewDeletingLastTag starts a registry that deletes a manifest together
// with its last tag, as zot does: a DELETE of a tag that leaves no other
// tag of the repository on the same manifest deletes the manifest too.
func NewDeletingLastTag(t testing.TB) *Server {
	reg := registry.New(registry.Logger(nopLogger()))
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
		reg.ServeHTTP(rec, req)
		return rec
	}
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ref, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		if r.Method != http.MethodDelete || !ok || strings.Contains(ref, ":") {
			reg.ServeHTTP(w, r)
			return
		}
		// A tag: which manifest it names, and which other tags name it.
		digest := do(http.MethodHead, r.URL.Path).Header().Get("Docker-Content-Digest")
		reg.ServeHTTP(w, r)
		if digest == "" {
			return
		}
		list := do(http.MethodGet, "/v2/"+repo+"/tags/list").Body.String()
		for _, tag := range tagsOf(list) {
			if do(http.MethodHead, "/v2/"+repo+"/manifests/"+tag).Header().Get("Docker-Content-Digest") == digest {
				return
			}
		}
		do(http.MethodDelete, "/v2/"+repo+"/manifests/"+digest)
	}))
}

// tagsOf reads the tags of a tags/list answer.
func tagsOf(body string) []string {
	_, list, ok := strings.Cut(body, `"tags":[`)
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, "]")
	var out []string
	for _, t := range strings.Split(list, ",") {
		if t = strings.Trim(strings.TrimSpace(t), `"`); t != "" {
			out = append(out, t)
		}
	}
	return out
}

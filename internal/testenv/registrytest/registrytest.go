// Package registrytest runs an in-process OCI registry
// (go-containerregistry's pkg/registry) for tests, with a hook to make it
// misbehave: wrong status codes, wrong bytes, slow answers.
package registrytest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Interceptor may answer a request itself; it returns false to let the
// registry answer.
type Interceptor func(w http.ResponseWriter, r *http.Request) bool

// Server is a running in-process registry.
type Server struct {
	// Host is host:port, as a registry reference wants it.
	Host string

	srv         *httptest.Server
	mu          sync.Mutex
	intercept   Interceptor
	requestsMu  sync.Mutex
	requestsLog []string
}

// New starts a registry that stops when the test ends.
func New(t testing.TB) *Server {
	return serve(t, registry.New(registry.Logger(nopLogger())))
}

// serve runs reg behind the request log and the interceptor.
func serve(t testing.TB, reg http.Handler) *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requestsMu.Lock()
		s.requestsLog = append(s.requestsLog, r.Method+" "+r.URL.Path)
		s.requestsMu.Unlock()
		s.mu.Lock()
		ic := s.intercept
		s.mu.Unlock()
		if ic != nil && ic(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.Host = strings.TrimPrefix(s.srv.URL, "http://")
	return s
}

// Intercept installs fn in front of the registry (nil removes it); not
// for a registry in its own process.
func (s *Server) Intercept(fn Interceptor) {
	if s.srv == nil {
		panic("registrytest: Intercept on a registry in its own process")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intercept = fn
}

// Requests returns "METHOD /path" of every request so far (none for a
// registry in its own process).
func (s *Server) Requests() []string {
	s.requestsMu.Lock()
	defer s.requestsMu.Unlock()
	return append([]string(nil), s.requestsLog...)
}

// Ref parses "repo:tag" or "repo@digest" on this registry.
func (s *Server) Ref(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s.Host + "/" + ref)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return r
}

// PushImage pushes img as ref ("repo:tag") and returns its digest.
func (s *Server) PushImage(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	if err := remote.Write(s.Ref(t, ref), img); err != nil {
		t.Fatalf("registrytest: pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// PushIndex pushes idx (and every image in it) as ref and returns its digest.
func (s *Server) PushIndex(t testing.TB, ref string, idx v1.ImageIndex) string {
	t.Helper()
	if err := remote.WriteIndex(s.Ref(t, ref), idx); err != nil {
		t.Fatalf("registrytest: pushing %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// PutManifest stores raw bytes as the manifest repo:ref with the given
// Content-Type, whatever they are: for manifests no client would push.
func (s *Server) PutManifest(t testing.TB, repo, ref, mediaType string, body []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, "http://"+s.Host+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registrytest: putting %s:%s: %v", repo, ref, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registrytest: putting %s:%s: status %d", repo, ref, resp.StatusCode)
	}
}

package walker

import (
	"io"
	"net/http"
	"strings"
)

// capManifests wraps a transport so that manifest bodies are cut off with
// errTooLarge past MaxManifestBytes, before they are read into memory.
func capManifests(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") {
			return resp, err
		}
		if resp.ContentLength > MaxManifestBytes {
			resp.Body.Close()
			resp.Body = io.NopCloser(errReader{})
			return resp, nil
		}
		resp.Body = &cappedBody{rc: resp.Body, left: MaxManifestBytes}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errTooLarge }

package walker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
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

// plainHTTPMemory is how long a host that answered a TLS handshake in plain
// HTTP is taken to speak plain HTTP.
const plainHTTPMemory = time.Minute

// rememberPlainHTTP wraps a transport so that an HTTPS request to a host that
// just answered a TLS handshake in plain HTTP fails at once, with the same
// error, instead of dialling and starting a handshake again.
//
// go-containerregistry pings every repository's registry anew (its Puller
// keeps one authenticated transport per repository), and for a registry it
// may reach over plain HTTP (localhost, or name.Insecure) it tries HTTPS
// first: without this, every repository of such a registry costs a
// connection and a TLS key exchange that is bound to fail.
func rememberPlainHTTP(next http.RoundTripper) http.RoundTripper {
	var mu sync.Mutex
	plain := map[string]plainHTTP{} // by host:port
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Scheme != "https" {
			return next.RoundTrip(req)
		}
		host := req.URL.Host
		mu.Lock()
		p, ok := plain[host]
		if ok && time.Since(p.at) > plainHTTPMemory {
			delete(plain, host)
			ok = false
		}
		mu.Unlock()
		if ok {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, p.err
		}
		resp, err := next.RoundTrip(req)
		var rh tls.RecordHeaderError
		if err != nil && errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
			mu.Lock()
			plain[host] = plainHTTP{err: err, at: time.Now()}
			mu.Unlock()
		}
		return resp, err
	})
}

type plainHTTP struct {
	err error
	at  time.Time
}

// maxRedirects bounds a chain of redirects, as net/http's own default does:
// go-containerregistry replaces that check with one that guards against
// SSRF but lets a registry redirect a request to itself forever.
const maxRedirects = 10

var errRedirectLoop = fmt.Errorf("stopped after %d redirects", maxRedirects)

// limitRedirects wraps a transport so that the request after the
// maxRedirects-th redirect of a chain fails instead of being sent.
func limitRedirects(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		n := 0
		for r := req.Response; r != nil && r.Request != nil; r = r.Request.Response {
			n++
		}
		if n >= maxRedirects {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, errRedirectLoop
		}
		return next.RoundTrip(req)
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

package receiver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/natstest"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/walker"
)

// fixture returns the body of a captured distribution notification.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "distribution-v3.1.2", name))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Body
}

type bundle struct {
	nats *natstest.Server
	rcv  *receiver.Receiver
	srv  *httptest.Server
}

func setup(t *testing.T, opts receiver.Options) bundle {
	t.Helper()
	ns := natstest.Start(t, stream.Settings{})
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000"}}, walker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Registries = regs
	opts.Publisher = stream.NewPublisher(ns.JS, telemetry.Providers{})
	if opts.Credentials == nil && !opts.InsecureNoAuth {
		opts.Credentials = map[string]receiver.Credentials{
			"distribution": {Tokens: []string{"s3cret", "n3xt"}, Basic: []string{"reg:pw"}},
		}
	}
	rcv, err := receiver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	return bundle{nats: ns, rcv: rcv, srv: srv}
}

func post(t *testing.T, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

const distCT = "application/vnd.docker.distribution.events.v2+json"

func TestAnswers(t *testing.T) {
	t.Parallel()
	push := fixture(t, "manifest-push-oci-tagged.json")
	unknownHost := bytes.ReplaceAll(push, []byte(`"host": "127.0.0.1:5000"`), []byte(`"host": "evil.example.com"`))
	unknownHost = bytes.ReplaceAll(unknownHost, []byte(`127.0.0.1:5000`), []byte(`evil.example.com`))
	nested := []byte(`{"events":[` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `]}`)
	auth := map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT}
	cases := []struct {
		name   string
		path   string
		body   []byte
		header map[string]string
		status int
		reason string
	}{
		{"no credentials", "/webhooks/distribution", push, map[string]string{"Content-Type": distCT}, 401, "missing or wrong credentials"},
		{"wrong token", "/webhooks/distribution", push, map[string]string{"Authorization": "Bearer s3cre", "Content-Type": distCT}, 401, "missing or wrong credentials"},
		{"token of another source", "/webhooks/harbor", push, map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/json"}, 401, "missing or wrong credentials"},
		{"wrong content type", "/webhooks/distribution", push, map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "text/plain"}, 415, `content type \"text/plain\" is not what distribution webhooks send`},
		{"oversize", "/webhooks/distribution", append([]byte(`{"events":[],"pad":"`), bytes.Repeat([]byte("x"), receiver.MaxBody)...), auth, 413, "body over 1048576 bytes"},
		{"truncated", "/webhooks/distribution", push[:len(push)/2], auth, 400, "distribution:"},
		{"deeply nested", "/webhooks/distribution", nested, auth, 400, "distribution:"},
		{"not an envelope", "/webhooks/distribution", []byte(`[1,2,3]`), auth, 400, "distribution:"},
		{"unknown action", "/webhooks/distribution", bytes.Replace(push, []byte(`"action": "push"`), []byte(`"action": "frobnicate"`), 1), auth, 200, `"ignored":1`},
		{"unknown registry host", "/webhooks/distribution", unknownHost, auth, 422, `registry not configured: \"evil.example.com\"`},
		{"non-UTF-8", "/webhooks/distribution", bytes.Replace(push, []byte("library/base"), []byte("library/\xff\xfe"), 1), auth, 400, "distribution:"},
		{"unknown source", "/webhooks/quay", push, auth, 404, "404 page not found"},
		{"GET", "/webhooks/distribution", nil, auth, 405, "Method Not Allowed"},
	}
	b := setup(t, receiver.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, b.srv.URL+c.path, bytes.NewReader(c.body))
			if c.name == "GET" {
				req.Method = http.MethodGet
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.reason) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, body, c.status, c.reason)
			}
		})
	}
	if n := b.nats.Messages(t); n != 0 {
		t.Fatalf("refused requests published %d messages", n)
	}
}

func TestPublishOnceAndDedupe(t *testing.T) {
	t.Parallel()
	b := setup(t, receiver.Options{})
	push := fixture(t, "manifest-push-oci-tagged.json")
	for i, tc := range []struct {
		auth, want string
	}{
		{"Bearer s3cret", `{"published":1,"duplicates":0,"ignored":0}`},
		// The registry retries the same event (same id), with the rotated token.
		{"Bearer n3xt", `{"published":0,"duplicates":1,"ignored":0}`},
		{"Basic cmVnOnB3", `{"published":0,"duplicates":1,"ignored":0}`},
	} {
		status, body := post(t, b.srv.URL+"/webhooks/distribution", push, map[string]string{"Authorization": tc.auth, "Content-Type": distCT})
		if status != 200 || body != tc.want {
			t.Fatalf("post %d: %d %s; want 200 %s", i, status, body, tc.want)
		}
	}
	if n := b.nats.Messages(t); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	// Work that needs nothing: answered 200, dropped, counted.
	for _, f := range []string{"blob-push.json", "blob-mount.json", "blob-pull.json", "manifest-pull.json"} {
		status, body := post(t, b.srv.URL+"/webhooks/distribution", fixture(t, f), map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/json"})
		if status != 200 || body != `{"published":0,"duplicates":0,"ignored":1}` {
			t.Fatalf("%s: %d %s", f, status, body)
		}
	}
	if n := b.nats.Messages(t); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	st := b.rcv.Stats()
	if st.Published.Load() != 1 || st.Duplicate.Load() != 2 || st.Ignored.Load() != 4 || st.Count("distribution", 200) != 7 {
		t.Fatalf("stats: published %d duplicates %d ignored %d answered-200 %d", st.Published.Load(), st.Duplicate.Load(), st.Ignored.Load(), st.Count("distribution", 200))
	}
	// The subject says source and action.
	st2, err := b.nats.JS.Stream(t.Context(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st2.GetLastMsgForSubject(t.Context(), "layerq.events.distribution.push")
	if err != nil || msg.Header.Get("Nats-Msg-Id") != "01a20860-d649-73cb-917e-ab930386ed41" {
		t.Fatalf("stored message: %v %v", msg, err)
	}
}

func TestNATSDownAnswers503ThenRecovers(t *testing.T) {
	t.Parallel()
	b := setup(t, receiver.Options{})
	push := fixture(t, "manifest-push-oci-tagged.json")
	hdr := map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT}
	b.nats.Stop()
	status, body := post(t, b.srv.URL+"/webhooks/distribution", push, hdr)
	if status != 503 || !strings.Contains(body, "event stream unavailable") {
		t.Fatalf("with NATS down: %d %s", status, body)
	}
	b.nats.Restart(t)
	// The registry retries. The client may have sent the first attempt once
	// it reconnected (its PubAck came too late for the 503): either way the
	// event is stored once.
	status, body = post(t, b.srv.URL+"/webhooks/distribution", push, hdr)
	if status != 200 || (body != `{"published":1,"duplicates":0,"ignored":0}` && body != `{"published":0,"duplicates":1,"ignored":0}`) {
		t.Fatalf("after restart: %d %s", status, body)
	}
	if n := b.nats.Messages(t); n != 1 {
		t.Fatalf("stream holds %d messages", n)
	}
}

func TestRefusesToRunWithoutAuth(t *testing.T) {
	t.Parallel()
	if _, err := receiver.New(receiver.Options{}); err != receiver.ErrNoAuth {
		t.Fatalf("New without credentials: %v", err)
	}
	b := setup(t, receiver.Options{InsecureNoAuth: true})
	status, body := post(t, b.srv.URL+"/webhooks/distribution", fixture(t, "tag-delete.json"), map[string]string{"Content-Type": distCT})
	if status != 200 || body != `{"published":1,"duplicates":0,"ignored":0}` {
		t.Fatalf("insecure-no-auth: %d %s", status, body)
	}
}

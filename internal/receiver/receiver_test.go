package receiver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/layerq/layerq/internal/quarantine"
	"github.com/layerq/layerq/internal/receiver"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/testenv/natstest"
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
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Registries == nil {
		opts.Registries = regs
	}
	opts.Publisher = stream.NewPublisher(ns.JS, telemetry.Providers{})
	opts.Quarantine = stream.NewPublisher(ns.JS, telemetry.Providers{})
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
		{"no credentials on a registry's endpoint", "/webhooks/distribution/127.0.0.1:5000", push, map[string]string{"Content-Type": distCT}, 401, "missing or wrong credentials"},
		{"wrong content type", "/webhooks/distribution", push, map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "text/plain"}, 415, `content type \"text/plain\" is not what distribution webhooks send`},
		{"oversize", "/webhooks/distribution", append([]byte(`{"events":[],"pad":"`), bytes.Repeat([]byte("x"), receiver.MaxBody)...), auth, 413, "body over 1048576 bytes"},
		{"unknown action", "/webhooks/distribution", bytes.Replace(push, []byte(`"action": "push"`), []byte(`"action": "frobnicate"`), 1), auth, 200, `"ignored":1`},
		{"unknown source", "/webhooks/quay", push, auth, 404, `{"error":"no endpoint at /webhooks/quay: webhooks go to POST /webhooks/SOURCE or /webhooks/SOURCE/REGISTRY, SOURCE one of distribution, harbor, dockerhub, cloudevents"`},
		{"a path below a registry's endpoint", "/webhooks/distribution/127.0.0.1:5000/x", push, auth, 404, `"error":"no endpoint at /webhooks/distribution/127.0.0.1:5000/x`},
		{"GET", "/webhooks/distribution", nil, auth, 405, `{"error":"GET /webhooks/distribution: webhooks are POSTed"`},
		{"GET a registry's endpoint", "/webhooks/distribution/127.0.0.1:5000/", nil, auth, 405, `{"error":"GET /webhooks/distribution/127.0.0.1:5000/: webhooks are POSTed"`},
		{"an escaped slash", "/webhooks/distribution%2F127.0.0.1:5000/", push, auth, 404, `"error":"no endpoint at /webhooks/distribution%2F127.0.0.1:5000/`},
	}
	b := setup(t, receiver.Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, b.srv.URL+c.path, bytes.NewReader(c.body))
			if strings.HasPrefix(c.name, "GET") {
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
	if q := b.nats.QuarantineItems(t); len(q) != 0 {
		t.Fatalf("refused requests quarantined %d items", len(q))
	}
	// Every answer is counted, the wrong paths and methods too.
	got := b.rcv.Stats().Responses
	for k, want := range map[string]int{"distribution 401": 3, "harbor 401": 1, "distribution 415": 1, "distribution 413": 1, "distribution 200": 1,
		"unknown 404": 2, "distribution 404": 1, "distribution 405": 2} {
		if got[k] != want {
			t.Errorf("answers counted %v; want %s: %d", got, k, want)
		}
	}
}

// A registry bound to one source (source: in the registries file) takes
// no other source's events, even on its own endpoint; and a Docker Hub
// event naming no configured registry says what to configure.
func TestRegistryOfOneSource(t *testing.T) {
	t.Parallel()
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000", Name: "main"}, {Host: "harbor.example.com", Name: "hb", Source: "harbor"}})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, receiver.Options{Registries: regs, Credentials: map[string]receiver.Credentials{"*": {Tokens: []string{"s3cret"}}}})
	auth := map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT}
	push := fixture(t, "manifest-push-oci-tagged.json")
	code, body := post(t, b.srv.URL+"/webhooks/distribution/hb", push, auth)
	if want := `{"published":0,"duplicates":0,"ignored":0,"quarantined":1,"reasons":["unknown_registry: registry not configured: registry \"hb\" takes only harbor events (its source: setting), and this came as distribution"]}`; code != 200 || body != want {
		t.Errorf("a distribution event on the endpoint of a harbor registry: %d %s\nwant %s", code, body, want)
	}
	if code, body := post(t, b.srv.URL+"/webhooks/distribution/main", push, auth); code != 200 || body != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
		t.Errorf("on its own registry's endpoint: %d %s", code, body)
	}
	hub, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "real-formats", "dockerhub-docs-current.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, body = post(t, b.srv.URL+"/webhooks/dockerhub", hub, map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/json"})
	if want := `"reasons":["unknown_registry: registry not configured: \"docker.io\": Docker Hub's events name docker.io, which no configured registry is (configure it, or list it as an alias of one)"]}`; code != 200 || !strings.HasSuffix(body, want) {
		t.Errorf("a Docker Hub event, docker.io not configured: %d %s\nwant …%s", code, body, want)
	}
}

// A webhook URL configured with a trailing slash reaches its endpoint.
func TestTrailingSlash(t *testing.T) {
	t.Parallel()
	b := setup(t, receiver.Options{})
	auth := map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT}
	for i, path := range []string{"/webhooks/distribution/", "/webhooks/distribution/127.0.0.1:5000/"} {
		push := bytes.Replace(fixture(t, "manifest-push-oci-tagged.json"), []byte(`"id": "`), []byte(fmt.Sprintf(`"id": "%d`, i)), 1)
		if code, body := post(t, b.srv.URL+path, push, auth); code != 200 || body != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if n := b.nats.Messages(t); n != 2 {
		t.Fatalf("published %d messages; want 2", n)
	}
}

// What an authenticated sender sends that cannot be used is kept aside,
// and the sender answered 200: its queue never stops on it.
func TestQuarantineInsteadOfRefusal(t *testing.T) {
	t.Parallel()
	push := fixture(t, "manifest-push-oci-tagged.json")
	unknownHost := bytes.ReplaceAll(push, []byte(`127.0.0.1:5000`), []byte(`evil.example.com`))
	nested := []byte(`{"events":[` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `]}`)
	auth := map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT}
	cases := []struct {
		name, path string
		body       []byte
		header     map[string]string
		reason     quarantine.Reason
		detail     string
		kind       string
	}{
		{"truncated", "/webhooks/distribution", push[:len(push)/2], auth, quarantine.UnparseableBody, "distribution: malformed JSON", quarantine.KindBody},
		{"deeply nested", "/webhooks/distribution", nested, auth, quarantine.UnparseableBody, "distribution: JSON nested deeper", quarantine.KindBody},
		{"not an envelope", "/webhooks/distribution", []byte(`[1,2,3]`), auth, quarantine.UnparseableBody, "distribution: wrong shape", quarantine.KindBody},
		{"another JSON media type", "/webhooks/distribution", []byte(`{"specversion":"1.0"}`), map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "application/cloudevents+json"},
			quarantine.UnsupportedMediaType, `distribution: no "events" array`, quarantine.KindBody},
		{"non-UTF-8", "/webhooks/distribution", bytes.Replace(push, []byte("library/base"), []byte("library/\xff\xfe"), 1), auth, quarantine.UnparseableBody, "not valid UTF-8", quarantine.KindBody},
		{"malformed event", "/webhooks/distribution", bytes.Replace(push, []byte("library/base"), []byte("Library/Base"), 1), auth, quarantine.MalformedEvent, `invalid repository name \"Library/Base\"`, quarantine.KindBody},
		{"unknown registry host", "/webhooks/distribution", unknownHost, auth, quarantine.UnknownRegistry, `registry not configured: \"evil.example.com\"`, quarantine.KindEvent},
		{"endpoint of no configured registry", "/webhooks/distribution/nosuch", push, auth, quarantine.UnknownRegistry, `no registry named \"nosuch\" is configured`, quarantine.KindEvent},
	}
	// Two registries, so that an unknown host cannot be attributed by
	// elimination.
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000"}, {Host: "other.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, receiver.Options{Registries: regs})
	for i, c := range cases {
		status, body := post(t, b.srv.URL+c.path, c.body, c.header)
		// The answer says why, for the sender's delivery log.
		wantPrefix := `{"published":0,"duplicates":0,"ignored":0,"quarantined":1,"reasons":["` + string(c.reason) + ": "
		if status != 200 || !strings.HasPrefix(body, wantPrefix) || !strings.Contains(body, strings.ReplaceAll(strings.ReplaceAll(c.detail, `\"`, `"`), `"`, `\"`)) || !strings.HasSuffix(body, `"]}`) {
			t.Fatalf("%s: %d %s; want 200 with one quarantined, its reason %s … %s", c.name, status, body, c.reason, c.detail)
		}
		items := b.nats.QuarantineItems(t)
		if len(items) != i+1 {
			t.Fatalf("%s: %d items quarantined, want %d", c.name, len(items), i+1)
		}
		it := items[i]
		if it.Reason != c.reason || !strings.Contains(it.Detail, strings.ReplaceAll(c.detail, `\"`, `"`)) || it.Kind != c.kind || it.Source != "distribution" {
			t.Errorf("%s: kept %s %s %q (%s); want %s %s containing %q", c.name, it.Kind, it.Reason, it.Detail, it.Source, c.kind, c.reason, c.detail)
		}
		if c.kind == quarantine.KindBody && !bytes.Equal(it.Data, c.body) && c.reason != quarantine.MalformedEvent {
			t.Errorf("%s: kept body differs from the one sent", c.name)
		}
		if it.Header["Authorization"] != "" || it.Header["Content-Type"] == "" && c.kind == quarantine.KindBody {
			t.Errorf("%s: kept headers %v: want Content-Type and never credentials", c.name, it.Header)
		}
		// The sender retries: stored once.
		if status, body := post(t, b.srv.URL+c.path, c.body, c.header); status != 200 || !strings.Contains(body, `"quarantined":1`) {
			t.Fatalf("%s: retry: %d %s", c.name, status, body)
		}
		if n := len(b.nats.QuarantineItems(t)); n != i+1 {
			t.Fatalf("%s: a retry stored the item again (%d items)", c.name, n)
		}
	}
	if n := b.nats.Messages(t); n != 0 {
		t.Fatalf("published %d events, want none", n)
	}
	if got := b.rcv.Stats().Quarantined.Load(); got != int64(2*len(cases)) {
		t.Fatalf("quarantined counted %d, want %d", got, 2*len(cases))
	}
}

// One bad event in an envelope of good ones: the good ones are published,
// the bad one is quarantined as an envelope of its own.
func TestBadEventAmongGood(t *testing.T) {
	t.Parallel()
	b := setup(t, receiver.Options{})
	events := func(names ...string) []json.RawMessage {
		var out []json.RawMessage
		for _, n := range names {
			var env struct{ Events []json.RawMessage }
			if err := json.Unmarshal(fixture(t, n), &env); err != nil {
				t.Fatal(err)
			}
			out = append(out, env.Events...)
		}
		return out
	}
	evs := events("manifest-push-oci-tagged.json", "blob-push.json", "manifest-push-oci-untagged.json", "tag-delete.json")
	evs[2] = json.RawMessage(bytes.Replace(evs[2], []byte(`"sha256:`), []byte(`"sha256:XYZ`), 1))
	body, _ := json.Marshal(map[string]any{"events": evs})
	status, ans := post(t, b.srv.URL+"/webhooks/distribution", body, map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT})
	if status != 200 || ans != `{"published":2,"duplicates":0,"ignored":1,"quarantined":1,"reasons":["malformed_event: distribution: event 2 (push): invalid digest \"sha256:XYZa5dfadce357966b8e66ff2681b77093d8bdb1c3c9044dd971c1c0ce8d5f53611\""]}` {
		t.Fatalf("%d %s", status, ans)
	}
	if n := b.nats.Messages(t); n != 2 {
		t.Fatalf("stream holds %d events, want 2", n)
	}
	items := b.nats.QuarantineItems(t)
	if len(items) != 1 || items[0].Reason != quarantine.MalformedEvent || !strings.HasPrefix(string(items[0].Data), `{"events":[`) || !bytes.Contains(items[0].Data, []byte("sha256:XYZ")) {
		t.Fatalf("quarantined %+v", items)
	}
}

// A registry's own endpoint and credentials bound to it say which registry
// sent an event, whatever host the event names; the host is kept on it.
func TestRegistryIdentity(t *testing.T) {
	t.Parallel()
	regs, err := registries.New([]registries.Registry{
		{Name: "main", Host: "127.0.0.1:5000", Aliases: []string{"registry.internal:5000"}},
		{Name: "mirror", Host: "127.0.0.1:5001", WebhookTokens: []string{"mirror-token"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, receiver.Options{Registries: regs})
	push := fixture(t, "manifest-push-oci-tagged.json")
	viaLocalhost := func(id string) []byte {
		p := bytes.ReplaceAll(push, []byte("127.0.0.1:5000"), []byte("localhost:5000"))
		return bytes.ReplaceAll(p, []byte("01a20860-d649-73cb-917e-ab930386ed41"), []byte(id))
	}
	send := func(path, token string, body []byte) string {
		t.Helper()
		status, ans := post(t, b.srv.URL+path, body, map[string]string{"Authorization": "Bearer " + token, "Content-Type": distCT})
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, ans)
		}
		return ans
	}
	// Through its own endpoint: the event names localhost:5000, a name of
	// the registry layerq was not told; it is main's.
	if ans := send("/webhooks/distribution/main", "s3cret", viaLocalhost("e-endpoint")); ans != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
		t.Fatalf("own endpoint: %s", ans)
	}
	// With credentials bound to the mirror, on the shared endpoint.
	if ans := send("/webhooks/distribution", "mirror-token", viaLocalhost("e-bound")); ans != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
		t.Fatalf("bound credentials: %s", ans)
	}
	// The mirror's credentials on main's endpoint are refused.
	if status, ans := post(t, b.srv.URL+"/webhooks/distribution/main", viaLocalhost("e-x"), map[string]string{"Authorization": "Bearer mirror-token", "Content-Type": distCT}); status != 401 {
		t.Fatalf("another registry's credentials: %d %s", status, ans)
	}
	// On the shared endpoint, a listed alias names main; an unknown host
	// names nobody with two registries configured.
	aliased := bytes.ReplaceAll(bytes.ReplaceAll(push, []byte("127.0.0.1:5000"), []byte("registry.internal:5000")), []byte("01a20860-d649-73cb-917e-ab930386ed41"), []byte("e-alias"))
	if ans := send("/webhooks/distribution", "s3cret", aliased); ans != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
		t.Fatalf("alias: %s", ans)
	}
	if ans := send("/webhooks/distribution", "s3cret", viaLocalhost("e-unknown")); ans != `{"published":0,"duplicates":0,"ignored":0,"quarantined":1,"reasons":["unknown_registry: registry not configured: \"localhost:5000\", and distribution events may come from more than one registry: point each registry at its own endpoint, /webhooks/distribution/<registry name>, or list the host as an alias"]}` {
		t.Fatalf("unknown host, shared endpoint: %s", ans)
	}
	st, err := b.nats.JS.Stream(t.Context(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"e-endpoint": {"main", "localhost:5000"}, "e-bound": {"mirror", "localhost:5000"}, "e-alias": {"main", "registry.internal:5000"}}
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := stream.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if w := want[ev.ID]; ev.Registry != w[0] || ev.Host != w[1] {
			t.Errorf("event %s: registry %q host %q; want %q %q", ev.ID, ev.Registry, ev.Host, w[0], w[1])
		}
	}
}

// With exactly one registry, the shared endpoint attributes an event that
// names another host to it (the registry reached by a second name).
func TestOneRegistryTakesEveryName(t *testing.T) {
	t.Parallel()
	b := setup(t, receiver.Options{})
	push := bytes.ReplaceAll(fixture(t, "manifest-push-oci-tagged.json"), []byte("127.0.0.1:5000"), []byte("localhost:5000"))
	status, ans := post(t, b.srv.URL+"/webhooks/distribution", push, map[string]string{"Authorization": "Bearer s3cret", "Content-Type": distCT})
	if status != 200 || ans != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
		t.Fatalf("%d %s", status, ans)
	}
}

// Credentials per source, for every source ("*") and bound to registries,
// checked by many requests at once (run with -race).
func TestCredentialsConcurrently(t *testing.T) {
	t.Parallel()
	regs, err := registries.New([]registries.Registry{
		{Name: "main", Host: "127.0.0.1:5000", WebhookTokens: []string{"main-token"}},
		{Name: "other", Host: "127.0.0.1:5001", WebhookBasic: []string{"u:p"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, receiver.Options{Registries: regs, Credentials: map[string]receiver.Credentials{
		"distribution": {Tokens: []string{"dist-1", "dist-2"}},
		"*":            {Tokens: []string{"any-1"}, Basic: []string{"all:pw"}},
		"harbor":       {Tokens: []string{"harbor-1"}},
	}})
	body := fixture(t, "blob-pull.json")
	cases := []struct {
		path, auth string
		status     int
	}{
		{"/webhooks/distribution", "Bearer dist-2", 200},
		{"/webhooks/distribution", "bearer dist-2", 200}, // the scheme is case-insensitive
		{"/webhooks/distribution", "BASIC dTpw", 200},
		{"/webhooks/distribution", "Bearer DIST-2", 401}, // the token is not
		{"/webhooks/distribution", "Bearer any-1", 200},
		{"/webhooks/distribution", "Bearer main-token", 200},
		{"/webhooks/distribution", "Basic dTpw", 200},
		{"/webhooks/distribution", "Bearer harbor-1", 401},
		{"/webhooks/distribution/main", "Bearer main-token", 200},
		{"/webhooks/distribution/main", "Bearer dist-1", 200},
		{"/webhooks/distribution/other", "Bearer main-token", 401},
		{"/webhooks/distribution/other", "Basic dTpw", 200},
		{"/webhooks/distribution/other", "Basic YWxsOnB3", 200},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for range 20 {
		for _, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, b.srv.URL+c.path, bytes.NewReader(body))
				req.Header.Set("Authorization", c.auth)
				req.Header.Set("Content-Type", distCT)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.status {
					errs <- fmt.Sprintf("%s with %s: %d, want %d", c.path, c.auth, resp.StatusCode, c.status)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestPublishOnceAndDedupe(t *testing.T) {
	t.Parallel()
	b := setup(t, receiver.Options{})
	push := fixture(t, "manifest-push-oci-tagged.json")
	for i, tc := range []struct {
		auth, want string
	}{
		{"Bearer s3cret", `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}`},
		// The registry retries the same event (same id), with the rotated token.
		{"Bearer n3xt", `{"published":0,"duplicates":1,"ignored":0,"quarantined":0}`},
		{"Basic cmVnOnB3", `{"published":0,"duplicates":1,"ignored":0,"quarantined":0}`},
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
		if status != 200 || body != `{"published":0,"duplicates":0,"ignored":1,"quarantined":0}` {
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
	if status != 200 || (body != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` && body != `{"published":0,"duplicates":1,"ignored":0,"quarantined":0}`) {
		t.Fatalf("after restart: %d %s", status, body)
	}
	if n := b.nats.Messages(t); n != 1 {
		t.Fatalf("stream holds %d messages", n)
	}
}

func TestRefusesToRunWithoutAuth(t *testing.T) {
	t.Parallel()
	regs, err := registries.New([]registries.Registry{{Host: "127.0.0.1:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receiver.New(receiver.Options{Registries: regs}); err != receiver.ErrNoAuth {
		t.Fatalf("New without credentials: %v", err)
	}
	b := setup(t, receiver.Options{InsecureNoAuth: true})
	status, body := post(t, b.srv.URL+"/webhooks/distribution", fixture(t, "tag-delete.json"), map[string]string{"Content-Type": distCT})
	if status != 200 || body != `{"published":1,"duplicates":0,"ignored":0,"quarantined":0}` {
		t.Fatalf("insecure-no-auth: %d %s", status, body)
	}
}

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/testenv/natstest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/promtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// alertReceiver is a webhook receiver as a user would write one: it verifies
// each request's Standard Webhooks signature by hand (HMAC-SHA256 of
// "id.timestamp.body" with the shared key) and keeps each alert once, by
// its webhook-id.
type alertReceiver struct {
	key []byte
	mu  sync.Mutex
	// requests counts every request, bad counts those with a wrong
	// signature; byID keeps the first body of each id, at when it came.
	requests, bad int
	byID          map[string][]byte
	at            map[string]time.Time
	order         []string
}

func newReceiver(t *testing.T, key []byte) (*alertReceiver, *httptest.Server) {
	r := &alertReceiver{key: key, byID: map[string][]byte{}, at: map[string]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
		if r.key != nil {
			mac := hmac.New(sha256.New, r.key)
			mac.Write([]byte(id + "." + ts + "." + string(body)))
			want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
			sec, err := strconv.ParseInt(ts, 10, 64)
			if sig != want || err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
				r.bad++
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		if _, ok := r.byID[id]; !ok {
			r.byID[id], r.at[id] = body, time.Now()
			r.order = append(r.order, id)
		}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *alertReceiver) snapshot() (requests, bad int, bodies [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.order {
		bodies = append(bodies, r.byID[id])
	}
	return r.requests, r.bad, bodies
}

// relay stands between the registry and serve, keeping each notification
// the registry sends, so the test can deliver them again as a registry
// retrying would.
type relay struct {
	mu     sync.Mutex
	bodies [][]byte
	target string
}

func (rl *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rl.mu.Lock()
	rl.bodies = append(rl.bodies, body)
	rl.mu.Unlock()
	fwd, _ := http.NewRequest(http.MethodPost, rl.target, bytes.NewReader(body))
	fwd.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(fwd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func layerBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range layers {
		sz, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		n += sz
	}
	return n
}

// The alerts of a base rebuild and a push that grew, end to end: the CNCF
// distribution registry notifies serve; the alerts arrive on NATS, at a
// JSON webhook (signed) and at a Slack-form webhook, once each, with the
// figures worked out from the images themselves; notifications delivered
// again, the detector's cursor moved back and sends whose record was lost
// make no second alert.
func TestAlertsEndToEnd(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ns := natstest.Start(t, stream.Settings{})
	port := freePort(t)
	rl := &relay{target: "http://127.0.0.1:" + strconv.Itoa(port) + "/webhooks/distribution"}
	relaySrv := httptest.NewServer(rl)
	t.Cleanup(relaySrv.Close)
	reg := registrytest.NewNotifyingDistribution(t, relaySrv.URL, "s3cret")

	key := []byte("a shared secret of the receiver")
	hooks, hookSrv := newReceiver(t, key)
	slack, slackSrv := newReceiver(t, nil)

	// Every alert published on NATS, as a subscriber sees them.
	var natsMu sync.Mutex
	natsSeen := map[string]int{}
	sub, err := ns.Conn.Subscribe("layerq.alerts.>", func(m *nats.Msg) {
		var a struct{ ID string }
		json.Unmarshal(m.Data, &a)
		natsMu.Lock()
		natsSeen[m.Subject+" "+a.ID]++
		natsMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })

	startServe(t, dbURL, "--nats-url", ns.NATS.ClientURL(), "--listen", "127.0.0.1:"+strconv.Itoa(port), "--registry", reg.Host,
		"--webhook-token", "s3cret", "--no-layer-scan",
		"--alert-grow-over", "2kB", "--alert-grow-over", "5%",
		"--alert-webhook", hookSrv.URL+"/layerq", "--alert-slack", slackSrv.URL+"/services/T0/B0/x", "--alert-secret", string(key))
	waitReady(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz")

	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	file := func(p string, n int) sample.File { return sample.File{Path: p, Content: sample.Bytes(p, n)} }
	dir := func(p string) sample.File { return sample.File{Path: p, Type: tar.TypeDir} }
	build := func(s sample.Spec) v1.Image {
		t.Helper()
		img, err := sample.Build(s)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	push := func(ref string, img v1.Image) {
		t.Helper()
		if err := remote.Write(reg.Ref(t, ref), img); err != nil {
			t.Fatal(err)
		}
	}
	digest := func(img v1.Image) string {
		d, _ := img.Digest()
		return d.String()
	}
	rootfs := func(files ...sample.File) sample.Step {
		return sample.Step{CreatedBy: "ADD rootfs.tar / # buildkit", Files: append([]sample.File{dir("etc"), dir("usr")}, files...)}
	}
	base1 := build(sample.Spec{Steps: []sample.Step{rootfs(file("etc/os-release", 100), file("usr/libx.so", 5000))}})
	base2 := build(sample.Spec{Steps: []sample.Step{rootfs(file("etc/os-release", 100), file("usr/libx.so", 5000), file("usr/liby.so", 700))}})
	copyApp := func(files ...sample.File) sample.Step {
		return sample.Step{CreatedBy: "COPY app /app # buildkit", Files: append([]sample.File{dir("app")}, files...)}
	}
	api1 := build(sample.Spec{Base: base1, Steps: []sample.Step{copyApp(file("app/main", 2000))}})
	web1 := build(sample.Spec{Base: base1, Steps: []sample.Step{copyApp(file("app/web", 1500))}})
	web2 := build(sample.Spec{Base: base1, Steps: []sample.Step{copyApp(file("app/web", 1510))}}) // grows under the threshold
	api2 := build(sample.Spec{Base: base2, Steps: []sample.Step{copyApp(file("app/main", 2000), file("app/new.bin", 30000))}})

	push("lib/deb:12", base1)
	push("team/api:1", api1)
	push("team/web:1", web1)
	push("team/web:2", web1)
	waitFor(t, "the first builds folded", func() bool {
		return count(`SELECT count(*) FROM base_repositories WHERE base_digest = $1 AND images > 0`, digest(base1)) == 2 &&
			count(`SELECT count(*) FROM aggregate_queue`) == 0
	})

	// The base tag moves: one alert, with the dependents now stale.
	moved := time.Now()
	push("lib/deb:12", base2)
	waitFor(t, "the base_moved alert at the webhook", func() bool { _, _, b := hooks.snapshot(); return len(b) == 1 })
	hooks.mu.Lock()
	t.Logf("base push -> alert received in %s", hooks.at[hooks.order[0]].Sub(moved).Round(time.Millisecond))
	hooks.mu.Unlock()

	// The app is rebuilt on the new base with a new file; web:2 is pushed
	// again a few bytes larger (under the threshold).
	grewAt := time.Now()
	push("team/api:1", api2)
	push("team/web:2", web2)
	waitFor(t, "the image_grew alert at the webhook", func() bool { _, _, b := hooks.snapshot(); return len(b) == 2 })
	hooks.mu.Lock()
	t.Logf("app push -> alert received in %s", hooks.at[hooks.order[1]].Sub(grewAt).Round(time.Millisecond))
	hooks.mu.Unlock()
	waitFor(t, "the Slack messages", func() bool { _, _, b := slack.snapshot(); return len(b) == 2 })
	waitFor(t, "web:2's push folded", func() bool {
		return count(`SELECT count(*) FROM cache_transitions WHERE to_digest = $1`, digest(web2)) == 1 && count(`SELECT count(*) FROM aggregate_queue`) == 0
	})

	_, bad, bodies := hooks.snapshot()
	if bad != 0 {
		t.Fatalf("%d requests with a bad signature", bad)
	}
	type alertJSON struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	var got []alertJSON
	for _, b := range bodies {
		var a alertJSON
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		got = append(got, a)
	}
	if got[0].Type != "layerq.alerts.base_moved" || got[1].Type != "layerq.alerts.image_grew" {
		t.Fatalf("alert types %q, %q", got[0].Type, got[1].Type)
	}

	var bm struct {
		Registry, Repository, Tag, From, To string
		Platforms                           []struct{ Platform, From, To string }
		StaleImages                         int64 `json:"stale_images"`
		StaleRepositories                   int   `json:"stale_repositories"`
		Dependents                          []struct {
			Repository string
			Images     int64
		}
	}
	if err := json.Unmarshal(got[0].Data, &bm); err != nil {
		t.Fatal(err)
	}
	// team/api holds api1 (on base1); team/web holds web1 (tags 1 and 2).
	if bm.Registry != reg.Host || bm.Repository != "lib/deb" || bm.Tag != "12" || bm.From != digest(base1) || bm.To != digest(base2) ||
		len(bm.Platforms) != 1 || bm.Platforms[0].Platform != "linux/amd64" || bm.Platforms[0].From != digest(base1) || bm.Platforms[0].To != digest(base2) ||
		bm.StaleImages != 2 || bm.StaleRepositories != 2 || len(bm.Dependents) != 2 {
		t.Fatalf("base_moved: %s", got[0].Data)
	}
	for _, d := range bm.Dependents {
		if (d.Repository != "team/api" && d.Repository != "team/web") || d.Images != 1 {
			t.Errorf("dependent %+v", d)
		}
	}

	var ig struct {
		Repository, Tag, Platform, From, To string
		FromBytes                           int64 `json:"from_bytes"`
		ToBytes                             int64 `json:"to_bytes"`
		DeltaBytes                          int64 `json:"delta_bytes"`
		BaseMoved                           bool  `json:"base_moved"`
		Causes                              []struct {
			Kind, Base, Step string
			BaseFrom         string `json:"base_from"`
			BaseTo           string `json:"base_to"`
			BaseDeltaBytes   *int64 `json:"base_delta_bytes"`
			DeltaBytes       int64  `json:"delta_bytes"`
		}
		Threshold struct {
			Bytes   int64
			Percent float64
		}
	}
	if err := json.Unmarshal(got[1].Data, &ig); err != nil {
		t.Fatal(err)
	}
	from, to := layerBytes(t, api1), layerBytes(t, api2)
	if ig.Repository != "team/api" || ig.Tag != "1" || ig.From != digest(api1) || ig.To != digest(api2) ||
		ig.FromBytes != from || ig.ToBytes != to || ig.DeltaBytes != to-from || !ig.BaseMoved ||
		ig.Threshold.Bytes != 2000 || ig.Threshold.Percent != 5 {
		t.Fatalf("image_grew: want %s -> %s, %d -> %d bytes, base moved: %s", digest(api1), digest(api2), from, to, got[1].Data)
	}
	// The causes: the base, by the base build's own growth, and the COPY
	// step by the rest; they add up to the push's growth.
	baseDelta := layerBytes(t, base2) - layerBytes(t, base1)
	var sum int64
	for _, c := range ig.Causes {
		sum += c.DeltaBytes
	}
	if len(ig.Causes) != 2 || sum != to-from ||
		ig.Causes[0].Kind != "base" || ig.Causes[0].Base != "lib/deb:12" || ig.Causes[0].BaseFrom != digest(base1) || ig.Causes[0].BaseTo != digest(base2) ||
		ig.Causes[0].BaseDeltaBytes == nil || *ig.Causes[0].BaseDeltaBytes != baseDelta || ig.Causes[0].DeltaBytes != baseDelta ||
		ig.Causes[1].Kind != "step" || ig.Causes[1].Step != "COPY app /app # buildkit" {
		t.Fatalf("causes (base grew %d, the push %d): %+v", baseDelta, to-from, ig.Causes)
	}

	// The Slack form: text naming what moved and what grew.
	_, _, texts := slack.snapshot()
	var msgs []string
	for _, b := range texts {
		var m struct{ Text string }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.Text)
	}
	if !strings.Contains(msgs[0], "Base moved") || !strings.Contains(msgs[0], "lib/deb:12") || !strings.Contains(msgs[0], "2 images in 2 repositories") ||
		!strings.Contains(msgs[1], "Image grew") || !strings.Contains(msgs[1], "team/api:1") || !strings.Contains(msgs[1], "base moved: lib/deb:12") {
		t.Fatalf("Slack texts:\n%s", strings.Join(msgs, "\n---\n"))
	}

	// NATS: each alert once, on its subject, and stored once by the stream.
	natsCount := func() (seen map[string]int, stored uint64) {
		natsMu.Lock()
		seen = map[string]int{}
		for k, v := range natsSeen {
			seen[k] = v
		}
		natsMu.Unlock()
		info, err := ns.JS.Stream(context.Background(), stream.AlertsName)
		if err != nil {
			t.Fatal(err)
		}
		si, err := info.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return seen, si.State.Msgs
	}
	waitFor(t, "the alerts on NATS", func() bool { s, _ := natsCount(); return len(s) == 2 })
	seen, stored := natsCount()
	if stored != 2 || seen["layerq.alerts.base_moved "+got[0].ID] != 1 || seen["layerq.alerts.image_grew "+got[1].ID] != 1 {
		t.Fatalf("NATS: %v, %d stored", seen, stored)
	}

	// The metrics Alertmanager rules read: images on the base's stale
	// build, each repository's last growth, the alerts made and sent.
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	promtest.CheckMetrics(t, exposition)
	fams := promtest.Families(t, exposition)
	webFrom, webTo := layerBytes(t, web1), layerBytes(t, web2)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		// api1, web1 and web2 are built on base1, which the tag left.
		{"layerq_base_stale_images", []string{"registry", reg.Host, "repository", "lib/deb", "tag", "12"}, 3},
		{"layerq_repository_last_growth_bytes", []string{"repository", "team/api"}, float64(to - from)},
		{"layerq_repository_last_growth_ratio", []string{"repository", "team/api"}, float64(to-from) / float64(from)},
		{"layerq_repository_last_growth_bytes", []string{"repository", "team/web"}, float64(webTo - webFrom)},
		{"layerq_alerts_total", []string{"kind", "base_moved"}, 1},
		{"layerq_alerts_total", []string{"kind", "image_grew"}, 1},
		{"layerq_alert_sends_total", []string{"sink", "nats", "outcome", "delivered"}, 2},
	} {
		v, ok := promtest.Value(fams, c.name, c.labels...)
		if !ok || (v-c.want) > 1e-9 || (c.want-v) > 1e-9 {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}

	// Again: every notification delivered a second time (a registry
	// retrying), the detector's cursor moved back to the start (a second
	// detector looking at the same comparisons), and every send forgotten
	// (the process died after sending, before recording it).
	rl.mu.Lock()
	again := append([][]byte(nil), rl.bodies...)
	rl.mu.Unlock()
	for _, b := range again {
		req, _ := http.NewRequest(http.MethodPost, rl.target, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer s3cret")
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("notification delivered again: %d", resp.StatusCode)
		}
	}
	if _, err := pool.Exec(context.Background(), `UPDATE alert_cursor SET transition_id = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `UPDATE alert_deliveries SET delivered_at = NULL`); err != nil {
		t.Fatal(err)
	}
	requests, _, _ := hooks.snapshot()
	waitFor(t, "the sends made again", func() bool {
		r, _, _ := hooks.snapshot()
		return r >= requests+2 && count(`SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NULL`) == 0
	})
	waitFor(t, "the notifications applied again and the cursor back at the end", func() bool {
		ci, err := ns.Consumer.Info(context.Background())
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && count(`SELECT count(*) FROM aggregate_queue`) == 0 &&
			count(`SELECT count(*) FROM alert_cursor WHERE transition_id = (SELECT max(id) FROM cache_transitions)`) == 1
	})
	if n := count(`SELECT count(*) FROM alerts`); n != 2 {
		t.Fatalf("%d alerts stored after the same events again, want 2", n)
	}
	if _, bad, b := hooks.snapshot(); len(b) != 2 || bad != 0 {
		t.Fatalf("webhook: %d distinct alerts, %d bad signatures", len(b), bad)
	}
	waitFor(t, "the NATS sends made again", func() bool { s, _ := natsCount(); return s["layerq.alerts.base_moved "+got[0].ID] == 2 })
	if _, stored := natsCount(); stored != 2 {
		t.Fatalf("the alerts stream holds %d messages after the alerts were sent again, want 2 (the duplicate window drops a second send)", stored)
	}
}

// Alert flags a user gets wrong are refused before serve starts, in one
// line that says how to fix them (and never repeats a URL, which may hold
// a secret).
func TestAlertFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--alert-grow-over", "ten"}, `--alert-grow-over "ten": give bytes like 52428800, 50MB or 1.5GiB, or a percentage like 10%`},
		{[]string{"--alert-grow-over", "-3%"}, `--alert-grow-over "-3%": give a percentage like 10% or bytes like 50MB`},
		{[]string{"--alert-grow-over", "5MB", "--alert-grow-over", "6MB"}, `--alert-grow-over: give at most one size and one percentage (got ["5MB" "6MB"])`},
		{[]string{"--alert-window", "0s"}, "--alert-window must be above 0 (like 1h)"},
		{[]string{"--alert-webhook", "https://hooks.example/x"}, "--alert-webhook needs --alert-secret (or LAYERQ_ALERT_SECRET): receivers verify each alert's signature by it"},
		{[]string{"--alert-slack", "hooks.slack.com/services/T0/B0/SECRET"}, "--alert-slack: give an http:// or https:// URL (one given is not)"},
		{[]string{"--alert-secret", "whsec_!!!", "--alert-webhook", "https://hooks.example/x"}, "--alert-secret (or LAYERQ_ALERT_SECRET): unable to create webhook, err: illegal base64 data at input byte 0; give whsec_ and base64, or any other text"},
	} {
		args := append([]string{"serve", "--registry", "localhost:5000", "--insecure-no-auth"}, c.args...)
		_, _, err := runCLI(t, args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: err = %v; want %s", c.args, err, c.want)
		}
	}
}

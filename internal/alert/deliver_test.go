package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/alert"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A send that fails for a passing reason is tried again, with the same
// id, until the receiver takes it; one the receiver refuses (4xx) is given
// up at once; one that keeps failing is given up after MaxAttempts.
func TestDispatchRetries(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	signer, err := alert.NewSigner("whsec_" + "c2VjcmV0LWtleS1vZi10aGUtdGVzdA==")
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		mu       sync.Mutex
		ids      []string
		verified int
	}
	server := func(s *seen, status func(n int) int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.ids = append(s.ids, r.Header.Get("webhook-id"))
			if signer.Verify(body, r.Header) == nil {
				s.verified++
			}
			w.WriteHeader(status(len(s.ids)))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	var flakySeen, refusingSeen seen
	flaky := server(&flakySeen, func(n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	refusing := server(&refusingSeen, func(int) int { return http.StatusBadRequest })
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/services/T0/B0/SECRETPATH"
	down.Close()

	sinks := []alert.Sink{
		alert.Webhook{URL: flaky.URL, Signer: signer},
		alert.Webhook{URL: refusing.URL, Signer: signer},
		alert.Webhook{URL: downURL, Signer: signer},
	}
	a := alert.Alert{ID: "image_grew_0123", Type: alert.Subject(alert.KindImageGrew), Timestamp: time.Now().UTC(), Data: map[string]int{"delta_bytes": 1}}
	body, _ := json.Marshal(a)
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO alerts (key, kind, payload) VALUES ($1, 'image_grew', $2) RETURNING id`, a.ID, body).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, s := range sinks {
		if _, err := pool.Exec(ctx, `INSERT INTO alert_deliveries (alert_id, sink) VALUES ($1, $2)`, id, s.Name()); err != nil {
			t.Fatal(err)
		}
	}
	d := &alert.Dispatcher{DB: pool, Sinks: sinks, MaxAttempts: 4, MaxDelay: 20 * time.Millisecond, Timeout: 2 * time.Second, Log: slog.New(slog.DiscardHandler)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		var open int
		pool.QueryRow(ctx, `SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL`).Scan(&open)
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sends still open", open)
		}
		time.Sleep(10 * time.Millisecond)
	}

	type row struct {
		attempts          int
		delivered, failed bool
		lastError         string
	}
	rows := map[string]row{}
	r, err := pool.Query(ctx, `SELECT sink, attempts, delivered_at IS NOT NULL, failed_at IS NOT NULL, coalesce(last_error, '') FROM alert_deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var sink string
		var x row
		if err := r.Scan(&sink, &x.attempts, &x.delivered, &x.failed, &x.lastError); err != nil {
			t.Fatal(err)
		}
		rows[sink] = x
	}
	if x := rows[sinks[0].Name()]; x.attempts != 3 || !x.delivered || x.failed || x.lastError != "" {
		t.Errorf("flaky receiver: %+v, want delivered on the 3rd attempt", x)
	}
	if x := rows[sinks[1].Name()]; x.attempts != 1 || x.delivered || !x.failed || !strings.Contains(x.lastError, "400 Bad Request") {
		t.Errorf("refusing receiver: %+v, want given up after 1 attempt with its status", x)
	}
	if x := rows[sinks[2].Name()]; x.attempts != 4 || x.delivered || !x.failed || !strings.Contains(x.lastError, "connection refused") ||
		strings.Contains(x.lastError, "SECRETPATH") {
		t.Errorf("receiver down: %+v, want given up after 4 attempts, its URL's path (a secret) in no error", x)
	}
	if len(flakySeen.ids) != 3 || flakySeen.verified != 3 || flakySeen.ids[0] != a.ID || flakySeen.ids[2] != a.ID {
		t.Errorf("flaky receiver saw ids %q, %d verified; want the alert's id 3 times, each signed", flakySeen.ids, flakySeen.verified)
	}
	if len(refusingSeen.ids) != 1 {
		t.Errorf("refusing receiver asked %d times", len(refusingSeen.ids))
	}
	// A sink's name holds no part of its URL's path (a Slack URL's secret).
	slack := alert.Webhook{URL: "https://hooks.slack.com/services/T000/B000/XXXXSECRET", Slack: true}
	if n := slack.Name(); strings.Contains(n, "SECRET") || !strings.HasPrefix(n, "slack:https://hooks.slack.com#") {
		t.Errorf("sink name %q", n)
	}
}

// Text from a registry cannot mention a Slack channel, link elsewhere or
// break out of a code span.
func TestSlackTextIsPlain(t *testing.T) {
	a := alert.Alert{ID: "image_grew_1", Type: alert.Subject(alert.KindImageGrew), Data: alert.ImageGrew{GrowthPush: report.GrowthPush{
		Repository: "team/app", Tag: "1", StreamKind: report.StreamTag, Platform: "linux/amd64", FromBytes: 100, ToBytes: 200, DeltaBytes: 100,
		Causes: []report.GrowthCause{{Kind: "step", Step: "RUN echo <!channel> <https://evil.example|click> & `x`", DeltaBytes: 100,
			TopPaths: []report.PathBytes{{Path: "app/`a`<b>", Bytes: 100}}}}}}}
	text := alert.Text(a)
	for _, bad := range []string{"<!channel>", "<https://", "`x`", "<b>"} {
		if strings.Contains(text, bad) {
			t.Errorf("Slack text holds %q:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, "&lt;!channel&gt;") || !strings.Contains(text, "&amp;") {
		t.Errorf("Slack text does not escape as Slack asks:\n%s", text)
	}
}

// A tag push's platforms are compared in consecutive ids: a page of
// comparisons that ends among them takes the rest too, so its alert
// names every platform and counts every stale image.
func TestDetectTakesAPushWhole(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	d := &alert.Detector{DB: pool, Rules: alert.DefaultRules(), Sinks: []string{"nats"}, PageSize: 2}
	if _, err := d.Detect(ctx); err != nil { // the cursor starts here
		t.Fatal(err)
	}
	var deb, app, event int64
	now := time.Now()
	for _, q := range []struct {
		sql  string
		args []any
		into *int64
	}{
		{`INSERT INTO repositories (registry, name) VALUES ('r', 'lib/deb') RETURNING id`, nil, &deb},
		{`INSERT INTO repositories (registry, name) VALUES ('r', 'team/app') RETURNING id`, nil, &app},
	} {
		if err := pool.QueryRow(ctx, q.sql, q.args...).Scan(q.into); err != nil {
			t.Fatal(err)
		}
	}
	if err := pool.QueryRow(ctx, `INSERT INTO tag_events (repository_id, tag, action, manifest_digest, previous_digest, occurred_at, source)
		VALUES ($1, '12', 'push', 'sha256:new-index', 'sha256:old-index', $2, 'test') RETURNING id`, deb, now).Scan(&event); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO base_repositories (base_digest, repository_id, images) VALUES ('sha256:old-amd64', $1, 3), ('sha256:old-arm64', $1, 2)`, []any{app}},
		// One comparison before the push's, so a page of 2 ends between its platforms.
		{`INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes)
			VALUES ($1, 'created', '', 'linux/amd64', 'sha256:a1', 'sha256:a2', $2, 1, 1, 10, 10)`, []any{app, now}},
		{`INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, tag_event_id, from_digest, to_digest, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes)
			VALUES ($1, 'tag', '12', 'linux/amd64', $2, 'sha256:old-amd64', 'sha256:new-amd64', $3, 0, 1, 0, 10),
			       ($1, 'tag', '12', 'linux/arm64', $2, 'sha256:old-arm64', 'sha256:new-arm64', $3, 0, 1, 0, 10)`, []any{deb, event, now}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%v\n%s", err, q.sql)
		}
	}
	if _, err := d.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	var payloads []string
	rows, err := pool.Query(ctx, `SELECT payload::text FROM alerts WHERE kind = 'base_moved'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		rows.Scan(&p)
		payloads = append(payloads, p)
	}
	if len(payloads) != 1 {
		t.Fatalf("%d base_moved alerts, want 1: %q", len(payloads), payloads)
	}
	var a struct {
		Data struct {
			Platforms   []struct{ Platform string }
			StaleImages int64 `json:"stale_images"`
		}
	}
	json.Unmarshal([]byte(payloads[0]), &a)
	if len(a.Data.Platforms) != 2 || a.Data.StaleImages != 5 {
		t.Errorf("the alert names %d platforms and %d stale images, want 2 and 5: %s", len(a.Data.Platforms), a.Data.StaleImages, payloads[0])
	}
}

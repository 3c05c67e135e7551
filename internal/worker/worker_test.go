package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/codes"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/testenv/natstest"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
	"github.com/layerq/layerq/internal/webhook"
	"github.com/layerq/layerq/internal/worker"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type bundle struct {
	pool *pgxpool.Pool
	reg  *registrytest.Server
	nats *natstest.Server
	pub  *stream.Publisher
	opts worker.Options
}

func setup(t *testing.T) bundle {
	t.Helper()
	reg := registrytest.New(t)
	pool := pgtest.NewPool(t)
	ns := natstest.Start(t, stream.Settings{AckWait: time.Second, MaxDeliver: 5})
	regs, err := registries.New([]registries.Registry{{Host: reg.Host, Name: "reg.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{pool: pool, reg: reg, nats: ns, pub: stream.NewPublisher(ns.JS, telemetry.Providers{}), opts: worker.Options{
		Store: graph.New(pool), Walkers: walker.NewWalkers(regs, walker.Options{Source: "webhook", Attempts: 1}), Concurrency: 2, MaxDeliver: 5, AckWait: time.Second,
	}}
}

// run runs a worker until the test ends.
func run(t *testing.T, w *worker.Worker, b bundle) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, b.nats.Consumer) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scalar(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestPushDeleteAndDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN app", Files: []sample.File{{Path: "app", Content: []byte("app")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	digest := b.reg.PushImage(t, "team/app:1", img)
	w := worker.New(b.opts)
	run(t, w, b)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	push := webhook.Event{ID: "ev-push", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: digest, Tag: "1", Action: webhook.Push, Time: t0}
	for range 2 { // the registry retries: one message, one graph write
		if _, err := b.pub.Publish(ctx, push); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the push in the graph", func() bool {
		return scalar(t, b.pool, `SELECT count(*) FROM tags WHERE name = '1' AND manifest_digest = $1 AND deleted_at IS NULL`, digest) == 1
	})
	if n := scalar(t, b.pool, `SELECT count(*) FROM tag_events WHERE event_id = 'ev-push' AND occurred_at = $1`, t0); n != 1 {
		t.Fatalf("push events = %d", n)
	}
	if n := scalar(t, b.pool, `SELECT count(*) FROM repositories WHERE registry = 'reg.test'`); n != 1 {
		t.Fatalf("repositories under the configured name = %d", n)
	}
	del := webhook.Event{ID: "ev-del", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: digest, Action: webhook.Delete, Time: t0.Add(time.Minute)}
	if _, err := b.pub.Publish(ctx, del); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete marked", func() bool {
		return scalar(t, b.pool, `SELECT count(*) FROM repository_manifests WHERE deleted_at IS NOT NULL`) == 1
	})
	if n := scalar(t, b.pool, `SELECT count(*) FROM tag_events WHERE action = 'delete' AND event_id = 'ev-del'`); n != 1 {
		t.Fatalf("delete events = %d", n)
	}
	eventually(t, "every event acked", func() bool { a, _, _ := w.Stats().Snapshot(); return a == 2 })
	if n := b.nats.Messages(t); n != 0 {
		t.Fatalf("%d messages left in the work queue", n)
	}
}

// A worker dies after the commit, before the ack: the event comes back,
// and applying it again changes nothing.
func TestCrashBetweenCommitAndAck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN app", Files: []sample.File{{Path: "app", Content: []byte("crash")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	digest := b.reg.PushImage(t, "team/app:1", img)
	var crashes atomic.Int32
	opts := b.opts
	worker.SetAfterCommit(&opts, func(webhook.Event) bool { return crashes.Add(1) == 1 })
	w := worker.New(opts)
	run(t, w, b)
	ev := webhook.Event{ID: "ev-1", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: digest, Tag: "1", Action: webhook.Push, Time: time.Now().UTC()}
	if _, err := b.pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the redelivered event acked", func() bool { a, _, _ := w.Stats().Snapshot(); return a == 1 })
	if crashes.Load() != 2 {
		t.Fatalf("handled %d times, want 2", crashes.Load())
	}
	for table, want := range map[string]int{"manifests": 1, "repository_manifests": 1, "tags": 1, "tag_events": 1, "manifest_layers": 1, "blobs": 1} {
		if n := scalar(t, b.pool, "SELECT count(*) FROM "+table); n != want {
			t.Errorf("%s rows = %d, want %d", table, n, want)
		}
	}
}

// A manifest that is gone is permanent: recorded and terminated. A registry
// answering 503 is transient: retried with a delay until it recovers.
func TestPermanentAndTransientFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN app", Files: []sample.File{{Path: "app", Content: []byte("flaky")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	digest := b.reg.PushImage(t, "team/app:1", img)
	var failing atomic.Int32
	failing.Store(2)
	b.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") && failing.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	rec := otlptest.NewRecorder()
	b.opts.Telemetry = rec.Providers
	w := worker.New(b.opts)
	run(t, w, b)
	ctx := context.Background()
	now := time.Now().UTC()
	gone := webhook.Event{ID: "ev-gone", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: "sha256:" + strings.Repeat("0", 64), Action: webhook.Push, Time: now}
	flaky := webhook.Event{ID: "ev-flaky", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: digest, Tag: "1", Action: webhook.Push, Time: now}
	forged := webhook.Event{ID: "ev-forged", Source: "distribution", Registry: "evil.example.com", Repository: "team/app", Digest: digest, Action: webhook.Push, Time: now}
	for _, ev := range []webhook.Event{gone, flaky, forged} {
		if _, err := b.pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the flaky push in the graph", func() bool {
		return scalar(t, b.pool, `SELECT count(*) FROM tags WHERE manifest_digest = $1`, digest) == 1
	})
	eventually(t, "every event settled", func() bool { a, _, tm := w.Stats().Snapshot(); return a == 1 && tm == 2 })
	_, naked, _ := w.Stats().Snapshot()
	if naked < 1 {
		t.Fatalf("the 503s were not retried (naks = %d)", naked)
	}
	rows, err := b.pool.Query(ctx, `SELECT registry, reference, class FROM ingest_failures ORDER BY class`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Registry, Reference, Class string }])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Class != "not_found" || got[0].Reference != gone.Digest || got[0].Registry != "reg.test" {
		t.Fatalf("failures = %+v", got)
	}
	// An event of a registry that is not configured is kept for a replay.
	q, err := graph.New(b.pool).ListQuarantine(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Reason != "unknown_registry" || q[0].Kind != "event" || !strings.Contains(string(q[0].Data), `"ev-forged"`) {
		t.Fatalf("quarantine = %+v", q)
	}

	// The metrics say the same: two 503s (retried), one walk not found.
	for _, c := range []struct {
		name  string
		attrs []string
		want  float64
	}{
		{"layerq.walk.errors", []string{"class", "registry"}, 2},
		{"layerq.walk.errors", []string{"class", "not_found"}, 1},
		{"layerq.walk.errors", nil, 3},
		{"layerq.events.processed", []string{"action", "push", "outcome", "applied"}, 1},
		{"layerq.events.processed", []string{"action", "push", "outcome", "retried"}, float64(naked)},
		{"layerq.events.processed", []string{"action", "push", "outcome", "failed"}, 2},
		{"layerq.ingest.latency", []string{"action", "push"}, 1},
	} {
		if v := rec.Value(t, c.name, c.attrs...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.attrs, v, c.want)
		}
	}
	failed := 0
	for _, s := range rec.Spans() {
		if s.Name() == "process layerq.events.distribution.push" && s.Status().Code == codes.Error {
			failed++
		}
	}
	if want := 2 + naked; failed != want {
		t.Errorf("%d process spans marked failed, want %d (2 failures, %d retries)", failed, want, naked)
	}
}

// flakyQueue fails its first calls, then records the jobs it is given.
type flakyQueue struct {
	failures atomic.Int32
	jobs     atomic.Pointer[[]stream.LayerJob]
}

func (q *flakyQueue) PublishLayers(_ context.Context, jobs []stream.LayerJob) error {
	if q.failures.Add(-1) >= 0 {
		return stream.ErrUnavailable
	}
	q.jobs.Store(&jobs)
	return nil
}

// A push queues the image's layers that are not indexed yet; when the
// layer queue is down the event is not acked, and is applied again until
// the layers are queued.
func TestPushQueuesLayers(t *testing.T) {
	b := setup(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{
		{CreatedBy: "ADD x /", Files: []sample.File{{Path: "x", Content: []byte("x")}}},
		{CreatedBy: "RUN y", Files: []sample.File{{Path: "y", Content: []byte("y")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	digest := b.reg.PushImage(t, "team/app:1", img)
	q := &flakyQueue{}
	q.failures.Store(2)
	b.opts.Layers = q
	w := worker.New(b.opts)
	run(t, w, b)
	ev := webhook.Event{ID: "ev-layers", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: digest, Tag: "1", Action: webhook.Push, Time: time.Now().UTC()}
	if _, err := b.pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the layers queued", func() bool { return q.jobs.Load() != nil })
	eventually(t, "the event acked", func() bool { acked, _, _ := w.Stats().Snapshot(); return acked == 1 })
	if _, naked, termed := w.Stats().Snapshot(); naked != 2 || termed != 0 {
		t.Errorf("naked %d, termed %d; want 2 retries and no termination", naked, termed)
	}
	jobs := *q.jobs.Load()
	layers, _ := img.Layers()
	if len(jobs) != 2 {
		t.Fatalf("jobs = %+v", jobs)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		di, _ := l.DiffID()
		sz, _ := l.Size()
		found := false
		for _, j := range jobs {
			if j.Digest == d.String() && j.DiffID == di.String() && j.Size == sz && j.Registry == "reg.test" && j.Repository == "team/app" {
				found = true
			}
		}
		if !found {
			t.Errorf("layer %d (%s) not queued: %+v", i, d, jobs)
		}
	}
}

// runDeferred runs a worker on the deferred stream until the test ends.
func runDeferred(t *testing.T, w *worker.Worker, b bundle) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.RunDeferred(ctx, b.nats.Deferred) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// A registry outage longer than the whole retry schedule: the event moves
// to the deferred stream, is retried there at the capped delay for as long
// as the outage lasts, and is applied once the registry is back. Nothing is
// recorded as failed and nothing is lost.
func TestOutageLongerThanRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN app", Files: []sample.File{{Path: "app", Content: []byte("outage")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	digest := b.reg.PushImage(t, "team/app:1", img)
	var down atomic.Bool
	var refused atomic.Int32
	down.Store(true)
	b.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	b.opts.MaxDeliver = 3
	b.opts.MaxDelay = 500 * time.Millisecond
	b.opts.Deferred = b.pub
	w := worker.New(b.opts)
	run(t, w, b)
	runDeferred(t, w, b)
	ev := webhook.Event{ID: "ev-outage", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: digest, Tag: "1", Action: webhook.Push, Time: time.Now().UTC()}
	if _, err := b.pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event deferred", func() bool { return w.Stats().DeferredCount() == 1 })
	// The outage goes on well past the schedule: the deferred event keeps
	// being retried.
	at := refused.Load()
	eventually(t, "retries on the deferred stream", func() bool { return refused.Load() >= at+3 })
	if n := scalar(t, b.pool, `SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("%d failures recorded during an outage", n)
	}
	down.Store(false)
	eventually(t, "the push in the graph", func() bool {
		return scalar(t, b.pool, `SELECT count(*) FROM tags WHERE name = '1' AND manifest_digest = $1 AND deleted_at IS NULL`, digest) == 1
	})
	eventually(t, "the deferred event acked", func() bool { a, _, _ := w.Stats().Snapshot(); return a == 1 })
	if n := scalar(t, b.pool, `SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("%d failures recorded", n)
	}
	if n := b.nats.Messages(t); n != 0 {
		t.Fatalf("%d messages left on the event stream", n)
	}
}

// A permanent failure whose record cannot be written (the database refuses
// it) is not terminated: it is retried until the record is written.
func TestTerminatedOnlyOnceRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.pool.Exec(ctx, `ALTER TABLE ingest_failures RENAME TO ingest_failures_away`); err != nil {
		t.Fatal(err)
	}
	b.opts.MaxDelay = 500 * time.Millisecond
	w := worker.New(b.opts)
	run(t, w, b)
	gone := webhook.Event{ID: "ev-gone", Source: "distribution", Registry: b.reg.Host, Repository: "team/app", Digest: "sha256:" + strings.Repeat("0", 64), Action: webhook.Push, Time: time.Now().UTC()}
	if _, err := b.pub.Publish(ctx, gone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "retries while the failure cannot be recorded", func() bool { _, n, _ := w.Stats().Snapshot(); return n >= 2 })
	if _, _, termed := w.Stats().Snapshot(); termed != 0 {
		t.Fatalf("terminated %d events whose failure was not recorded", termed)
	}
	if _, err := b.pool.Exec(ctx, `ALTER TABLE ingest_failures_away RENAME TO ingest_failures`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event terminated", func() bool { _, _, tm := w.Stats().Snapshot(); return tm == 1 })
	if n := scalar(t, b.pool, `SELECT count(*) FROM ingest_failures WHERE reference = $1 AND class = 'not_found'`, gone.Digest); n != 1 {
		t.Fatalf("failure rows = %d, want 1", n)
	}
}

// A registry that deletes a manifest with its last tag (zot) says only that
// the tag was deleted: the worker asks the registry, and marks the manifest
// gone once its last tag is; a tag delete that leaves another tag on it
// leaves it live. Events with the digest (zot) and without it (the CNCF
// distribution registry) both.
func TestTagDeleteOfLastTag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := registrytest.NewDeletingLastTag(t)
	regs, err := registries.New([]registries.Registry{{Host: reg.Host, Name: "zot.test"}})
	if err != nil {
		t.Fatal(err)
	}
	b.opts.Walkers = walker.NewWalkers(regs, walker.Options{Source: "webhook", Attempts: 1})
	w := worker.New(b.opts)
	run(t, w, b)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	publish := func(ev webhook.Event) {
		t.Helper()
		if _, err := b.pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	live := func(repo, digest string) int {
		return scalar(t, b.pool, `SELECT count(*) FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
			WHERE r.registry = 'zot.test' AND r.name = $1 AND rm.manifest_digest = $2 AND rm.deleted_at IS NULL`, repo, digest)
	}
	for i, withDigest := range []bool{true, false} {
		repo := fmt.Sprintf("team/app%d", i)
		img, err := sample.Build(sample.Spec{Steps: []sample.Step{{CreatedBy: "RUN app", Files: []sample.File{{Path: "app", Content: []byte(repo)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		digest := reg.PushImage(t, repo+":1", img)
		reg.PushImage(t, repo+":2", img)
		for j, tag := range []string{"1", "2"} {
			publish(webhook.Event{ID: fmt.Sprintf("push-%d-%s", i, tag), Source: "cloudevents", Registry: reg.Host, Repository: repo, Digest: digest, Tag: tag, Action: webhook.Push, Time: t0.Add(time.Duration(j) * time.Second)})
		}
		eventually(t, "both tags in the graph", func() bool {
			return scalar(t, b.pool, `SELECT count(*) FROM tags WHERE manifest_digest = $1 AND deleted_at IS NULL`, digest) == 2
		})
		tagDelete := func(tag string, at time.Time) {
			if err := remote.Delete(reg.Ref(t, repo+":"+tag)); err != nil {
				t.Fatal(err)
			}
			ev := webhook.Event{ID: fmt.Sprintf("del-%d-%s", i, tag), Source: "cloudevents", Registry: reg.Host, Repository: repo, Tag: tag, Action: webhook.TagDelete, Time: at}
			if withDigest {
				ev.Digest = digest
			}
			publish(ev)
			eventually(t, "the tag delete applied", func() bool {
				return scalar(t, b.pool, `SELECT count(*) FROM tags WHERE manifest_digest = $1 AND name = $2 AND deleted_at IS NOT NULL`, digest, tag) == 1
			})
		}
		tagDelete("1", t0.Add(time.Minute))
		eventually(t, "the tag delete settled", func() bool { a, _, _ := w.Stats().Snapshot(); return a == 3+4*i })
		if n := live(repo, digest); n != 1 {
			t.Fatalf("%s: the manifest still tagged 2 is marked gone (live rows %d)", repo, n)
		}
		tagDelete("2", t0.Add(2*time.Minute))
		eventually(t, "the manifest marked gone with its last tag", func() bool { return live(repo, digest) == 0 })
	}
	if n := scalar(t, b.pool, `SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("%d failures", n)
	}
}

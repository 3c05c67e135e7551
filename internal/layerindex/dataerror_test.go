package layerindex_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/stream"
	"github.com/layerq/layerq/internal/telemetry"
	"github.com/layerq/layerq/internal/testenv/natstest"
	"github.com/layerq/layerq/internal/walker"
)

// A job the graph refuses (its diff_id holds a NUL byte, which Postgres
// cannot store as text) can never succeed: it is recorded in
// ingest_failures and terminated, not retried and deferred. While the
// record cannot be written, it is retried; it is terminated only once
// recorded. A message that is not a job is recorded with its body, and
// terminated.
func TestDataErrorRecordedThenTerminated(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	img := build(t, sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: baseFiles}}})
	b.reg.PushImage(t, "a/img:1", img)
	digests, _ := layerDigests(t, img)
	ls, _ := img.Layers()
	size, _ := ls[0].Size()

	ns := natstest.Start(t, stream.Settings{AckWait: time.Second})
	layers, err := stream.EnsureLayers(ctx, ns.JS, ns.Settings)
	if err != nil {
		t.Fatal(err)
	}
	deferred, err := stream.EnsureLayersDeferred(ctx, ns.JS, ns.Settings)
	if err != nil {
		t.Fatal(err)
	}
	regs, err := registries.New([]registries.Registry{{Name: "reg", Host: b.reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := b.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	messages := func(name string) uint64 {
		t.Helper()
		st, err := ns.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	consumer := func() (delivered uint64, ackPending int) {
		t.Helper()
		info, err := layers.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.Delivered.Consumer, info.NumAckPending
	}

	// The failure cannot be recorded at first.
	if _, err := b.pool.Exec(ctx, `ALTER TABLE ingest_failures RENAME TO ingest_failures_away`); err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(ns.JS, telemetry.Providers{})
	c := &layerindex.Consumer{Indexer: b.ix, Walkers: walker.NewWalkers(regs, walker.Options{Attempts: 1}), Concurrency: 1, MaxDeliver: 3, MaxDelay: 200 * time.Millisecond, AckWait: time.Second, Deferred: pub}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- c.Run(runCtx, layers) }()
	go func() { done <- c.RunDeferred(runCtx, deferred) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
	if err := pub.PublishLayers(ctx, []stream.LayerJob{{Registry: "reg", Repository: "a/img", Digest: digests[0], DiffID: "sha256:\x00", Size: size}}); err != nil {
		t.Fatal(err)
	}
	// Past the retry budget, still on the layer stream: retried, neither
	// terminated nor deferred.
	waitFor("five deliveries", func() bool { d, _ := consumer(); return d >= 5 })
	if n := messages(stream.LayersName); n != 1 {
		t.Fatalf("%d jobs on the layer stream while the failure cannot be recorded, want 1", n)
	}
	if n := messages(stream.LayersDeferredName); n != 0 {
		t.Fatalf("%d jobs deferred, want 0", n)
	}
	if _, err := b.pool.Exec(ctx, `ALTER TABLE ingest_failures_away RENAME TO ingest_failures`); err != nil {
		t.Fatal(err)
	}
	waitFor("the job terminated", func() bool { return messages(stream.LayersName) == 0 })
	if _, pending := consumer(); pending != 0 {
		t.Errorf("%d jobs pending an ack", pending)
	}
	if n := messages(stream.LayersDeferredName); n != 0 {
		t.Errorf("%d jobs deferred, want 0", n)
	}
	if n := count(`SELECT count(*) FROM ingest_failures WHERE registry = 'reg' AND repository = 'a/img' AND reference = $1
		AND source = 'layerscan' AND class = 'invalid' AND reason LIKE '%SQLSTATE 22021%'`, digests[0]); n != 1 {
		t.Errorf("failures recorded = %d, want 1", n)
	}
	if n := count(`SELECT count(*) FROM layer_indexes`); n != 0 {
		t.Errorf("%d indexes written", n)
	}

	// A message that is not a job.
	before, _ := consumer()
	body := []byte(`{"registry":"reg","repository":"a/img"}`)
	if _, err := ns.JS.Publish(ctx, stream.LayersSubject, body); err != nil {
		t.Fatal(err)
	}
	waitFor("the message recorded", func() bool {
		return count(`SELECT count(*) FROM ingest_failures WHERE source = 'layerscan' AND class = 'invalid' AND reference = ''`) == 1
	})
	waitFor("the message terminated", func() bool { return messages(stream.LayersName) == 0 })
	if d, pending := consumer(); d != before+1 || pending != 0 {
		t.Errorf("%d deliveries, %d pending; want %d, 0", d, pending, before+1)
	}
	var payload []byte
	if err := b.pool.QueryRow(ctx, `SELECT payload FROM ingest_failures WHERE source = 'layerscan' AND reference = ''`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(payload, &got); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(body, &want)
	if len(got) != 2 || got["registry"] != want["registry"] || got["repository"] != want["repository"] {
		t.Errorf("payload = %s, want %s", payload, body)
	}
}

package layerindex_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
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

// A registry outage longer than the whole retry schedule: the layer job
// moves to the deferred layer stream, is retried there for as long as the
// outage lasts, and is indexed once the registry is back. Nothing is
// recorded as failed and nothing is lost.
func TestLayerJobOutlivesAnOutage(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	img := build(t, sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: baseFiles}}})
	b.reg.PushImage(t, "a/img:1", img)
	digests, diffIDs := layerDigests(t, img)
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
	var down atomic.Bool
	var refused atomic.Int32
	down.Store(true)
	b.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() && strings.Contains(r.URL.Path, "/blobs/") {
			refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	pub := stream.NewPublisher(ns.JS, telemetry.Providers{})
	c := &layerindex.Consumer{Indexer: b.ix, Walkers: walker.NewWalkers(regs, walker.Options{Attempts: 1}), Concurrency: 1, MaxDeliver: 3, MaxDelay: 500 * time.Millisecond, AckWait: time.Second, Deferred: pub}
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
	if err := pub.PublishLayers(ctx, []stream.LayerJob{{Registry: "reg", Repository: "a/img", Digest: digests[0], DiffID: diffIDs[0], Size: size}}); err != nil {
		t.Fatal(err)
	}
	count := func(sql string, args ...any) int {
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
	deferredMsgs := func() uint64 {
		st, err := ns.JS.Stream(ctx, stream.LayersDeferredName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	waitFor("the job deferred", func() bool { return deferredMsgs() == 1 })
	// The outage goes on well past the schedule; retries go on.
	at := refused.Load()
	waitFor("retries on the deferred stream", func() bool { return refused.Load() >= at+3 })
	if n := count(`SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("%d failures recorded during an outage", n)
	}
	down.Store(false)
	waitFor("the layer indexed", func() bool {
		return count(`SELECT count(*) FROM layer_indexes WHERE blob_digest = $1`, digests[0]) == 1
	})
	waitFor("the deferred stream drained", func() bool { return deferredMsgs() == 0 })
	if n := count(`SELECT count(*) FROM ingest_failures`); n != 0 {
		t.Fatalf("%d failures recorded", n)
	}
}

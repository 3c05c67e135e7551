package scan_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/registries"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/otlptest"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// syncBuffer is a log sink the reconcile goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// What the live path missed (here: everything, no event was delivered) is
// in the graph after one reconcile interval, and the reconcile says what it
// healed: in its log line and in layerq.reconcile.healed, exactly.
func TestReconcileHeals(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	base := build(t, nil, "base")
	for _, ref := range []string{"team/a:1", "team/a:2", "team/b:1"} {
		reg.PushImage(t, ref, build(t, base, ref))
	}
	regs, err := registries.New([]registries.Registry{{Name: "main", Host: reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	rec := otlptest.NewRecorder()
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- scan.Reconcile(ctx, store, walker.NewWalkers(regs, walker.Options{Jobs: 4}), 200*time.Millisecond, rec.Providers, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("three tags healed", func() bool {
		return scalar(t, pool, `SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.registry = 'main' AND t.deleted_at IS NULL`) == 3
	})
	waitFor("the first reconcile's line", func() bool { return strings.Contains(logs.String(), "healed_references=3") })
	if v := rec.Value(t, "layerq.reconcile.healed", "registry", "main", "what", "references"); v != 3 {
		t.Fatalf("healed references = %v, want 3", v)
	}
	// A tag deleted while no event said so: healed at the next interval.
	if err := remote.Delete(reg.Ref(t, "team/a:2")); err != nil {
		t.Fatal(err)
	}
	waitFor("the delete healed", func() bool { return strings.Contains(logs.String(), "healed_deleted_tags=1") })
	if v := rec.Value(t, "layerq.reconcile.healed", "registry", "main", "what", "deleted_tags"); v != 1 {
		t.Fatalf("healed deleted tags = %v, want 1", v)
	}
	// Nothing more to heal: the counters stay.
	waitFor("a reconcile that healed nothing", func() bool {
		return strings.Count(logs.String(), "healed_references=0 healed_deleted_tags=0") >= 2
	})
	if v := rec.Value(t, "layerq.reconcile.healed", "registry", "main", "what", "references"); v != 3 {
		t.Fatalf("healed references = %v after quiet reconciles, want 3", v)
	}
}

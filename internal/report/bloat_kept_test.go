package report_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/dedup"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// The schema's layerq_is_run says what dedup.IsRun says of every kind of
// history step the builders write.
func TestIsRunAgreesWithTheSchema(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewReportPool(t)
	steps := []string{
		"RUN apt-get update # buildkit", "RUN /bin/sh -c apt-get update # buildkit", "/bin/sh -c apt-get update",
		"/bin/sh -c #(nop) COPY file:abc in / ", "|2 A=1 B=2 /bin/sh -c make", "|1 X=1 /bin/sh -c #(nop) ARG Y",
		"COPY . . # buildkit", "ADD rootfs.tar.xz / # buildkit", "", "  RUN padded  ", "\tRUN tabbed",
		"RUNNER", "run lower", "WORKDIR /app", "ENV A=1", "/bin/sh", "/bin/sh -c", "#(nop) RUN",
	}
	for _, s := range steps {
		var got bool
		if err := pool.QueryRow(context.Background(), `SELECT layerq_is_run($1)`, s).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := dedup.IsRun(s); got != want {
			t.Errorf("layerq_is_run(%q) = %v, dedup.IsRun = %v", s, got, want)
		}
	}
}

// The schema's layerq_has_layer_run finds a run of small RUN layers above
// the base exactly when dedup's analysis lists one, over random images.
func TestHasLayerRunAgreesWithTheAnalysis(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewReportPool(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		n := rng.IntN(9)
		layers := make([]dedup.Layer, n)
		sizes := make([]*int64, n)
		for j := range layers {
			layers[j] = dedup.Layer{Position: j, Size: int64(rng.IntN(300)), CreatedBy: "COPY x y"}
			if rng.IntN(3) > 0 {
				layers[j].CreatedBy = "RUN step"
				sizes[j] = &layers[j].Size
			}
		}
		base, small := rng.IntN(n+2), int64(rng.IntN(300)+1)
		want := len(dedup.Analyze(layers, dedup.Options{BaseLayers: base, SmallLayer: small}).LayerRuns) > 0
		var got bool
		if err := pool.QueryRow(context.Background(), `SELECT layerq_has_layer_run($1::bigint[], $2, $3)`, sizes, base, small).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("image %d: layers %+v, base %d, small %d: the schema says a run = %v, the analysis %v", i, layers, base, small, got, want)
		}
	}
}

// A report works out a bounded number of images serve has not analyzed
// yet, counts the others as waiting and says so; the next run picks up
// where it stopped.
func TestSettleWasteBounded(t *testing.T) {
	t.Parallel()
	c := setupBloat(t)
	ctx := context.Background()
	store := graph.New(c.pool)
	opts := report.BloatOptions{Repositories: repoglob.Compile("**")}
	if err := report.SettleWaste(ctx, c.pool, opts, store, 2); err != nil {
		t.Fatal(err)
	}
	b, err := report.LoadBloat(ctx, c.pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Two manifests worked out; the report counts images per repository
	// holding them.
	var manifests, memberships int
	if err := c.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM image_waste), (SELECT count(*) FROM repository_manifests rm
		JOIN image_waste w ON w.manifest_digest = rm.manifest_digest WHERE rm.deleted_at IS NULL)`).Scan(&manifests, &memberships); err != nil {
		t.Fatal(err)
	}
	waiting, _ := b.LeftOutCounts()
	left := 7 - memberships
	if manifests != 2 || b.Analyzed != memberships || b.Pending != left || waiting != left || len(b.Notes) != 1 ||
		!strings.Contains(b.Notes[0], fmt.Sprintf("%d images are left out until their waste is worked out", left)) {
		t.Errorf("after working out %d images (%d in repositories): %d analyzed, %d pending, %d waiting, notes %q; want %d, %d, %d and a note",
			manifests, memberships, b.Analyzed, b.Pending, waiting, b.Notes, memberships, left, left)
	}
	var told []int
	if err := report.SettleWasteProgress(ctx, c.pool, opts, store, 0, func(saved int) { told = append(told, saved) }); err != nil {
		t.Fatal(err)
	}
	// One batch: progress hears once how many manifests it saved.
	var after int
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM image_waste`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(told, []int{after - manifests}) || after <= manifests {
		t.Errorf("progress heard %v; want [%d] (%d manifests analyzed before, %d after)", told, after-manifests, manifests, after)
	}
	if b, err = report.LoadBloat(ctx, c.pool, opts); err != nil || b.Analyzed != 7 || b.Pending != 0 || len(b.Notes) != 0 {
		t.Errorf("after working out the rest: %+v, %v; want 7 analyzed, none pending, no note", b, err)
	}
}

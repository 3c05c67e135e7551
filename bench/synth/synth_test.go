package synth_test

import (
	"context"
	"testing"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A small graph: what Generate says it wrote is what the database holds,
// and the aggregates are folded.
func TestGenerate(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk = 600, 20, 5, 250
	sum, err := synth.Generate(ctx, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	pushes := opts.Images + opts.Bases*opts.BaseBuilds
	if sum.Repositories != opts.Images/opts.PerRepository+opts.Bases || sum.Images != pushes+sum.Recompressed || sum.TagEvents != pushes {
		t.Errorf("summary %+v: want %d repositories, %d images (and the recompressed copies), %d tag events", sum, opts.Images/opts.PerRepository+opts.Bases, pushes, pushes)
	}
	// About Recompressed of the application pushes also as a copy.
	if want := opts.Recompressed * float64(opts.Images); float64(sum.Recompressed) < want/3 || float64(sum.Recompressed) > want*3 {
		t.Errorf("%d recompressed copies; want about %.0f", sum.Recompressed, want)
	}
	var repos, manifests, edges, blobs, events, deleted, queued, live int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM manifests),
		(SELECT count(*) FROM manifest_layers), (SELECT count(*) FROM blobs), (SELECT count(*) FROM tag_events),
		(SELECT count(*) FROM repository_manifests WHERE deleted_at IS NOT NULL), (SELECT count(*) FROM aggregate_queue),
		(SELECT sum(images) FROM repository_usage)`).Scan(&repos, &manifests, &edges, &blobs, &events, &deleted, &queued, &live); err != nil {
		t.Fatal(err)
	}
	if repos != sum.Repositories || manifests != sum.Images || edges != sum.Edges || blobs != sum.Blobs || events != sum.TagEvents || deleted != sum.Deleted {
		t.Errorf("database holds %d repositories, %d manifests, %d edges, %d blobs, %d tag events, %d deleted; summary %+v",
			repos, manifests, edges, blobs, events, deleted, sum)
	}
	// Each copy stores its original's contents again: every content of a
	// live copy has two live encodings.
	var twice int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM content_usage WHERE encodings > 1`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if sum.Recompressed > 0 && twice == 0 {
		t.Errorf("%d recompressed copies, but no content kept with two encodings", sum.Recompressed)
	}
	if sum.Deleted == 0 || edges < 9*manifests || queued != 0 || live != sum.Images-sum.Deleted {
		t.Errorf("%d deleted, %d edges for %d images, %d still queued, %d live images counted (want %d)", sum.Deleted, edges, manifests, queued, live, sum.Images-sum.Deleted)
	}
}

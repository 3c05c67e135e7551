package graph_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// BenchmarkFold times the fold that takes a synthetic graph's whole history
// in at once (synth.Generate's last phase: every membership, tag event and
// delete; LAYERQ_SYNTH_IMAGES images, default 20k), as the fold is (the
// memberships counted once into aggregates no fold has written) and, in the
// same run, with every membership change upserted, as the first fold did
// before 00033, and with the per-content counts (repository_contents,
// content_usage) left out of that, as it was before them: the ratios are
// what counting once saves and what counting sharing per layer content
// costs the fold.
func BenchmarkFold(b *testing.B) {
	opts := synth.Defaults
	opts.Images = 20_000
	if n, err := strconv.Atoi(os.Getenv("LAYERQ_SYNTH_IMAGES")); err == nil && n >= 100 {
		opts.Images = n
	}
	for _, variant := range []string{"counted-once", "upserted", "per-blob-only"} {
		b.Run(variant, func(b *testing.B) {
			var fold time.Duration
			for range b.N {
				pool := pgtest.NewPool(b)
				if variant != "counted-once" {
					if _, err := pool.Exec(context.Background(), `CREATE OR REPLACE FUNCTION layerq_membership_unfolded() RETURNS boolean LANGUAGE sql AS 'SELECT false'`); err != nil {
						b.Fatal(err)
					}
				}
				if variant == "per-blob-only" {
					if _, err := pool.Exec(context.Background(), `CREATE OR REPLACE FUNCTION layerq_apply_membership(p_repo bigint[], p_manifest text[], p_delta integer[])
						RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM layerq_apply_membership_blobs(p_repo, p_manifest, p_delta); END; $$`); err != nil {
						b.Fatal(err)
					}
				}
				o := opts
				o.Log = func(format string, args ...any) {
					if strings.HasPrefix(format, "aggregates applied") {
						fold += args[0].(time.Duration)
					}
				}
				if _, err := synth.Generate(context.Background(), pool, o); err != nil {
					b.Fatal(err)
				}
				pool.Close()
			}
			b.ReportMetric(float64(fold.Milliseconds())/float64(b.N), "fold-ms")
			b.ReportMetric(float64(opts.Images), "images")
			b.ReportMetric(0, "ns/op")
		})
	}
}

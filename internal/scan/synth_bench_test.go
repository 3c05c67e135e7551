package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

// BenchmarkScanSynthetic scans the synthetic registry of synth.PushRegistry
// (LAYERQ_SYNTH_REPOS repositories, default 200, 5 pushes each: Zipf bases,
// cache busts, indexes, SBOMs) served by go-containerregistry's registry (in
// this process) and by the CNCF distribution registry (in its own, as it
// runs in production), and compares it with bare GETs of
// everything a scan must read (each tag's manifest, index children,
// configs), 32 at a time, in the same run.
func BenchmarkScanSynthetic(b *testing.B) {
	repos := 200
	if n, err := strconv.Atoi(os.Getenv("LAYERQ_SYNTH_REPOS")); err == nil && n > 0 {
		repos = n
	}
	for _, kind := range []string{"go-containerregistry", "distribution"} {
		b.Run("registry="+kind, func(b *testing.B) {
			reg := registrytest.New(b)
			if kind == "distribution" {
				reg = registrytest.NewDistributionProcess(b)
			}
			sum, err := synth.PushRegistry(context.Background(), reg.Host, synth.RegistryOptions{Repositories: repos, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			var raw, scanned time.Duration
			for range b.N {
				t0 := time.Now()
				gets, err := rawWalk(context.Background(), reg.Host, sum.Refs)
				if err != nil {
					b.Fatal(err)
				}
				raw += time.Since(t0)
				pool := pgtest.NewPool(b)
				w, err := walker.New(walker.Options{Jobs: 32, PageSize: 1000})
				if err != nil {
					b.Fatal(err)
				}
				t0 = time.Now()
				res, err := scan.Run(context.Background(), graph.New(pool), w, scan.Options{Registry: reg.Host, Repositories: repoglob.Compile("**"), Jobs: 32})
				if err != nil || res.Errors != 0 {
					b.Fatalf("scan: %s, %v", res, err)
				}
				scanned += time.Since(t0)
				b.ReportMetric(float64(gets), "GETs/pass")
			}
			n := float64(len(sum.Refs) * b.N)
			b.ReportMetric(n/scanned.Seconds(), "tags/s")
			b.ReportMetric(n/raw.Seconds(), "raw_tags/s")
			b.ReportMetric(raw.Seconds()/scanned.Seconds(), "ratio_to_raw")
			b.ReportMetric(float64(sum.Images), "images")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// rawWalk GETs what a scan must read of refs, 32 at a time, and returns how
// many GETs that took.
func rawWalk(ctx context.Context, host string, refs []synth.Pushed) (int, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	accept := "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
	get := func(path string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/"+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return body, err
	}
	type doc struct {
		Config    *struct{ Digest string }  `json:"config"`
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	var gets = make([]int, len(refs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i, r := range refs {
		g.Go(func() error {
			var walk func(ref string) error
			walk = func(ref string) error {
				body, err := get(r.Repository + "/manifests/" + ref)
				gets[i]++
				if err != nil {
					return err
				}
				var d doc
				if err := json.Unmarshal(body, &d); err != nil {
					return err
				}
				if d.Config != nil && d.Config.Digest != "" {
					gets[i]++
					if _, err := get(r.Repository + "/blobs/" + d.Config.Digest); err != nil {
						return err
					}
				}
				for _, m := range d.Manifests {
					if err := walk(m.Digest); err != nil {
						return err
					}
				}
				return nil
			}
			return walk(r.Tag)
		})
	}
	err := g.Wait()
	total := 0
	for _, n := range gets {
		total += n
	}
	return total, err
}

package synth

import (
	"context"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/layerq/layerq/internal/sample"
)

// RegistryOptions shape a synthetic registry pushed to a real one.
type RegistryOptions struct {
	// Repositories of applications (default 100), in Namespaces (10).
	Repositories, Namespaces int
	// Bases to build on (default 8), picked by Zipf popularity (s = 1.2).
	Bases int
	// Pushes per repository (default 5), each tagged v1.<n> and latest.
	Pushes int
	// IndexEvery: every n-th repository pushes two-platform indexes
	// (default 10; 0 none). ArtifactEvery: every n-th push also pushes an
	// SBOM artifact naming the image as its subject (default 7; 0 none).
	IndexEvery, ArtifactEvery int
	// Jobs is how many repositories are pushed at once (default 8).
	Jobs int
	Seed uint64
}

func (o *RegistryOptions) defaults() {
	for _, d := range []struct {
		v   *int
		def int
	}{{&o.Repositories, 100}, {&o.Namespaces, 10}, {&o.Bases, 8}, {&o.Pushes, 5}, {&o.IndexEvery, 10}, {&o.ArtifactEvery, 7}, {&o.Jobs, 8}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.IndexEvery < 0 {
		o.IndexEvery = 0
	}
	if o.ArtifactEvery < 0 {
		o.ArtifactEvery = 0
	}
}

// Pushed is one tag the generator pushed.
type Pushed struct {
	Repository, Tag, Digest string
	// Kind is "image", "index" or "artifact".
	Kind string
}

// RegistrySummary says what was pushed.
type RegistrySummary struct {
	Tags, Images, Indexes, Artifacts int
	// CacheBusts counts the pushes, per platform, whose dependency layer
	// changed (the lock file moved) after the first; the others reuse every
	// layer but the code.
	CacheBusts int
	Refs       []Pushed
}

// layerSize draws a realistic layer size: most layers are small (config
// files, code), a few are large (dependencies), from 2 KiB to 512 KiB.
func layerSize(rng *rand.Rand, large bool) int {
	if large {
		return 64<<10 + rng.IntN(448<<10)
	}
	return 2<<10 + rng.IntN(30<<10)
}

// PushRegistry builds a synthetic registry and pushes it to host (plain
// HTTP): Zipf-popular bases of 2–4 layers; applications on them with
// Dockerfile-like histories, pushed o.Pushes times each with a dependency
// layer that changes now and then (a cache bust at the lock-file step) and
// a code layer that changes every push; some two-platform indexes, some
// SBOM artifacts. The same options push the same digests.
func PushRegistry(ctx context.Context, host string, o RegistryOptions) (RegistrySummary, error) {
	o.defaults()
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	var sum RegistrySummary
	bases := make([]v1.Image, o.Bases)
	for i := range bases {
		steps := []sample.Step{{CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD file:rootfs%d in / ", i),
			Files: []sample.File{{Path: "usr/lib/os-release", Content: sample.Text(fmt.Sprint("os", i), layerSize(rng, true))}}}}
		for j := range 1 + rng.IntN(3) {
			steps = append(steps, sample.Step{CreatedBy: fmt.Sprintf("RUN apt-get install -y pkg%d-%d # buildkit", i, j),
				Files: []sample.File{{Path: fmt.Sprintf("usr/share/pkg%d/%d", i, j), Content: sample.Text(fmt.Sprint("pkg", i, j), layerSize(rng, j == 0))}}})
		}
		img, err := sample.Build(sample.Spec{Steps: steps, Created: sample.Epoch.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			return sum, err
		}
		bases[i] = img
		ref := fmt.Sprintf("library/base-%d:1", i)
		if err := write(ctx, host, ref, img); err != nil {
			return sum, err
		}
		sum.Images++
		sum.Tags++
		d, _ := img.Digest()
		sum.Refs = append(sum.Refs, Pushed{Repository: fmt.Sprintf("library/base-%d", i), Tag: "1", Digest: d.String(), Kind: "image"})
	}
	zipf := mrand.NewZipf(mrand.New(mrand.NewSource(int64(o.Seed))), 1.2, 1, uint64(o.Bases-1))

	type plan struct {
		repo   string
		base   v1.Image
		index  bool
		busts  []bool
		sizes  []int
		seed   uint64
		sbomAt []bool
	}
	plans := make([]plan, o.Repositories)
	push := 0
	for r := range plans {
		p := plan{repo: fmt.Sprintf("team-%02d/svc-%03d", r%o.Namespaces, r), base: bases[zipf.Uint64()],
			index: o.IndexEvery > 0 && r%o.IndexEvery == o.IndexEvery-1, seed: rng.Uint64()}
		for n := range o.Pushes {
			bust := n == 0 || rng.Float64() < 0.25
			p.busts = append(p.busts, bust)
			p.sizes = append(p.sizes, layerSize(rng, true), layerSize(rng, false))
			push++
			p.sbomAt = append(p.sbomAt, o.ArtifactEvery > 0 && push%o.ArtifactEvery == 0)
			if bust && n > 0 {
				sum.CacheBusts += map[bool]int{true: 2, false: 1}[p.index] // a stream per platform
			}
		}
		plans[r] = p
	}

	results := make([]RegistrySummary, len(plans))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Jobs)
	for r, p := range plans {
		g.Go(func() error {
			res := &results[r]
			deps := 0
			for n := range o.Pushes {
				if p.busts[n] {
					deps = n
				}
				build := func(arch string) (v1.Image, error) {
					return sample.Build(sample.Spec{Base: p.base, Arch: arch, Created: sample.Epoch.Add(time.Duration(24*n) * time.Hour),
						Labels: map[string]string{"org.opencontainers.image.source": "https://git.example.com/" + p.repo},
						Steps: []sample.Step{
							{CreatedBy: "WORKDIR /app", Empty: true},
							{CreatedBy: "COPY requirements.lock . # buildkit", Files: []sample.File{{Path: "app/requirements.lock", Content: []byte(fmt.Sprintf("%s deps %d %s", p.repo, deps, arch))}}},
							{CreatedBy: "RUN pip install -r requirements.lock # buildkit", Files: []sample.File{{Path: "app/site-packages/deps", Content: sample.Text(fmt.Sprint(p.repo, deps, arch), p.sizes[2*deps])}}},
							{CreatedBy: "COPY . . # buildkit", Files: []sample.File{{Path: "app/main.py", Content: sample.Text(fmt.Sprint(p.repo, n, arch), p.sizes[2*n+1])}}},
							{CreatedBy: `CMD ["python", "main.py"]`, Empty: true},
						}})
				}
				tags := []string{fmt.Sprintf("v1.%d", n), "latest"}
				var subject v1.Descriptor
				if p.index {
					amd, err := build("amd64")
					if err != nil {
						return err
					}
					arm, err := build("arm64")
					if err != nil {
						return err
					}
					idx, err := sample.Index([]v1.Image{amd, arm}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, sample.OCI)
					if err != nil {
						return err
					}
					for _, tag := range tags {
						if err := writeIndex(ctx, host, p.repo+":"+tag, idx); err != nil {
							return err
						}
					}
					res.Indexes++
					res.Images += 2
					d, _ := idx.Digest()
					mt, _ := idx.MediaType()
					raw, _ := idx.RawManifest()
					subject = v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
				} else {
					img, err := build("")
					if err != nil {
						return err
					}
					for _, tag := range tags {
						if err := write(ctx, host, p.repo+":"+tag, img); err != nil {
							return err
						}
					}
					res.Images++
					d, _ := img.Digest()
					mt, _ := img.MediaType()
					raw, _ := img.RawManifest()
					subject = v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
				}
				kind := map[bool]string{true: "index", false: "image"}[p.index]
				res.Tags++
				res.Refs = append(res.Refs, Pushed{Repository: p.repo, Tag: tags[0], Digest: subject.Digest.String(), Kind: kind})
				if n == o.Pushes-1 {
					res.Tags++
					res.Refs = append(res.Refs, Pushed{Repository: p.repo, Tag: "latest", Digest: subject.Digest.String(), Kind: kind})
				}
				if p.sbomAt[n] {
					sbom, err := sample.Artifact("application/spdx+json", []byte(fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","name":%q}`, p.repo)), subject)
					if err != nil {
						return err
					}
					tag := fmt.Sprintf("v1.%d.sbom", n)
					if err := write(ctx, host, p.repo+":"+tag, sbom); err != nil {
						return err
					}
					res.Artifacts++
					res.Tags++
					sd, _ := sbom.Digest()
					res.Refs = append(res.Refs, Pushed{Repository: p.repo, Tag: tag, Digest: sd.String(), Kind: "artifact"})
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return sum, err
	}
	for _, r := range results {
		sum.Tags += r.Tags
		sum.Images += r.Images
		sum.Indexes += r.Indexes
		sum.Artifacts += r.Artifacts
		sum.Refs = append(sum.Refs, r.Refs...)
	}
	return sum, nil
}

func write(ctx context.Context, host, ref string, img v1.Image) error {
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

func writeIndex(ctx context.Context, host, ref string, idx v1.ImageIndex) error {
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

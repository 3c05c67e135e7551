// Package synth writes a synthetic registry graph straight into Postgres:
// repositories whose images are built on popular bases (Zipf), pushed again
// and again with the build cache busted at realistic steps, with tag
// histories, stale bases and deletes. Reports are benchmarked on it at sizes
// no test registry reaches.
//
// The rows go in with COPY, memberships and tag events in chunks, so the
// graph's triggers build the aggregates the way ingest does, batch by batch.
package synth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/graph"
)

// Options size the graph.
type Options struct {
	// Images is how many application image manifests to push (base builds
	// come on top).
	Images int
	// PerRepository is how many pushes each application repository gets.
	PerRepository int
	// Namespaces spread the repositories.
	Namespaces int
	// Bases is how many base image repositories there are; BaseBuilds how
	// many builds each has over the history.
	Bases, BaseBuilds int
	// AppLayers is how many layers an application adds on its base.
	AppLayers int
	// DeleteFraction of application images are deleted at the end.
	DeleteFraction float64
	// Recompressed is the fraction of application pushes also held as a
	// zstd-recompressed copy (as registries that convert images hold
	// them): another manifest with the same config and layer contents,
	// every layer another, smaller blob; untagged, deleted with its
	// original.
	Recompressed float64
	// Files gives every layer blob a file index of realistic shape
	// (files.go) and every live image its waste, as serve keeps them once
	// the layers are indexed.
	Files bool
	// Chunk is how many memberships (and tag events) go in per statement.
	Chunk int
	// FoldEachChunk folds the aggregates after each chunk, as serve folds
	// while pushes arrive, instead of once after the whole history.
	FoldEachChunk bool
	// NoFold leaves everything queued (no fold at the end), for a first
	// fold to be timed on its own; not with Files, whose waste needs it.
	NoFold bool
	Seed   uint64
	// Log, when set, hears how long each phase took.
	Log func(format string, args ...any)
}

// Defaults are 100k images with about 1M manifest-layer edges (10 per
// image: 3 of a base on average, weighted by popularity, and 7 of the
// application).
var Defaults = Options{
	Images: 100_000, PerRepository: 100, Namespaces: 50, Bases: 20, BaseBuilds: 5,
	AppLayers: 7, DeleteFraction: 0.05, Recompressed: 0.02, Chunk: 10_000, Seed: 1,
}

// Summary says what was generated.
type Summary struct {
	Repositories, Images, Edges, Blobs, TagEvents, Deleted int
	// Recompressed counts the recompressed copies among Images.
	Recompressed int
	// IndexedLayers and Entries count the layer blobs given a file index
	// and their entries (Options.Files).
	IndexedLayers, Entries int
	// Until is the time of the last push.
	Until time.Time
}

func digest(parts ...any) string {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	return "sha256:" + hex.EncodeToString(h[:])
}

type layer struct {
	blob, diffID, chain, createdBy string
	size                           int64
	zstd                           bool
	// What its file index follows from (files.go): its key, and the
	// key of the layer below it when it was built; the step that made it;
	// for a base layer, the base, its build, how many steps the build has
	// and whether it is built on another base.
	key, parent   string
	step          int
	base, derived bool
	k, b, n       int
}

// mediaType is the layer's blob's media type.
func (l layer) mediaType() string {
	if l.zstd {
		return "application/vnd.oci.image.layer.v1.tar+zstd"
	}
	return "application/vnd.oci.image.layer.v1.tar+gzip"
}

type image struct {
	repo     int
	digest   string
	layers   []layer
	created  time.Time
	cfg      string
	cfgSize  int64
	deleted  bool
	tagEvent bool // pushed to its repository's latest tag after another
	copy     bool // a recompressed copy, untagged
}

// appSteps are the steps an application adds, with the probability that
// a push busts the cache at that step.
var appSteps = []struct {
	createdBy string
	bust      float64
}{
	{"COPY package.json package-lock.json ./ # buildkit", 0.10},
	{"RUN /bin/sh -c npm ci # buildkit", 0.05},
	{"COPY . . # buildkit", 0.55},
	{"RUN /bin/sh -c npm run build # buildkit", 0.10},
	{"RUN /bin/sh -c apt-get update && apt-get install -y curl # buildkit", 0.10},
	{"COPY --from=build /app/dist /srv # buildkit", 0.10},
	{"RUN /bin/sh -c chown -R app /srv # buildkit", 0},
}

// Generate writes the graph into the (migrated, empty) database behind pool.
func Generate(ctx context.Context, pool *pgxpool.Pool, opts Options) (Summary, error) {
	rng := rand.New(rand.NewPCG(opts.Seed, 99))
	const registry = "synth.test"
	// The history ends now, so windows like --since 30d select its last
	// pushes.
	span := 300 * 24 * time.Hour
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-span)

	nRepos := max(1, opts.Images/opts.PerRepository)
	var repoNames []string
	for k := range opts.Bases {
		repoNames = append(repoNames, fmt.Sprintf("library/base-%02d", k))
	}
	for i := range nRepos {
		repoNames = append(repoNames, fmt.Sprintf("ns%02d/app-%05d", i%opts.Namespaces, i))
	}

	// Base builds: base k has BaseBuilds builds spread over the history;
	// bases from 10 on are built on base k-10's build of the time.
	type build struct {
		img *image
		at  time.Time
	}
	baseBuilds := make([][]build, opts.Bases)
	var images []*image
	chainOf := func(parent, diff string) string {
		if parent == "" {
			return diff
		}
		return digest(parent, " ", diff)
	}
	newLayer := func(parent *layer, key, createdBy string, size int64) layer {
		diff := digest("diff ", key)
		p := ""
		if parent != nil {
			p = parent.chain
		}
		pk := ""
		if parent != nil {
			pk = parent.key
		}
		return layer{blob: digest("blob ", key), diffID: diff, chain: chainOf(p, diff), createdBy: createdBy, size: size, key: key, parent: pk}
	}
	buildAt := func(k int, at time.Time) *image {
		var cur *image
		for _, b := range baseBuilds[k] {
			if !b.at.After(at) {
				cur = b.img
			}
		}
		return cur
	}
	for b := range opts.BaseBuilds {
		for k := range opts.Bases {
			at := t0.Add(time.Duration(b) * span / time.Duration(opts.BaseBuilds))
			img := &image{repo: k, digest: digest("base ", k, " ", b), created: at, cfg: digest("base config ", k, " ", b), cfgSize: 2000 + int64(k)}
			if k >= 10 && opts.Bases > 10 {
				parent := buildAt(k-10, at)
				img.layers = append(img.layers, parent.layers...)
			}
			n := 2 + k%3
			for j := range n {
				var parent *layer
				if len(img.layers) > 0 {
					parent = &img.layers[len(img.layers)-1]
				}
				l := newLayer(parent, fmt.Sprint("base ", k, " ", b, " ", j),
					fmt.Sprintf("RUN /bin/sh -c build-base-%02d step %d # buildkit", k, j), 5<<20+int64(rng.IntN(40<<20)))
				l.base, l.derived, l.k, l.b, l.step, l.n = true, k >= 10 && opts.Bases > 10, k, b, j, n
				img.layers = append(img.layers, l)
			}
			img.tagEvent = b > 0
			baseBuilds[k] = append(baseBuilds[k], build{img, at})
			images = append(images, img)
		}
	}

	var sum Summary
	// Applications: each repository picks a base (Zipf), pins it (30%) or
	// follows its new builds, and pushes PerRepository times.
	zipf := rand.NewZipf(rng, 1.2, 1, uint64(opts.Bases-1))
	// Copies draw from their own source, so the rest of the graph is the
	// same with or without them.
	copies := rand.New(rand.NewPCG(opts.Seed, 7))
	for r := range nRepos {
		repo := opts.Bases + r
		k := int(zipf.Uint64())
		pinned := rng.Float64() < 0.3
		start := t0.Add(time.Duration(rng.Int64N(int64(span / 3))))
		step := (span - start.Sub(t0)) / time.Duration(opts.PerRepository+1)
		var prev []layer
		var pinnedBase *image
		for i := range opts.PerRepository {
			at := start.Add(time.Duration(i+1) * step)
			base := buildAt(k, at)
			if base == nil {
				base = baseBuilds[k][0].img
			}
			if pinned {
				if pinnedBase == nil {
					pinnedBase = base
				}
				base = pinnedBase
			}
			bust := len(appSteps) // first app step that changes
			if prev != nil {
				x := rng.Float64()
				for j, s := range appSteps[:opts.AppLayers] {
					if x -= s.bust; x < 0 {
						bust = j
						break
					}
				}
				if bust >= opts.AppLayers {
					bust = opts.AppLayers - 1
				}
			}
			img := &image{repo: repo, digest: digest("app ", r, " ", i), created: at, cfg: digest("app config ", r, " ", i),
				cfgSize: 4000 + int64(rng.IntN(4000)), tagEvent: i > 0}
			img.layers = append(img.layers, base.layers...)
			sameBase := prev != nil && prev[len(base.layers)-1].chain == base.layers[len(base.layers)-1].chain
			for j := range opts.AppLayers {
				parent := &img.layers[len(img.layers)-1]
				if sameBase && j < bust {
					l := prev[len(base.layers)+j]
					l.chain = chainOf(parent.chain, l.diffID)
					img.layers = append(img.layers, l)
					continue
				}
				size := int64(math.Exp(rng.Float64()*math.Log(50<<20-1024))) + 1024
				l := newLayer(parent, fmt.Sprint("app ", r, " ", i, " ", j), appSteps[j%len(appSteps)].createdBy, size)
				l.step = j % len(appSteps)
				img.layers = append(img.layers, l)
			}
			prev = img.layers
			img.deleted = rng.Float64() < opts.DeleteFraction
			images = append(images, img)
			if copies.Float64() < opts.Recompressed {
				c := &image{repo: repo, digest: digest("app zstd ", r, " ", i), created: at, cfg: img.cfg, cfgSize: img.cfgSize,
					deleted: img.deleted, copy: true}
				for _, l := range img.layers {
					l.blob, l.size, l.zstd = digest("zstd ", l.blob), l.size*17/20, true
					c.layers = append(c.layers, l)
				}
				images = append(images, c)
				sum.Recompressed++
			}
		}
	}

	sum.Repositories = len(repoNames)
	for _, img := range images {
		if img.created.After(sum.Until) {
			sum.Until = img.created
		}
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"repositories"}, []string{"registry", "name"},
			pgx.CopyFromSlice(len(repoNames), func(i int) ([]any, error) { return []any{registry, repoNames[i]}, nil })); err != nil {
			return fmt.Errorf("repositories: %w", err)
		}
		blobs := map[string]layer{}
		var edges [][]any
		var manifests [][]any
		for _, img := range images {
			var total int64
			for p, l := range img.layers {
				blobs[l.blob] = l
				total += l.size
				edges = append(edges, []any{img.digest, int32(p), l.blob, l.mediaType(), l.chain, l.createdBy, img.created})
			}
			manifests = append(manifests, []any{img.digest, "application/vnd.oci.image.manifest.v1+json", int64(1200), "image",
				img.cfg, "application/vnd.oci.image.config.v1+json", img.cfgSize, "linux", "amd64", img.created,
				int32(len(img.layers)), total})
		}
		var blobRows [][]any
		for _, l := range blobs {
			blobRows = append(blobRows, []any{l.blob, l.size, l.mediaType(), l.diffID})
		}
		sum.Images, sum.Edges, sum.Blobs = len(images), len(edges), len(blobRows)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"blobs"}, []string{"digest", "size", "media_type", "diff_id"}, pgx.CopyFromRows(blobRows)); err != nil {
			return fmt.Errorf("blobs: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"manifests"}, []string{"digest", "media_type", "size", "kind",
			"config_digest", "config_media_type", "config_size", "os", "architecture", "created", "layer_count", "layers_size"},
			pgx.CopyFromRows(manifests)); err != nil {
			return fmt.Errorf("manifests: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"manifest_layers"}, []string{"manifest_digest", "position", "blob_digest",
			"media_type", "chain_id", "created_by", "created"}, pgx.CopyFromRows(edges)); err != nil {
			return fmt.Errorf("manifest layers: %w", err)
		}
		return nil
	})
	if err != nil {
		return sum, err
	}

	// Memberships in chunks, bases first, through the triggers.
	ids := map[string]int64{}
	rows, err := pool.Query(ctx, `SELECT id, name FROM repositories WHERE registry = $1`, registry)
	if err != nil {
		return sum, err
	}
	var id int64
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { ids[name] = id; return nil }); err != nil {
		return sum, err
	}
	repoID := func(img *image) int64 { return ids[repoNames[img.repo]] }
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			opts.Log(format, args...)
		}
	}
	// Statistics as a running system has them (autovacuum would, given
	// time), so the triggers' statements are planned for the real sizes.
	analyze := func() error {
		_, err := pool.Exec(ctx, `ANALYZE`)
		return err
	}
	if err := analyze(); err != nil {
		return sum, err
	}
	// The folds after each chunk are timed apart: the phases' own times
	// leave them out.
	var folding time.Duration
	var phase time.Time
	foldChunk := func() error {
		if !opts.FoldEachChunk {
			return nil
		}
		began := time.Now()
		_, err := graph.New(pool).ApplyAggregates(ctx)
		took := time.Since(began)
		folding += took
		phase = phase.Add(took)
		if err != nil {
			return fmt.Errorf("folding after a chunk: %w", err)
		}
		return nil
	}
	phase = time.Now()
	for lo := 0; lo < len(images); lo += opts.Chunk {
		chunk := images[lo:min(lo+opts.Chunk, len(images))]
		logf("memberships %d-%d: %s", lo, lo+len(chunk), time.Since(phase).Round(time.Millisecond))
		if lo > 0 {
			if err := analyze(); err != nil {
				return sum, err
			}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"repository_manifests"}, []string{"repository_id", "manifest_digest", "first_seen", "observed_at"},
			pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
				return []any{repoID(chunk[i]), chunk[i].digest, chunk[i].created, chunk[i].created}, nil
			})); err != nil {
			return sum, fmt.Errorf("memberships: %w", err)
		}
		if err := foldChunk(); err != nil {
			return sum, err
		}
	}

	// Tags: each repository's latest is its last push; every push after
	// the first moved it (a tag event with the previous digest).
	last := map[int]*image{}
	var events [][]any
	for _, img := range images {
		if img.copy {
			continue
		}
		if img.tagEvent {
			events = append(events, []any{repoID(img), "latest", "push", img.digest, last[img.repo].digest, img.created, "synth"})
		}
		last[img.repo] = img
	}
	var tagRows [][]any
	for _, img := range last {
		tagRows = append(tagRows, []any{repoID(img), "latest", img.digest, img.created})
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"tags"}, []string{"repository_id", "name", "manifest_digest", "updated_at"}, pgx.CopyFromRows(tagRows)); err != nil {
		return sum, fmt.Errorf("tags: %w", err)
	}
	// Every repository's first push made the tag (no previous digest).
	var first [][]any
	seen := map[int]bool{}
	for _, img := range images {
		if !seen[img.repo] && !img.copy {
			seen[img.repo] = true
			first = append(first, []any{repoID(img), "latest", "push", img.digest, nil, img.created, "synth"})
		}
	}
	events = append(first, events...)
	sum.TagEvents = len(events)
	logf("memberships done: %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	for lo := 0; lo < len(events); lo += opts.Chunk {
		chunk := events[lo:min(lo+opts.Chunk, len(events))]
		logf("tag events %d-%d: %s", lo, lo+len(chunk), time.Since(phase).Round(time.Millisecond))
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"tag_events"}, []string{"repository_id", "tag", "action", "manifest_digest",
			"previous_digest", "occurred_at", "source"}, pgx.CopyFromRows(chunk)); err != nil {
			return sum, fmt.Errorf("tag events: %w", err)
		}
		if err := foldChunk(); err != nil {
			return sum, err
		}
	}

	// Deletes, through the membership trigger.
	var delRepo []int64
	var delDigest []string
	for _, img := range images {
		if img.deleted {
			delRepo, delDigest = append(delRepo, repoID(img)), append(delDigest, img.digest)
		}
	}
	logf("tag events done: %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	sum.Deleted = len(delRepo)
	if _, err := pool.Exec(ctx, `UPDATE repository_manifests rm SET deleted_at = now()
		FROM unnest($1::bigint[], $2::text[]) AS d(repository_id, manifest_digest)
		WHERE rm.repository_id = d.repository_id AND rm.manifest_digest = d.manifest_digest`, delRepo, delDigest); err != nil {
		return sum, fmt.Errorf("deletes: %w", err)
	}
	logf("deletes done: %s", time.Since(phase).Round(time.Millisecond))
	phase = time.Now()
	if err := analyze(); err != nil {
		return sum, err
	}
	if opts.NoFold {
		logf("aggregates left queued")
		return sum, nil
	}
	if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
		return sum, fmt.Errorf("applying the aggregates: %w", err)
	}
	if opts.FoldEachChunk {
		logf("aggregates folded after each chunk: %s", folding.Round(time.Millisecond))
	}
	logf("aggregates applied: %s", time.Since(phase).Round(time.Millisecond))
	if opts.Files {
		if err := writeFiles(ctx, graph.New(pool), images, &sum, logf); err != nil {
			return sum, err
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return sum, err
	}
	return sum, nil
}

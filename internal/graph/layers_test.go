package graph_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// SaveLayerIndexes writes what SaveLayerIndex writes, layer by layer, and
// leaves a layer already indexed as it is.
func TestSaveLayerIndexesAsOneByOne(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	file := func(path, content string, size int64) fileindex.Entry {
		e := fileindex.Entry{Path: path, Type: fileindex.File, Size: size, Mode: 0o644, UID: 1000, GID: 1000}
		copy(e.Digest[:], digest(content))
		return e
	}
	index := func(n int) *fileindex.Index {
		es := []fileindex.Entry{{Path: "etc", Type: fileindex.Dir, Mode: 0o755}, {Path: "etc/gone", Type: fileindex.Whiteout},
			{Path: "bin/sh", Type: fileindex.Symlink, Mode: 0o777, Link: "/bin/busybox"}, {Path: "etc/\xff", Type: fileindex.File, Size: 3}}
		for i := range n {
			es = append(es, file("etc/f"+string(rune('a'+i)), "c"+string(rune('a'+i)), int64(10*i)))
		}
		return &fileindex.Index{Entries: es, UncompressedSize: 4096, Compression: "gzip"}
	}
	if _, err := store.SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: "sha256:one", DiffID: "sha256:d1", CompressedSize: 100, Index: index(3)}); err != nil {
		t.Fatal(err)
	}
	wrote, err := store.SaveLayerIndexes(ctx, []graph.LayerIndex{
		{BlobDigest: "sha256:many", DiffID: "sha256:d1", CompressedSize: 100, Index: index(3)},
		{BlobDigest: "sha256:other", CompressedSize: 50, Index: index(5)},
		{BlobDigest: "sha256:one", CompressedSize: 1, Index: index(0)}, // indexed already: left as is
	})
	if err != nil || wrote != 2 {
		t.Fatalf("SaveLayerIndexes wrote %d (%v), want 2", wrote, err)
	}
	const files = `SELECT ordinal, type, path, size, mode, uid, gid, digest, link FROM layer_files WHERE blob_digest = $1 ORDER BY ordinal`
	const idx = `SELECT diff_id, compression, compressed_size, uncompressed_size, entries, files, file_bytes FROM layer_indexes WHERE blob_digest = $1`
	if one, many := rows(t, pool, files, "sha256:one"), rows(t, pool, files, "sha256:many"); len(one) != 7 || !slices.Equal(one, many) {
		t.Errorf("entries one by one:\n%v\nin a batch:\n%v", one, many)
	}
	if one, many := rows(t, pool, idx, "sha256:one"), rows(t, pool, idx, "sha256:many"); !slices.Equal(one, many) {
		t.Errorf("index row one by one %v, in a batch %v", one, many)
	}
	if other := rows(t, pool, files, "sha256:other"); len(other) != 9 {
		t.Errorf("%d entries of the second layer, want 9", len(other))
	}
	// Each layer's regular files by path, for find: the same in a batch
	// as one by one (their digests are not hex: keyed by a hash).
	const paths = `SELECT fp.path, pl.files FROM path_layers pl JOIN file_paths fp ON fp.id = pl.path_id WHERE pl.layer = layerq_digest_key($1)`
	if one, many := rows(t, pool, paths, "sha256:one"), rows(t, pool, paths, "sha256:many"); len(one) != 4 || !slices.Equal(one, many) {
		t.Errorf("paths one by one:\n%v\nin a batch:\n%v", one, many)
	}
	if other := rows(t, pool, paths, "sha256:other"); len(other) != 6 {
		t.Errorf("%d paths of the second layer, want 6: %v", len(other), other)
	}
	// Each blob written is queued once for its near-duplicate keys, which
	// the index's transaction leaves to ApplyLayerKeys.
	if q, k := rows(t, pool, `SELECT blob_digest FROM layer_keys_queue ORDER BY blob_digest`), rows(t, pool, `SELECT blob_digest FROM layer_file_keys`); !slices.Equal(q, []string{"[sha256:many]", "[sha256:one]", "[sha256:other]"}) || len(k) != 0 {
		t.Errorf("queued %v and keys of %v; want the three blobs queued and no keys yet", q, k)
	}
	var told [][2]int64
	if n, err := store.ApplyLayerKeysProgress(ctx, func(taken int, queued int64) { told = append(told, [2]int64{int64(taken), queued}) }); err != nil || n != 3 {
		t.Fatalf("ApplyLayerKeys took %d (%v), want 3", n, err)
	}
	if want := [][2]int64{{0, 3}, {3, 3}}; !slices.Equal(told, want) {
		t.Errorf("progress told %v, want %v (0 of 3 before, 3 of 3 after the batch)", told, want)
	}
	const keys = `SELECT file_bytes, keys, sizes FROM layer_file_keys WHERE blob_digest = $1`
	if one, many := rows(t, pool, keys, "sha256:one"), rows(t, pool, keys, "sha256:many"); len(one) != 1 || !slices.Equal(one, many) {
		t.Errorf("keys of the layer indexed alone %v, of its copy indexed in a batch %v", one, many)
	}
	if q := rows(t, pool, `SELECT blob_digest FROM layer_keys_queue`); len(q) != 0 {
		t.Errorf("still queued after ApplyLayerKeys: %v", q)
	}
}

// Layers indexed at once by several workers, one by one and in batches,
// while two appliers work out the queued keys, keep every pair at least
// 0.8 similar (layer_pairs): the pairs are those a comparison of every two
// layers' files gives, two layers whose keys are worked out in one batch
// or in two included, and two blobs of one diff_id are not a pair.
func TestLayerPairsConcurrent(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	type layer struct {
		li     graph.LayerIndex
		tokens map[string]int64 // path and content -> size
		bytes  int64
	}
	var layers []*layer
	// Families of 20-40 files; each layer is its family's files with a
	// few changed, dropped or added (some the largest), so pairs fall on
	// both sides of 0.8 and share their first file at any depth.
	for fam := range 8 {
		n := 20 + rng.IntN(20)
		sizes := make([]int64, n)
		for i := range sizes {
			sizes[i] = 1 + rng.Int64N(50_000)
		}
		for v := range 8 {
			l := &layer{tokens: map[string]int64{}}
			var es []fileindex.Entry
			add := func(path, content string, size int64) {
				e := fileindex.Entry{Path: path, Type: fileindex.File, Size: size, Mode: 0o644}
				copy(e.Digest[:], digest(content))
				es = append(es, e)
				l.bytes += size
				if size > 0 {
					l.tokens[path+"\x00"+content] = size
				}
			}
			for i, size := range sizes {
				switch r := rng.IntN(22); {
				case r == 0: // dropped
				case r == 1: // changed
					add(fmt.Sprintf("f%d", i), fmt.Sprintf("%d/%d/%d", fam, i, v), size)
				default:
					add(fmt.Sprintf("f%d", i), fmt.Sprintf("%d/%d", fam, i), size)
				}
			}
			if rng.IntN(3) == 0 {
				add("extra", fmt.Sprintf("extra %d %d", fam, v), rng.Int64N(80_000))
			}
			add("empty", "", 0)
			diffID := digest(fmt.Sprintf("diff %d %d", fam, v))
			if v == 7 { // the first variant recompressed: one tar, another blob
				es, l.tokens, l.bytes = layers[len(layers)-7].li.Index.Entries, layers[len(layers)-7].tokens, layers[len(layers)-7].bytes
				diffID = layers[len(layers)-7].li.DiffID
			}
			l.li = graph.LayerIndex{BlobDigest: digest(fmt.Sprintf("blob %d %d", fam, v)), DiffID: diffID, CompressedSize: 100,
				Index: &fileindex.Index{Entries: es, UncompressedSize: 1 << 20, Compression: "gzip"}}
			layers = append(layers, l)
		}
	}
	rng.Shuffle(len(layers), func(i, j int) { layers[i], layers[j] = layers[j], layers[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(layers)+2)
	// Two appliers work out the queued keys while the layers are indexed,
	// as serve's keeper and a report do.
	stop := make(chan struct{})
	var appliers sync.WaitGroup
	for range 2 {
		appliers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := store.ApplyLayerKeys(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for w := range 6 {
		wg.Go(func() {
			var batch []graph.LayerIndex
			for i := w; i < len(layers); i += 6 {
				if w%2 == 0 {
					if _, err := store.SaveLayerIndex(ctx, layers[i].li); err != nil {
						errs <- err
					}
					continue
				}
				if batch = append(batch, layers[i].li); len(batch) == 3 {
					if _, err := store.SaveLayerIndexes(ctx, batch); err != nil {
						errs <- err
					}
					batch = nil
				}
			}
			if _, err := store.SaveLayerIndexes(ctx, batch); len(batch) > 0 && err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(stop)
	appliers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// What the appliers left (indexed after their last pass).
	if _, err := store.ApplyLayerKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var queued, keyed int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM layer_keys_queue), (SELECT count(*) FROM layer_file_keys)`).Scan(&queued, &keyed); err != nil {
		t.Fatal(err)
	}
	if queued != 0 || keyed != len(layers) {
		t.Errorf("%d layers still queued and %d with keys, want 0 and %d", queued, keyed, len(layers))
	}

	var want []string
	below := 0
	for i, a := range layers {
		for _, b := range layers[i+1:] {
			if a.li.DiffID == b.li.DiffID {
				continue
			}
			var shared, files int64
			for tok, size := range a.tokens {
				if _, ok := b.tokens[tok]; ok {
					shared += size
					files++
				}
			}
			if shared == 0 {
				continue
			}
			sim := float64(shared) / float64(a.bytes+b.bytes-shared)
			if sim < 0.8 {
				below++
				continue
			}
			x, y := a.li.BlobDigest, b.li.BlobDigest
			if x > y {
				x, y = y, x
			}
			want = append(want, fmt.Sprint([]any{x, y, shared, files, sim}))
		}
	}
	slices.Sort(want)
	t.Logf("%d pairs at 0.8 or more, %d below", len(want), below)
	got := rows(t, pool, `SELECT layer_a, layer_b, shared_bytes, shared_files, similarity FROM layer_pairs ORDER BY 1, 2`)
	if len(want) < 30 || below < 30 {
		t.Fatalf("%d pairs at 0.8 or more and %d below: the layers test too little", len(want), below)
	}
	if !slices.Equal(got, want) {
		t.Errorf("layer_pairs (%d):\n%s\nwant (%d):\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
}

// Migration 00027 queues the layers the index's transaction used to give
// keys to: migrating down works out what is queued (the release before
// keeps no queue), and migrating up queues any layer indexed without keys.
func TestLayerKeysQueueMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := migratedTo(t, 0)
	store := graph.New(pool)
	layer := func(blob, diffID string) graph.LayerIndex {
		var es []fileindex.Entry
		for i := range 4 {
			e := fileindex.Entry{Path: fmt.Sprintf("usr/lib/f%d", i), Type: fileindex.File, Size: int64(1000 * (i + 1)), Mode: 0o644}
			copy(e.Digest[:], digest(fmt.Sprint("content ", i)))
			es = append(es, e)
		}
		return graph.LayerIndex{BlobDigest: blob, DiffID: diffID, CompressedSize: 100, Index: &fileindex.Index{Entries: es, UncompressedSize: 1 << 16, Compression: "gzip"}}
	}
	// One tar built twice (another diff_id, the same files): a pair.
	if _, err := store.SaveLayerIndexes(ctx, []graph.LayerIndex{layer("sha256:a", "sha256:da"), layer("sha256:b", "sha256:db")}); err != nil {
		t.Fatal(err)
	}
	const pairs = `SELECT layer_a, layer_b, shared_bytes, shared_files, similarity FROM layer_pairs`
	want := []string{"[sha256:a sha256:b 10000 4 1]"}
	if err := migrate.DownTo(ctx, url, layerKeysQueueVersion-1); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, pool, pairs); !slices.Equal(got, want) {
		t.Errorf("pairs after migrating down = %v, want %v", got, want)
	}
	// A layer without keys (as none should be) at the release before.
	if _, err := pool.Exec(ctx, `DELETE FROM layer_prefix_keys WHERE blob_digest = 'sha256:b';
		DELETE FROM layer_file_keys WHERE blob_digest = 'sha256:b'; DELETE FROM layer_pairs`); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	if q := rows(t, pool, `SELECT blob_digest FROM layer_keys_queue`); !slices.Equal(q, []string{"[sha256:b]"}) {
		t.Errorf("queued after migrating up: %v, want the layer without keys", q)
	}
	if n, err := store.ApplyLayerKeys(ctx); err != nil || n != 1 {
		t.Fatalf("ApplyLayerKeys took %d (%v), want 1", n, err)
	}
	if got := rows(t, pool, pairs); !slices.Equal(got, want) {
		t.Errorf("pairs after migrating up = %v, want %v", got, want)
	}
}

// layerKeysQueueVersion is the migration that queues layers for their keys.
const layerKeysQueueVersion = 27

// A layer whose keys cannot be worked out (here a constraint refuses its
// row) fails its batch: the batch is tried again one layer at a time, the
// layer goes to the end of the queue with its error, and the others get
// their keys; the call says so. A later call tries it again, alone, and
// once it can be worked out, it is.
func TestLayerKeysFailureHoldsNothingUp(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `ALTER TABLE layer_file_keys ADD CONSTRAINT refused CHECK (blob_digest <> 'sha256:b')`); err != nil {
		t.Fatal(err)
	}
	var lis []graph.LayerIndex
	for _, d := range []string{"sha256:a", "sha256:b", "sha256:c", "sha256:d"} {
		e := fileindex.Entry{Path: "f", Type: fileindex.File, Size: 100, Mode: 0o644}
		copy(e.Digest[:], digest(d))
		lis = append(lis, graph.LayerIndex{BlobDigest: d, DiffID: "diff " + d, CompressedSize: 10, Index: &fileindex.Index{Entries: []fileindex.Entry{e}, Compression: "gzip"}})
	}
	if _, err := store.SaveLayerIndexes(ctx, lis); err != nil {
		t.Fatal(err)
	}
	n, err := store.ApplyLayerKeys(ctx)
	var failed *graph.LayerKeysFailedError
	if n != 4 || !errors.As(err, &failed) || failed.Layers != 1 || failed.First != "sha256:b" || !strings.Contains(failed.LastError, "refused") {
		t.Errorf("ApplyLayerKeys took %d (%v), want 4 and the failure of sha256:b", n, err)
	}
	if k, q := rows(t, pool, `SELECT blob_digest FROM layer_file_keys ORDER BY blob_digest`), rows(t, pool, `SELECT blob_digest, attempts FROM layer_keys_queue`); !slices.Equal(k, []string{"[sha256:a]", "[sha256:c]", "[sha256:d]"}) || !slices.Equal(q, []string{"[sha256:b 1]"}) {
		t.Errorf("keys of %v and %v queued; want a, c and d, and b queued after 1 attempt", k, q)
	}
	// Still refused: tried alone, and at the end again.
	if n, err := store.ApplyLayerKeys(ctx); n != 1 || !errors.As(err, &failed) {
		t.Errorf("ApplyLayerKeys took %d (%v) while it is still refused, want 1 and the failure", n, err)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE layer_file_keys DROP CONSTRAINT refused`); err != nil {
		t.Fatal(err)
	}
	if n, err := store.ApplyLayerKeys(ctx); n != 1 || err != nil {
		t.Errorf("ApplyLayerKeys took %d (%v) once it could, want 1", n, err)
	}
	if q := rows(t, pool, `SELECT blob_digest FROM layer_keys_queue`); len(q) != 0 {
		t.Errorf("still queued: %v", q)
	}
}

// The listing each of the store's writes packs in Go is, byte for byte,
// what layerq_layer_listing packs from the rows written beside it: the
// paths as the rows hold them (bytes that are not UTF-8 and backslashes
// escaped), digests of regular files only, links only where there are.
func TestLayerListingsArePackedAsTheRows(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(36, 1))
	names := []string{"usr/lib/libc.so.6", "etc/\xff\xfe", `odd\x41`, "données/été.txt", ".", "a b"}
	index := func(n int) *fileindex.Index {
		es := make([]fileindex.Entry, n)
		for i := range es {
			e := fileindex.Entry{Path: fmt.Sprintf("%s/%d", names[rng.IntN(len(names))], i), Type: fileindex.EntryType(1 + rng.IntN(7)),
				Mode: int64(rng.IntN(0o10000)), UID: []int{0, 1000, 1<<40 + 3, -2}[rng.IntN(4)], GID: []int{0, 1<<32 + 1, -1}[rng.IntN(3)]}
			switch e.Type {
			case fileindex.File:
				e.Size = []int64{0, 1 << 33, rng.Int64N(1 << 20)}[rng.IntN(3)]
				copy(e.Digest[:], digest(e.Path))
			case fileindex.Symlink:
				e.Link = []string{"/bin/busybox", "../\xfflib", ""}[rng.IntN(3)]
			case fileindex.Hardlink:
				e.Link = names[rng.IntN(len(names))]
			}
			es[i] = e
		}
		return &fileindex.Index{Entries: es, UncompressedSize: 1 << 20, Compression: "gzip"}
	}
	if _, err := store.SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: "sha256:alone", Index: index(400)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SaveLayerIndexes(ctx, []graph.LayerIndex{{BlobDigest: "sha256:b1", Index: index(300)},
		{BlobDigest: "sha256:b2", Index: index(0)}, {BlobDigest: "sha256:b3", Index: index(1)}}); err != nil {
		t.Fatal(err)
	}
	var n, same int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE l.listing = layerq_layer_listing(li.blob_digest))
		FROM layer_indexes li LEFT JOIN layer_listings l USING (blob_digest)`).Scan(&n, &same); err != nil {
		t.Fatal(err)
	}
	if n != 4 || same != 4 {
		t.Errorf("%d of %d layers' listings as the rows pack them, want 4 of 4", same, n)
	}
}

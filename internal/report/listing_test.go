package report_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// A layer's listing, written with its entries by either of the store's
// writes, reads back as exactly its rows of layer_files: every field of
// every entry, in tar order, on a connection as the command makes it
// (text results) and on one as the ingest makes it; and so does a layer
// indexed without a listing.
func TestLayerListingsAreTheRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, pool := range []*pgxpool.Pool{pgtest.NewReportPool(t), pgtest.NewPool(t)} {
		store := graph.New(pool)
		rng := rand.New(rand.NewPCG(7, 36))
		index := func(n int) *fileindex.Index {
			es := make([]fileindex.Entry, n)
			for i := range es {
				es[i] = randomEntry(rng, i)
			}
			return &fileindex.Index{Entries: es, UncompressedSize: 1 << 20, Compression: "zstd"}
		}
		blobs := []string{"sha256:alone", "sha256:empty"}
		for _, li := range []graph.LayerIndex{{BlobDigest: "sha256:alone", Index: index(500)}, {BlobDigest: "sha256:empty", Index: index(0)}} {
			if wrote, err := store.SaveLayerIndex(ctx, li); err != nil || !wrote {
				t.Fatalf("SaveLayerIndex %s: %v, %v", li.BlobDigest, wrote, err)
			}
		}
		var batch []graph.LayerIndex
		for i := range 5 {
			d := fmt.Sprintf("sha256:batch%d", i)
			batch = append(batch, graph.LayerIndex{BlobDigest: d, Index: index(rng.IntN(300))})
			blobs = append(blobs, d)
		}
		if wrote, err := store.SaveLayerIndexes(ctx, batch); err != nil || wrote != len(batch) {
			t.Fatalf("SaveLayerIndexes: %d, %v", wrote, err)
		}
		// One layer as a layerq from before listings indexes it: rows only.
		if _, err := pool.Exec(ctx, `DELETE FROM layer_listings WHERE blob_digest = 'sha256:batch2'`); err != nil {
			t.Fatal(err)
		}
		got, err := report.LayerEntries(ctx, pool, append(blobs, "sha256:not-indexed"))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			want := tableEntries(t, pool, b)
			if len(got[b]) != len(want) {
				t.Errorf("layer %s: %d entries read, %d rows", b, len(got[b]), len(want))
				continue
			}
			for i := range want {
				if got[b][i] != want[i] {
					t.Errorf("layer %s, entry %d: read\n%+v\nrow\n%+v", b, i, got[b][i], want[i])
					break
				}
			}
		}
		if n := len(got["sha256:not-indexed"]); n != 0 {
			t.Errorf("a blob not indexed read as %d entries", n)
		}
	}
}

// randomEntry is an entry of any type with the fields its type carries,
// paths with bytes that are not UTF-8, backslashes and characters of
// several bytes, and numbers at the ends of their columns.
func randomEntry(rng *rand.Rand, i int) fileindex.Entry {
	names := []string{"usr/lib/x86_64-linux-gnu/libc.so.6", "etc/\xff\xfe", `odd\x41`, "données/été.txt", "a b/c", "."}
	e := fileindex.Entry{
		Path: fmt.Sprintf("%s/%d", names[rng.IntN(len(names))], i),
		Type: fileindex.EntryType(1 + rng.IntN(7)),
		Mode: int64(rng.IntN(0o10000)),
		UID:  []int{0, 1000, 1 << 31, 1<<40 + 3}[rng.IntN(4)],
		GID:  []int{0, 65534, 1<<32 + 1}[rng.IntN(3)],
	}
	switch e.Type {
	case fileindex.File:
		e.Size = []int64{0, 1, 1 << 33, rng.Int64N(1 << 20)}[rng.IntN(4)]
		for j := range e.Digest {
			e.Digest[j] = byte(rng.IntN(256))
		}
	case fileindex.Symlink:
		e.Link = []string{"/bin/busybox", "../\xfflib", "é"}[rng.IntN(3)]
	case fileindex.Hardlink:
		e.Link = "usr/bin/" + strings.Repeat("x", rng.IntN(300))
	}
	return e
}

// tableEntries reads a layer's rows of layer_files in tar order.
func tableEntries(t *testing.T, pool *pgxpool.Pool, blob string) []fileindex.Entry {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT type, path, size, mode, uid, gid, coalesce(digest, ''), coalesce(link, '')
		FROM layer_files WHERE blob_digest = $1 ORDER BY ordinal`, blob)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []fileindex.Entry
	for rows.Next() {
		var (
			e          fileindex.Entry
			typ        int16
			mode       int32
			uid, gid   int64
			digest     []byte
			path, link string
		)
		if err := rows.Scan(&typ, &path, &e.Size, &mode, &uid, &gid, &digest, &link); err != nil {
			t.Fatal(err)
		}
		e.Type, e.Path, e.Mode, e.UID, e.GID, e.Link = fileindex.EntryType(typ), path, int64(mode), int(uid), int(gid), link
		copy(e.Digest[:], digest)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

package layerindex_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/layerscan"
)

func tarOf(t *testing.T, n int, name func(i int) string, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := range n {
		if err := tw.WriteHeader(&tar.Header{Name: name(i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return b.Bytes()
}

func gzipOf(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// TestHostileLayersAreRecorded: each hostile blob in a registry is answered
// with its cap or verdict, recorded with a reason, and indexes nothing.
func TestHostileLayersAreRecorded(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.ix.Limits = layerscan.Limits{MaxUncompressed: 1 << 20, MaxEntries: 100}
	plain := func(i int) string { return fmt.Sprintf("f%d", i) }
	good := gzipOf(tarOf(t, 3, plain, []byte("ok")))
	cases := []struct {
		name   string
		blob   []byte
		class  string
		reason string
	}{
		{"bomb", gzipOf(tarOf(t, 1, plain, make([]byte, 64<<20))), "too_large", "exceeds the limit of 1048576 bytes"},
		{"many entries", gzipOf(tarOf(t, 101, plain, nil)), "too_many_entries", "more than 100 entries"},
		{"traversal", gzipOf(tarOf(t, 1, func(int) string { return "../../etc/passwd" }, []byte("x"))), "unsafe_path", `"../../etc/passwd"`},
		{"absolute", gzipOf(tarOf(t, 1, func(int) string { return "/etc/passwd" }, []byte("x"))), "unsafe_path", "is absolute"},
		{"truncated", good[:len(good)/2], "corrupt", "truncated"},
		{"garbage", bytes.Repeat([]byte{0x1f, 0x8b, 0xff}, 100), "corrupt", "gzip stream"},
		{"xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 100)...), "unsupported", "xz-compressed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := static.NewLayer(c.blob, types.DockerLayer)
			repo, _ := b.wk.Repository(b.reg.Host, "hostile/"+strings.ReplaceAll(c.name, " ", "-"))
			if err := remote.WriteLayer(repo, l); err != nil {
				t.Fatal(err)
			}
			d, _ := l.Digest()
			o, err := b.ix.Index(ctx, b.wk, layerindex.Layer{Registry: "r", Host: b.reg.Host, Repository: repo.RepositoryStr(),
				Digest: d.String(), DiffID: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(c.name))), Size: int64(len(c.blob))})
			if err != nil || o != layerindex.Rejected {
				t.Fatalf("Index = %v, %v; want rejected", o, err)
			}
			var class, reason string
			if err := b.pool.QueryRow(ctx, `SELECT class, reason FROM layer_rejections WHERE blob_digest = $1`, d.String()).Scan(&class, &reason); err != nil {
				t.Fatal(err)
			}
			if class != c.class || !strings.Contains(reason, c.reason) {
				t.Errorf("rejection = %s: %s; want %s containing %q", class, reason, c.class, c.reason)
			}
			// Asked again, the verdict stands without a fetch.
			before := b.blobGets(d.String())
			if o, err := b.ix.Index(ctx, b.wk, layerindex.Layer{Registry: "r", Host: b.reg.Host, Repository: repo.RepositoryStr(), Digest: d.String(), DiffID: "sha256:x", Size: int64(len(c.blob))}); err != nil || o != layerindex.Skipped {
				t.Errorf("again: %v, %v", o, err)
			}
			if b.blobGets(d.String()) != before {
				t.Errorf("a rejected blob was fetched again")
			}
		})
	}
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM layer_indexes`).Scan(&n); err != nil || n != 0 {
		t.Errorf("indexes written: %d, %v", n, err)
	}
}

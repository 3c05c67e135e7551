package layerindex_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zeebo/xxh3"

	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/layerindex"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/scan"
	"github.com/layerq/layerq/internal/testenv/pgtest"
	"github.com/layerq/layerq/internal/testenv/registrytest"
	"github.com/layerq/layerq/internal/walker"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type bundle struct {
	reg   *registrytest.Server
	pool  *pgxpool.Pool
	store *graph.Store
	wk    *walker.Walker
	ix    *layerindex.Indexer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{reg: registrytest.New(t), pool: pgtest.NewPool(t)}
	b.store = graph.New(b.pool)
	wk, err := walker.New(walker.Options{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	b.wk = wk
	b.ix = &layerindex.Indexer{Store: b.store}
	return b
}

func build(t testing.TB, s sample.Spec) v1.Image {
	t.Helper()
	img, err := sample.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// scanAndPending crawls the registry into the graph and lists the layers to index.
func (b *bundle) scanAndPending(t *testing.T) []layerindex.Layer {
	t.Helper()
	ctx := context.Background()
	if _, err := scan.Run(ctx, b.store, b.wk, scan.Options{Registry: b.reg.Host, Repositories: repoglob.Compile("**")}); err != nil {
		t.Fatal(err)
	}
	layers, err := layerindex.Pending(ctx, b.store, b.reg.Host, b.reg.Host, repoglob.Compile("**").Regexp())
	if err != nil {
		t.Fatal(err)
	}
	return layers
}

func (b *bundle) blobGets(digests ...string) int {
	n := 0
	for _, r := range b.reg.Requests() {
		for _, d := range digests {
			if strings.HasPrefix(r, "GET ") && strings.HasSuffix(r, "/blobs/"+d) {
				n++
			}
		}
	}
	return n
}

func layerDigests(t *testing.T, img v1.Image) (digests, diffIDs []string) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, _ := l.Digest()
		di, _ := l.DiffID()
		digests, diffIDs = append(digests, d.String()), append(diffIDs, di.String())
	}
	return digests, diffIDs
}

var baseFiles = []sample.File{
	{Path: "etc", Type: '5'},
	{Path: "etc/os-release", Content: []byte("ID=test\n")},
	{Path: "usr/bin/tool", Content: bytes.Repeat([]byte("x"), 5000), Mode: 0o4755, UID: 7, GID: 8},
	{Path: "usr/bin/tool2", Type: '1', Linkname: "usr/bin/tool"},
	{Path: "etc/.wh.gone"},
}

// TestIndexRegistry indexes every layer of a registry: each blob once (the
// base layer shared by three images is read once; its zstd copy is another
// blob), hostile layers rejected with a reason, nothing fetched twice.
func TestIndexRegistry(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	base := build(t, sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD rootfs.tar /", Files: baseFiles}}})
	app1 := build(t, sample.Spec{Base: base, Steps: []sample.Step{{CreatedBy: "RUN make one", Files: []sample.File{{Path: "app/one", Content: []byte("one")}}}}})
	app2 := build(t, sample.Spec{Base: base, Steps: []sample.Step{{CreatedBy: "RUN make two", Files: []sample.File{{Path: "app/two", Content: []byte("two!")}}}}})
	zbase, err := sample.Recompress(base, sample.Zstd, sample.OCI)
	if err != nil {
		t.Fatal(err)
	}
	evil := build(t, sample.Spec{Base: base, Steps: []sample.Step{{CreatedBy: "RUN evil", Files: []sample.File{{Path: "../escape", Content: []byte("x")}}}}})
	b.reg.PushImage(t, "lib/base:1", base)
	b.reg.PushImage(t, "team/app1:1", app1)
	b.reg.PushImage(t, "team/app2:1", app2)
	b.reg.PushImage(t, "zstd/base:1", zbase)
	b.reg.PushImage(t, "bad/evil:1", evil)

	baseDigests, baseDiffIDs := layerDigests(t, base)
	zDigests, _ := layerDigests(t, zbase)
	evilDigests, _ := layerDigests(t, evil)

	layers := b.scanAndPending(t)
	if len(layers) != 5 { // base gzip, base zstd, one, two, evil
		t.Fatalf("pending layers = %d, want 5: %+v", len(layers), layers)
	}
	sum, err := layerindex.Run(ctx, b.ix, b.wk, layers, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Indexed != 4 || sum.Skipped != 0 || sum.Rejected != 1 || sum.Failed != 0 {
		t.Errorf("summary = %+v, want 4 indexed, 1 rejected", sum)
	}
	if n, z := b.blobGets(baseDigests[0]), b.blobGets(zDigests[0]); n != 1 || z != 1 {
		t.Errorf("the base layer (in 3 images) was fetched %d times, its zstd copy %d; want 1 each", n, z)
	}

	var files, fileBytes int64
	var entries int
	var claimed string
	if err := b.pool.QueryRow(ctx, `SELECT entries, files, file_bytes, diff_id FROM layer_indexes WHERE blob_digest = $1`, baseDigests[0]).Scan(&entries, &files, &fileBytes, &claimed); err != nil {
		t.Fatal(err)
	}
	if claimed != baseDiffIDs[0] {
		t.Errorf("diff_id kept with the index = %s, want %s", claimed, baseDiffIDs[0])
	}
	if entries != 5 || files != 2 || fileBytes != 8+5000 {
		t.Errorf("base index: %d entries, %d files, %d bytes; want 5, 2, 5008", entries, files, fileBytes)
	}
	type row struct {
		Typ      int16
		Path     string
		Size     int64
		Mode     int32
		UID, GID int64
		Digest   []byte
		Link     *string
	}
	rows, err := b.pool.Query(ctx, `SELECT type, path, size, mode, uid, gid, digest, link FROM layer_files WHERE blob_digest = $1 ORDER BY ordinal`, baseDigests[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Typ, &r.Path, &r.Size, &r.Mode, &r.UID, &r.GID, &r.Digest, &r.Link); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	h := func(s []byte) []byte { d := xxh3.Hash128(s).Bytes(); return d[:] }
	link := "usr/bin/tool"
	want := []row{
		{2, "etc", 0, 0o755, 0, 0, nil, nil},
		{1, "etc/os-release", 8, 0o644, 0, 0, h([]byte("ID=test\n")), nil},
		{1, "usr/bin/tool", 5000, 0o4755, 7, 8, h(bytes.Repeat([]byte("x"), 5000)), nil},
		{4, "usr/bin/tool2", 0, 0o644, 0, 0, nil, &link},
		{5, "etc/gone", 0, 0o644, 0, 0, nil, nil},
	}
	if len(got) != len(want) {
		t.Fatalf("base layer rows = %d, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Typ != w.Typ || g.Path != w.Path || g.Size != w.Size || g.Mode != w.Mode || g.UID != w.UID || g.GID != w.GID ||
			!bytes.Equal(g.Digest, w.Digest) || (g.Link == nil) != (w.Link == nil) || (g.Link != nil && *g.Link != *w.Link) {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}

	var class, reason string
	if err := b.pool.QueryRow(ctx, `SELECT class, reason FROM layer_rejections WHERE blob_digest = $1`, evilDigests[1]).Scan(&class, &reason); err != nil {
		t.Fatalf("evil layer not rejected: %v", err)
	}
	if class != "unsafe_path" || !strings.Contains(reason, `"../escape"`) {
		t.Errorf("evil layer rejection = %s: %s", class, reason)
	}

	// Nothing left; a stale list fetches nothing.
	if again := b.scanAndPending(t); len(again) != 0 {
		t.Errorf("pending after indexing = %+v", again)
	}
	before := len(b.reg.Requests())
	sum, err = layerindex.Run(ctx, b.ix, b.wk, layers, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 5 || sum.Indexed+sum.Rejected+sum.Failed != 0 {
		t.Errorf("second run = %+v, want 5 skipped", sum)
	}
	if n := len(b.reg.Requests()) - before; n != 0 {
		t.Errorf("second run made %d requests", n)
	}
}

// TestWrongBytesAndRegistryDown: a registry serving other bytes for a
// digest is rejected as such, one serving a short body retried; a registry
// that fails is recorded, retried, and cleared once it works.
func TestWrongBytesAndRegistryDown(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	img := build(t, sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD x /", Files: baseFiles}}})
	other := build(t, sample.Spec{Steps: []sample.Step{{CreatedBy: "ADD y /", Files: []sample.File{{Path: "y", Content: []byte("y")}}}}})
	b.reg.PushImage(t, "a/img:1", img)
	b.reg.PushImage(t, "a/other:1", other)
	digests, diffIDs := layerDigests(t, img)
	layers := b.scanAndPending(t)
	if len(layers) != 2 {
		t.Fatalf("pending = %+v", layers)
	}

	t.Run("wrong bytes", func(t *testing.T) {
		ls, _ := img.Layers()
		rc, _ := ls[0].Compressed()
		blob, _ := io.ReadAll(rc)
		flipped := bytes.Clone(blob)
		flipped[len(flipped)/2] ^= 0xff
		for _, c := range []struct {
			name, reason string
			body         []byte
		}{
			{"flipped byte", "the bytes do not match the digest", flipped},
			{"longer", fmt.Sprintf("longer than the %d bytes", len(blob)), append(bytes.Clone(blob), make([]byte, 1<<20)...)},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, err := b.pool.Exec(ctx, `DELETE FROM layer_rejections`); err != nil {
					t.Fatal(err)
				}
				b.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
					if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+digests[0]) {
						w.Write(c.body)
						return true
					}
					return false
				})
				defer b.reg.Intercept(nil)
				l := layerindex.Layer{Registry: b.reg.Host, Host: b.reg.Host, Repository: "a/img", Digest: digests[0], DiffID: diffIDs[0], Size: int64(len(blob))}
				sum, err := layerindex.Run(ctx, b.ix, b.wk, []layerindex.Layer{l}, 1, nil)
				if err != nil || sum.Failed != 1 {
					t.Fatalf("Run = %+v, %v; want one failure", sum, err)
				}
				// Not the blob's bytes: nothing is said of the blob itself.
				var rejected int
				if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM layer_rejections`).Scan(&rejected); err != nil || rejected != 0 {
					t.Errorf("rejections = %d, %v", rejected, err)
				}
				var class, reason string
				if err := b.pool.QueryRow(ctx, `SELECT class, reason FROM ingest_failures WHERE reference = $1 AND source = 'layerscan'`, digests[0]).Scan(&class, &reason); err != nil {
					t.Fatal(err)
				}
				if class != layerindex.ClassDigestMismatch || !strings.Contains(reason, c.reason) {
					t.Errorf("failure = %s: %s; want %q in it", class, reason, c.reason)
				}
				var fe *layerindex.FetchError
				if _, err := b.ix.Index(ctx, b.wk, l); !errors.As(err, &fe) || !fe.Permanent() {
					t.Errorf("Index = %v, want a permanent fetch error", err)
				}
			})
		}
		// A body that ends short may be a registry still writing the blob:
		// retried, not judged.
		b.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+digests[0]) {
				w.Write(blob[:len(blob)-100])
				return true
			}
			return false
		})
		defer b.reg.Intercept(nil)
		if _, err := b.pool.Exec(ctx, `DELETE FROM layer_rejections`); err != nil {
			t.Fatal(err)
		}
		var fe *layerindex.FetchError
		_, err := b.ix.Index(ctx, b.wk, layerindex.Layer{Registry: b.reg.Host, Host: b.reg.Host, Repository: "a/img", Digest: digests[0], DiffID: diffIDs[0], Size: int64(len(blob))})
		if !errors.As(err, &fe) || fe.Permanent() {
			t.Errorf("short body: %v, want a transient fetch error", err)
		}
	})

	t.Run("registry down, then up", func(t *testing.T) {
		if _, err := b.pool.Exec(ctx, `DELETE FROM layer_rejections`); err != nil {
			t.Fatal(err)
		}
		b.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/blobs/") {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return true
			}
			return false
		})
		sum, err := layerindex.Run(ctx, b.ix, b.wk, layers, 2, nil)
		b.reg.Intercept(nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Failed != 2 || sum.Indexed != 0 {
			t.Errorf("summary while down = %+v, want 2 failed", sum)
		}
		var n int
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM ingest_failures WHERE source = 'layerscan' AND class = 'registry'`).Scan(&n); err != nil || n != 2 {
			t.Errorf("recorded failures = %d, %v; want 2", n, err)
		}
		var fe *layerindex.FetchError
		_, err = b.ix.Index(ctx, failing{}, layers[0])
		if !errors.As(err, &fe) || fe.Permanent() {
			t.Errorf("fetch error = %v, want a transient *FetchError", err)
		}
		sum, err = layerindex.Run(ctx, b.ix, b.wk, layers, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Indexed != 2 {
			t.Errorf("summary once up = %+v, want 2 indexed", sum)
		}
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM ingest_failures`).Scan(&n); err != nil || n != 0 {
			t.Errorf("failures left = %d, %v", n, err)
		}
	})
}

type failing struct{}

func (failing) Blob(context.Context, string, string, string) (io.ReadCloser, error) {
	return nil, &walker.Error{Class: walker.Registry, Reason: "registry down"}
}

// TestRunThroughOneConnection: however many layer jobs, a run's layers use
// the database one at a time until their waits for it add up to
// ConnPrice: with a price never reached, a run of 13 layers, 4 at a time,
// from a pool of fewer connections than jobs, opens no connection, and
// indexes every layer as a run that lets every job use it at once does.
func TestRunThroughOneConnection(t *testing.T) {
	ctx := context.Background()
	for _, w := range []struct {
		name  string
		price time.Duration
	}{{"one", time.Hour}, {"per-job", -1}} {
		t.Run(w.name, func(t *testing.T) {
			b := setup(t)
			b.reg.PushImage(t, "bench/app:1", stackedImage(t))
			layers := b.scanAndPending(t)
			if len(layers) != 13 {
				t.Fatalf("%d layers pending, want the image's 13 distinct ones", len(layers))
			}
			opened, had := b.pool.Stat().NewConnsCount(), b.pool.Stat().TotalConns()
			if had >= 4 {
				t.Fatalf("the pool holds %d connections after the crawl: as many as the jobs, it would open none either way", had)
			}
			ix := &layerindex.Indexer{Store: b.store, ConnPrice: w.price}
			sum, err := layerindex.Run(ctx, ix, b.wk, layers, 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Indexed != len(layers) || sum.Failed+sum.Rejected+sum.Skipped != 0 {
				t.Fatalf("%+v, want all %d indexed", sum, len(layers))
			}
			var indexed int
			if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM layer_indexes`).Scan(&indexed); err != nil {
				t.Fatal(err)
			}
			if indexed != len(layers) {
				t.Fatalf("%d layer indexes written, want %d", indexed, len(layers))
			}
			if n := b.pool.Stat().NewConnsCount() - opened; w.price > 0 && n != 0 {
				t.Fatalf("the run opened %d connections beyond the pool's %d, want none", n, had)
			}
		})
	}
}

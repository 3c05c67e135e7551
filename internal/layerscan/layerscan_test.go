package layerscan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/layerq/layerq/internal/fileindex"
)

func scanBytes(t *testing.T, blob []byte, lim Limits) *fileindex.Index {
	t.Helper()
	idx, err := Scan(bytes.NewReader(blob), lim)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if idx == nil {
		t.Fatal("Scan returned neither index nor error")
	}
	return idx
}

// allTypesTar has one entry of every kind Scan distinguishes, in the
// spellings real layers use.
func allTypesTar(t testing.TB) ([]byte, []fileindex.Entry) {
	longDir := strings.Repeat("long-directory-name/", 8) // 160 bytes: needs PAX or GNU
	files := []tf{
		{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		{Name: "global", Type: tar.TypeXGlobalHeader, PAX: map[string]string{"comment": "skipped"}},
		{Name: "./etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n", Mode: 0o644},
		{Name: "usr/bin/tool", Body: "#!/bin/sh\necho tool\n", Mode: 0o4755, UID: 1000, GID: 100},
		{Name: "usr/bin/empty", Mode: 0o600},
		{Name: "usr/bin/tool2", Type: tar.TypeLink, Link: "./usr/bin/tool", Mode: 0o4755},
		{Name: "usr/bin/rel", Type: tar.TypeSymlink, Link: "../lib/x/../y", Mode: 0o777},
		{Name: "usr/bin/abs", Type: tar.TypeSymlink, Link: "/usr/bin/tool", Mode: 0o777},
		{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666},
		{Name: "dev/sda", Type: tar.TypeBlock, Mode: 0o660, GID: 6},
		{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o600},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "etc/.wh.shadow"},
		{Name: "var/cache/.wh..wh..opq"},
		{Name: longDir + "pax-file", Body: "pax", Format: tar.FormatPAX},
		{Name: longDir + "gnu-file", Body: "gnu", Format: tar.FormatGNU},
		{Name: "gnu-link", Type: tar.TypeSymlink, Link: longDir + "target", Format: tar.FormatGNU},
		{Name: "a//b/./c", Body: "c"},
		{Name: "mode-bits", Body: "m", Mode: 0o100640}, // file-type bits in the mode field
	}
	want := []fileindex.Entry{
		{Path: ".", Type: fileindex.Dir, Mode: 0o755},
		{Path: "etc", Type: fileindex.Dir, Mode: 0o755},
		{Path: "etc/passwd", Type: fileindex.File, Size: 30, Mode: 0o644, Digest: digestOf("root:x:0:0:root:/root:/bin/sh\n")},
		{Path: "usr/bin/tool", Type: fileindex.File, Size: 20, Mode: 0o4755, UID: 1000, GID: 100, Digest: digestOf("#!/bin/sh\necho tool\n")},
		{Path: "usr/bin/empty", Type: fileindex.File, Size: 0, Mode: 0o600, Digest: digestOf("")},
		{Path: "usr/bin/tool2", Type: fileindex.Hardlink, Mode: 0o4755, Link: "usr/bin/tool"},
		{Path: "usr/bin/rel", Type: fileindex.Symlink, Mode: 0o777, Link: "../lib/x/../y"},
		{Path: "usr/bin/abs", Type: fileindex.Symlink, Mode: 0o777, Link: "/usr/bin/tool"},
		{Path: "dev/null", Type: fileindex.Other, Mode: 0o666},
		{Path: "dev/sda", Type: fileindex.Other, Mode: 0o660, GID: 6},
		{Path: "run/fifo", Type: fileindex.Other, Mode: 0o600},
		{Path: "tmp", Type: fileindex.Dir, Mode: 0o1777},
		{Path: "etc/shadow", Type: fileindex.Whiteout, Mode: 0o644},
		{Path: "var/cache", Type: fileindex.Opaque, Mode: 0o644},
		{Path: longDir + "pax-file", Type: fileindex.File, Size: 3, Mode: 0o644, Digest: digestOf("pax")},
		{Path: longDir + "gnu-file", Type: fileindex.File, Size: 3, Mode: 0o644, Digest: digestOf("gnu")},
		{Path: "gnu-link", Type: fileindex.Symlink, Mode: 0o644, Link: longDir + "target"},
		{Path: "a/b/c", Type: fileindex.File, Size: 1, Mode: 0o644, Digest: digestOf("c")},
		{Path: "mode-bits", Type: fileindex.File, Size: 1, Mode: 0o640, Digest: digestOf("m")},
	}
	return mkTar(t, files...), want
}

func TestEntryTypes(t *testing.T) {
	t.Parallel()
	data, want := allTypesTar(t)
	idx := scanBytes(t, data, Limits{})
	if idx.Compression != fileindex.CompressionNone {
		t.Errorf("Compression = %q, want none", idx.Compression)
	}
	if idx.UncompressedSize != int64(len(data)) {
		t.Errorf("UncompressedSize = %d, want %d", idx.UncompressedSize, len(data))
	}
	if len(idx.Entries) != len(want) {
		t.Fatalf("got %d entries, want %d:\n%+v", len(idx.Entries), len(want), idx.Entries)
	}
	for i := range want {
		if !reflect.DeepEqual(idx.Entries[i], want[i]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, idx.Entries[i], want[i])
		}
	}
}

// TestLegacyTypeFlags covers the pre-POSIX '\x00' type flag, which
// archive/tar maps to a file, or to a directory when the name ends in "/".
func TestLegacyTypeFlags(t *testing.T) {
	t.Parallel()
	data := mkTar(t, tf{Name: "old-dir/", Type: tar.TypeDir, Mode: 0o755}, tf{Name: "old-dir/file", Body: "x"})
	patchBlock(data, 0, func(b []byte) { b[156] = 0 })
	patchBlock(data, 512, func(b []byte) { b[156] = 0 })
	idx := scanBytes(t, data, Limits{})
	want := []fileindex.Entry{
		{Path: "old-dir", Type: fileindex.Dir, Mode: 0o755},
		{Path: "old-dir/file", Type: fileindex.File, Size: 1, Mode: 0o644, Digest: digestOf("x")},
	}
	if !reflect.DeepEqual(idx.Entries, want) {
		t.Errorf("got %+v\nwant %+v", idx.Entries, want)
	}
}

func TestWhiteouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		typ      byte
		wantType fileindex.EntryType
		wantPath string
		class    string // rejection class, if rejected
	}{
		{name: ".wh.foo", wantType: fileindex.Whiteout, wantPath: "foo"},
		{name: "./.wh.foo", wantType: fileindex.Whiteout, wantPath: "foo"},
		{name: "a/.wh.foo", wantType: fileindex.Whiteout, wantPath: "a/foo"},
		{name: "a/b/.wh.foo.txt", wantType: fileindex.Whiteout, wantPath: "a/b/foo.txt"},
		{name: "a/.wh...hidden", wantType: fileindex.Whiteout, wantPath: "a/..hidden"},
		{name: "a/.wh.foo", typ: tar.TypeDir, wantType: fileindex.Whiteout, wantPath: "a/foo"},
		{name: "a/.wh.foo", typ: tar.TypeChar, wantType: fileindex.Whiteout, wantPath: "a/foo"},
		{name: ".wh..wh..opq", wantType: fileindex.Opaque, wantPath: "."},
		{name: "./.wh..wh..opq", wantType: fileindex.Opaque, wantPath: "."},
		{name: "a/b/.wh..wh..opq", wantType: fileindex.Opaque, wantPath: "a/b"},
		// AUFS metadata is not a whiteout: kept under its literal path.
		{name: ".wh..wh.plnk", typ: tar.TypeDir, wantType: fileindex.Dir, wantPath: ".wh..wh.plnk"},
		{name: ".wh..wh.plnk/123.456", wantType: fileindex.File, wantPath: ".wh..wh.plnk/123.456"},
		{name: "a/.whfoo", wantType: fileindex.File, wantPath: "a/.whfoo"},
		{name: "a/x.wh.foo", wantType: fileindex.File, wantPath: "a/x.wh.foo"},
		{name: ".wh.", class: fileindex.ClassUnsafePath},
		{name: "a/.wh..", class: fileindex.ClassUnsafePath},
		{name: "a/.wh...", class: fileindex.ClassUnsafePath},
		{name: "a/.wh.../x", wantType: fileindex.File, wantPath: "a/.wh.../x"}, // only the base name is a marker
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := mkTar(t, tf{Name: tt.name, Type: tt.typ})
			idx, err := Scan(bytes.NewReader(data), Limits{})
			if tt.class != "" {
				wantRejection(t, idx, err, tt.class, "entry 1")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(idx.Entries) != 1 {
				t.Fatalf("got %d entries", len(idx.Entries))
			}
			e := idx.Entries[0]
			if e.Type != tt.wantType || e.Path != tt.wantPath {
				t.Errorf("got %v %q, want %v %q", e.Type, e.Path, tt.wantType, tt.wantPath)
			}
			if (e.Type == fileindex.Whiteout || e.Type == fileindex.Opaque) && (e.Size != 0 || e.Digest != [16]byte{} || e.Link != "") {
				t.Errorf("marker carries content fields: %+v", e)
			}
		})
	}
}

func TestDigests(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+17) // spans many copy buffers and XXH3 blocks
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	bigFlipped := bytes.Clone(big)
	bigFlipped[len(big)-1] ^= 1
	data := mkTar(t,
		tf{Name: "a", Body: "same content"},
		tf{Name: "b", Body: "same content", Mode: 0o755, UID: 5}, // metadata does not matter
		tf{Name: "c", Body: "other content"},
		tf{Name: "d", Body: ""},
		tf{Name: "e", Body: ""},
		tf{Name: "big1", Body: string(big)},
		tf{Name: "big2", Body: string(big)},
		tf{Name: "big3", Body: string(bigFlipped)},
		tf{Name: "dir", Type: tar.TypeDir},
		tf{Name: "sym", Type: tar.TypeSymlink, Link: "a"},
		tf{Name: "hard", Type: tar.TypeLink, Link: "a"},
	)
	idx := scanBytes(t, gz(t, data), Limits{})
	d := map[string][16]byte{}
	for _, e := range idx.Entries {
		d[e.Path] = e.Digest
	}
	tests := []struct {
		x, y  string
		equal bool
	}{
		{"a", "b", true},
		{"a", "c", false},
		{"d", "e", true},
		{"a", "d", false},
		{"big1", "big2", true},
		{"big1", "big3", false},
	}
	for _, tt := range tests {
		if (d[tt.x] == d[tt.y]) != tt.equal {
			t.Errorf("digest(%s)==digest(%s) is %v, want %v", tt.x, tt.y, !tt.equal, tt.equal)
		}
	}
	// Streaming hash equals the one-shot hash of the content.
	if d["big1"] != digestOf(string(big)) || d["a"] != digestOf("same content") {
		t.Error("streamed digest differs from xxh3.Hash128 of the content")
	}
	if d["d"] == [16]byte{} {
		t.Error("empty file has a zero digest; want the digest of empty input")
	}
	for _, p := range []string{"dir", "sym", "hard"} {
		if d[p] != [16]byte{} {
			t.Errorf("%s has a non-zero digest", p)
		}
	}
}

// mixedTar is a layer with files of several sizes (some larger than the
// copy buffer) and every entry type.
func mixedTar(t testing.TB) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	body := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcdefgh\n"[rng.IntN(9)]
		}
		return string(b)
	}
	return mkTar(t,
		tf{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		tf{Name: "./bin/", Type: tar.TypeDir, Mode: 0o755},
		tf{Name: "./bin/small", Body: body(100), Mode: 0o755},
		tf{Name: "./bin/medium", Body: body(200 << 10)},
		tf{Name: "./bin/large", Body: body(1 << 20)},
		tf{Name: "./bin/odd", Body: body(511)},
		tf{Name: "./bin/link", Type: tar.TypeSymlink, Link: "small"},
		tf{Name: "./bin/hard", Type: tar.TypeLink, Link: "./bin/small"},
		tf{Name: "./dev/null", Type: tar.TypeChar},
		tf{Name: "./etc/.wh.gone"},
		tf{Name: "./var/.wh..wh..opq"},
		tf{Name: "./pax-" + strings.Repeat("p", 200), Body: body(10), Format: tar.FormatPAX},
	)
}

func TestCompressionsGiveIdenticalIndexes(t *testing.T) {
	t.Parallel()
	data := mixedTar(t)
	padded := append(bytes.Clone(data), make([]byte, 10240-len(data)%10240)...) // GNU tar record padding
	tests := []struct {
		name        string
		blob        []byte
		compression string
		size        int64
	}{
		{"none", data, fileindex.CompressionNone, int64(len(data))},
		{"none-record-padded", padded, fileindex.CompressionNone, int64(len(padded))},
		{"gzip", gz(t, data), fileindex.CompressionGzip, int64(len(data))},
		{"gzip-best", func() []byte {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			zw.Write(data)
			zw.Close()
			return b.Bytes()
		}(), fileindex.CompressionGzip, int64(len(data))},
		{"gzip-multistream", gzMulti(t, data, 100, 512, 700, 300000, len(data)-1), fileindex.CompressionGzip, int64(len(data))},
		{"gzip-multistream-empty-members", append(gzMulti(t, data, 0, 0, 5000), gz(t, nil)...), fileindex.CompressionGzip, int64(len(data))},
		{"gzip-padded", gz(t, padded), fileindex.CompressionGzip, int64(len(padded))},
		{"zstd", zst(t, data), fileindex.CompressionZstd, int64(len(data))},
		{"zstd-best", zst(t, data, zstd.WithEncoderLevel(zstd.SpeedBestCompression)), fileindex.CompressionZstd, int64(len(data))},
		{"zstd-no-crc", zst(t, data, zstd.WithEncoderCRC(false)), fileindex.CompressionZstd, int64(len(data))},
		{"zstd-multiframe", zstMulti(t, data, 1, 512, 4096, 700000), fileindex.CompressionZstd, int64(len(data))},
		{"zstd-skippable-first", append(skippableFrame([]byte("meta")), zst(t, data)...), fileindex.CompressionZstd, int64(len(data))},
		{"zstd-skippable-last", append(zst(t, data), skippableFrame([]byte("zstd:chunked manifest"))...), fileindex.CompressionZstd, int64(len(data))},
	}
	ref := scanBytes(t, data, Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idx := scanBytes(t, tt.blob, Limits{})
			if idx.Compression != tt.compression {
				t.Errorf("Compression = %q, want %q", idx.Compression, tt.compression)
			}
			if idx.UncompressedSize != tt.size {
				t.Errorf("UncompressedSize = %d, want %d", idx.UncompressedSize, tt.size)
			}
			if !reflect.DeepEqual(idx.Entries, ref.Entries) {
				t.Errorf("entries differ from the uncompressed scan:\n got %+v\nwant %+v", idx.Entries, ref.Entries)
			}
		})
	}
}

// TestReadGranularity feeds the same blob through readers that return few
// bytes at a time, or data together with io.EOF.
func TestReadGranularity(t *testing.T) {
	t.Parallel()
	data := mixedTar(t)
	blobs := map[string][]byte{"none": data, "gzip": gzMulti(t, data, 1000), "zstd": zst(t, data)}
	wrappers := map[string]func(io.Reader) io.Reader{
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data-err": iotest.DataErrReader,
	}
	ref := scanBytes(t, data, Limits{})
	for bn, blob := range blobs {
		for wn, wrap := range wrappers {
			t.Run(bn+"/"+wn, func(t *testing.T) {
				t.Parallel()
				idx, err := Scan(wrap(bytes.NewReader(blob)), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(idx.Entries, ref.Entries) || idx.UncompressedSize != ref.UncompressedSize {
					t.Error("index differs from the plain read")
				}
			})
		}
	}
}

func TestEmptyLayer(t *testing.T) {
	t.Parallel()
	// The canonical empty layer: a tar of just the end-of-archive blocks.
	for name, blob := range map[string][]byte{"none": mkTar(t), "gzip": gz(t, mkTar(t)), "zstd": zst(t, mkTar(t))} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idx := scanBytes(t, blob, Limits{})
			if idx.Entries == nil || len(idx.Entries) != 0 || idx.UncompressedSize != 1024 {
				t.Errorf("got %+v", idx)
			}
		})
	}
}

// TestLoneZeroBlock: an archive that ends after one of its two zero blocks
// has lost nothing and is accepted.
func TestLoneZeroBlock(t *testing.T) {
	t.Parallel()
	data := mkTar(t, tf{Name: "f", Body: "x"})
	idx := scanBytes(t, data[:len(data)-512], Limits{})
	if len(idx.Entries) != 1 {
		t.Errorf("got %d entries", len(idx.Entries))
	}
}

func TestTrailingDataAfterTarIsFine(t *testing.T) {
	t.Parallel()
	data := append(mkTar(t, tf{Name: "f", Body: "x"}), []byte("junk after the end-of-archive marker")...)
	for name, blob := range map[string][]byte{"none": data, "gzip": gz(t, data)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idx := scanBytes(t, blob, Limits{})
			if len(idx.Entries) != 1 || idx.UncompressedSize != int64(len(data)) {
				t.Errorf("got %+v", idx)
			}
		})
	}
}

// failingReader returns the first n bytes of data, then err.
type failingReader struct {
	data []byte
	n    int
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	k := copy(p, f.data[:min(len(f.data), f.n)])
	f.data, f.n = f.data[k:], f.n-k
	if k == 0 {
		return 0, f.err
	}
	return k, nil
}

// TestTransientErrors: a failing reader is not the layer's fault, wherever
// in the stream it fails, and its error is wrapped, not turned into a
// Rejection.
func TestTransientErrors(t *testing.T) {
	t.Parallel()
	data := mixedTar(t)
	errBoom := errors.New("connection reset by peer")
	blobs := map[string][]byte{"none": data, "gzip": gz(t, data), "zstd": zst(t, data)}
	errs := map[string]error{
		"custom":           errBoom,
		"canceled":         context.Canceled,
		"deadline":         context.DeadlineExceeded,
		"unexpected-eof":   io.ErrUnexpectedEOF, // e.g. an HTTP body shorter than its Content-Length
		"wrapped-canceled": errors.Join(errors.New("get blob"), context.Canceled),
	}
	for bn, blob := range blobs {
		for _, at := range []int{0, 3, 600, len(blob) / 2, len(blob)} {
			for en, e := range errs {
				t.Run(bn+"/"+en, func(t *testing.T) {
					t.Parallel()
					idx, err := Scan(&failingReader{data: blob, n: at, err: e}, Limits{})
					if idx != nil {
						t.Fatal("got an index from a failing reader")
					}
					var rej *Rejection
					if errors.As(err, &rej) {
						t.Fatalf("failure at byte %d of %d: got Rejection %v; want a transient error", at, len(blob), rej)
					}
					if !errors.Is(err, e) {
						t.Fatalf("err = %v; want it to wrap %v", err, e)
					}
				})
			}
		}
	}
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		_, err := Scan(iotest.TimeoutReader(bytes.NewReader(gz(t, data))), Limits{})
		if !errors.Is(err, iotest.ErrTimeout) {
			t.Errorf("err = %v; want iotest.ErrTimeout", err)
		}
	})
	t.Run("no-progress", func(t *testing.T) {
		t.Parallel()
		_, err := Scan(stuckReader{}, Limits{})
		var rej *Rejection
		if errors.As(err, &rej) || !errors.Is(err, io.ErrNoProgress) {
			t.Errorf("err = %v; want a transient io.ErrNoProgress", err)
		}
	})
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("reader exploded") }

// TestReaderPanicPropagates: Scan swallows panics of its decoders, not of
// the caller's reader.
func TestReaderPanicPropagates(t *testing.T) {
	t.Parallel()
	defer func() {
		if p := recover(); p != "reader exploded" {
			t.Errorf("recovered %v; want the reader's panic", p)
		}
	}()
	Scan(panicReader{}, Limits{})
	t.Error("Scan returned")
}

// chunkReader returns at most a few bytes per Read, sizes from a seeded
// sequence, yielding to other goroutines between reads as network reads do.
type chunkReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	runtime.Gosched()
	n := 1 + c.rng.IntN(7)
	if n < len(p) {
		p = p[:n]
	}
	return c.r.Read(p)
}

// Gzip members with optional header fields (name, comment, extra, as
// `gzip layer.tar` and eStargz write them) scan alike however the bytes
// arrive, with either inflater; invalid header fields are corrupt in both.
func TestGzipHeaderFields(t *testing.T) {
	t.Parallel()
	data := mixedTar(t)
	member := func(h gzip.Header, part []byte) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Header = h
		zw.Write(part)
		zw.Close()
		return b.Bytes()
	}
	extra := bytes.Repeat([]byte("x"), 1000)
	var multi []byte
	for i, part := range [][]byte{data[:700], data[700:5000], data[5000:]} {
		multi = append(multi, member(gzip.Header{Name: fmt.Sprintf("part%d.tar", i), Comment: "layer part", Extra: extra}, part)...)
	}
	ref := scanBytes(t, data, Limits{})
	blobs := map[string][]byte{
		"name":          member(gzip.Header{Name: "layer.tar"}, data),
		"name+comment":  member(gzip.Header{Name: "layer.tar", Comment: "a comment"}, data),
		"extra":         member(gzip.Header{Extra: extra}, data),
		"multi-members": multi,
	}
	readers := map[string]func([]byte, int) io.Reader{
		"whole":    func(b []byte, _ int) io.Reader { return bytes.NewReader(b) },
		"one-byte": func(b []byte, _ int) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"chunks": func(b []byte, seed int) io.Reader {
			return &chunkReader{r: bytes.NewReader(b), rng: rand.New(rand.NewPCG(uint64(seed), 7))}
		},
	}
	for name, blob := range blobs {
		for rname, mk := range readers {
			for seed := range 3 {
				idx, err := Scan(mk(blob, seed), Limits{})
				if err != nil {
					t.Fatalf("%s via %s (%s): %v", name, rname, GzipDecoder, err)
				}
				if !reflect.DeepEqual(idx.Entries, ref.Entries) || idx.UncompressedSize != int64(len(data)) {
					t.Fatalf("%s via %s (%s): index differs", name, rname, GzipDecoder)
				}
			}
		}
	}
	good := member(gzip.Header{Name: "layer.tar"}, data)
	reserved := bytes.Clone(good)
	reserved[3] |= 0x20
	longName := member(gzip.Header{Name: strings.Repeat("n", 600)}, data)
	for name, blob := range map[string][]byte{"reserved flag": reserved, "600-byte name": longName} {
		_, err := Scan(bytes.NewReader(blob), Limits{})
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Class != fileindex.ClassCorrupt || !strings.Contains(rej.Reason, "header") {
			t.Errorf("%s (%s): %v, want a corrupt rejection about the header", name, GzipDecoder, err)
		}
	}
}

package layerscan

import (
	"archive/tar"
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/layerq/layerq/internal/fileindex"
)

func TestHostile(t *testing.T) {
	t.Parallel()
	mixed := mixedTar(t)
	mixedGz := gz(t, mixed)
	mixedZst := zst(t, mixed)
	bytesOf := func(b []byte) func(*testing.T) io.Reader {
		return func(*testing.T) io.Reader { return bytes.NewReader(b) }
	}
	piped := func(produce func(io.Writer) error) func(*testing.T) io.Reader {
		return func(t *testing.T) io.Reader {
			pr := pipeFrom(produce)
			t.Cleanup(func() { pr.Close() }) // stops the producer
			return pr
		}
	}
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		if at < 0 {
			at += len(b)
		}
		b[at] ^= 0x55
		return b
	}
	tarOf := func(files ...tf) func(*testing.T) io.Reader {
		return func(t *testing.T) io.Reader { return bytes.NewReader(mkTar(t, files...)) }
	}
	const tenGB = 10 << 30
	small := Limits{MaxUncompressed: 64 << 20}

	tests := []struct {
		name      string
		blob      func(*testing.T) io.Reader
		lim       Limits
		class     string
		fragments []string
	}{
		// Bombs: 10 GB of zeros, generated as they are read.
		{"gzip-bomb-file", piped(gzipStream(bigZeroFile(tenGB))), small, fileindex.ClassTooLarge, []string{"67108864", `"zeros"`}},
		{"gzip-bomb-raw-zeros", piped(gzipStream(rawZeros(tenGB))), small, fileindex.ClassTooLarge, []string{"67108864"}},
		{"zstd-bomb-file", piped(zstdStream(bigZeroFile(tenGB))), small, fileindex.ClassTooLarge, []string{"67108864", `"zeros"`}},
		{"plain-too-large", piped(bigZeroFile(tenGB)), Limits{MaxUncompressed: 1 << 20}, fileindex.ClassTooLarge, []string{"1048576"}},
		{"zstd-window-2TiB", bytesOf([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00}), Limits{}, fileindex.ClassTooLarge, []string{"window", "33554432"}},
		{"zstd-window-over-limit", bytesOf(zst(t, mixed, zstd.WithWindowSize(8<<20))), Limits{MaxZstdWindow: 1 << 20}, fileindex.ClassTooLarge, []string{"window", "1048576"}},

		// Sparse files.
		{"gnu-sparse-S", bytesOf(gnuSparseTar(t)), Limits{}, fileindex.ClassSparse, []string{"sparse.bin", "type 'S'"}},
		{"pax-sparse-0.0", bytesOf(paxSparseTar(t, "sp", "x",
			"GNU.sparse.size", "4096", "GNU.sparse.numblocks", "1", "GNU.sparse.offset", "0", "GNU.sparse.numbytes", "1",
		)), Limits{}, fileindex.ClassSparse, []string{`"sp"`, "GNU.sparse."}},
		{"pax-sparse-0.1", bytesOf(paxSparseTar(t, "sp", "x",
			"GNU.sparse.map", "0,1", "GNU.sparse.numblocks", "1", "GNU.sparse.size", "4096",
		)), Limits{}, fileindex.ClassSparse, []string{`"sp"`, "GNU.sparse."}},
		{"pax-sparse-1.0", bytesOf(paxSparseTar(t, "GNUSparseFile.0/sp", "1\n0\n1\n"+strings.Repeat("\x00", 506)+"x",
			"GNU.sparse.major", "1", "GNU.sparse.minor", "0", "GNU.sparse.name", "sp", "GNU.sparse.realsize", "4096",
		)), Limits{}, fileindex.ClassSparse, []string{`"sp"`, "GNU.sparse."}},

		// Paths.
		{"dotdot-escape", tarOf(tf{Name: "../etc/passwd", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{`"../etc/passwd"`, ".."}},
		{"absolute", tarOf(tf{Name: "/etc/passwd", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{`"/etc/passwd"`, "absolute"}},
		{"absolute-dir", tarOf(tf{Name: "/", Type: tar.TypeDir}), Limits{}, fileindex.ClassUnsafePath, []string{"absolute"}},
		{"dotdot-nested-escape", tarOf(tf{Name: "a/../../b", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{`"a/../../b"`}},
		{"dotdot-inside-root", tarOf(tf{Name: "a/../b", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{`"a/../b"`}},
		{"dotdot-alone", tarOf(tf{Name: "..", Type: tar.TypeDir}), Limits{}, fileindex.ClassUnsafePath, []string{".."}},
		{"dot-slash-dotdot", tarOf(tf{Name: "./../x", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{".."}},
		{"dotdot-after-good-entries", tarOf(tf{Name: "ok", Body: "x"}, tf{Name: "fine/", Type: tar.TypeDir}, tf{Name: "fine/../../x", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{"entry 3"}},
		{"hardlink-dotdot", tarOf(tf{Name: "a", Body: "x"}, tf{Name: "l", Type: tar.TypeLink, Link: "../x"}), Limits{}, fileindex.ClassUnsafePath, []string{"hard-link target", `"../x"`}},
		{"hardlink-absolute", tarOf(tf{Name: "l", Type: tar.TypeLink, Link: "/etc/shadow"}), Limits{}, fileindex.ClassUnsafePath, []string{"hard-link target", "absolute"}},
		{"hardlink-empty", tarOf(tf{Name: "l", Type: tar.TypeLink}), Limits{}, fileindex.ClassCorrupt, []string{"empty target"}},
		{"empty-name", tarOf(tf{Name: "", Body: "x"}), Limits{}, fileindex.ClassUnsafePath, []string{"empty name"}},
		{"name-too-long", tarOf(tf{Name: strings.Repeat("n/", 2500) + "x", Body: "x", Format: tar.FormatPAX}), Limits{}, fileindex.ClassUnsafePath, []string{"5001 bytes", "4096"}},
		{"name-over-custom-limit", tarOf(tf{Name: "abcdefghijk", Body: "x"}), Limits{MaxPathLen: 10}, fileindex.ClassUnsafePath, []string{"11 bytes"}},
		{"symlink-target-too-long", tarOf(tf{Name: "s", Type: tar.TypeSymlink, Link: strings.Repeat("t", 5000), Format: tar.FormatPAX}), Limits{}, fileindex.ClassUnsafePath, []string{"symlink target", "5000 bytes"}},
		{"nul-in-pax-path", bytesOf(nulPathTar(t)), Limits{}, fileindex.ClassCorrupt, []string{"invalid tar header"}},

		// Entry counts and index size.
		{"million-entries-over-limit", piped(tinyEntries(1_000_000)), Limits{MaxEntries: 100_000}, fileindex.ClassTooManyEntries, []string{"100000", "entry 100001", `"d100/f100000"`}},
		{"index-bytes", piped(tinyEntries(10_000)), Limits{MaxIndexBytes: 100_000}, fileindex.ClassTooManyEntries, []string{"100000 bytes"}},

		// Truncation and corruption.
		{"truncated-gzip", bytesOf(mixedGz[:len(mixedGz)/2]), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream", "truncated"}},
		{"truncated-gzip-trailer", bytesOf(mixedGz[:len(mixedGz)-4]), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream", "truncated"}},
		{"truncated-gzip-header", bytesOf(mixedGz[:5]), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream", "truncated"}},
		{"truncated-tar-mid-file", bytesOf(mixed[:len(mixed)/2]), Limits{}, fileindex.ClassCorrupt, []string{"truncated", "bin/large"}},
		{"truncated-tar-mid-header", bytesOf(mixed[:512+100+300]), Limits{}, fileindex.ClassCorrupt, []string{"truncated"}},
		{"truncated-tar-at-entry-boundary", bytesOf(mkTarNoEnd(t, tf{Name: "a", Body: "x"}, tf{Name: "b", Body: "y"})), Limits{}, fileindex.ClassCorrupt, []string{"end-of-archive"}},
		{"truncated-tar-in-padding", bytesOf(mkTarNoEnd(t, tf{Name: "a", Body: "x"})[:512+100]), Limits{}, fileindex.ClassCorrupt, []string{"end-of-archive"}},
		{"truncated-tar-inside-gzip", bytesOf(gz(t, mkTarNoEnd(t, tf{Name: "a", Body: "x"}))), Limits{}, fileindex.ClassCorrupt, []string{"end-of-archive"}},
		{"gzip-bad-crc", bytesOf(flip(mixedGz, -8)), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream", "checksum"}},
		{"gzip-bad-size", bytesOf(flip(mixedGz, -1)), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream", "checksum"}},
		{"gzip-bad-crc-first-member", bytesOf(func() []byte {
			first := gz(t, mixed[:1000])
			return append(flip(first, -8), gz(t, mixed[1000:])...)
		}()), Limits{}, fileindex.ClassCorrupt, []string{"checksum"}},
		// A flipped bit inside deflate data may still inflate, to wrong
		// bytes that archive/tar rejects before the CRC is reached.
		{"gzip-bad-deflate", bytesOf(flip(mixedGz, len(mixedGz)/3)), Limits{}, fileindex.ClassCorrupt, nil},
		{"gzip-garbage-after", bytesOf(append(bytes.Clone(mixedGz), "this is certainly not a gzip member"...)), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream", "header"}},
		{"gzip-bad-method", bytesOf(flip(mixedGz, 2)), Limits{}, fileindex.ClassCorrupt, []string{"gzip stream"}},
		{"zstd-truncated", bytesOf(mixedZst[:len(mixedZst)/2]), Limits{}, fileindex.ClassCorrupt, []string{"zstd stream"}},
		{"zstd-bad-checksum", bytesOf(flip(mixedZst, -1)), Limits{}, fileindex.ClassCorrupt, []string{"zstd stream", "checksum"}},
		{"zstd-bad-data", bytesOf(flip(mixedZst, len(mixedZst)/3)), Limits{}, fileindex.ClassCorrupt, []string{"zstd stream"}},
		{"zstd-garbage-after", bytesOf(append(bytes.Clone(mixedZst), "this is certainly not a zstd frame"...)), Limits{}, fileindex.ClassCorrupt, []string{"zstd stream"}},
		{"tar-bad-header-checksum", bytesOf(flip(mixed, 0)), Limits{}, fileindex.ClassCorrupt, []string{"invalid tar header", "entry 1"}},
		{"tar-zero-block-then-garbage", bytesOf(append(make([]byte, 512), bytes.Repeat([]byte("g"), 512)...)), Limits{}, fileindex.ClassCorrupt, []string{"invalid tar header"}},
		{"empty-input", bytesOf(nil), Limits{}, fileindex.ClassCorrupt, []string{"end-of-archive"}},
		{"short-zeros", bytesOf(make([]byte, 100)), Limits{}, fileindex.ClassCorrupt, []string{"truncated"}},
		{"random-garbage", bytesOf(randomBytes(4096)), Limits{}, fileindex.ClassCorrupt, []string{"invalid tar header"}},
		{"text-file", bytesOf([]byte(strings.Repeat("this is a text file, not a layer\n", 100))), Limits{}, fileindex.ClassCorrupt, nil},

		// Unsupported formats and types.
		{"xz", bytesOf([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 4, 0xe6, 0xd6, 0xb4, 0x46}), Limits{}, fileindex.ClassUnsupported, []string{"xz"}},
		{"bzip2", bytesOf([]byte("BZh91AY&SY\x00\x00\x00\x00")), Limits{}, fileindex.ClassUnsupported, []string{"bzip2"}},
		{"lz4", bytesOf([]byte{0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7}), Limits{}, fileindex.ClassUnsupported, []string{"lz4"}},
		{"type-volume-header", tarOf(tf{Name: "vol", Type: 'V'}), Limits{}, fileindex.ClassUnsupported, []string{`"V"`, `"vol"`}},
		{"type-contiguous", tarOf(tf{Name: "cont", Type: tar.TypeCont, Body: "x"}), Limits{}, fileindex.ClassUnsupported, []string{`"7"`}},
		{"type-vendor", tarOf(tf{Name: "v", Type: 'Z'}), Limits{}, fileindex.ClassUnsupported, []string{`"Z"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idx, err := Scan(tt.blob(t), tt.lim)
			wantRejection(t, idx, err, tt.class, tt.fragments...)
			t.Logf("reason: %v", err)
		})
	}
}

// TestBZhNamedFileIsTar: a plain tar whose first entry's name starts with
// "BZh" is not mistaken for bzip2.
func TestBZhNamedFileIsTar(t *testing.T) {
	t.Parallel()
	idx := scanBytes(t, mkTar(t, tf{Name: "BZh9-notes.txt", Body: "x"}), Limits{})
	if idx.Compression != fileindex.CompressionNone || len(idx.Entries) != 1 {
		t.Errorf("got %+v", idx)
	}
}

// TestMillionEntriesWithDefaults: a million entries (the default limit) are
// accepted. It takes about a second; too slow under -race or -short.
func TestMillionEntriesWithDefaults(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow under -short or -race")
	}
	t.Parallel()
	pr := pipeFrom(tinyEntries(1_000_000))
	defer pr.Close()
	start := time.Now()
	idx, err := Scan(pr, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Entries) != 1_000_000 {
		t.Fatalf("got %d entries", len(idx.Entries))
	}
	t.Logf("1,000,000 entries in %v", time.Since(start))
}

func TestMaxEntriesBoundary(t *testing.T) {
	t.Parallel()
	data := mkTar(t, tf{Name: "a"}, tf{Name: "b"}, tf{Name: "c"})
	if idx := scanBytes(t, data, Limits{MaxEntries: 3}); len(idx.Entries) != 3 {
		t.Errorf("got %d entries", len(idx.Entries))
	}
	idx, err := Scan(bytes.NewReader(data), Limits{MaxEntries: 2})
	wantRejection(t, idx, err, fileindex.ClassTooManyEntries, "more than 2 entries", `"c"`)
}

func TestMaxUncompressedBoundary(t *testing.T) {
	t.Parallel()
	data := mkTar(t, tf{Name: "a", Body: "x"})
	for name, blob := range map[string][]byte{"none": data, "gzip": gz(t, data)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if idx := scanBytes(t, blob, Limits{MaxUncompressed: int64(len(data))}); idx.UncompressedSize != int64(len(data)) {
				t.Errorf("UncompressedSize = %d", idx.UncompressedSize)
			}
			idx, err := Scan(bytes.NewReader(blob), Limits{MaxUncompressed: int64(len(data)) - 1})
			wantRejection(t, idx, err, fileindex.ClassTooLarge)
		})
	}
}

// nulPathTar has a PAX path record containing a NUL byte, which no tar
// writer produces and archive/tar rejects as a header error.
func nulPathTar(t *testing.T) []byte {
	data := mkTar(t, tf{Name: "a-" + strings.Repeat("x", 120) + "-NUL-b", Body: "x", Format: tar.FormatPAX})
	i := bytes.Index(data, []byte("-NUL-"))
	if i < 0 {
		t.Fatal("marker not found")
	}
	data[i+1] = 0
	return data
}

func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

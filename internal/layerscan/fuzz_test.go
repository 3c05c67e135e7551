package layerscan

import (
	"archive/tar"
	"bytes"
	"errors"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
)

func fuzzSeeds(t testing.TB) [][]byte {
	all, _ := allTypesTar(t)
	small := mkTar(t,
		tf{Name: "./", Type: tar.TypeDir},
		tf{Name: "./a/", Type: tar.TypeDir},
		tf{Name: "./a/f", Body: "hello"},
		tf{Name: "./a/.wh.g"},
		tf{Name: "./b/.wh..wh..opq"},
		tf{Name: "./a/l", Type: tar.TypeLink, Link: "./a/f"},
		tf{Name: "./a/s", Type: tar.TypeSymlink, Link: "../x"},
	)
	seeds := [][]byte{
		all, gz(t, all), zst(t, all),
		small, gz(t, small), zst(t, small),
		gzMulti(t, small, 100, 700), zstMulti(t, small, 100, 700),
		append(skippableFrame([]byte("x")), zst(t, small)...),
		mkTar(t),
		gnuSparseTar(t),
		paxSparseTar(t, "sp", "x", "GNU.sparse.map", "0,1", "GNU.sparse.numblocks", "1", "GNU.sparse.size", "4096"),
		mkTar(t, tf{Name: "../etc/passwd", Body: "x"}),
		mkTar(t, tf{Name: "/etc/passwd", Body: "x"}),
		mkTar(t, tf{Name: "a/../../b", Body: "x"}),
		mkTar(t, tf{Name: "l", Type: tar.TypeLink, Link: "../x"}),
		mkTar(t, tf{Name: "v", Type: 'V'}),
		mkTar(t, tf{Name: "p" + strings.Repeat("x", 150), Body: "pax", Format: tar.FormatPAX}),
		mkTar(t, tf{Name: "g" + strings.Repeat("x", 150), Body: "gnu", Format: tar.FormatGNU}),
		mkTarNoEnd(t, tf{Name: "a", Body: "x"}),
		small[:len(small)/2],
		gz(t, small)[:40],
		zst(t, small)[:40],
		{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00},
		{0xfd, '7', 'z', 'X', 'Z', 0},
		{},
	}
	return seeds
}

// FuzzScan: Scan never panics, returns exactly one of an index and a
// *Rejection (a bytes.Reader never fails), is deterministic, only returns
// well-formed indexes, and an uncompressed blob gives the same result as
// its gzip.
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	lim := Limits{MaxUncompressed: 4 << 20, MaxEntries: 2000, MaxPathLen: 1024, MaxIndexBytes: 1 << 20, MaxZstdWindow: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := Scan(bytes.NewReader(data), lim)
		if (idx == nil) == (err == nil) {
			t.Fatalf("index %v and error %v", idx != nil, err)
		}
		if err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("non-Rejection error from a bytes.Reader: %v", err)
			}
			if strings.Contains(rej.Reason, "panic") {
				t.Fatalf("decoder panicked: %v", rej)
			}
		} else {
			checkIndex(t, idx, lim)
		}

		idx2, err2 := Scan(bytes.NewReader(data), lim)
		if !reflect.DeepEqual(idx, idx2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("second scan differs:\n%v %v\n%v %v", idx, err, idx2, err2)
		}

		if sniff(data) == fileindex.CompressionNone {
			idx3, err3 := Scan(bytes.NewReader(gz(t, data)), lim)
			if idx3 != nil {
				idx3.Compression = fileindex.CompressionNone
			}
			if !reflect.DeepEqual(idx, idx3) || !reflect.DeepEqual(err, err3) {
				t.Fatalf("gzip of the blob scans differently:\nplain %v\ngzip  %v", err, err3)
			}
		}
	})
}

func checkIndex(t *testing.T, idx *fileindex.Index, lim Limits) {
	t.Helper()
	if idx.Entries == nil || len(idx.Entries) > lim.MaxEntries || idx.UncompressedSize > lim.MaxUncompressed || idx.UncompressedSize < 512 {
		t.Fatalf("index out of limits: %d entries, %d bytes", len(idx.Entries), idx.UncompressedSize)
	}
	switch idx.Compression {
	case fileindex.CompressionGzip, fileindex.CompressionZstd, fileindex.CompressionNone:
	default:
		t.Fatalf("compression %q", idx.Compression)
	}
	safe := func(p string) bool {
		return p != "" && p[0] != '/' && path.Clean(p) == p && !strings.ContainsRune(p, 0) &&
			p != ".." && !strings.HasPrefix(p, "../") && len(p) <= lim.MaxPathLen
	}
	for i, e := range idx.Entries {
		if !safe(e.Path) {
			t.Fatalf("entry %d: unsafe path %q", i, e.Path)
		}
		if e.Type < fileindex.File || e.Type > fileindex.Other || e.Mode&^07777 != 0 {
			t.Fatalf("entry %d: %+v", i, e)
		}
		if e.Type != fileindex.File && (e.Size != 0 || e.Digest != [16]byte{}) {
			t.Fatalf("entry %d: content fields on a %v", i, e.Type)
		}
		if e.Type == fileindex.Hardlink && !safe(e.Link) {
			t.Fatalf("entry %d: unsafe hard-link target %q", i, e.Link)
		}
		if e.Type != fileindex.Hardlink && e.Type != fileindex.Symlink && e.Link != "" {
			t.Fatalf("entry %d: link on a %v", i, e.Type)
		}
	}
}

package layerscan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/xxh3"

	"github.com/layerq/layerq/internal/fileindex"
)

// tf describes one tar entry to build.
type tf struct {
	Name     string
	Type     byte // tar.Type*; 0 means tar.TypeReg
	Body     string
	Link     string
	Mode     int64
	UID, GID int
	PAX      map[string]string
	Format   tar.Format
	Size     int64 // header size when Body is not the content (0: len(Body))
}

func (f tf) header() *tar.Header {
	if f.Type == tar.TypeXGlobalHeader {
		return &tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: f.PAX}
	}
	typ := f.Type
	if typ == 0 {
		typ = tar.TypeReg
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	size := int64(0)
	if typ == tar.TypeReg || typ == tar.TypeXGlobalHeader || typ == tar.TypeCont || f.Size > 0 || f.Body != "" {
		size = int64(len(f.Body))
		if f.Size > 0 {
			size = f.Size
		}
	}
	return &tar.Header{
		Name:       f.Name,
		Typeflag:   typ,
		Linkname:   f.Link,
		Mode:       mode,
		Uid:        f.UID,
		Gid:        f.GID,
		Size:       size,
		PAXRecords: f.PAX,
		Format:     f.Format,
		Devmajor:   1,
		Devminor:   3,
	}
}

// mkTar builds an uncompressed tar with end-of-archive blocks.
func mkTar(tb testing.TB, files ...tf) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(f.header()); err != nil {
			tb.Fatalf("tar header %q: %v", f.Name, err)
		}
		if f.Body != "" {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				tb.Fatalf("tar body %q: %v", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// mkTarNoEnd builds a tar without the end-of-archive blocks.
func mkTarNoEnd(tb testing.TB, files ...tf) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(f.header()); err != nil {
			tb.Fatal(err)
		}
		io.WriteString(tw, f.Body)
	}
	if err := tw.Flush(); err != nil { // pads the last entry, writes no trailer
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func gz(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// gzMulti gzips data as several concatenated members, split at the given
// offsets (which may fall anywhere, including inside a tar header).
func gzMulti(tb testing.TB, data []byte, splits ...int) []byte {
	tb.Helper()
	var out []byte
	prev := 0
	for _, s := range append(splits, len(data)) {
		out = append(out, gz(tb, data[prev:s])...)
		prev = s
	}
	return out
}

func zst(tb testing.TB, data []byte, opts ...zstd.EOption) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// zstMulti compresses data as several zstd frames.
func zstMulti(tb testing.TB, data []byte, splits ...int) []byte {
	tb.Helper()
	var out []byte
	prev := 0
	for _, s := range append(splits, len(data)) {
		out = append(out, zst(tb, data[prev:s])...)
		prev = s
	}
	return out
}

// skippableFrame is a zstd skippable frame with the given payload.
func skippableFrame(payload []byte) []byte {
	f := []byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}
	n := len(payload)
	f[4], f[5], f[6], f[7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return append(f, payload...)
}

// patchBlock edits the tar header block at off in data and fixes its
// checksum.
func patchBlock(data []byte, off int, edit func(b []byte)) {
	b := data[off : off+512]
	edit(b)
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

func octal(b []byte, v int64) {
	copy(b, fmt.Sprintf("%0*o\x00", len(b)-1, v))
}

// gnuSparseTar builds a tar whose only entry is an old-style GNU sparse
// file (type 'S'): 512 bytes of data at offset 0 of a 4096-byte file.
func gnuSparseTar(tb testing.TB) []byte {
	tb.Helper()
	data := mkTar(tb, tf{Name: "sparse.bin", Body: strings.Repeat("s", 512), Format: tar.FormatGNU})
	patchBlock(data, 0, func(b []byte) {
		b[156] = tar.TypeGNUSparse
		octal(b[386:398], 0)   // sparse[0].offset
		octal(b[398:410], 512) // sparse[0].numbytes
		b[482] = 0             // not extended
		octal(b[483:495], 4096)
	})
	return data
}

// paxSparseTar builds a tar whose only entry carries the given PAX records
// (archive/tar's writer drops GNU.sparse.* records, so the PAX header is
// written as a plain file and its type flag patched to 'x').
func paxSparseTar(tb testing.TB, name, body string, records ...string) []byte {
	tb.Helper()
	var pax strings.Builder
	for i := 0; i+1 < len(records); i += 2 {
		rec := " " + records[i] + "=" + records[i+1] + "\n"
		n := len(rec) + 1
		for len(fmt.Sprint(n))+len(rec) != n {
			n++
		}
		fmt.Fprintf(&pax, "%d%s", n, rec)
	}
	data := mkTar(tb, tf{Name: "PaxHeaders/" + name, Body: pax.String()}, tf{Name: name, Body: body})
	patchBlock(data, 0, func(b []byte) { b[156] = tar.TypeXHeader })
	return data
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// pipeFrom runs produce in a goroutine writing into a pipe (through a
// buffer, so the pipe hands over large chunks) and returns the read side;
// close it when done to stop the producer.
func pipeFrom(produce func(w io.Writer) error) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		err := produce(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// gzipStream wraps produce's output in gzip.
func gzipStream(produce func(w io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err := produce(zw); err != nil {
			return err
		}
		return zw.Close()
	}
}

func zstdStream(produce func(w io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		if err := produce(zw); err != nil {
			zw.Close()
			return err
		}
		return zw.Close()
	}
}

// bigZeroFile writes a tar with one file of n zero bytes.
func bigZeroFile(n int64) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := tar.NewWriter(w)
		if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Size: n, Mode: 0o644}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, io.LimitReader(zeros{}, n)); err != nil {
			return err
		}
		return tw.Close()
	}
}

// rawZeros writes n zero bytes (a "tar" that is all end-of-archive blocks).
func rawZeros(n int64) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(zeros{}, n))
		return err
	}
}

// tinyEntries writes a tar of n empty files named d<i/1000>/f<i>. It
// patches a template header instead of using tar.Writer, which is several
// times slower than Scan per entry.
func tinyEntries(n int) func(io.Writer) error {
	return func(w io.Writer) error {
		var tmpl bytes.Buffer
		tw := tar.NewWriter(&tmpl)
		if err := tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		tw.Flush()
		base := tmpl.Bytes()[:512]
		base[0] = 0
		copy(base[148:156], "        ")
		baseSum := 0
		for _, c := range base {
			baseSum += int(c)
		}
		blk := make([]byte, 512)
		for i := range n {
			copy(blk, base)
			name := strconv.AppendInt(append(blk[:0:100], 'd'), int64(i/1000), 10)
			name = strconv.AppendInt(append(name, "/f"...), int64(i), 10)
			sum := baseSum
			for _, c := range name {
				sum += int(c)
			}
			copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
			if _, err := w.Write(blk); err != nil {
				return err
			}
		}
		_, err := w.Write(make([]byte, 1024))
		return err
	}
}

func digestOf(s string) [16]byte { return xxh3.Hash128([]byte(s)).Bytes() }

// wantRejection asserts that Scan failed with a *Rejection of class and a
// reason containing every fragment, and returned no index.
func wantRejection(t *testing.T, idx *fileindex.Index, err error, class string, fragments ...string) {
	t.Helper()
	if idx != nil {
		t.Errorf("got an index with %d entries alongside error %v; want nil", len(idx.Entries), err)
	}
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("err = %v (%T); want *Rejection of class %q", err, err, class)
	}
	if rej.Class != class {
		t.Fatalf("class = %q (reason %q); want %q", rej.Class, rej.Reason, class)
	}
	for _, f := range fragments {
		if !strings.Contains(rej.Reason, f) {
			t.Errorf("reason %q does not mention %q", rej.Reason, f)
		}
	}
}

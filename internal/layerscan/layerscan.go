// Package layerscan reads one container image layer blob as a stream and
// produces a compact per-layer file index (a fileindex.Index): one Entry
// per tar entry, in tar order, with a content hash for every regular file.
//
// Scan never writes layer content anywhere, keeps no file content in memory
// beyond one copy buffer, and either returns a complete Index or an error:
// never a partial index. A *Rejection is a permanent verdict about the blob
// (too big, corrupt, unsafe, unsupported); any other error is a transient
// failure of the reader it was given (network, context cancellation) and the
// same blob may be scanned again later.
//
// # Content hash
//
// fileindex.Entry.Digest is XXH3-128 (github.com/zeebo/xxh3, default seed) of the file
// content. It is meant for equality only: finding the same file in several
// layers or images and measuring exact duplicate bytes. XXH3 hashes at tens
// of GB/s per core (about 44 GB/s on the development machine, against about
// 1.9 GB/s for SHA-256 with SHA-NI), so hashing costs about 1% of a scan whose
// speed is set by gzip inflation at a few hundred MB/s; SHA-256 would have
// cost about 20%. 128 bits make accidental collisions negligible (about 2^-64
// for 2^32 distinct files). XXH3 is not collision-resistant against an
// adversary: the author of an image can craft two different files with the
// same digest and so distort the duplicate statistics involving its own
// files. No security decision may rest on Entry.Digest; it is not an OCI
// digest and must not be compared with one.
//
// # Memory
//
// Memory is bounded independently of the blob's size. Fixed costs per Scan:
// a 64 KiB read buffer, a 64 KiB copy buffer, the XXH3 state (about 1 KiB),
// the inflater (gzip: a 32 KiB window plus Huffman tables, under 100 KiB in
// total) or the zstd decoder (at most Limits.MaxZstdWindow of history, 32 MiB
// by default, plus block buffers of a few hundred KiB; a frame that asks for a
// larger window is rejected before anything is allocated for it), and
// archive/tar's header state (PAX and GNU long-name records are capped at
// 1 MiB each by archive/tar). The only part that grows is the Index itself,
// which is capped by Limits.MaxEntries and Limits.MaxIndexBytes (an estimate
// of its heap size: the Entry structs plus the bytes of their strings). Every
// string kept in the index is a private copy, so the index never pins a
// larger header buffer (88 bytes per entry plus its path and link: ~30 MB for
// 200,000 entries).
//
// BenchmarkScanPeakRSS measures the peak RSS (VmHWM) of a whole test process
// scanning a 1 GiB layer of ~20,000 entries from stdin: about 15 MiB for
// gzip, 24 MiB for zstd with an 8 MiB window (the default of zstd and of
// klauspost's encoder), 59 MiB for zstd with a 32 MiB window, the largest
// accepted by default. Callers that run several scans at once and need less
// can lower Limits.MaxZstdWindow.
package layerscan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/xxh3"

	"github.com/layerq/layerq/internal/fileindex"
)

// Default limits, used for every Limits field that is zero or negative.
const (
	DefaultMaxUncompressed = 8 << 30   // 8 GiB
	DefaultMaxEntries      = 1_000_000 // tar entries kept in the index
	DefaultMaxPathLen      = 4096      // bytes, as Linux PATH_MAX
	DefaultMaxIndexBytes   = 512 << 20 // estimated heap size of the index
	DefaultMaxZstdWindow   = 32 << 20  // zstd history buffer
)

// Limits cap what one layer may cost. The zero value means all defaults.
type Limits struct {
	// MaxUncompressed caps the decompressed stream (default 8 GiB). One byte
	// more and the layer is rejected as "too_large"; a compression bomb hits
	// this after that many bytes of work.
	MaxUncompressed int64
	// MaxEntries caps the entries in the index (default 1,000,000); one more
	// is "too_many_entries".
	MaxEntries int
	// MaxPathLen caps an entry's name and link target in bytes, as written
	// in the tar (default 4096); longer is "unsafe_path".
	MaxPathLen int
	// MaxIndexBytes caps the estimated heap size of the index (default
	// 512 MiB): per entry the Entry struct plus the bytes of Path and Link.
	// Past it the layer is "too_many_entries". Without it, a small gzip blob
	// of a million entries with 4 KiB names would make an 8 GiB index.
	MaxIndexBytes int64
	// MaxZstdWindow caps the window (history) a zstd frame may require
	// (default 32 MiB, which every zstd level up to 19 fits; --ultra -20..22
	// and --long=27 use up to 128 MiB). A larger frame is "too_large".
	MaxZstdWindow int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = DefaultMaxUncompressed
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxPathLen <= 0 {
		l.MaxPathLen = DefaultMaxPathLen
	}
	if l.MaxIndexBytes <= 0 {
		l.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if l.MaxZstdWindow <= 0 {
		l.MaxZstdWindow = DefaultMaxZstdWindow
	}
	l.MaxZstdWindow = min(max(l.MaxZstdWindow, zstd.MinWindowSize), maxZstdWindow)
	return l
}

// Rejection is why a layer was not indexed; callers record Reason. It is
// permanent: scanning the same bytes again gives the same Rejection.
type Rejection struct {
	Class  string // one of the fileindex.Class* constants
	Reason string // human-readable detail: what, which entry, where
}

// Error implements error.
func (r *Rejection) Error() string {
	return "layer rejected: " + r.Class + ": " + r.Reason
}

func reject(class, format string, args ...any) *Rejection {
	return &Rejection{Class: class, Reason: fmt.Sprintf(format, args...)}
}

// Scan reads r, a compressed (gzip, zstd) or uncompressed layer blob, to its
// end and returns its index.
//
// On failure the index is nil and the error is either a *Rejection (use
// errors.As), which is permanent, or an error wrapping the error r returned,
// which is transient: r failed (network, context cancellation, a short read
// reported as io.ErrUnexpectedEOF by an HTTP body, ...) and the blob itself
// was not judged. Reading r to io.EOF is what makes the gzip and zstd
// checksums run; Scan does not verify the blob's OCI digest, which is the
// caller's to do (e.g. with an io.TeeReader into sha256).
//
// Scan does not apply overlay semantics: whiteouts and opaque markers are
// only classified. Entries whose name starts with ".wh..wh." other than the
// opaque marker (AUFS metadata such as ".wh..wh.plnk") are not whiteouts and
// are kept under their literal path.
//
// Scan recovers from a panic inside the decompressors or archive/tar and
// reports it as a "corrupt" Rejection; a panic raised by r itself is not
// swallowed.
func Scan(r io.Reader, lim Limits) (idx *fileindex.Index, err error) {
	s := &scanner{lim: lim.withDefaults(), src: &sourceReader{r: r}}
	defer func() {
		if p := recover(); p != nil {
			if s.src.inRead {
				panic(p) // the caller's reader panicked: not ours to hide
			}
			idx, err = nil, reject(fileindex.ClassCorrupt, "panic while decoding layer: %v", p)
		}
	}()
	idx, err = s.run()
	if err != nil {
		return nil, err
	}
	return idx, nil
}

const (
	readBufSize = 64 << 10
	copyBufSize = 64 << 10
	blockSize   = 512
	// entryOverhead is the heap size of an Entry in the index's slice.
	entryOverhead = int64(unsafe.Sizeof(fileindex.Entry{}))
	// maxZstdWindow is the largest window the zstd format allows (~3.75 TB).
	maxZstdWindow = (1 << 41) + 7*(1<<38)
	// maxQuoted caps how much of a hostile name goes into a Reason.
	maxQuoted = 120
)

type scanner struct {
	lim   Limits
	src   *sourceReader
	count *countReader

	compression string
	entries     []fileindex.Entry
	indexBytes  int64

	// For error messages: the entry being read.
	curName string
	curNum  int
}

func (s *scanner) run() (*fileindex.Index, error) {
	br := bufio.NewReaderSize(s.src, readBufSize)
	magic, _ := br.Peek(10) // fewer bytes at EOF; a short blob fails as a tar
	if s.src.err != nil {
		return nil, s.fail(s.src.err)
	}
	var raw io.Reader
	switch kind := sniff(magic); kind {
	case fileindex.CompressionGzip:
		s.compression = fileindex.CompressionGzip
		zr, err := newGzipReader(br)
		if err != nil {
			return nil, s.failDecompress(err)
		}
		defer zr.Close()
		raw = zr
	case fileindex.CompressionZstd:
		s.compression = fileindex.CompressionZstd
		w := uint64(s.lim.MaxZstdWindow)
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines, one block in flight
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(w),
			zstd.WithDecoderMaxMemory(w), // for streams this caps the window too
		)
		if err != nil {
			return nil, s.failDecompress(err)
		}
		defer zr.Close()
		raw = zr
	case fileindex.CompressionNone:
		s.compression = fileindex.CompressionNone
		raw = br
	default:
		return nil, reject(fileindex.ClassUnsupported, "blob is %s-compressed; only gzip, zstd and uncompressed tar are supported", kind)
	}

	s.count = &countReader{r: raw, max: s.lim.MaxUncompressed}
	if err := s.readTar(); err != nil {
		return nil, err
	}
	// Read the decompressed stream to its end so that the gzip CRC-32 and
	// size trailers (of every member) and the zstd frame checksums are
	// verified, and trailing garbage in the compressed stream is caught.
	buf := make([]byte, copyBufSize)
	if _, err := io.CopyBuffer(onlyWriter{io.Discard}, onlyReader{s.count}, buf); err != nil {
		s.curName, s.curNum = "", 0
		return nil, s.fail(err)
	}
	if s.src.err != nil { // a decompressor that swallowed a source error
		return nil, s.fail(s.src.err)
	}
	entries := s.entries
	if entries == nil {
		entries = []fileindex.Entry{}
	}
	return &fileindex.Index{
		Entries:          entries,
		UncompressedSize: s.count.n,
		Compression:      s.compression,
	}, nil
}

// sniff names the compression of a blob from its first bytes.
func sniff(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return fileindex.CompressionGzip
	case len(b) >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd:
		return fileindex.CompressionZstd
	case len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18:
		return fileindex.CompressionZstd // a zstd stream starting with a skippable frame
	case len(b) >= 6 && bytes.Equal(b[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	case len(b) >= 10 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9' &&
		(bytes.Equal(b[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}) || // first block
			bytes.Equal(b[4:10], []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90})): // empty stream
		return "bzip2"
	case len(b) >= 4 && b[0] == 0x04 && b[1] == 0x22 && b[2] == 0x4d && b[3] == 0x18:
		return "lz4"
	}
	return fileindex.CompressionNone
}

func (s *scanner) readTar() error {
	tr := tar.NewReader(s.count)
	h := xxh3.New()
	buf := make([]byte, copyBufSize)
	for {
		// archive/tar reads exactly what it needs, never ahead, so s.count.n
		// is the end of the previous entry's data (or of its header, for
		// header-only types); its block padding ends at the next multiple
		// of 512.
		prevEnd := alignBlock(s.count.n)
		hdr, err := tr.Next()
		if err == io.EOF {
			// archive/tar also reports io.EOF when the stream simply stops
			// at an entry boundary, or within padding. Only an archive
			// that reached at least one all-zero block is complete.
			if s.count.n < prevEnd+blockSize {
				s.curName = ""
				return s.fail(errors.New("archive ends without an end-of-archive marker (truncated)"))
			}
			return nil
		}
		s.curNum++
		if hdr != nil {
			s.curName = hdr.Name
		} else {
			s.curName = ""
		}
		if err != nil {
			if errors.Is(err, tar.ErrInsecurePath) { // only with GODEBUG=tarinsecurepath=0
				return reject(fileindex.ClassUnsafePath, "entry %d: insecure name %s", s.curNum, quote(hdr.Name))
			}
			return s.fail(err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // pax global header: metadata for archivers, not a file
		}
		if err := s.entry(tr, hdr, h, buf); err != nil {
			return err
		}
	}
}

// entry classifies one header, hashes a regular file's content, and appends
// the Entry.
func (s *scanner) entry(tr *tar.Reader, hdr *tar.Header, h *xxh3.Hasher, buf []byte) error {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return reject(fileindex.ClassSparse, "entry %d %s is a GNU sparse file (type 'S')", s.curNum, quote(hdr.Name))
	}
	sparseKey := "" // the smallest, so that Reason does not depend on map order
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") && (sparseKey == "" || k < sparseKey) {
			sparseKey = k
		}
	}
	if sparseKey != "" {
		return reject(fileindex.ClassSparse, "entry %d %s is a GNU sparse file (PAX record %s)", s.curNum, quote(hdr.Name), quote(sparseKey))
	}
	if len(s.entries) >= s.lim.MaxEntries {
		return reject(fileindex.ClassTooManyEntries, "more than %d entries (limit); entry %d is %s",
			s.lim.MaxEntries, s.curNum, quote(hdr.Name))
	}

	p, rej := s.cleanPath(hdr.Name, "name")
	if rej != nil {
		return rej
	}
	e := fileindex.Entry{
		Mode: hdr.Mode & 07777,
		UID:  hdr.Uid,
		GID:  hdr.Gid,
	}

	dir, base := path.Split(p)
	switch {
	case base == ".wh..wh..opq":
		e.Type = fileindex.Opaque
		e.Path = path.Clean(dir) // "" -> "."
	case strings.HasPrefix(base, ".wh.") && !strings.HasPrefix(base, ".wh..wh."):
		victim := base[len(".wh."):]
		if victim == "" || victim == "." || victim == ".." {
			return reject(fileindex.ClassUnsafePath, "entry %d %s is a whiteout of %s", s.curNum, quote(hdr.Name), quote(victim))
		}
		e.Type = fileindex.Whiteout
		e.Path = dir + victim // dir is "" or ends in "/"
	default:
		e.Path = p
		switch hdr.Typeflag {
		case tar.TypeReg:
			e.Type = fileindex.File
			e.Size = hdr.Size
			h.Reset()
			n, err := io.CopyBuffer(h, onlyReader{tr}, buf)
			if err != nil {
				return s.fail(err)
			}
			if n != hdr.Size {
				return s.fail(fmt.Errorf("read %d content bytes, header says %d", n, hdr.Size))
			}
			e.Digest = h.Sum128().Bytes()
		case tar.TypeDir:
			e.Type = fileindex.Dir
		case tar.TypeSymlink:
			e.Type = fileindex.Symlink
			if err := s.checkLinkSyntax(hdr.Linkname, "symlink target"); err != nil {
				return err
			}
			e.Link = strings.Clone(hdr.Linkname)
		case tar.TypeLink:
			e.Type = fileindex.Hardlink
			if hdr.Linkname == "" {
				return reject(fileindex.ClassCorrupt, "entry %d %s is a hard link with an empty target", s.curNum, quote(hdr.Name))
			}
			t, rej := s.cleanPath(hdr.Linkname, "hard-link target")
			if rej != nil {
				return rej
			}
			e.Link = t
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			e.Type = fileindex.Other
		default:
			return reject(fileindex.ClassUnsupported, "entry %d %s has unsupported tar type flag %s",
				s.curNum, quote(hdr.Name), quote(string([]byte{hdr.Typeflag})))
		}
	}

	// Drain whatever content a non-regular entry carries (whiteouts are
	// usually empty files) so the end-of-archive check sees every byte.
	if e.Type != fileindex.File {
		if _, err := io.CopyBuffer(onlyWriter{io.Discard}, onlyReader{tr}, buf); err != nil {
			return s.fail(err)
		}
	}

	s.indexBytes += entryOverhead + int64(len(e.Path)) + int64(len(e.Link))
	if s.indexBytes > s.lim.MaxIndexBytes {
		return reject(fileindex.ClassTooManyEntries, "index would exceed %d bytes (limit) at entry %d %s",
			s.lim.MaxIndexBytes, s.curNum, quote(hdr.Name))
	}
	s.entries = append(s.entries, e)
	return nil
}

// cleanPath validates a tar name or hard-link target and returns a private
// copy of its cleaned form. A leading "./" is fine; a leading "/" and any
// ".." component are not, even ones that would stay inside the root: no
// legitimate layer writer produces them, and rejecting them keeps every
// consumer of the index from having to re-check.
func (s *scanner) cleanPath(name, what string) (string, *Rejection) {
	if name == "" {
		return "", reject(fileindex.ClassUnsafePath, "entry %d has an empty %s", s.curNum, what)
	}
	if rej := s.checkLinkSyntax(name, what); rej != nil {
		return "", rej
	}
	if name[0] == '/' {
		return "", reject(fileindex.ClassUnsafePath, "entry %d: %s %s is absolute", s.curNum, what, quote(name))
	}
	for rest := name; rest != ""; {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		if comp == ".." {
			return "", reject(fileindex.ClassUnsafePath, "entry %d: %s %s has a \"..\" component", s.curNum, what, quote(name))
		}
	}
	// path.Clean returns its argument when it is already clean: copy, so
	// the index never pins archive/tar's buffers (a PAX name is a substring
	// of the whole PAX header, up to 1 MiB).
	return strings.Clone(path.Clean(name)), nil
}

// checkLinkSyntax applies the checks that hold for names and all link
// targets: a length limit and no NUL byte.
func (s *scanner) checkLinkSyntax(name, what string) *Rejection {
	if len(name) > s.lim.MaxPathLen {
		return reject(fileindex.ClassUnsafePath, "entry %d: %s is %d bytes, longer than the limit of %d: %s",
			s.curNum, what, len(name), s.lim.MaxPathLen, quote(name))
	}
	if strings.IndexByte(name, 0) >= 0 {
		return reject(fileindex.ClassUnsafePath, "entry %d: %s %s contains a NUL byte", s.curNum, what, quote(name))
	}
	return nil
}

// fail turns an error met while reading into the error Scan returns. The
// order matters: the size limit is checked first (a bomb makes every later
// layer fail too), then a failure of the caller's reader (transient), and
// only then is the blob itself blamed.
func (s *scanner) fail(err error) error {
	if s.count != nil && s.count.over {
		return reject(fileindex.ClassTooLarge, "uncompressed stream exceeds the limit of %d bytes%s", s.lim.MaxUncompressed, s.where())
	}
	if s.src.err != nil {
		return fmt.Errorf("layerscan: reading layer blob: %w", s.src.err)
	}
	if s.count != nil && s.count.err != nil {
		return s.failDecompress(s.count.err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return reject(fileindex.ClassCorrupt, "tar: unexpected end of stream (truncated archive)%s", s.where())
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "archive/tar: ") {
		msg = "tar: " + msg
	}
	return reject(fileindex.ClassCorrupt, "%s%s", msg, s.where())
}

// failDecompress classifies an error returned by the gzip or zstd reader.
func (s *scanner) failDecompress(err error) error {
	if s.src.err != nil {
		return fmt.Errorf("layerscan: reading layer blob: %w", s.src.err)
	}
	if errors.Is(err, io.ErrNoProgress) {
		return fmt.Errorf("layerscan: reading layer blob: %w", err)
	}
	if s.compression == fileindex.CompressionZstd &&
		(errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded)) {
		return reject(fileindex.ClassTooLarge, "zstd frame needs a window larger than the limit of %d bytes (%v)%s",
			s.lim.MaxZstdWindow, err, s.where())
	}
	msg := err.Error()
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		msg = "unexpected end of stream (truncated blob)"
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, zstd.ErrCRCMismatch):
		msg = "checksum mismatch: " + msg
	case errors.Is(err, gzip.ErrHeader):
		msg = "invalid member header (garbage in or after the stream?): " + msg
	}
	return reject(fileindex.ClassCorrupt, "%s stream: %s%s", s.compression, msg, s.where())
}

// where describes the position of a failure for Reason.
func (s *scanner) where() string {
	var b strings.Builder
	if s.count != nil {
		fmt.Fprintf(&b, " after %d uncompressed bytes", s.count.n)
	}
	if s.curNum > 0 {
		fmt.Fprintf(&b, ", in entry %d", s.curNum)
		if s.curName != "" {
			fmt.Fprintf(&b, " %s", quote(s.curName))
		}
	}
	return b.String()
}

func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q...(%d bytes)", s[:maxQuoted], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func alignBlock(n int64) int64 {
	return (n + blockSize - 1) &^ (blockSize - 1)
}

// countReader counts decompressed bytes and enforces MaxUncompressed. It
// remembers the first error of the reader below it (the decompressor, or
// the raw blob for uncompressed layers) so that it can be told apart from
// tar-level corruption.
type countReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
	err  error
}

var errTooLarge = errors.New("uncompressed size limit exceeded")

func (c *countReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, errTooLarge
	}
	if c.err != nil {
		return 0, c.err
	}
	// Allow one byte past the limit: reading it proves the stream is longer.
	if room := c.max - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	if n < 0 || n > len(p) {
		n, err = 0, fmt.Errorf("decompressor returned invalid count %d", n)
	}
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
		return n, errTooLarge
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// sourceReader wraps the caller's reader: its errors are transient, not the
// layer's fault. It also turns a reader that keeps returning (0, nil) into
// io.ErrNoProgress before bufio would, so that the failure is attributed to
// the caller's reader.
type sourceReader struct {
	r      io.Reader
	err    error
	inRead bool
	empty  int
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.inRead = true
	n, err := s.r.Read(p)
	s.inRead = false
	switch {
	case n < 0 || n > len(p):
		s.err = fmt.Errorf("reader returned invalid count %d for a %d-byte buffer", n, len(p))
		return 0, s.err
	case err != nil && err != io.EOF:
		s.err = err
	case n == 0 && err == nil && len(p) > 0:
		if s.empty++; s.empty >= 50 {
			s.err = io.ErrNoProgress
			return 0, s.err
		}
	default:
		s.empty = 0
	}
	return n, err
}

// onlyReader and onlyWriter hide WriterTo and ReaderFrom (io.Discard has
// one with its own small buffer) so io.CopyBuffer uses the buffer it is
// given.
type (
	onlyReader struct{ io.Reader }
	onlyWriter struct{ io.Writer }
)

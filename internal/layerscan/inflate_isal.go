//go:build cgo && isal

package layerscan

/*
#cgo LDFLAGS: -lisal
#include <stdlib.h>
#include <string.h>
#include <isa-l/igzip_lib.h>

// inflate_member starts inflating the deflate data of a gzip member whose
// header the caller has consumed; ISA-L checks the CRC-32 and size trailer.
static void inflate_member(struct inflate_state *s) {
	uint8_t *in = s->next_in;
	uint32_t n = s->avail_in;
	isal_inflate_reset(s);
	s->crc_flag = ISAL_GZIP_NO_HDR_VER;
	s->next_in = in;
	s->avail_in = n;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"

	"github.com/klauspost/compress/gzip"
)

// GzipDecoder names the gzip inflater this build uses.
const GzipDecoder = "ISA-L igzip"

const (
	// isalInSize holds the largest gzip member header klauspost/compress
	// accepts (10 bytes, a 65,535-byte extra field, a name and a comment of
	// under 512 bytes each, a header CRC) with room to spare, so a header is
	// always parsed from one contiguous buffer.
	isalInSize  = 128 << 10
	isalOutSize = 128 << 10
	maxHeader   = 10 + 2 + 65535 + 512 + 512 + 2
)

var errClosed = errors.New("isal: read after close")

// isalReader inflates a multi-member gzip stream with ISA-L's igzip, which
// is several times faster than any inflater in Go. Member headers are
// parsed here with klauspost/compress's rules (so both builds judge a blob
// alike); ISA-L inflates the deflate data and verifies each trailer. Its
// state and buffers live in C memory, so C keeps no Go pointer between
// calls.
type isalReader struct {
	src     io.Reader
	st      *C.struct_inflate_state
	in, out *C.uint8_t
	inBuf   []byte // Go view of in
	outBuf  []byte // Go view of out
	pending []byte // inflated bytes not yet returned
	srcEOF  bool
	inData  bool // inflating a member's deflate data
	err     error
}

func newGzipReader(r io.Reader) (io.ReadCloser, error) {
	z := &isalReader{src: r}
	z.st = (*C.struct_inflate_state)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_inflate_state{}))))
	z.in = (*C.uint8_t)(C.malloc(isalInSize))
	z.out = (*C.uint8_t)(C.malloc(isalOutSize))
	if z.st == nil || z.in == nil || z.out == nil {
		z.Close()
		return nil, errors.New("isal: out of memory")
	}
	z.inBuf = unsafe.Slice((*byte)(unsafe.Pointer(z.in)), isalInSize)
	z.outBuf = unsafe.Slice((*byte)(unsafe.Pointer(z.out)), isalOutSize)
	C.isal_inflate_init(z.st)
	z.st.next_in = z.in
	// Like gzip.NewReader, read the first header at once.
	if err := z.member(true); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

// buffered is the compressed input in hand.
func (z *isalReader) buffered() []byte {
	off := uintptr(unsafe.Pointer(z.st.next_in)) - uintptr(unsafe.Pointer(z.in))
	return z.inBuf[off : off+uintptr(z.st.avail_in)]
}

// fill reads more compressed input, keeping what is buffered, until at
// least want bytes are in hand, the buffer is full, or the source ends.
func (z *isalReader) fill(want int) error {
	have := int(z.st.avail_in)
	if have > 0 && z.st.next_in != z.in {
		C.memmove(unsafe.Pointer(z.in), unsafe.Pointer(z.st.next_in), C.size_t(have))
	}
	z.st.next_in = z.in
	for have < want && have < isalInSize && !z.srcEOF {
		n, err := z.src.Read(z.inBuf[have:])
		have += n
		if err == io.EOF {
			z.srcEOF = true
		} else if err != nil {
			z.st.avail_in = C.uint32_t(have)
			return err
		}
	}
	z.st.avail_in = C.uint32_t(have)
	return nil
}

// member parses the next member's header. At the end of the input it
// returns io.EOF, unless first (an empty stream is truncated).
func (z *isalReader) member(first bool) error {
	if z.st.avail_in < maxHeader {
		if err := z.fill(maxHeader); err != nil {
			return err
		}
	}
	b := z.buffered()
	if len(b) == 0 {
		if first {
			return io.ErrUnexpectedEOF
		}
		return io.EOF
	}
	n, err := gzipHeaderLen(b)
	if err != nil {
		return err
	}
	z.st.next_in = (*C.uint8_t)(unsafe.Add(unsafe.Pointer(z.st.next_in), n))
	z.st.avail_in -= C.uint32_t(n)
	C.inflate_member(z.st)
	z.inData = true
	return nil
}

// gzipHeaderLen validates the gzip member header at the start of b, as
// klauspost/compress (and compress/gzip) do, and returns its length.
func gzipHeaderLen(b []byte) (int, error) {
	if len(b) < 10 {
		return 0, io.ErrUnexpectedEOF
	}
	if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
		return 0, gzip.ErrHeader
	}
	flg := b[3]
	if flg&0xe0 != 0 {
		return 0, gzip.ErrHeader // reserved flags
	}
	n := 10
	if flg&0x04 != 0 { // FEXTRA
		if len(b) < n+2 {
			return 0, io.ErrUnexpectedEOF
		}
		n += 2 + int(binary.LittleEndian.Uint16(b[n:]))
		if len(b) < n {
			return 0, io.ErrUnexpectedEOF
		}
	}
	for _, f := range []byte{0x08, 0x10} { // FNAME, FCOMMENT: NUL-terminated, under 512 bytes
		if flg&f == 0 {
			continue
		}
		end := -1
		for i := n; i < len(b) && i < n+512; i++ {
			if b[i] == 0 {
				end = i
				break
			}
		}
		switch {
		case end >= 0:
			n = end + 1
		case len(b) < n+512:
			return 0, io.ErrUnexpectedEOF
		default:
			return 0, gzip.ErrHeader
		}
	}
	if flg&0x02 != 0 { // FHCRC
		if len(b) < n+2 {
			return 0, io.ErrUnexpectedEOF
		}
		if uint16(crc32.ChecksumIEEE(b[:n])) != binary.LittleEndian.Uint16(b[n:]) {
			return 0, gzip.ErrHeader
		}
		n += 2
	}
	return n, nil
}

func (z *isalReader) Read(p []byte) (int, error) {
	if z.st == nil {
		return 0, errClosed
	}
	for len(z.pending) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		z.err = z.step()
	}
	n := copy(p, z.pending)
	z.pending = z.pending[n:]
	return n, nil
}

// step inflates what it can into the output buffer, or moves to the next
// member; io.EOF after the last.
func (z *isalReader) step() error {
	if !z.inData {
		return z.member(false)
	}
	if z.st.avail_in == 0 {
		if err := z.fill(1); err != nil {
			return err
		}
		if z.st.avail_in == 0 && z.srcEOF {
			return io.ErrUnexpectedEOF
		}
	}
	z.st.next_out = z.out
	z.st.avail_out = isalOutSize
	ret := C.isal_inflate(z.st)
	z.pending = z.outBuf[:isalOutSize-int(z.st.avail_out)]
	switch ret {
	case C.ISAL_DECOMP_OK, C.ISAL_END_INPUT, C.ISAL_OUT_OVERFLOW:
		if z.st.block_state == C.ISAL_BLOCK_FINISH {
			z.inData = false // the trailer is checked; a member may follow
		}
		return nil
	case C.ISAL_INCORRECT_CHECKSUM:
		return gzip.ErrChecksum
	default:
		return fmt.Errorf("flate: corrupt input (isal error %d)", int(ret))
	}
}

// Close frees the C state and buffers; reading afterwards fails.
func (z *isalReader) Close() error {
	z.pending, z.outBuf, z.inBuf = nil, nil, nil
	if z.st != nil {
		C.free(unsafe.Pointer(z.st))
		z.st = nil
	}
	if z.in != nil {
		C.free(unsafe.Pointer(z.in))
		z.in = nil
	}
	if z.out != nil {
		C.free(unsafe.Pointer(z.out))
		z.out = nil
	}
	return nil
}

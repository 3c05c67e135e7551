//go:build cgo && isal

package layerscan

/*
#cgo LDFLAGS: -lisal
#include <stdlib.h>
#include <string.h>
#include <isa-l/igzip_lib.h>

// inflate_member_reset starts the next gzip member, keeping the input that
// is already buffered.
static void inflate_member_reset(struct inflate_state *s) {
	uint8_t *in = s->next_in;
	uint32_t n = s->avail_in;
	isal_inflate_reset(s);
	s->crc_flag = ISAL_GZIP;
	s->next_in = in;
	s->avail_in = n;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/klauspost/compress/gzip"
)

// GzipDecoder names the gzip inflater this build uses.
const GzipDecoder = "ISA-L igzip"

const (
	isalInSize  = 64 << 10
	isalOutSize = 128 << 10
)

// isalReader inflates a multi-member gzip stream with ISA-L's igzip, which
// is several times faster than any inflater in Go. Its state and buffers
// live in C memory, so no Go pointer is kept by C between calls.
type isalReader struct {
	src      io.Reader
	st       *C.struct_inflate_state
	in, out  *C.uint8_t
	inBuf    []byte // Go view of in
	outBuf   []byte // Go view of out
	pending  []byte // inflated bytes not yet returned
	srcEOF   bool
	finished bool // the last member ended and no input follows
	member   bool // inside a member (header seen)
	err      error
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
	z.st.crc_flag = C.ISAL_GZIP
	// Like gzip.NewReader, fail at once on a stream that is not gzip.
	if err := z.fill(); err != nil {
		z.Close()
		return nil, err
	}
	if z.st.avail_in == 0 {
		z.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return z, nil
}

// fill reads more compressed input, keeping what is buffered.
func (z *isalReader) fill() error {
	if z.srcEOF {
		return nil
	}
	have := int(z.st.avail_in)
	if have > 0 && z.st.next_in != z.in {
		C.memmove(unsafe.Pointer(z.in), unsafe.Pointer(z.st.next_in), C.size_t(have))
	}
	z.st.next_in = z.in
	for have < isalInSize {
		n, err := z.src.Read(z.inBuf[have:])
		have += n
		if err == io.EOF {
			z.srcEOF = true
			break
		}
		if err != nil {
			z.st.avail_in = C.uint32_t(have)
			return err
		}
		if n > 0 {
			break
		}
	}
	z.st.avail_in = C.uint32_t(have)
	return nil
}

func (z *isalReader) Read(p []byte) (int, error) {
	for len(z.pending) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		if z.finished {
			return 0, io.EOF
		}
		z.err = z.step()
	}
	n := copy(p, z.pending)
	z.pending = z.pending[n:]
	return n, nil
}

// step inflates what it can into the output buffer.
func (z *isalReader) step() error {
	if z.st.block_state == C.ISAL_BLOCK_FINISH {
		// A member ended (its CRC checked): another follows, or the end.
		if z.st.avail_in == 0 {
			if err := z.fill(); err != nil {
				return err
			}
		}
		if z.st.avail_in == 0 && z.srcEOF {
			z.finished = true
			return nil
		}
		C.inflate_member_reset(z.st)
	}
	if z.st.avail_in == 0 {
		if err := z.fill(); err != nil {
			return err
		}
		if z.st.avail_in == 0 && z.srcEOF {
			return io.ErrUnexpectedEOF
		}
	}
	z.st.next_out = z.out
	z.st.avail_out = isalOutSize
	ret := C.isal_inflate(z.st)
	produced := isalOutSize - int(z.st.avail_out)
	z.pending = z.outBuf[:produced]
	switch ret {
	case C.ISAL_DECOMP_OK, C.ISAL_END_INPUT, C.ISAL_OUT_OVERFLOW:
		if produced == 0 && z.st.avail_in > 0 && z.st.block_state != C.ISAL_BLOCK_FINISH && ret != C.ISAL_OUT_OVERFLOW {
			// No progress with input in hand: it needs more to go on.
			if z.srcEOF {
				return io.ErrUnexpectedEOF
			}
			if int(z.st.avail_in) == isalInSize {
				return fmt.Errorf("%w: isal made no progress", gzip.ErrHeader)
			}
			return z.fill()
		}
		return nil
	case C.ISAL_INCORRECT_CHECKSUM:
		return gzip.ErrChecksum
	case C.ISAL_INVALID_WRAPPER, C.ISAL_UNSUPPORTED_METHOD:
		return gzip.ErrHeader
	default:
		return fmt.Errorf("flate: corrupt input (isal error %d)", int(ret))
	}
}

// Close frees the C state and buffers.
func (z *isalReader) Close() error {
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

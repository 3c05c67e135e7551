//go:build !(cgo && isal)

package layerscan

import (
	"io"

	"github.com/klauspost/compress/gzip"
)

// GzipDecoder names the gzip inflater this build uses.
const GzipDecoder = "klauspost/compress"

// newGzipReader inflates a gzip stream, every member of it, verifying each
// member's CRC-32 and size.
func newGzipReader(r io.Reader) (io.ReadCloser, error) {
	return gzip.NewReader(r) // multistream by default
}

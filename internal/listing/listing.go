// Package listing packs a layer's file index entries into one value, as
// the table layer_listings holds them, and reads them back: the reports
// that need a layer's whole index (the final filesystems of `diff`,
// `bloat --image`, `find`) read a value per layer instead of a row per
// entry of layer_files.
//
// The format, version 1 (sql/functions/layer_listing.sql writes the same
// from the rows of layer_files): the byte 1, then each entry in tar order:
// type int16, mode int32, uid int64, gid int64, size int64; the path's
// length int32 and its bytes; the digest's length int32 (-1: none, for
// every type but a regular file) and its bytes; the link's length int32
// (-1: none) and its bytes. Integers are big-endian. The count of entries
// is kept beside it (layer_indexes.entries).
package listing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/layerq/layerq/internal/fileindex"
)

// Version is the format Encode writes and Decode reads.
const Version = 1

// fixed is the bytes of an entry's fixed fields: type, mode, uid, gid,
// size.
const fixed = 2 + 4 + 8 + 8 + 8

// Encode packs entries, each path and link as text gives it (the form the
// database stores them in).
func Encode(entries []fileindex.Entry, text func(string) string) ([]byte, error) {
	n := 1
	for i := range entries {
		n += fixed + 12 + len(entries[i].Path) + len(entries[i].Link) + len(entries[i].Digest)
	}
	b := make([]byte, 0, n)
	b = append(b, Version)
	for i := range entries {
		e := &entries[i]
		b = binary.BigEndian.AppendUint16(b, uint16(e.Type))
		b = binary.BigEndian.AppendUint32(b, uint32(int32(e.Mode)))
		b = binary.BigEndian.AppendUint64(b, uint64(int64(e.UID)))
		b = binary.BigEndian.AppendUint64(b, uint64(int64(e.GID)))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Size))
		var err error
		if b, err = appendText(b, text(e.Path)); err != nil {
			return nil, fmt.Errorf("entry %d: path: %w", i, err)
		}
		if e.Type == fileindex.File {
			b, _ = appendText(b, string(e.Digest[:]))
		} else {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32) // -1
		}
		if e.Link == "" {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32)
		} else if b, err = appendText(b, text(e.Link)); err != nil {
			return nil, fmt.Errorf("entry %d: link: %w", i, err)
		}
	}
	return b, nil
}

func appendText(b []byte, s string) ([]byte, error) {
	if len(s) > math.MaxInt32 {
		return nil, errors.New("longer than a listing holds")
	}
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...), nil
}

// Decode returns the n entries of a listing, in tar order. b may be a
// driver's buffer: nothing of it is kept. The entries' paths and links are
// substrings of one string holding them all, the only text copied (a 1 GB
// image's listings are megabytes, most of them numbers and digests, and
// every byte a new process allocates costs it a page fault).
func Decode(b []byte, n int) ([]fileindex.Entry, error) {
	if n < 0 {
		return nil, fmt.Errorf("file index listing of %d entries", n)
	}
	b, err := body(b)
	if err != nil {
		return nil, err
	}
	// First the texts' length, then each entry, its texts copied into
	// one buffer made once.
	texts := 0
	if err := walk(b, n, func(_ int, _, path, _, link []byte) { texts += len(path) + len(link) }); err != nil {
		return nil, err
	}
	d := decoded{text: make([]byte, 0, texts), entries: make([]fileindex.Entry, n)}
	walk(b, n, func(i int, f, path, digest, link []byte) {
		e := &d.entries[i]
		e.Type = fileindex.EntryType(int16(binary.BigEndian.Uint16(f)))
		e.Mode = int64(int32(binary.BigEndian.Uint32(f[2:])))
		e.UID = int(int64(binary.BigEndian.Uint64(f[6:])))
		e.GID = int(int64(binary.BigEndian.Uint64(f[14:])))
		e.Size = int64(binary.BigEndian.Uint64(f[22:]))
		e.Path, e.Link = d.str(path), d.str(link)
		copy(e.Digest[:], digest)
	})
	return d.entries, nil
}

// Files calls fn with each regular file of a listing of n entries, in tar
// order: its path, size and content digest (ok false: the index has none
// for it, and digest is zero). path is a view of b, valid only during the
// call; nothing is allocated. For reports that count files over many
// layers and keep little of each.
func Files(b []byte, n int, fn func(path []byte, size int64, digest [16]byte, ok bool)) error {
	if n < 0 {
		return fmt.Errorf("file index listing of %d entries", n)
	}
	return files(b, n, fn)
}

// AllFiles is Files for a listing whose count of entries is not at hand
// (it is kept in layer_indexes): every entry up to the listing's end. A
// listing cut inside an entry is refused; one cut exactly between two
// entries cannot be told from a whole one without the count.
func AllFiles(b []byte, fn func(path []byte, size int64, digest [16]byte, ok bool)) error {
	return files(b, -1, fn)
}

// files is Files of n entries, or of every entry for n -1.
func files(b []byte, n int, fn func(path []byte, size int64, digest [16]byte, ok bool)) error {
	b, err := body(b)
	if err != nil {
		return err
	}
	// The whole listing is checked before fn hears of any of it.
	if err := walk(b, n, func(int, []byte, []byte, []byte, []byte) {}); err != nil {
		return err
	}
	walk(b, n, func(_ int, f, path, d, _ []byte) {
		if fileindex.EntryType(int16(binary.BigEndian.Uint16(f))) == fileindex.File {
			var digest [16]byte
			copy(digest[:], d)
			fn(path, int64(binary.BigEndian.Uint64(f[22:])), digest, d != nil)
		}
	})
	return nil
}

// body checks a listing's version and returns its entries' bytes.
func body(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != Version {
		return nil, errors.New("file index listing of an unknown format; run layerq-ingest migrate with this layerq")
	}
	return b[1:], nil
}

// decoded receives the entries Decode reads.
type decoded struct {
	text    []byte // made at its full length: the strings below point into it
	entries []fileindex.Entry
}

// str copies t into the text buffer and returns it as a string there.
func (d *decoded) str(t []byte) string {
	if len(t) == 0 {
		return ""
	}
	at := len(d.text)
	d.text = append(d.text, t...) // within its capacity: never moves
	return unsafe.String(&d.text[at], len(t))
}

// walk reads the n entries of b (a listing past its version byte), or
// every entry up to its end for n -1, and gives each to visit: its index,
// its fixed fields (type, mode, uid, gid, size), its path, digest and link
// (nil: none).
func walk(b []byte, n int, visit func(i int, fixed, path, digest, link []byte)) error {
	off := 0
	text := func() ([]byte, bool) {
		if len(b)-off < 4 {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(b[off:]))
		off += 4
		if l == -1 {
			return nil, true
		}
		if l < 0 || int(l) > len(b)-off {
			return nil, false
		}
		off += int(l)
		return b[off-int(l) : off], true
	}
	short := func(i int) error {
		if n < 0 {
			return fmt.Errorf("file index listing cut short at entry %d", i)
		}
		return fmt.Errorf("file index listing cut short at entry %d of %d", i, n)
	}
	for i := 0; (n < 0 && off < len(b)) || i < n; i++ {
		if len(b)-off < fixed {
			return short(i)
		}
		f := b[off : off+fixed]
		off += fixed
		path, ok1 := text()
		digest, ok2 := text()
		link, ok3 := text()
		if !ok1 || !ok2 || !ok3 {
			return short(i)
		}
		visit(i, f, path, digest, link)
	}
	if off != len(b) {
		return fmt.Errorf("file index listing: %d bytes past its %d entries", len(b)-off, n)
	}
	return nil
}

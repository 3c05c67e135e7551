// Package fileindex is a layer's file index as layerq keeps it: one Entry
// per tar entry, in tar order, with a content hash for every regular file,
// and the classes of verdict that leave a layer without an index. The
// scanner that makes an Index (layerscan) and everything that reads one
// (the graph, the overlay, the reports) share these types; only the scanner
// needs the decompressors.
package fileindex

import "fmt"

// EntryType classifies a tar entry as the overlay needs it.
type EntryType uint8

// Entry types. The zero value is not a valid type.
const (
	File     EntryType = iota + 1 // regular file (tar '0' or legacy '\x00')
	Dir                           // directory
	Symlink                       // symbolic link; Link is the target verbatim
	Hardlink                      // hard link; Link is the cleaned target path
	Whiteout                      // ".wh.<name>": Path is the removed path
	Opaque                        // ".wh..wh..opq": Path is the directory made opaque
	Other                         // character device, block device or FIFO
)

var entryTypeNames = [...]string{
	File:     "file",
	Dir:      "dir",
	Symlink:  "symlink",
	Hardlink: "hardlink",
	Whiteout: "whiteout",
	Opaque:   "opaque",
	Other:    "other",
}

// String returns a lower-case name for t, e.g. "file" or "whiteout".
func (t EntryType) String() string {
	if int(t) < len(entryTypeNames) && entryTypeNames[t] != "" {
		return entryTypeNames[t]
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one tar entry of a layer, as the overlay needs it.
type Entry struct {
	// Path is the cleaned, relative path: no leading "./" or "/", no "."
	// components, no trailing "/". The layer's root directory itself (tar
	// name "./" or ".") has Path ".". For Whiteout entries it is the path
	// that is removed (".wh.foo" in directory "a" gives "a/foo"); for Opaque
	// entries it is the directory made opaque. Path may contain bytes that
	// are not valid UTF-8 (Linux file names are bytes); it never contains
	// NUL.
	Path string
	Type EntryType
	// Size is the content size of regular files, 0 for every other type.
	Size int64
	// Mode holds the permission bits plus setuid, setgid and sticky
	// (tar header mode & 07777).
	Mode int64
	UID  int
	GID  int
	// Digest is XXH3-128 (canonical big-endian bytes) of a regular file's
	// content, for equality only; zero for every other type. An empty file
	// has the non-zero digest of empty input.
	Digest [16]byte
	// Link is the target of a Symlink, verbatim (lexical cleaning would
	// change what a symlink through another symlink resolves to; it may be
	// absolute or contain ".."), or the cleaned target path of a Hardlink
	// (same rules as Path). Empty for every other type.
	Link string
}

// Index is a layer's file index.
type Index struct {
	Entries []Entry // in tar order; never nil
	// UncompressedSize counts every byte of the decompressed stream,
	// including the end-of-archive blocks and any padding after them: it is
	// the size of the stream whose sha256 is the layer's diff ID.
	UncompressedSize int64
	// Compression is "gzip", "zstd" or "none", detected from the blob's
	// magic bytes (never trusted from a media type).
	Compression string
}

// Compression names used in Index.Compression.
const (
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// Rejection classes: why a layer has no index (layerscan.Rejection.Class;
// the limits named are layerscan.Limits's fields).
const (
	// ClassTooLarge: the decompressed stream is longer than
	// Limits.MaxUncompressed, or a zstd frame needs a window larger than
	// Limits.MaxZstdWindow.
	ClassTooLarge = "too_large"
	// ClassTooManyEntries: more than Limits.MaxEntries entries, or an index
	// larger than Limits.MaxIndexBytes.
	ClassTooManyEntries = "too_many_entries"
	// ClassCorrupt: the compressed stream or the tar archive is malformed or
	// truncated (bad CRC, bad header, missing end-of-archive marker, trailing
	// garbage after the last gzip member or zstd frame, ...).
	ClassCorrupt = "corrupt"
	// ClassUnsafePath: an entry name or hard-link target is empty, absolute,
	// has a ".." component, contains NUL, or is longer than
	// Limits.MaxPathLen; or a whiteout names nothing, "." or "..".
	ClassUnsafePath = "unsafe_path"
	// ClassSparse: a GNU sparse entry (type 'S' or PAX GNU.sparse.*).
	ClassSparse = "sparse"
	// ClassUnsupported: a tar type flag outside 0-6 (GNU volume headers,
	// multi-volume continuations, dump directories, contiguous files,
	// vendor types: container runtimes refuse them too), or a blob
	// compressed with xz, bzip2 or lz4.
	ClassUnsupported = "unsupported"
)

package sample

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the default modification time of File entries and the default
// creation time of a Spec.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// File is one tar entry of a layer. Entries are written exactly as given, in
// the given order: parent directories are not added automatically.
type File struct {
	// Path is the entry name, relative ("usr/bin/curl"); directories are
	// given without a trailing slash. A whiteout is a regular file named
	// ".wh.<name>" (see Whiteout and OpaqueWhiteout).
	Path string
	// Type is the tar type flag: tar.TypeReg (used when 0), tar.TypeDir,
	// tar.TypeSymlink or tar.TypeLink (other tar types are written as is).
	Type byte
	// Content is the body of a regular file; it must be empty for the other
	// types.
	Content []byte
	// Mode holds the permission bits (setuid/setgid/sticky allowed). When 0
	// it defaults to 0644 for regular files and hard links, 0755 for
	// directories and 0777 for symlinks.
	Mode int64
	// UID and GID are the numeric owner; user and group names are left empty.
	UID, GID int
	// Linkname is the target of a symlink or hard link.
	Linkname string
	// ModTime is the modification time, truncated to whole seconds; the zero
	// value means Epoch.
	ModTime time.Time
}

// Whiteout returns the entry that deletes p from the lower layers: an empty
// regular file ".wh.<base>" in p's directory.
func Whiteout(p string) File {
	dir, base := path.Split(p)
	return File{Path: dir + ".wh." + base}
}

// OpaqueWhiteout returns the entry that hides everything the lower layers
// hold below dir: an empty regular file "<dir>/.wh..wh..opq".
func OpaqueWhiteout(dir string) File {
	return File{Path: path.Join(dir, ".wh..wh..opq")}
}

func (f File) header() (*tar.Header, error) {
	if f.Path == "" || strings.HasPrefix(f.Path, "/") || strings.HasSuffix(f.Path, "/") {
		return nil, fmt.Errorf("sample: invalid path %q: must be relative, without trailing slash", f.Path)
	}
	typ := f.Type
	if typ == 0 {
		typ = tar.TypeReg
	}
	if typ != tar.TypeReg && len(f.Content) > 0 {
		return nil, fmt.Errorf("sample: %s: content on a non-regular entry (type %q)", f.Path, typ)
	}
	if (typ == tar.TypeSymlink || typ == tar.TypeLink) && f.Linkname == "" {
		return nil, fmt.Errorf("sample: %s: link without Linkname", f.Path)
	}
	mode := f.Mode
	if mode == 0 {
		switch typ {
		case tar.TypeDir:
			mode = 0o755
		case tar.TypeSymlink:
			mode = 0o777
		default:
			mode = 0o644
		}
	}
	mt := f.ModTime
	if mt.IsZero() {
		mt = Epoch
	}
	return &tar.Header{
		Typeflag: typ,
		Name:     f.Path,
		Linkname: f.Linkname,
		Size:     int64(len(f.Content)),
		Mode:     mode,
		Uid:      f.UID,
		Gid:      f.GID,
		ModTime:  mt.Truncate(time.Second).UTC(),
		Format:   tar.FormatPAX,
	}, nil
}

// tarBytes writes files as an uncompressed tar archive (PAX format, which
// degrades to plain USTAR headers whenever no extended record is needed).
func tarBytes(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr, err := f.header()
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("sample: %s: %w", f.Path, err)
		}
		if len(f.Content) > 0 {
			if _, err := tw.Write(f.Content); err != nil {
				return nil, fmt.Errorf("sample: %s: %w", f.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Layer returns a layer holding files (written in order, see File) compressed
// with c. Its media type is the Docker one for Gzip and Uncompressed and the
// OCI zstd one for Zstd (Docker has none); Build and Recompress choose the
// media types matching their Format.
func Layer(files []File, c Compression) (v1.Layer, error) {
	tb, err := tarBytes(files)
	if err != nil {
		return nil, err
	}
	return layerFromTar(tb, c, Docker)
}

// layerMediaType returns the layer media type for compression c in format f.
func layerMediaType(c Compression, f Format) types.MediaType {
	switch {
	case c == Zstd:
		return types.OCILayerZStd
	case c == Uncompressed && f == OCI:
		return types.OCIUncompressedLayer
	case c == Uncompressed:
		return types.DockerUncompressedLayer
	case f == OCI:
		return types.OCILayer
	default:
		return types.DockerLayer
	}
}

// layerFromTar makes a layer of the uncompressed tar tb.
func layerFromTar(tb []byte, c Compression, f Format) (v1.Layer, error) {
	mt := layerMediaType(c, f)
	switch c {
	case Uncompressed:
		return static.NewLayer(tb, mt), nil
	case Gzip, Zstd:
		comp := compression.GZip
		if c == Zstd {
			comp = compression.ZStd
		}
		opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tb)), nil }
		return tarball.LayerFromOpener(opener,
			tarball.WithCompression(comp),
			tarball.WithMediaType(mt),
			tarball.WithCompressedCaching)
	default:
		return nil, fmt.Errorf("sample: unknown compression %d", c)
	}
}

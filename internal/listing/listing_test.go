package listing_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/listing"
)

// What Encode packs, Decode reads back field for field, each text as the
// encoder was given it, and Files its regular files.
func TestDecodeReadsWhatEncodePacks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	upper := func(s string) string { return strings.ToUpper(s) }
	for _, n := range []int{0, 1, 7, 1000} {
		entries := make([]fileindex.Entry, n)
		for i := range entries {
			e := fileindex.Entry{
				Path: fmt.Sprintf("usr/lib/é/%d-\xff", i), Type: fileindex.EntryType(1 + rng.IntN(7)),
				Mode: int64(rng.IntN(0o10000)), UID: rng.IntN(1 << 40), GID: -rng.IntN(3),
			}
			switch e.Type {
			case fileindex.File:
				e.Size = rng.Int64N(1 << 40)
				for j := range e.Digest {
					e.Digest[j] = byte(rng.IntN(256))
				}
			case fileindex.Symlink, fileindex.Hardlink:
				e.Link = strings.Repeat("l", rng.IntN(3))
			}
			entries[i] = e
		}
		b, err := listing.Encode(entries, upper)
		if err != nil {
			t.Fatal(err)
		}
		got, err := listing.Decode(b, n)
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		var files []fileindex.Entry
		for i, e := range entries {
			e.Path, e.Link = upper(e.Path), upper(e.Link)
			if got[i] != e {
				t.Fatalf("%d entries: entry %d read as\n%+v\nwant\n%+v", n, i, got[i], e)
			}
			if e.Type == fileindex.File {
				files = append(files, e)
			}
		}
		// Files gives the regular files alone, in order, with their
		// path, size and content digest.
		i := 0
		err = listing.Files(b, n, func(path []byte, size int64, digest [16]byte, ok bool) {
			if i >= len(files) || string(path) != files[i].Path || size != files[i].Size || digest != files[i].Digest || !ok {
				t.Fatalf("%d entries: Files gave file %d as %q, %d, %x, %v", n, i, path, size, digest, ok)
			}
			i++
		})
		if err != nil || i != len(files) {
			t.Fatalf("%d entries: Files gave %d files of %d (%v)", n, i, len(files), err)
		}
		// AllFiles, not told the count, gives the same.
		i = 0
		err = listing.AllFiles(b, func(path []byte, size int64, digest [16]byte, ok bool) {
			if i >= len(files) || string(path) != files[i].Path || size != files[i].Size || digest != files[i].Digest || !ok {
				t.Fatalf("%d entries: AllFiles gave file %d as %q, %d, %x, %v", n, i, path, size, digest, ok)
			}
			i++
		})
		if err != nil || i != len(files) {
			t.Fatalf("%d entries: AllFiles gave %d files of %d (%v)", n, i, len(files), err)
		}
	}
}

// A listing that is not whole, has bytes past its entries or is of
// another format is refused, not read as entries, by Decode and by Files.
func TestDecodeRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	entry := []byte{0, 1, 0, 0, 1, 0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
		0, 0, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	whole := append([]byte{1}, entry...)
	if es, err := listing.Decode(whole, 1); err != nil || len(es) != 1 || es[0].Path != "a" || es[0].Size != 5 || es[0].Mode != 0o644 || es[0].Type != fileindex.File {
		t.Fatalf("a whole listing read as %+v, %v", es, err)
	}
	for name, c := range map[string]struct {
		b []byte
		n int
	}{
		"cut short":          {whole[:len(whole)-1], 1},
		"fewer entries":      {whole, 2},
		"bytes past the end": {append(append([]byte{}, whole...), 0), 1},
		"another version":    {append([]byte{2}, entry...), 1},
		"empty":              {nil, 0},
		"entries below zero": {[]byte{1}, -1},
		"a negative length":  {append(append([]byte{1}, entry[:30]...), 0xff, 0xff, 0xff, 0xfe), 1},
	} {
		if es, err := listing.Decode(c.b, c.n); err == nil {
			t.Errorf("%s: read as %+v, want an error", name, es)
		}
		files := 0
		if err := listing.Files(c.b, c.n, func([]byte, int64, [16]byte, bool) { files++ }); err == nil || files > 0 {
			t.Errorf("%s: Files gave %d files (%v), want none and an error", name, files, err)
		}
	}
	// Not told the count, a listing cut anywhere inside an entry, or of
	// another format, is refused too.
	for name, b := range map[string][]byte{
		"cut short":         whole[:len(whole)-1],
		"cut in its fields": whole[:10],
		"another version":   append([]byte{2}, entry...),
		"empty":             nil,
		"a negative length": append(append([]byte{1}, entry[:30]...), 0xff, 0xff, 0xff, 0xfe),
	} {
		files := 0
		if err := listing.AllFiles(b, func([]byte, int64, [16]byte, bool) { files++ }); err == nil || files > 0 {
			t.Errorf("%s: AllFiles gave %d files (%v), want none and an error", name, files, err)
		}
	}
}

// A regular file the index has no content digest for (the database packs
// a NULL digest as none) comes from Files as such, not with the digest of
// the file before it.
func TestFilesWithoutDigest(t *testing.T) {
	t.Parallel()
	b, err := listing.Encode([]fileindex.Entry{{Path: "x", Type: fileindex.File, Size: 3, Digest: [16]byte{7, 7, 7}}}, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	// "a", a regular file of 5 bytes, mode 0644, no digest, no link.
	b = append(b, 0, 1, 0, 0, 1, 0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
		0, 0, 0, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	var got []string
	if err := listing.Files(b, 2, func(path []byte, size int64, digest [16]byte, ok bool) {
		got = append(got, fmt.Sprintf("%s %d %x %v", path, size, digest[:3], ok))
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x 3 070707 true", "a 5 000000 false"}; !slices.Equal(got, want) {
		t.Errorf("Files gave %q, want %q", got, want)
	}
}

package overlay

import (
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
)

// TestSiblings: the size a directory's map is given is the count of the
// entries in it that follow its first child, to the first entry elsewhere.
func TestSiblings(t *testing.T) {
	f := func(p string) fileindex.Entry { return file(p, p, 0o644) }
	many := make([]fileindex.Entry, maxSiblings+10)
	for i := range many {
		many[i] = f("d/f")
	}
	for _, tc := range []struct {
		name    string
		entries []fileindex.Entry
		want    int
	}{
		{"at the root", []fileindex.Entry{f("a"), f("b"), dir("c"), f("c/x"), f("d")}, 3},
		{"one directory", []fileindex.Entry{f("d/a"), f("d/b"), f("d/c")}, 3},
		{"to a subdirectory's entries", []fileindex.Entry{f("d/a"), dir("d/s"), f("d/s/x"), f("d/b")}, 2},
		{"to a parent's entry", []fileindex.Entry{f("d/a"), f("d/b"), f("e")}, 2},
		{"not a longer name", []fileindex.Entry{f("d/a"), f("dd/b")}, 1},
		{"links and devices count", []fileindex.Entry{f("d/a"), hl("d/b", "d/a"), sym("d/c", "a")}, 3},
		{"whiteouts add no child", []fileindex.Entry{f("d/a"), wh("d/b"), wh("d/c"), f("d/e")}, 2},
		{"an opaque marker of the directory ends it", []fileindex.Entry{f("d/a"), opq("d"), f("d/b")}, 1},
		{"bounded", many, maxSiblings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := siblings(tc.entries, tc.entries[0].Path); got != tc.want {
				t.Errorf("siblings = %d, want %d", got, tc.want)
			}
		})
	}
}

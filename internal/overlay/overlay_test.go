package overlay

import (
	"slices"
	"testing"

	"github.com/layerq/layerq/internal/fileindex"
)

type applyCase struct {
	name       string
	layers     [][]fileindex.Entry
	losses     []Loss
	files      int
	bytes      int64
	layerBytes []int64
}

func runCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := Apply(tc.layers)
			check(t, tc.layers, res, &Result{
				Losses:     tc.losses,
				FinalFiles: tc.files,
				FinalBytes: tc.bytes,
				LayerBytes: tc.layerBytes,
			})
		})
	}
}

func TestApplyRewrite(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name: "different content",
			layers: [][]fileindex.Entry{
				{dir("etc"), file("etc/conf", "v1-content", 0o644)},
				{file("etc/conf", "v2", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "etc/conf", Size: 10, HiddenBy: 1, Path: "etc/conf", Kind: Overwritten},
			},
			files: 1, bytes: 2, layerBytes: []int64{10, 2},
		},
		{
			name: "same content and metadata",
			layers: [][]fileindex.Entry{
				{owned(file("a", "same", 0o644), 10, 20)},
				{owned(file("a", "same", 0o644), 10, 20)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 4, HiddenBy: 1, Path: "a", Kind: Rewritten},
			},
			files: 1, bytes: 4, layerBytes: []int64{4, 4},
		},
		{
			name: "chmod copies the file up",
			layers: [][]fileindex.Entry{
				{file("a", "same", 0o644)},
				{file("a", "same", 0o755)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 4, HiddenBy: 1, Path: "a", Kind: MetadataChanged},
			},
			files: 1, bytes: 4, layerBytes: []int64{4, 4},
		},
		{
			name: "chown and chgrp copy the file up",
			layers: [][]fileindex.Entry{
				{file("u", "same", 0o644), file("g", "same!", 0o644)},
				{owned(file("u", "same", 0o644), 1000, 0), owned(file("g", "same!", 0o644), 0, 1000)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "g", Size: 5, HiddenBy: 1, Path: "g", Kind: MetadataChanged},
				{AddedBy: 0, Entry: 0, File: "u", Size: 4, HiddenBy: 1, Path: "u", Kind: MetadataChanged},
			},
			files: 2, bytes: 9, layerBytes: []int64{9, 9},
		},
		{
			name: "each rewrite loses the copy below",
			layers: [][]fileindex.Entry{
				{file("a", "1", 0o644)},
				{file("a", "22", 0o644)},
				{file("a", "333", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 1, HiddenBy: 1, Path: "a", Kind: Overwritten},
				{AddedBy: 1, Entry: 0, File: "a", Size: 2, HiddenBy: 2, Path: "a", Kind: Overwritten},
			},
			files: 1, bytes: 3, layerBytes: []int64{1, 2, 3},
		},
		{
			name: "duplicate path in one layer: the later entry wins",
			layers: [][]fileindex.Entry{
				{file("a", "1", 0o644), file("a", "22", 0o644), file("a", "22", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 1, HiddenBy: 0, Path: "a", Kind: Overwritten},
				{AddedBy: 0, Entry: 1, File: "a", Size: 2, HiddenBy: 0, Path: "a", Kind: Rewritten},
			},
			files: 1, bytes: 2, layerBytes: []int64{5},
		},
		{
			name: "duplicate path in one layer: a file over a directory",
			layers: [][]fileindex.Entry{
				{dir("d"), file("d/x", "xx", 0o644), file("d", "d", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "d/x", Size: 2, HiddenBy: 0, Path: "d", Kind: Replaced},
			},
			files: 1, bytes: 1, layerBytes: []int64{3},
		},
		{
			name: "empty file rewritten",
			layers: [][]fileindex.Entry{
				{file("lock", "", 0o640)},
				{file("lock", "", 0o640)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "lock", Size: 0, HiddenBy: 1, Path: "lock", Kind: Rewritten},
			},
			files: 1, bytes: 0, layerBytes: []int64{0, 0},
		},
	})
}

func TestApplyWhiteout(t *testing.T) {
	t.Parallel()
	lower := []fileindex.Entry{file("a", "lower", 0o644)}
	runCases(t, []applyCase{
		{
			name: "removes a file",
			layers: [][]fileindex.Entry{
				{dir("tmp"), file("tmp/cache", "12345678", 0o644), file("tmp/keep", "k", 0o644)},
				{wh("tmp/cache")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "tmp/cache", Size: 8, HiddenBy: 1, Path: "tmp/cache", Kind: Removed},
			},
			files: 1, bytes: 1, layerBytes: []int64{9, 0},
		},
		{
			name: "removes a directory and everything below it",
			layers: [][]fileindex.Entry{
				{
					dir("usr"), dir("usr/share"), dir("usr/share/doc"),
					file("usr/share/doc/a", "aaa", 0o644),
					dir("usr/share/doc/sub"),
					file("usr/share/doc/sub/b", "bbbbb", 0o644),
					sym("usr/share/doc/sub/l", "b"),
					file("usr/share/keep", "kk", 0o644),
				},
				{wh("usr/share/doc")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 3, File: "usr/share/doc/a", Size: 3, HiddenBy: 1, Path: "usr/share/doc", Kind: Removed},
				{AddedBy: 0, Entry: 5, File: "usr/share/doc/sub/b", Size: 5, HiddenBy: 1, Path: "usr/share/doc", Kind: Removed},
			},
			files: 1, bytes: 2, layerBytes: []int64{10, 0},
		},
		{
			name: "a path that does not exist",
			layers: [][]fileindex.Entry{
				{file("a", "x", 0o644)},
				{wh("b"), wh("a/b"), wh("c/d/e"), wh(".")},
			},
			files: 1, bytes: 1, layerBytes: []int64{1, 0},
		},
		{
			name: "in the bottom layer",
			layers: [][]fileindex.Entry{
				{wh("a"), opq("d"), file("b", "bb", 0o644)},
			},
			files: 1, bytes: 2, layerBytes: []int64{2},
		},
		{
			name: "then the path is created again",
			layers: [][]fileindex.Entry{
				{file("a", "old", 0o644)},
				{wh("a")},
				{file("a", "new!", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 3, HiddenBy: 1, Path: "a", Kind: Removed},
			},
			files: 1, bytes: 4, layerBytes: []int64{3, 0, 4},
		},
		{
			name: "before a file of the same path in its layer",
			layers: [][]fileindex.Entry{
				lower,
				{wh("a"), file("a", "up", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 5, HiddenBy: 1, Path: "a", Kind: Removed},
			},
			files: 1, bytes: 2, layerBytes: []int64{5, 2},
		},
		{
			name: "after a file of the same path in its layer",
			layers: [][]fileindex.Entry{
				lower,
				{file("a", "up", 0o644), wh("a")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 5, HiddenBy: 1, Path: "a", Kind: Removed},
			},
			files: 1, bytes: 2, layerBytes: []int64{5, 2},
		},
		{
			name: "of a directory its layer fills again",
			layers: [][]fileindex.Entry{
				{dir("d"), file("d/old", "o", 0o644)},
				{file("d/new", "nn", 0o644), wh("d")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "d/old", Size: 1, HiddenBy: 1, Path: "d", Kind: Removed},
			},
			files: 1, bytes: 2, layerBytes: []int64{1, 2},
		},
		{
			name: "only hides lower layers, not later ones",
			layers: [][]fileindex.Entry{
				{wh("a")},
				lower,
			},
			files: 1, bytes: 5, layerBytes: []int64{0, 5},
		},
	})
}

func TestApplyOpaque(t *testing.T) {
	t.Parallel()
	lower := []fileindex.Entry{
		dir("a"), file("a/x", "xx", 0o644), dir("a/sub"), file("a/sub/y", "yyy", 0o644), file("top", "t", 0o644),
	}
	hidden := []Loss{ // sorted by File: "a/sub/y" < "a/x"
		{AddedBy: 0, Entry: 3, File: "a/sub/y", Size: 3, HiddenBy: 1, Path: "a", Kind: OpaqueHidden},
		{AddedBy: 0, Entry: 1, File: "a/x", Size: 2, HiddenBy: 1, Path: "a", Kind: OpaqueHidden},
	}
	runCases(t, []applyCase{
		{
			name:   "hides lower contents recursively, marker first",
			layers: [][]fileindex.Entry{lower, {dir("a"), opq("a"), file("a/new", "nnnn", 0o644)}},
			losses: hidden, files: 2, bytes: 5, layerBytes: []int64{6, 4},
		},
		{
			name:   "hides lower contents recursively, marker last",
			layers: [][]fileindex.Entry{lower, {dir("a"), file("a/new", "nnnn", 0o644), opq("a")}},
			losses: hidden, files: 2, bytes: 5, layerBytes: []int64{6, 4},
		},
		{
			name:   "keeps what its layer writes at a lower path",
			layers: [][]fileindex.Entry{lower, {file("a/x", "xx", 0o644), opq("a"), file("a/sub/z", "z", 0o644)}},
			losses: hidden, files: 3, bytes: 4, layerBytes: []int64{6, 3},
		},
		{
			name: "the spec's example",
			layers: [][]fileindex.Entry{
				{dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/bar", "bar", 0o644)},
				{dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/foo", "foo!", 0o644), opq("a")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 3, File: "a/b/c/bar", Size: 3, HiddenBy: 1, Path: "a", Kind: OpaqueHidden},
			},
			files: 1, bytes: 4, layerBytes: []int64{3, 4},
		},
		{
			name: "of a missing path or a non-directory",
			layers: [][]fileindex.Entry{
				{file("f", "f", 0o644), sym("s", "a")},
				{opq("f"), opq("nothere"), opq("s"), opq("f/g")},
			},
			files: 1, bytes: 1, layerBytes: []int64{1, 0},
		},
		{
			name: "at the root",
			layers: [][]fileindex.Entry{
				{dir("."), file("a", "a", 0o644), dir("d"), file("d/b", "bb", 0o644)},
				{opq("."), file("c", "ccc", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "a", Size: 1, HiddenBy: 1, Path: ".", Kind: OpaqueHidden},
				{AddedBy: 0, Entry: 3, File: "d/b", Size: 2, HiddenBy: 1, Path: ".", Kind: OpaqueHidden},
			},
			files: 1, bytes: 3, layerBytes: []int64{3, 3},
		},
		{
			name: "with a whiteout below it in the same layer",
			layers: [][]fileindex.Entry{
				lower,
				{wh("a/x"), opq("a")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 3, File: "a/sub/y", Size: 3, HiddenBy: 1, Path: "a", Kind: OpaqueHidden},
				{AddedBy: 0, Entry: 1, File: "a/x", Size: 2, HiddenBy: 1, Path: "a/x", Kind: Removed},
			},
			files: 1, bytes: 1, layerBytes: []int64{6, 0},
		},
	})
}

func TestApplyHardlink(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name: "a link keeps the content when the original is removed",
			layers: [][]fileindex.Entry{
				{file("a", "content", 0o644), hl("b", "a")},
				{wh("a")},
			},
			files: 1, bytes: 7, layerBytes: []int64{7, 0},
		},
		{
			name: "the content is lost with its last path",
			layers: [][]fileindex.Entry{
				{file("a", "content", 0o644), hl("b", "a")},
				{wh("a")},
				{wh("b")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 7, HiddenBy: 2, Path: "b", Kind: Removed},
			},
			files: 0, bytes: 0, layerBytes: []int64{7, 0, 0},
		},
		{
			name: "the last path decides the kind",
			layers: [][]fileindex.Entry{
				{file("a", "content", 0o644), hl("b", "a")},
				{wh("b")},
				{file("a", "other", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 7, HiddenBy: 2, Path: "a", Kind: Overwritten},
			},
			files: 1, bytes: 5, layerBytes: []int64{7, 0, 5},
		},
		{
			name: "removing a directory with every link loses the content once",
			layers: [][]fileindex.Entry{
				{dir("d"), file("d/a", "content", 0o644), hl("d/b", "d/a"), hl("d/c", "d/a")},
				{wh("d")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "d/a", Size: 7, HiddenBy: 1, Path: "d", Kind: Removed},
			},
			files: 0, bytes: 0, layerBytes: []int64{7, 0},
		},
		{
			name: "links count once",
			layers: [][]fileindex.Entry{
				{file("a", "content", 0o644), hl("b", "a"), hl("c", "b"), file("x", "x", 0o644)},
			},
			files: 2, bytes: 8, layerBytes: []int64{8},
		},
		{
			name: "a link in a later layer to a lower file",
			layers: [][]fileindex.Entry{
				{file("a", "content", 0o644)},
				{hl("b", "a")},
				{wh("a")},
			},
			files: 1, bytes: 7, layerBytes: []int64{7, 0, 0},
		},
		{
			name: "rewriting one path of a linked file keeps the file",
			layers: [][]fileindex.Entry{
				{file("a", "v1", 0o644), hl("b", "a")},
				{file("a", "v2222", 0o644)},
			},
			files: 2, bytes: 7, layerBytes: []int64{2, 5},
		},
		{
			name: "a link replacing a file",
			layers: [][]fileindex.Entry{
				{file("x", "xx", 0o644), file("b", "bbb", 0o644)},
				{hl("b", "x")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "b", Size: 3, HiddenBy: 1, Path: "b", Kind: Overwritten},
			},
			files: 1, bytes: 2, layerBytes: []int64{5, 0},
		},
		{
			name: "a link replacing a file of equal content",
			layers: [][]fileindex.Entry{
				{file("x", "same", 0o644), file("b", "same", 0o644)},
				{hl("b", "x")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "b", Size: 4, HiddenBy: 1, Path: "b", Kind: Rewritten},
			},
			files: 1, bytes: 4, layerBytes: []int64{8, 0},
		},
		{
			name: "a link to nothing or to a directory changes nothing",
			layers: [][]fileindex.Entry{
				{dir("d"), file("b", "bb", 0o644), file("f", "f", 0o644)},
				{hl("b", "missing"), hl("f", "d"), hl("e", "."), hl("g", "f/x"), hl(".", "b")},
			},
			files: 2, bytes: 3, layerBytes: []int64{3, 0},
		},
		{
			name: "a link to a path its layer whites out finds nothing",
			layers: [][]fileindex.Entry{
				{file("a", "aaa", 0o644)},
				{hl("b", "a"), wh("a")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 3, HiddenBy: 1, Path: "a", Kind: Removed},
			},
			files: 0, bytes: 0, layerBytes: []int64{3, 0},
		},
		{
			name: "a link to the file its path holds earlier in the tar",
			layers: [][]fileindex.Entry{
				{file("a", "aaa", 0o644), hl("b", "a"), file("a", "v2", 0o644)},
			},
			files: 2, bytes: 5, layerBytes: []int64{5},
		},
		{
			name: "a link over a path of its own file",
			layers: [][]fileindex.Entry{
				{file("a", "aaa", 0o644), hl("a", "a"), hl("b", "a")},
				{hl("b", "a"), hl("a", "b")},
			},
			files: 1, bytes: 3, layerBytes: []int64{3, 0},
		},
		{
			name: "a link below its target keeps the target's file",
			layers: [][]fileindex.Entry{
				{file("a", "aaa", 0o644)},
				{hl("a/b", "a")},
			},
			files: 1, bytes: 3, layerBytes: []int64{3, 0},
		},
		{
			name: "a link replacing the directory that holds its target",
			layers: [][]fileindex.Entry{
				{dir("d"), file("d/f", "fff", 0o644), file("d/g", "g", 0o644)},
				{hl("d", "d/f")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 2, File: "d/g", Size: 1, HiddenBy: 1, Path: "d", Kind: Replaced},
			},
			files: 1, bytes: 3, layerBytes: []int64{4, 0},
		},
		{
			name: "a link to a symlink or a device is one more of them",
			layers: [][]fileindex.Entry{
				{sym("s", "target"), dev("null"), file("x", "x", 0o644)},
				{hl("t", "s"), hl("n", "null"), hl("x", "null")},
				{file("t/u", "uu", 0o644), file("n", "nnn", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 2, File: "x", Size: 1, HiddenBy: 1, Path: "x", Kind: Replaced},
			},
			files: 2, bytes: 5, layerBytes: []int64{1, 0, 5},
		},
	})
}

func TestApplyReplace(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name: "a directory replaced by a file and back",
			layers: [][]fileindex.Entry{
				{dir("d"), sized("d/x", 10, 'x', 0o644), dir("d/s"), sized("d/s/y", 20, 'y', 0o644)},
				{sized("d", 5, 'd', 0o644)},
				{dir("d"), sized("d/z", 3, 'z', 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 3, File: "d/s/y", Size: 20, HiddenBy: 1, Path: "d", Kind: Replaced},
				{AddedBy: 0, Entry: 1, File: "d/x", Size: 10, HiddenBy: 1, Path: "d", Kind: Replaced},
				{AddedBy: 1, Entry: 0, File: "d", Size: 5, HiddenBy: 2, Path: "d", Kind: Replaced},
			},
			files: 1, bytes: 3, layerBytes: []int64{30, 5, 3},
		},
		{
			name: "a directory replaced by a symlink",
			layers: [][]fileindex.Entry{
				{dir("lib"), file("lib/libc.so", "elf", 0o755)},
				{sym("lib", "usr/lib")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "lib/libc.so", Size: 3, HiddenBy: 1, Path: "lib", Kind: Replaced},
			},
			files: 0, bytes: 0, layerBytes: []int64{3, 0},
		},
		{
			name: "files replaced by a symlink, a device and a directory",
			layers: [][]fileindex.Entry{
				{file("a", "a1", 0o644), file("b", "b22", 0o644), file("c", "c333", 0o644)},
				{sym("a", "x"), dev("b"), dir("c")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 2, HiddenBy: 1, Path: "a", Kind: Replaced},
				{AddedBy: 0, Entry: 1, File: "b", Size: 3, HiddenBy: 1, Path: "b", Kind: Replaced},
				{AddedBy: 0, Entry: 2, File: "c", Size: 4, HiddenBy: 1, Path: "c", Kind: Replaced},
			},
			files: 0, bytes: 0, layerBytes: []int64{9, 0},
		},
		{
			name: "a symlink or device replaced by a file loses nothing",
			layers: [][]fileindex.Entry{
				{sym("a", "x"), dev("b")},
				{file("a", "aa", 0o644), file("b", "b", 0o644)},
			},
			files: 2, bytes: 3, layerBytes: []int64{0, 3},
		},
		{
			name: "a file parent replaced by an implicit directory",
			layers: [][]fileindex.Entry{
				{file("a", "aaaa", 0o644)},
				{file("a/b/c", "c", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 0, File: "a", Size: 4, HiddenBy: 1, Path: "a", Kind: Replaced},
			},
			files: 1, bytes: 1, layerBytes: []int64{4, 1},
		},
		{
			name: "a deeper file parent replaced by an implicit directory",
			layers: [][]fileindex.Entry{
				{dir("x"), file("x/y", "yy", 0o644), file("x/k", "k", 0o644)},
				{dir("x/y/z")},
			},
			losses: []Loss{
				{AddedBy: 0, Entry: 1, File: "x/y", Size: 2, HiddenBy: 1, Path: "x/y", Kind: Replaced},
			},
			files: 1, bytes: 1, layerBytes: []int64{3, 0},
		},
		{
			name: "a directory over a directory keeps its children",
			layers: [][]fileindex.Entry{
				{dir("etc"), file("etc/x", "x", 0o644), dir("etc/d"), file("etc/d/y", "y", 0o644)},
				{owned(dir("etc"), 0, 42), dir("etc/d"), dir("etc/d")},
			},
			files: 2, bytes: 2, layerBytes: []int64{2, 0},
		},
		{
			name: "implicit directories keep what is there",
			layers: [][]fileindex.Entry{
				{file("a/b/c", "c", 0o644), file("a/b/d", "dd", 0o644)},
				{file("a/b/e", "e", 0o644), file("a/f", "f", 0o644)},
			},
			files: 4, bytes: 5, layerBytes: []int64{3, 2},
		},
	})
}

func TestApplySymlinksAreNotFollowed(t *testing.T) {
	t.Parallel()
	lower := []fileindex.Entry{dir("real"), file("real/f", "ff", 0o644), sym("link", "real")}
	runCases(t, []applyCase{
		{
			name:   "an entry below a symlink replaces it with a directory",
			layers: [][]fileindex.Entry{lower, {file("link/f", "new", 0o644)}},
			files:  2, bytes: 5, layerBytes: []int64{2, 3},
		},
		{
			name:   "a whiteout below a symlink removes nothing",
			layers: [][]fileindex.Entry{lower, {wh("link/f"), opq("link")}},
			files:  1, bytes: 2, layerBytes: []int64{2, 0},
		},
		{
			name:   "a whiteout of a symlink removes only the link",
			layers: [][]fileindex.Entry{lower, {wh("link")}},
			files:  1, bytes: 2, layerBytes: []int64{2, 0},
		},
		{
			name: "an absolute symlink is not followed either",
			layers: [][]fileindex.Entry{
				{dir("real"), file("real/f", "ff", 0o644), sym("abs", "/real")},
				{wh("abs/f"), hl("h", "abs/f")},
			},
			files: 1, bytes: 2, layerBytes: []int64{2, 0},
		},
	})
}

func TestApplyRoot(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name: "root entries change metadata only",
			layers: [][]fileindex.Entry{
				{dir("."), file("a", "a", 0o644)},
				{owned(dir("."), 0, 0), sym(".", "x"), dev("."), hl(".", "a"), wh(".")},
			},
			files: 1, bytes: 1, layerBytes: []int64{1, 0},
		},
		{
			name: "a file at the root is lost at once",
			layers: [][]fileindex.Entry{
				{dir("."), file("a", "a", 0o644)},
				{file(".", "zz", 0o644)},
			},
			losses: []Loss{
				{AddedBy: 1, Entry: 0, File: ".", Size: 2, HiddenBy: 1, Path: ".", Kind: Replaced},
			},
			files: 1, bytes: 1, layerBytes: []int64{1, 2},
		},
		{
			name:   "no layers",
			layers: [][]fileindex.Entry{},
			files:  0, bytes: 0, layerBytes: []int64{},
		},
		{
			name:   "empty layers",
			layers: [][]fileindex.Entry{{}, nil},
			files:  0, bytes: 0, layerBytes: []int64{0, 0},
		},
		{
			name: "unknown entry types are ignored",
			layers: [][]fileindex.Entry{
				{file("a", "a", 0o644)},
				{{Path: "a", Type: 0}, {Path: "a", Type: 99}},
			},
			files: 1, bytes: 1, layerBytes: []int64{1, 0},
		},
	})
}

func TestApplyLossOrder(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{{
		name: "by added, hidden, file and entry",
		layers: [][]fileindex.Entry{
			{file("b", "b", 0o644), file("a", "a", 0o644), file("c", "c", 0o644), file("c", "cc", 0o644)},
			{wh("c"), wh("b"), file("z", "zz", 0o644), file("y", "yyy", 0o644)},
			{wh("a"), wh("y"), wh("z")},
		},
		losses: []Loss{
			{AddedBy: 0, Entry: 2, File: "c", Size: 1, HiddenBy: 0, Path: "c", Kind: Overwritten},
			{AddedBy: 0, Entry: 0, File: "b", Size: 1, HiddenBy: 1, Path: "b", Kind: Removed},
			{AddedBy: 0, Entry: 3, File: "c", Size: 2, HiddenBy: 1, Path: "c", Kind: Removed},
			{AddedBy: 0, Entry: 1, File: "a", Size: 1, HiddenBy: 2, Path: "a", Kind: Removed},
			{AddedBy: 1, Entry: 3, File: "y", Size: 3, HiddenBy: 2, Path: "y", Kind: Removed},
			{AddedBy: 1, Entry: 2, File: "z", Size: 2, HiddenBy: 2, Path: "z", Kind: Removed},
		},
		files: 0, bytes: 0, layerBytes: []int64{5, 5, 0},
	}})
}

// TestApplyAptAndChmod is a Dockerfile of the usual kind:
//
//	FROM debian
//	RUN apt-get update
//	RUN apt-get install -y app
//	RUN rm -rf /var/lib/apt/lists/*
//	RUN chmod +x /usr/bin/tool
func TestApplyAptAndChmod(t *testing.T) {
	t.Parallel()
	layers := [][]fileindex.Entry{
		{ // 0: the base image
			dir("."), dir("bin"), dir("etc"), dir("usr"), dir("usr/bin"),
			dir("var"), dir("var/lib"), dir("var/lib/apt"),
			sized("bin/sh", 12_000, 's', 0o755),
			sized("etc/passwd", 900, 'p', 0o644),
			sized("etc/group", 450, 'g', 0o644),
			sized("usr/bin/tool", 50_000, 't', 0o644),
			hl("usr/bin/tool2", "usr/bin/tool"),
		},
		{ // 1: apt-get update
			dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"),
			dir("var/lib/apt/lists/partial"),
			sized("var/lib/apt/lists/a", 30_000, 'a', 0o644),
			sized("var/lib/apt/lists/b", 20_000, 'b', 0o644),
			sized("var/lib/apt/lists/c", 10_000, 'c', 0o644),
			file("var/lib/apt/lists/lock", "", 0o640),
		},
		{ // 2: apt-get install
			dir("usr"), dir("usr/bin"), sized("usr/bin/app", 40_000, 'x', 0o755),
			dir("usr/share"), dir("usr/share/doc"), dir("usr/share/doc/app"),
			sized("usr/share/doc/app/README", 800, 'r', 0o644),
			dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"),
			sized("var/lib/apt/lists/d", 5_000, 'd', 0o644),
		},
		{ // 3: rm -rf /var/lib/apt/lists/*
			dir("var"), dir("var/lib"), dir("var/lib/apt"), dir("var/lib/apt/lists"),
			wh("var/lib/apt/lists/a"), wh("var/lib/apt/lists/b"), wh("var/lib/apt/lists/c"),
			wh("var/lib/apt/lists/d"), wh("var/lib/apt/lists/lock"), wh("var/lib/apt/lists/partial"),
		},
		{ // 4: chmod +x /usr/bin/tool: a copy-up of the whole file; tool2 keeps the old one
			dir("usr"), dir("usr/bin"), sized("usr/bin/tool", 50_000, 't', 0o755),
		},
	}
	res := Apply(layers)
	check(t, layers, res, &Result{
		Losses: []Loss{
			{AddedBy: 1, Entry: 5, File: "var/lib/apt/lists/a", Size: 30_000, HiddenBy: 3, Path: "var/lib/apt/lists/a", Kind: Removed},
			{AddedBy: 1, Entry: 6, File: "var/lib/apt/lists/b", Size: 20_000, HiddenBy: 3, Path: "var/lib/apt/lists/b", Kind: Removed},
			{AddedBy: 1, Entry: 7, File: "var/lib/apt/lists/c", Size: 10_000, HiddenBy: 3, Path: "var/lib/apt/lists/c", Kind: Removed},
			{AddedBy: 1, Entry: 8, File: "var/lib/apt/lists/lock", Size: 0, HiddenBy: 3, Path: "var/lib/apt/lists/lock", Kind: Removed},
			{AddedBy: 2, Entry: 11, File: "var/lib/apt/lists/d", Size: 5_000, HiddenBy: 3, Path: "var/lib/apt/lists/d", Kind: Removed},
		},
		// bin/sh, etc/passwd, etc/group, usr/bin/tool (layer 0, kept by
		// tool2), usr/bin/app, README, usr/bin/tool (layer 4).
		FinalFiles: 7,
		FinalBytes: 12_000 + 900 + 450 + 50_000 + 40_000 + 800 + 50_000,
		LayerBytes: []int64{63_350, 60_000, 45_800, 0, 50_000},
	})

	// Without the hard link, the chmod costs the whole file.
	layers[0] = layers[0][:len(layers[0])-1]
	res = Apply(layers)
	byLayers := make(map[[2]int]int64)
	for _, x := range res.Losses {
		byLayers[[2]int{x.AddedBy, x.HiddenBy}] += x.Size
	}
	want := map[[2]int]int64{{1, 3}: 60_000, {2, 3}: 5_000, {0, 4}: 50_000}
	if len(byLayers) != len(want) {
		t.Errorf("losses by (added, hidden) = %v, want %v", byLayers, want)
	}
	for k, v := range want {
		if byLayers[k] != v {
			t.Errorf("losses added by %d, hidden by %d: %d bytes, want %d", k[0], k[1], byLayers[k], v)
		}
	}
	chmod := Loss{AddedBy: 0, Entry: 11, File: "usr/bin/tool", Size: 50_000, HiddenBy: 4, Path: "usr/bin/tool", Kind: MetadataChanged}
	if len(res.Losses) != 6 || res.Losses[0] != chmod {
		t.Errorf("losses = %s\nwant the chmod first: %+v", fmtLosses(res.Losses), chmod)
	}
	if res.FinalFiles != 6 || res.FinalBytes != 12_000+900+450+40_000+800+50_000 {
		t.Errorf("final %d files, %d bytes", res.FinalFiles, res.FinalBytes)
	}
	checkInvariants(t, layers, res)
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind]string{
		Removed:         "removed",
		OpaqueHidden:    "opaque_hidden",
		Overwritten:     "overwritten",
		Rewritten:       "rewritten",
		MetadataChanged: "metadata_changed",
		Replaced:        "replaced",
		0:               "Kind(0)",
		200:             "Kind(200)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

// Shown lists each path whole, among names that sort around a directory's
// "name/" ('-' and '.' before '/', '0' and letters after, UTF-8 beyond
// ASCII), in any order of the entries.
func TestShownPaths(t *testing.T) {
	t.Parallel()
	paths := []string{"a/x", "a/y/z", "a-b", "a.txt", "a0", "ab", "a b/c", "a", "é/f", "e", "a/y-1", "a/y.1", "a/y0"}
	// "a" is a directory above; a file "a" would replace it, so it goes in
	// a layer of its own below.
	var lower, upper []fileindex.Entry
	for _, p := range paths {
		if p == "a" {
			continue
		}
		upper = append(upper, file(p, p, 0o644))
	}
	lower = append(lower, file("b/a", "b", 0o644), dir("a"))
	reversed := slices.Clone(upper)
	slices.Reverse(reversed)
	for _, layers := range [][][]fileindex.Entry{{lower, upper}, {lower, reversed}} {
		var got []string
		for _, v := range Shown(layers) {
			got = append(got, v.Path)
		}
		slices.Sort(got)
		want := append(slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "a" }), "b/a")
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Shown paths\n got %q\nwant %q", got, want)
		}
	}
}

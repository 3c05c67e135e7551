package overlay

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zeebo/xxh3"

	"github.com/layerq/layerq/internal/fileindex"
)

// digest hashes content the way layerscan does.
func digest(content string) [16]byte {
	return xxh3.Hash128([]byte(content)).Bytes()
}

func file(p, content string, mode int64) fileindex.Entry {
	return fileindex.Entry{
		Path:   p,
		Type:   fileindex.File,
		Size:   int64(len(content)),
		Mode:   mode,
		Digest: digest(content),
	}
}

// sized is a file of n bytes of c.
func sized(p string, n int, c byte, mode int64) fileindex.Entry {
	return file(p, strings.Repeat(string(c), n), mode)
}

func owned(e fileindex.Entry, uid, gid int) fileindex.Entry {
	e.UID, e.GID = uid, gid
	return e
}

func dir(p string) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.Dir, Mode: 0o755}
}

func wh(p string) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.Whiteout}
}

func opq(p string) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.Opaque}
}

func hl(p, target string) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.Hardlink, Mode: 0o644, Link: target}
}

func sym(p, target string) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.Symlink, Mode: 0o777, Link: target}
}

func dev(p string) fileindex.Entry {
	return fileindex.Entry{Path: p, Type: fileindex.Other, Mode: 0o666}
}

// check compares res with want field by field and then runs the checks
// that hold for every result.
func check(t testing.TB, layers [][]fileindex.Entry, res, want *Result) {
	t.Helper()
	if !reflect.DeepEqual(res.Losses, want.Losses) {
		t.Errorf("losses:\n got %s\nwant %s", fmtLosses(res.Losses), fmtLosses(want.Losses))
	}
	if res.FinalFiles != want.FinalFiles {
		t.Errorf("FinalFiles = %d, want %d", res.FinalFiles, want.FinalFiles)
	}
	if res.FinalBytes != want.FinalBytes {
		t.Errorf("FinalBytes = %d, want %d", res.FinalBytes, want.FinalBytes)
	}
	if !slices.Equal(res.LayerBytes, want.LayerBytes) {
		t.Errorf("LayerBytes = %v, want %v", res.LayerBytes, want.LayerBytes)
	}
	checkInvariants(t, layers, res)
}

// checkInvariants checks what holds for any input: every File entry is
// visible at the end or exactly one Loss, Losses describe their entries
// and are sorted, Apply is deterministic and agrees with the flat model.
func checkInvariants(t testing.TB, layers [][]fileindex.Entry, res *Result) {
	t.Helper()
	if len(res.LayerBytes) != len(layers) {
		t.Fatalf("%d LayerBytes for %d layers", len(res.LayerBytes), len(layers))
	}
	var carried, lost int64
	files := 0
	for l, entries := range layers {
		var sum int64
		for _, e := range entries {
			if e.Type == fileindex.File {
				sum += e.Size
				files++
			}
		}
		if res.LayerBytes[l] != sum {
			t.Errorf("LayerBytes[%d] = %d, want %d", l, res.LayerBytes[l], sum)
		}
		carried += sum
	}
	seen := make(map[[2]int]bool)
	for i, x := range res.Losses {
		if x.AddedBy < 0 || x.AddedBy >= len(layers) || x.Entry < 0 || x.Entry >= len(layers[x.AddedBy]) {
			t.Fatalf("loss %d: no entry %d in layer %d: %+v", i, x.Entry, x.AddedBy, x)
		}
		e := layers[x.AddedBy][x.Entry]
		if e.Type != fileindex.File || e.Path != x.File || e.Size != x.Size {
			t.Errorf("loss %d %+v does not describe its entry %+v", i, x, e)
		}
		if x.HiddenBy < x.AddedBy || x.HiddenBy >= len(layers) {
			t.Errorf("loss %d: HiddenBy %d out of range: %+v", i, x.HiddenBy, x)
		}
		if x.Kind < Removed || x.Kind > Replaced {
			t.Errorf("loss %d: invalid kind %v", i, x.Kind)
		}
		key := [2]int{x.AddedBy, x.Entry}
		if seen[key] {
			t.Errorf("loss %d: entry %v lost twice", i, key)
		}
		seen[key] = true
		lost += x.Size
		if i > 0 && lossLess(x, res.Losses[i-1]) {
			t.Errorf("losses out of order at %d: %+v after %+v", i, x, res.Losses[i-1])
		}
	}
	if carried != res.FinalBytes+lost {
		t.Errorf("layers carry %d bytes; final %d + lost %d = %d", carried, res.FinalBytes, lost, res.FinalBytes+lost)
	}
	if files != res.FinalFiles+len(res.Losses) {
		t.Errorf("%d File entries; final %d + lost %d = %d", files, res.FinalFiles, len(res.Losses), res.FinalFiles+len(res.Losses))
	}
	if again := Apply(layers); !reflect.DeepEqual(again, res) {
		t.Errorf("second Apply differs:\n got %+v\nwant %+v", again, res)
	}
	m, visible := applyModel(layers)
	if !reflect.DeepEqual(m, res) {
		t.Errorf("model disagrees:\nmodel %s final %d/%d\napply %s final %d/%d",
			fmtLosses(m.Losses), m.FinalFiles, m.FinalBytes, fmtLosses(res.Losses), res.FinalFiles, res.FinalBytes)
	}
	// Shown's order is none in particular; the model's is by path.
	got := Shown(layers)
	slices.SortFunc(got, func(x, y Visible) int { return strings.Compare(x.Path, y.Path) })
	if !slices.Equal(got, visible) {
		t.Errorf("Shown disagrees with the model:\n got %+v\nwant %+v", got, visible)
	}
}

func lossLess(x, y Loss) bool {
	if x.AddedBy != y.AddedBy {
		return x.AddedBy < y.AddedBy
	}
	if x.HiddenBy != y.HiddenBy {
		return x.HiddenBy < y.HiddenBy
	}
	if x.File != y.File {
		return x.File < y.File
	}
	return x.Entry < y.Entry
}

func fmtLosses(ls []Loss) string {
	if len(ls) == 0 {
		return "[]"
	}
	var b strings.Builder
	for _, x := range ls {
		fmt.Fprintf(&b, "\n  {AddedBy:%d Entry:%d File:%q Size:%d HiddenBy:%d Path:%q Kind:%v}",
			x.AddedBy, x.Entry, x.File, x.Size, x.HiddenBy, x.Path, x.Kind)
	}
	return b.String()
}

// applyModel is a second, deliberately naive implementation of the same
// rules over a flat map of paths: removing a directory scans every path.
// It shares no code with Apply, so the two agreeing checks the tree (its
// lookups, implicit directories, detached subtrees and parent cache). It
// also returns the regular files the final filesystem shows, sorted by
// path (Shown's, sorted, are the same).
func applyModel(layers [][]fileindex.Entry) (*Result, []Visible) {
	type mnode struct {
		typ  fileindex.EntryType
		file int
	}
	type mfile struct {
		layer, entry, paths, hiddenBy int
		path                          string
		kind                          Kind
	}
	fs := make(map[string]mnode) // every path but "."; parents of a path are always directories
	var files []mfile
	drop := func(f, l int, p string, k Kind) {
		if files[f].paths--; files[f].paths == 0 {
			files[f].hiddenBy, files[f].path, files[f].kind = l, p, k
		}
	}
	// removeTree removes p (unless p is ".") and everything below it.
	removeTree := func(p string, l int, hp string, k Kind) {
		for q, n := range fs {
			if q == p || p == "." || strings.HasPrefix(q, p+"/") {
				delete(fs, q)
				if n.typ == fileindex.File {
					drop(n.file, l, hp, k)
				}
			}
		}
	}
	isRoot := func(p string) bool { return p == "." || p == "" }
	res := &Result{LayerBytes: make([]int64, len(layers))}
	for l, entries := range layers {
		for _, e := range entries {
			switch e.Type {
			case fileindex.Whiteout:
				if _, ok := fs[e.Path]; ok && !isRoot(e.Path) {
					removeTree(e.Path, l, e.Path, Removed)
				}
			case fileindex.Opaque:
				if isRoot(e.Path) {
					removeTree(".", l, e.Path, OpaqueHidden)
				} else if n, ok := fs[e.Path]; ok && n.typ == fileindex.Dir {
					for q, n := range fs {
						if strings.HasPrefix(q, e.Path+"/") {
							delete(fs, q)
							if n.typ == fileindex.File {
								drop(n.file, l, e.Path, OpaqueHidden)
							}
						}
					}
				}
			}
		}
		for i, e := range entries {
			n := mnode{typ: e.Type, file: -1}
			switch e.Type {
			case fileindex.File:
				res.LayerBytes[l] += e.Size
				n.file = len(files)
				files = append(files, mfile{layer: l, entry: i, paths: 1})
				if isRoot(e.Path) {
					drop(n.file, l, e.Path, Replaced)
					continue
				}
			case fileindex.Hardlink:
				t, ok := fs[e.Link]
				if isRoot(e.Path) || !ok || t.typ == fileindex.Dir {
					continue
				}
				n = t
				if t.typ == fileindex.File {
					files[t.file].paths++
				}
			case fileindex.Dir, fileindex.Symlink, fileindex.Other:
				if isRoot(e.Path) {
					continue
				}
			default:
				continue
			}
			for j := range len(e.Path) {
				if e.Path[j] != '/' {
					continue
				}
				q := e.Path[:j]
				if pn, ok := fs[q]; ok && pn.typ != fileindex.Dir {
					removeTree(q, l, q, Replaced)
				}
				if _, ok := fs[q]; !ok {
					fs[q] = mnode{typ: fileindex.Dir, file: -1}
				}
			}
			if old, ok := fs[e.Path]; ok {
				switch {
				case old.typ == fileindex.Dir && n.typ == fileindex.Dir:
					continue
				case old.typ == fileindex.File && n.typ == fileindex.File:
					o, ne := layers[files[old.file].layer][files[old.file].entry], layers[files[n.file].layer][files[n.file].entry]
					k := Rewritten
					if o.Digest != ne.Digest {
						k = Overwritten
					} else if o.Mode != ne.Mode || o.UID != ne.UID || o.GID != ne.GID {
						k = MetadataChanged
					}
					drop(old.file, l, e.Path, k)
				default:
					removeTree(e.Path, l, e.Path, Replaced)
				}
			}
			fs[e.Path] = n
		}
	}
	var visible []Visible
	for p, n := range fs {
		if n.typ == fileindex.File {
			visible = append(visible, Visible{Path: p, Layer: files[n.file].layer, Entry: files[n.file].entry})
		}
	}
	slices.SortFunc(visible, func(x, y Visible) int { return strings.Compare(x.Path, y.Path) })
	for _, f := range files {
		e := layers[f.layer][f.entry]
		if f.paths > 0 {
			res.FinalFiles++
			res.FinalBytes += e.Size
			continue
		}
		res.Losses = append(res.Losses, Loss{
			AddedBy: f.layer, Entry: f.entry, File: e.Path, Size: e.Size,
			HiddenBy: f.hiddenBy, Path: f.path, Kind: f.kind,
		})
	}
	slices.SortFunc(res.Losses, func(x, y Loss) int {
		switch {
		case lossLess(x, y):
			return -1
		case lossLess(y, x):
			return 1
		}
		return 0
	})
	return res, visible
}

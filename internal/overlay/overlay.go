// Package overlay applies an image's layers, bottom first, by the layer
// changeset rules of the OCI image spec (layer.md), and accounts for every
// byte of regular-file content the layers carry: either the final
// filesystem shows it, or a Loss says which layer hid it and how. Losses
// are the bytes an image ships for nothing: a file deleted by a later
// `RUN rm`, copied up whole by a later `RUN chmod`, or written again.
//
// # Applying a layer
//
// Each layer is applied in two passes over its entries. The first applies
// its whiteouts and opaque markers, in tar order, to the filesystem the
// layers below left: a whiteout (".wh.NAME", Path "dir/NAME") removes the
// path and everything below it; an opaque marker (".wh..wh..opq") removes
// everything below its directory, recursively. The second pass applies
// every other entry in tar order. So a whiteout never hides what its own
// layer adds, wherever it sits in the tar: "Whiteout files MUST only apply
// to resources in lower/parent layers."
//
// An entry whose path exists already: a directory over a directory changes
// metadata only and keeps the children; in every other case the existing
// path, and everything below it when it is a directory, is removed and the
// entry takes its place. A later duplicate of a path in the same layer
// wins the same way. Missing parent directories are created implicitly, and
// a parent that exists but is not a directory (a file, symlink or device)
// is replaced by an implicit directory. Entries at the root "." change
// metadata only, except an opaque marker at the root, which empties it,
// and a File entry, whose content is lost at once (Replaced).
//
// Paths are resolved lexically, one component at a time, and never through
// a symlink: an entry "a/b" over a symlink "a" replaces the symlink by a
// directory, and a whiteout of "a/b" below a symlink "a" removes nothing.
// This is the tree the layers describe; a runtime may instead follow such
// a symlink (inside the root) or refuse the layer, but no image builder
// produces such layers, since a layer diff records real paths. Paths are
// taken as layerscan cleans them and are not cleaned again.
//
// # Hard links
//
// A File entry makes one file: its content and its mode, uid and gid. A
// Hardlink entry gives that file one more path: the file its target path
// holds when the entry is applied, that is after the layer's whiteouts and
// the entries before it in the same layer. A hard link carries no bytes
// and its own mode and owner are ignored. A hard link to a symlink or a
// device makes another symlink or device; one whose target is missing or a
// directory changes nothing (a runtime would refuse the layer).
//
// # Accounting
//
// Every File entry is accounted for exactly once. Either at least one path
// of its file is visible at the end, and it counts once in FinalFiles and
// FinalBytes however many paths show it; or it is exactly one Loss, made
// when its last visible path was hidden and attributed to that change. So
// the sum of LayerBytes is FinalBytes plus the sizes of all Losses, and the
// number of File entries is FinalFiles plus the number of Losses. Two File
// entries with equal content are two files (as on disk): deduplicating
// equal content is not this package's concern.
//
// # Cost
//
// The filesystem is a tree of nodes with a map of children per directory,
// so an entry costs a map lookup per path component and removing a
// directory costs time proportional to what it holds, not to the whole
// filesystem. Map keys are substrings of the entries' paths: the tree
// copies no path.
//
// ShownPairs compares two stacks that share their bottom layers: the
// bottom is applied once, each side starts from it and copies a directory
// (its map of children, not the children) only when it first changes it,
// and the two trees are walked side by side, so that a subtree neither
// side changed is paired without a lookup by path.
package overlay

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/layerq/layerq/internal/fileindex"
)

// Kind says how a change hid a file.
type Kind uint8

// Kinds of loss. The zero value is not a valid Kind.
const (
	// Removed: a whiteout removed the file, or a directory above it
	// (Loss.Path is the whiteout's target).
	Removed Kind = iota + 1
	// OpaqueHidden: an opaque marker hid the lower contents of a directory
	// above the file (Loss.Path is that directory).
	OpaqueHidden
	// Overwritten: a later regular file at the same path (a File entry, or
	// a hard link to a file) has different content.
	Overwritten
	// Rewritten: a later regular file at the same path has the same content
	// digest, mode, uid and gid: the file was copied again unchanged.
	Rewritten
	// MetadataChanged: a later regular file at the same path has the same
	// content digest but a different mode, uid or gid: a chmod or chown
	// that copied the whole file up.
	MetadataChanged
	// Replaced: the path, or a directory above it, became another type: a
	// file replaced by a directory, symlink or device; a directory replaced
	// by a non-directory (everything below it is hidden); a non-directory
	// parent replaced by an implicit directory because a later entry is
	// created below it (Loss.Path is that parent); or a File entry at the
	// root ".", which stays a directory.
	Replaced
)

var kindNames = [...]string{
	Removed:         "removed",
	OpaqueHidden:    "opaque_hidden",
	Overwritten:     "overwritten",
	Rewritten:       "rewritten",
	MetadataChanged: "metadata_changed",
	Replaced:        "replaced",
}

// String returns a lower-case name for k, e.g. "removed" or
// "metadata_changed".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Result is what the final filesystem shows and what the layers carry
// that it does not show.
type Result struct {
	// Losses holds one Loss for every File entry whose file no visible
	// path shows at the end, sorted by AddedBy, HiddenBy, File and Entry.
	// Nil when nothing is lost.
	Losses []Loss
	// FinalFiles counts the regular files visible at the end; several hard
	// links to one file count once.
	FinalFiles int
	// FinalBytes is the content size of those files, each counted once.
	FinalBytes int64
	// LayerBytes holds, for each layer, the sum of its File entries' sizes.
	LayerBytes []int64
}

// Loss is a File entry whose content the final filesystem does not show.
type Loss struct {
	AddedBy int    // index of the layer holding the File entry
	Entry   int    // index of the File entry in that layer
	File    string // path of the File entry
	Size    int64  // its content size
	// HiddenBy is the index of the layer whose entry hid the file's last
	// visible path. It equals AddedBy when an entry later in the same
	// layer hid it (a duplicate of its path, or an entry below it).
	HiddenBy int
	// Path is the path whose change hid the file: the whiteout's target
	// (for a file in a removed directory, the directory), the opaque
	// directory, the path written again, or the path or parent that became
	// another type. With hard links it is the change that hid the last
	// visible path, which may differ from File.
	Path string
	Kind Kind
}

// Apply applies layers, layers[0] first, and returns what the final
// filesystem shows and what it hides. It does not modify layers; the
// strings of the returned Losses are the entries' own.
func Apply(layers [][]fileindex.Entry) *Result {
	return apply(layers).result()
}

// Visible is a regular file the final filesystem shows at Path: the File
// entry Entry of layer Layer made its file (for a path that is a hard link,
// the file's own File entry, wherever the link was made).
type Visible struct {
	Path         string
	Layer, Entry int
}

// Shown applies layers as Apply does and returns every path of a regular
// file the final filesystem shows, in no particular order. Several hard
// links to one file are several paths.
func Shown(layers [][]fileindex.Entry) []Visible {
	a := apply(layers)
	out := make([]Visible, 0, len(a.inodes)) // a file each, hard links aside
	a.eachFile("", a.root, func(v Visible) { out = append(out, v) })
	return out
}

// eachFile calls fn with every regular file below directory d at prefix.
func (x *applier) eachFile(prefix string, d *node, fn func(Visible)) {
	for name, n := range d.children {
		switch n.typ {
		case fileindex.File:
			fn(x.visible(prefix, name, n))
		case fileindex.Dir:
			x.eachFile(prefix+name+"/", n, fn)
		}
	}
}

// Pair is a path where either of two final filesystems shows a regular
// file: InA and InB say which do, and A and B where each one's file comes
// from (A.Path and B.Path are the path, when shown).
type Pair struct {
	A, B     Visible
	InA, InB bool
}

// ShownPairs applies two stacks of layers as Shown does each, and calls fn
// once for each path where either final filesystem shows a regular file,
// in no particular order. The bottom shared layers of a and b must be the
// same entries (the caller knows: the same blobs), for they are read from
// a alone: they are applied once, for both, and what neither stack changes
// above them is paired without looking its paths up. A Visible of such a
// layer's file names a's layer. shared is at most the length of each.
func ShownPairs(a, b [][]fileindex.Entry, shared int, fn func(Pair)) {
	if shared < 0 || shared > len(a) || shared > len(b) {
		panic(fmt.Sprintf("overlay: ShownPairs of %d shared layers, stacks of %d and %d", shared, len(a), len(b)))
	}
	bottom := apply(a[:shared])
	fa, fb := bottom.fork(a, 1), bottom.fork(b, 2)
	p := pairer{a: fa, b: fb, fn: fn}
	p.dirs("", fa.root, fb.root)
}

// pairer walks two filesystems forked from one bottom side by side.
type pairer struct {
	a, b *applier
	fn   func(Pair)
}

// visible is the Visible of file node n at prefix+name. A path its file's
// entry made is that entry's Path (the same components): no new string.
func (x *applier) visible(prefix, name string, n *node) Visible {
	in := &x.inodes[n.inode]
	path := x.layers[in.layer][in.entry].Path
	if n.link {
		path = prefix + name
	}
	return Visible{Path: path, Layer: int(in.layer), Entry: int(in.entry)}
}

// dirs pairs the paths below directories da of a and db of b at prefix
// (either may be nil: that side holds no directory there).
func (p *pairer) dirs(prefix string, da, db *node) {
	if da != nil && da == db { // below the bottom, untouched on both sides
		p.same(prefix, da)
		return
	}
	if da != nil {
		for name, na := range da.children {
			var nb *node
			if db != nil {
				nb = db.children[name]
			}
			p.nodes(prefix, name, na, nb)
		}
	}
	if db != nil {
		for name, nb := range db.children {
			if da == nil || da.children[name] == nil {
				p.nodes(prefix, name, nil, nb)
			}
		}
	}
}

// at is what x's node n (nil: none) holds at prefix+name: a regular
// file, or a directory to walk.
func (x *applier) at(prefix, name string, n *node) (v Visible, file bool, dir *node) {
	switch {
	case n == nil:
	case n.typ == fileindex.File:
		return x.visible(prefix, name, n), true, nil
	case n.typ == fileindex.Dir:
		return Visible{}, false, n
	}
	return Visible{}, false, nil
}

// nodes pairs what a and b hold at prefix+name (either may be nil).
func (p *pairer) nodes(prefix, name string, na, nb *node) {
	var pair Pair
	var subA, subB *node
	pair.A, pair.InA, subA = p.a.at(prefix, name, na)
	pair.B, pair.InB, subB = p.b.at(prefix, name, nb)
	if pair.InA || pair.InB {
		p.fn(pair)
	}
	if subA != nil || subB != nil {
		p.dirs(prefix+name+"/", subA, subB)
	}
}

// same pairs every file below d, a directory both sides share unchanged.
func (p *pairer) same(prefix string, d *node) {
	p.a.eachFile(prefix, d, func(v Visible) { p.fn(Pair{A: v, B: v, InA: true, InB: true}) })
}

// apply applies layers to an empty filesystem.
func apply(layers [][]fileindex.Entry) *applier {
	a := &applier{
		layers: layers,
		root:   &node{typ: fileindex.Dir, inode: -1},
		inodes: make([]inode, 0, countFiles(layers)),
		res:    &Result{LayerBytes: make([]int64, len(layers))},
	}
	a.applyFrom(0)
	return a
}

// countFiles counts the File entries of layers.
func countFiles(layers [][]fileindex.Entry) int {
	files := 0
	for _, entries := range layers {
		for i := range entries {
			if entries[i].Type == fileindex.File {
				files++
			}
		}
	}
	return files
}

// applyFrom applies a.layers[from:] to the filesystem a holds.
func (a *applier) applyFrom(from int) {
	for l := from; l < len(a.layers); l++ {
		entries := a.layers[l]
		for i := range entries {
			if e := &entries[i]; e.Type == fileindex.Whiteout || e.Type == fileindex.Opaque {
				a.remove(l, e)
			}
		}
		for i := range entries {
			e := &entries[i]
			if e.Type == fileindex.File {
				a.res.LayerBytes[l] += e.Size
			}
			a.add(l, i, e)
		}
	}
}

// fork returns an applier for layers, whose bottom layers are the ones a
// applied, that starts from a's filesystem without copying it: a
// directory is copied (its map of children, not the children) when gen's
// applier first changes it, and a's nodes are never changed again. a
// must not apply anything after a fork; two forks need two gens, neither
// a's.
func (a *applier) fork(layers [][]fileindex.Entry, gen uint32) *applier {
	bottom := len(a.layers)
	f := &applier{
		layers: layers,
		root:   &node{typ: fileindex.Dir, inode: -1, gen: gen, children: maps.Clone(a.root.children)},
		inodes: append(make([]inode, 0, len(a.inodes)+countFiles(layers[bottom:])), a.inodes...),
		res:    &Result{LayerBytes: make([]int64, len(layers))},
		gen:    gen,
	}
	copy(f.res.LayerBytes, a.res.LayerBytes)
	f.applyFrom(bottom)
	return f
}

// node is one path of the filesystem.
type node struct {
	children map[string]*node // directories only; nil when empty
	inode    int              // regular files: index into applier.inodes; -1 otherwise
	typ      fileindex.EntryType
	// link: a hard link made this path, so its path is not its file's
	// entry's Path.
	link bool
	// gen is the applier that made the node and may change it (fork).
	gen uint32
}

// inode is the file a File entry makes, shared by its hard links. Its
// indexes are int32: 2^31 entries would take 180 GB of Entry structs.
type inode struct {
	layer, entry int32
	// paths counts the visible paths showing the file.
	paths int32
	// What hid the last visible path, once paths drops to zero.
	hiddenBy int32
	kind     Kind
	hidPath  string
}

type applier struct {
	layers [][]fileindex.Entry
	root   *node
	inodes []inode
	res    *Result

	// The parent directory of the previous entry, as a path and a node:
	// entries of a layer come grouped by directory, so most lookups end
	// here. Cleared whenever a directory leaves the tree.
	lastDir     string
	lastDirNode *node

	slab  []node  // nodes are allocated from here in chunks
	stack []*node // scratch for hide

	// gen marks the nodes this applier may change; others belong to the
	// applier it was forked from, and a directory among them is copied
	// before a change (owned).
	gen uint32
}

// remove applies a whiteout or an opaque marker of layer l.
func (a *applier) remove(l int, e *fileindex.Entry) {
	if e.Type == fileindex.Opaque {
		d := a.root
		if e.Path != "." && e.Path != "" {
			_, d = a.lookup(e.Path)
		}
		if d == nil || d.typ != fileindex.Dir || len(d.children) == 0 {
			return
		}
		if d.gen != a.gen {
			d = a.ownedDir(e.Path)
		}
		// Every child gets the same attribution, so the map's random
		// order cannot show in the result.
		for _, c := range d.children {
			a.hide(c, l, e.Path, OpaqueHidden)
		}
		d.children = nil
		return
	}
	if e.Path == "." || e.Path == "" {
		return // the root cannot be removed
	}
	parent, n := a.lookup(e.Path)
	if n == nil {
		return // nothing to remove: fine, as for "rm -f"
	}
	if parent.gen != a.gen {
		parent = a.ownedDir(e.Path[:max(strings.LastIndexByte(e.Path, '/'), 0)])
	}
	delete(parent.children, base(e.Path))
	a.hide(n, l, e.Path, Removed)
}

// add applies entry i of layer l, unless it is a whiteout or opaque marker.
func (a *applier) add(l, i int, e *fileindex.Entry) {
	root := e.Path == "." || e.Path == ""
	typ, f := e.Type, -1
	switch typ {
	case fileindex.File:
		f = len(a.inodes)
		a.inodes = append(a.inodes, inode{layer: int32(l), entry: int32(i), paths: 1})
		if root {
			a.drop(f, l, e.Path, Replaced)
			return
		}
	case fileindex.Hardlink:
		if root || e.Link == "." || e.Link == "" {
			return
		}
		_, t := a.lookup(e.Link)
		if t == nil || t.typ == fileindex.Dir {
			return
		}
		typ = t.typ
		if typ == fileindex.File {
			// Count the new path before anything is removed, so that a
			// link whose target is about to be replaced keeps its file.
			f = t.inode
			a.inodes[f].paths++
		}
	case fileindex.Dir, fileindex.Symlink, fileindex.Other:
		if root {
			return
		}
	default:
		return // whiteouts were applied in the first pass; unknown types are ignored
	}

	dir := a.parentDir(l, e.Path)
	name := base(e.Path)
	old := dir.children[name]
	switch {
	case old == nil:
	case old.typ == fileindex.Dir && typ == fileindex.Dir:
		return // metadata only; the children stay
	case old.typ == fileindex.File && typ == fileindex.File:
		// When old and the new path share a file (a hard link over a path
		// of its own file), the new path was counted first and the file
		// stays visible.
		a.drop(old.inode, l, e.Path, a.fileChange(old.inode, f))
	default:
		a.hide(old, l, e.Path, Replaced)
	}
	n := a.newNode(typ)
	n.inode, n.link = f, e.Type == fileindex.Hardlink
	if dir.children == nil {
		dir.children = make(map[string]*node, siblings(a.layers[l][i:], e.Path))
	}
	dir.children[name] = n
}

// siblings counts the entries at the start of entries whose parent
// directory is p's (whiteouts and opaque markers aside, which add no
// child), up to maxSiblings: a size for that directory's map when p is
// its first child. A layer lists a directory's entries together, save
// those of its subdirectories between them, so the count is most of a
// directory of files and stops early in one of directories; a map grown
// entry by entry rehashes every entry at each doubling, and a 1 GB
// image's directories of thousands of files made that a seventh of
// `diff`'s CPU. The bound keeps a tar of one path written a million times
// from sizing a map for a million children.
func siblings(entries []fileindex.Entry, p string) int {
	dir := p[:strings.LastIndexByte(p, '/')+1] // with its slash; "" at the root
	n := 0
	for i := range entries {
		q := entries[i].Path
		if len(q) <= len(dir) || q[:len(dir)] != dir || strings.IndexByte(q[len(dir):], '/') >= 0 || n == maxSiblings {
			break
		}
		if t := entries[i].Type; t != fileindex.Whiteout && t != fileindex.Opaque {
			n++
		}
	}
	return n
}

// maxSiblings bounds the size siblings gives a directory's map; a larger
// directory's map grows from there.
const maxSiblings = 1 << 16

// parentDir returns the directory that holds p, creating missing parents
// and replacing non-directory parents with implicit directories (a change
// of layer l).
func (a *applier) parentDir(l int, p string) *node {
	slash := strings.LastIndexByte(p, '/')
	if slash < 0 {
		return a.root
	}
	dirPath := p[:slash]
	if a.lastDirNode != nil && a.lastDir == dirPath {
		return a.lastDirNode
	}
	d := a.root
	for start := 0; start <= slash; {
		end := start + strings.IndexByte(p[start:], '/')
		name := p[start:end]
		c := d.children[name]
		if c == nil || c.typ != fileindex.Dir {
			if c != nil {
				a.hide(c, l, p[:end], Replaced)
			}
			c = a.newNode(fileindex.Dir)
			if d.children == nil {
				d.children = make(map[string]*node)
			}
			d.children[name] = c
		} else if c.gen != a.gen {
			c = a.own(d, name, c)
		}
		d = c
		start = end + 1
	}
	a.lastDir, a.lastDirNode = dirPath, d
	return d
}

// lookup returns the node at p (not ".") and its parent directory, or nil
// when p does not exist or a parent is not a directory.
func (a *applier) lookup(p string) (parent, n *node) {
	d := a.root
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return d, d.children[p]
		}
		c := d.children[p[:i]]
		if c == nil || c.typ != fileindex.Dir {
			return nil, nil
		}
		d, p = c, p[i+1:]
	}
}

// own returns directory c, d's child name, as a's own: a copy when c is
// another applier's, which takes c's place in d (a's own).
func (a *applier) own(d *node, name string, c *node) *node {
	if c.gen == a.gen {
		return c
	}
	o := a.newNode(fileindex.Dir)
	o.children = maps.Clone(c.children)
	d.children[name] = o
	return o
}

// ownedDir returns the directory at p ("" or ".": the root), which must
// exist, as a's own (each directory above it too).
func (a *applier) ownedDir(p string) *node {
	d := a.root
	if p == "" || p == "." {
		return d
	}
	for {
		i := strings.IndexByte(p, '/')
		name := p
		if i >= 0 {
			name = p[:i]
		}
		d = a.own(d, name, d.children[name])
		if i < 0 {
			return d
		}
		p = p[i+1:]
	}
}

// hide takes the subtree at n out of the filesystem: a change of layer l at
// path p, of kind k. n must already be detached from its parent, or be
// about to be.
func (a *applier) hide(n *node, l int, p string, k Kind) {
	stack := append(a.stack[:0], n)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n.typ {
		case fileindex.File:
			a.drop(n.inode, l, p, k)
		case fileindex.Dir:
			a.lastDirNode = nil // it may be this directory or below it
			for _, c := range n.children {
				stack = append(stack, c)
			}
			if n.gen == a.gen {
				n.children = nil // let a detached subtree be collected
			}
		}
	}
	a.stack = stack[:0]
}

// drop records that one path of file f is no longer visible.
func (a *applier) drop(f, l int, p string, k Kind) {
	fl := &a.inodes[f]
	if fl.paths--; fl.paths == 0 {
		fl.hiddenBy, fl.hidPath, fl.kind = int32(l), p, k
	}
}

// fileChange classifies the change of a path from file old to file n.
func (a *applier) fileChange(old, n int) Kind {
	o, e := a.entry(old), a.entry(n)
	switch {
	case o.Digest != e.Digest:
		return Overwritten
	case o.Mode != e.Mode || o.UID != e.UID || o.GID != e.GID:
		return MetadataChanged
	}
	return Rewritten
}

func (a *applier) entry(f int) *fileindex.Entry {
	fl := &a.inodes[f]
	return &a.layers[fl.layer][fl.entry]
}

const slabSize = 1024

func (a *applier) newNode(t fileindex.EntryType) *node {
	if len(a.slab) == 0 {
		a.slab = make([]node, slabSize)
	}
	n := &a.slab[0]
	a.slab = a.slab[1:]
	n.typ, n.inode, n.gen = t, -1, a.gen
	return n
}

func (a *applier) result() *Result {
	res := a.res
	for f := range a.inodes {
		if a.inodes[f].paths > 0 {
			res.FinalFiles++
			res.FinalBytes += a.entry(f).Size
		}
	}
	if res.FinalFiles == len(a.inodes) {
		return res
	}
	lost := make([]int32, 0, len(a.inodes)-res.FinalFiles) // in (AddedBy, Entry) order
	for f := range a.inodes {
		if a.inodes[f].paths == 0 {
			lost = append(lost, int32(f))
		}
	}

	// Order by (AddedBy, HiddenBy, Entry) with two stable counting sorts,
	// least significant key first; then by File within each run of equal
	// (AddedBy, HiddenBy), which tar order mostly leaves sorted already.
	tmp := make([]int32, len(lost))
	a.countingSort(tmp, lost, func(in *inode) int32 { return in.hiddenBy })
	a.countingSort(lost, tmp, func(in *inode) int32 { return in.layer })
	res.Losses = make([]Loss, len(lost))
	for i, f := range lost {
		in, e := &a.inodes[f], a.entry(int(f))
		res.Losses[i] = Loss{
			AddedBy:  int(in.layer),
			Entry:    int(in.entry),
			File:     e.Path,
			Size:     e.Size,
			HiddenBy: int(in.hiddenBy),
			Path:     in.hidPath,
			Kind:     in.kind,
		}
	}
	byFile := func(x, y Loss) int {
		return cmp.Or(strings.Compare(x.File, y.File), cmp.Compare(x.Entry, y.Entry))
	}
	for start := 0; start < len(res.Losses); {
		first, end := &res.Losses[start], start+1
		for end < len(res.Losses) && res.Losses[end].AddedBy == first.AddedBy && res.Losses[end].HiddenBy == first.HiddenBy {
			end++
		}
		if run := res.Losses[start:end]; !slices.IsSortedFunc(run, byFile) {
			slices.SortFunc(run, byFile)
		}
		start = end
	}
	return res
}

// countingSort writes src to dst stably ordered by key, a layer index.
func (a *applier) countingSort(dst, src []int32, key func(*inode) int32) {
	next := make([]int, len(a.layers)+1)
	for _, f := range src {
		next[key(&a.inodes[f])+1]++
	}
	for k := 1; k < len(next); k++ {
		next[k] += next[k-1]
	}
	for _, f := range src {
		k := key(&a.inodes[f])
		dst[next[k]] = f
		next[k]++
	}
}

// base returns the last component of a path.
func base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

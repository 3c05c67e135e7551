package report

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/overlay"
	"github.com/layerq/layerq/internal/repoglob"
)

// FindOptions say what to look for; one of Layer, Path and SameAs.
type FindOptions struct {
	// Layer is a layer blob's digest or a layer's diff_id.
	Layer string
	// Path is a glob over file paths: * within a segment, ** across; a
	// glob without "/" matches the file's name at any depth.
	Path string
	// SameAs names a file of an image, REF:PATH, whose content to find;
	// Platform picks the image of an index.
	SameAs   *Ref
	SamePath string
	Platform string

	Repositories repoglob.Glob
	// Limit is how many matches to list (0: all); the counts cover every
	// one.
	Limit int
}

// Find lists the live images that hold a layer, a file by path, or a
// file's content, one match per image, layer and path.
type Find struct {
	// What was looked for, in words.
	Query string `json:"query"`
	// Images and Repositories count the live images and repositories with
	// a match; Matches every match (an image's layer and path).
	Images       int         `json:"images"`
	Repositories int         `json:"repositories"`
	Matches      int         `json:"matches"`
	Found        []FindMatch `json:"found"`
	// Unindexed: for a file search, how many live layers have no file
	// index (their files were not searched).
	Unindexed int64 `json:"unindexed_layers"`
}

// FindMatch is one image holding what was looked for.
type FindMatch struct {
	Registry   string   `json:"registry"`
	Repository string   `json:"repository"`
	Tags       []string `json:"tags"`
	Digest     string   `json:"digest"`
	Platform   string   `json:"platform"`
	// Position is the layer's, counted from 0; Layer its blob; CreatedBy
	// the step that made it.
	Position  int    `json:"position"`
	Layer     string `json:"layer"`
	CreatedBy string `json:"created_by"`
	// Path and Size: the matching file (file searches only).
	Path string `json:"path,omitempty"`
	Size int64  `json:"size"`
	// Visible says whether the image's final filesystem shows this layer's
	// file at Path; HiddenBy, when not, is the layer that now writes the
	// path, or -1 when a later layer removed it (or put a directory
	// there). Nil for a layer search.
	Visible  *bool `json:"visible"`
	HiddenBy *int  `json:"hidden_by"`

	repositoryID int64
	ordinal      int // the file's place in its layer's index
}

// LoadFind runs the find report.
func LoadFind(ctx context.Context, db DB, opts FindOptions) (*Find, error) {
	out := &Find{Found: []FindMatch{}}
	search := dbsqlc.FindHoldersParams{Repository: regexpOrNil(opts.Repositories), PageSize: int32(min(opts.Limit, math.MaxInt32))}
	switch {
	case opts.Layer != "":
		out.Query = "layer " + opts.Layer
		rows, err := queries.FindLayerBlobs(ctx, db, opts.Layer)
		if err != nil {
			return nil, fmt.Errorf("looking up layer %s: %w", opts.Layer, err)
		}
		if len(rows) == 0 {
			return nil, refErrorf(ErrNotFound, "no layer has digest or diff_id %s: give a layer's blob digest or diff_id in full (sha256: and 64 hex digits), as `layerq image -o wide` prints them", opts.Layer)
		}
		for _, r := range rows {
			search.Layers = append(search.Layers, r.Digest)
		}
	case opts.Path != "":
		if !utf8.ValidString(opts.Path) {
			return nil, fmt.Errorf("--path %q: give the glob in UTF-8", opts.Path)
		}
		out.Query = "path " + opts.Path
		like, endLike, re := pathPattern(opts.Path)
		search.NameLike, search.NameEndLike, search.PathRe = orNil(like), orNil(endLike), orNil(re)
	case opts.SameAs != nil:
		out.Query = fmt.Sprintf("the content of %s:%s", opts.SameAs, opts.SamePath)
		digest, err := fileDigest(ctx, db, *opts.SameAs, opts.Platform, opts.SamePath)
		if err != nil {
			return nil, err
		}
		search.Content = digest
	default:
		return nil, errors.New("find needs one of --layer, --path or --same-as")
	}
	if opts.Path != "" || opts.SameAs != nil {
		n, err := queries.BloatBacklogKept(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("counting the layers not indexed: %w", err)
		}
		out.Unindexed = n.Unindexed
	}
	rows, err := queries.FindHolders(ctx, db, search)
	if err != nil {
		return nil, fmt.Errorf("looking up the images holding it: %w", err)
	}
	var keys []string      // the listed images, as "REPOSITORY_ID DIGEST"
	files := map[int]int{} // a match found by path: how many entries of its layer write the path
	for _, h := range rows {
		out.Matches, out.Images, out.Repositories = int(h.Matches), int(h.Images), int(h.Repositories)
		if h.Digest == nil || h.BlobDigest == nil {
			continue
		}
		m := FindMatch{Registry: *h.Registry, Repository: *h.Repository, Digest: *h.Digest,
			Position: int(*h.Position), Layer: *h.BlobDigest, CreatedBy: h.CreatedBy, repositoryID: *h.RepositoryID}
		if h.Path != "" { // a file search
			m.Path = h.Path
			if h.Ordinal != nil {
				m.Size, m.ordinal = *h.Size, int(*h.Ordinal)
			} else {
				files[len(out.Found)] = int(*h.Files)
			}
		}
		if k := fmt.Sprint(m.repositoryID, " ", m.Digest); len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
		}
		out.Found = append(out.Found, m)
	}
	if len(keys) > 0 {
		names, err := queries.FindImageNames(ctx, db, keys)
		if err != nil {
			return nil, fmt.Errorf("naming the images found: %w", err)
		}
		byKey := map[string]dbsqlc.FindImageNamesRow{}
		for _, n := range names {
			byKey[fmt.Sprint(n.RepositoryID, " ", n.Digest)] = n
		}
		for i := range out.Found {
			m := &out.Found[i]
			n := byKey[fmt.Sprint(m.repositoryID, " ", m.Digest)]
			m.Platform, m.Tags = n.Platform, n.Tags
			if m.Tags == nil {
				m.Tags = []string{}
			}
		}
	}
	if opts.Layer == "" && len(out.Found) > 0 {
		s, err := loadStacks(ctx, db, out.Found)
		if err != nil {
			return nil, err
		}
		if out.Found, err = s.entriesOf(out.Found, files); err != nil {
			return nil, err
		}
		if opts.Limit > 0 && len(out.Found) > opts.Limit {
			out.Found = out.Found[:opts.Limit]
		}
		s.markVisible(out.Found)
	}
	return out, nil
}

// pathPattern is a path glob as the name indexes and a regexp read it
// ("" for each that is not needed): a LIKE pattern over the file's name;
// or, for a name that starts with a wildcard and ends with a literal, one
// over the name reversed (*.pem: "mep.%", read from the index of names
// reversed); and the whole path's regexp. A glob without "/" is a name at
// any depth; a leading "/" is dropped (layer paths are relative: "/a" is
// the top's a); a leading "**/" also matches at the top. Each says what
// the others do not (a name at any depth needs no regexp): a test implied
// by another would only multiply the planner's estimate down, and a
// popular name's holders would then be looked up one by one.
func pathPattern(glob string) (like, endLike, re string) {
	if !strings.Contains(glob, "/") {
		glob = "**/" + glob
	}
	glob = strings.TrimPrefix(glob, "/")
	name := glob[strings.LastIndexByte(glob, '/')+1:]
	if rest, ok := strings.CutPrefix(glob, "**/"); ok {
		re = "^(.*/)?" + strings.TrimPrefix(repoglob.Compile(rest).Regexp(), "^")
		if rest == name && !strings.Contains(name, "**") {
			re = "" // the name pattern says all
		}
	} else {
		re = repoglob.Compile(glob).Regexp()
	}
	escape := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	wild := strings.NewReplacer("*", "%", "?", "_")
	reversed := func(s string) string {
		r := []rune(s)
		slices.Reverse(r)
		return string(r)
	}
	last := strings.LastIndexAny(name, "*?")
	switch {
	case strings.Contains(name, "**"):
		// ** crosses "/": the regexp says, and the literal end (a name's
		// own) narrows.
		if end := name[last+1:]; end != "" {
			return "", escape.Replace(reversed(end)) + "%", re
		}
		return "%", "", re
	case strings.IndexAny(name, "*?") == 0 && last < len(name)-1:
		return "", wild.Replace(escape.Replace(reversed(name))), re
	}
	return wild.Replace(escape.Replace(name)), "", re
}

// orNil is s, or nil when s is "".
func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fileDigest is the content digest of the regular file the image ref
// shows at path.
func fileDigest(ctx context.Context, db DB, ref Ref, platform, path string) ([]byte, error) {
	img, err := LoadImage(ctx, db, ImageOptions{Ref: ref, Platform: platform})
	if err != nil {
		return nil, err
	}
	var blobs []string
	for _, l := range img.Layers {
		blobs = append(blobs, l.Digest)
	}
	tars, err := layerTars(ctx, db, blobs)
	if err != nil {
		return nil, err
	}
	cache := newEntryCache(db, maxCachedEntries)
	if err := cache.load(ctx, blobs); err != nil {
		return nil, err
	}
	layers := stackOf(cache, tars, img.Layers)
	if layers == nil {
		return nil, fmt.Errorf("%s: its layers are not all indexed yet, so its files are not known: run layerq-ingest scan --layers", ref)
	}
	path = strings.TrimPrefix(path, "/")
	for _, v := range overlay.Shown(layers) {
		if v.Path == path {
			e := layers[v.Layer][v.Entry]
			return e.Digest[:], nil
		}
	}
	return nil, refErrorf(ErrNotFound, "%s shows no regular file at %s", ref, path)
}

// stacks are the layers and file indexes of the listed images, each from
// its lowest listed layer up: what lies below a file cannot hide it. All
// but one thing: a hard link above it, at its path, at a directory
// holding it or below it, to a file below it (without the layers below,
// the link would find no target and change nothing: not even make its
// parent directories); an image with such a link is read whole. The
// layers of every listed image are read at once, each layer's entries
// once.
type stacks struct {
	layersOf map[string][]ImageLayer // image digest -> its layers, bottom first
	from     map[string]int          // image digest -> the position its stack starts at
	tars     map[string]int64        // the indexed layers read
	asked    map[string]struct{}     // the layers tars was asked about
	cache    *entryCache
}

func loadStacks(ctx context.Context, db DB, found []FindMatch) (*stacks, error) {
	s := &stacks{layersOf: map[string][]ImageLayer{}, from: map[string]int{}, tars: map[string]int64{}, asked: map[string]struct{}{},
		cache: newEntryCache(db, maxCachedEntries)}
	paths := map[string][]string{} // image digest -> the paths listed
	var digests []string
	for _, m := range found {
		if from, ok := s.from[m.Digest]; !ok {
			digests = append(digests, m.Digest)
			s.from[m.Digest] = m.Position
		} else {
			s.from[m.Digest] = min(from, m.Position)
		}
		paths[m.Digest] = append(paths[m.Digest], m.Path)
	}
	rows, err := queries.ManifestsLayers(ctx, db, digests)
	if err != nil {
		return nil, fmt.Errorf("reading the layers of the images found: %w", err)
	}
	for _, r := range rows {
		s.layersOf[r.ManifestDigest] = append(s.layersOf[r.ManifestDigest], ImageLayer{Position: int(r.Position), Digest: r.BlobDigest})
	}
	if err := s.load(ctx, db, digests); err != nil {
		return nil, err
	}
	var whole []string
	for _, d := range digests {
		if s.from[d] > 0 && s.linkAbove(d, paths[d]) {
			s.from[d] = 0
			whole = append(whole, d)
		}
	}
	if len(whole) > 0 {
		// Every stack again, not only those now read whole: a cache over
		// its bound is emptied before it reads, and then reads them all.
		if err := s.load(ctx, db, digests); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// load reads the indexes of the stacks of images digests.
func (s *stacks) load(ctx context.Context, db DB, digests []string) error {
	var blobs []string
	for _, d := range digests {
		for _, l := range s.layersOf[d] {
			if l.Position >= s.from[d] {
				blobs = append(blobs, l.Digest)
			}
		}
	}
	if len(blobs) == 0 {
		return nil
	}
	slices.Sort(blobs)
	blobs = slices.Compact(blobs)
	// Which are indexed: asked once per blob.
	var unknown []string
	for _, b := range blobs {
		if _, asked := s.asked[b]; !asked {
			unknown = append(unknown, b)
		}
	}
	if len(unknown) > 0 {
		tars, err := layerTars(ctx, db, unknown)
		if err != nil {
			return err
		}
		for _, b := range unknown {
			s.asked[b] = struct{}{}
		}
		maps.Copy(s.tars, tars)
	}
	return s.cache.load(ctx, blobs)
}

// linkAbove says whether a layer of image d's stack (its first one too: a
// link after the file in its tar) holds a hard link at one of paths, at a
// directory holding one, or below one.
func (s *stacks) linkAbove(d string, paths []string) bool {
	for _, l := range s.layersOf[d] {
		if l.Position < s.from[d] {
			continue
		}
		for _, e := range s.cache.entries[l.Digest] {
			if e.Type != fileindex.Hardlink {
				continue
			}
			for _, p := range paths {
				// At the path, at a directory holding it, or below it (the
				// link's parent directory replaces the file).
				if p == e.Path || strings.HasPrefix(p, e.Path+"/") || strings.HasPrefix(e.Path, p+"/") {
					return true
				}
			}
		}
	}
	return false
}

// stack is image d's stack, from its first layer read.
func (s *stacks) stack(d string) [][]fileindex.Entry {
	ls := s.layersOf[d]
	from := s.from[d]
	if from > len(ls) {
		from = len(ls)
	}
	return stackOf(s.cache, s.tars, ls[from:])
}

// entriesOf gives each match found by path (files: its place in found ->
// how many entries of its layer write the path) its entries, from its
// layer's index: a match per entry, in the order of the layer, with its
// size. The others are as they were.
func (s *stacks) entriesOf(found []FindMatch, files map[int]int) ([]FindMatch, error) {
	if len(files) == 0 {
		return found, nil
	}
	out := make([]FindMatch, 0, len(found))
	places := map[[2]string][]int{} // (layer, path) -> its entries' places, each layer read once per path
	for i, m := range found {
		n, ok := files[i]
		if !ok {
			out = append(out, m)
			continue
		}
		key := [2]string{m.Layer, m.Path}
		js, seen := places[key]
		if !seen {
			for j, e := range s.cache.entries[m.Layer] {
				if e.Type == fileindex.File && e.Path == m.Path {
					js = append(js, j)
				}
			}
			places[key] = js
		}
		if len(js) != n {
			return nil, fmt.Errorf("layer %s: its paths (path_layers) write %s %d times, its listing %d", m.Layer, m.Path, n, len(js))
		}
		for _, j := range js {
			m.ordinal, m.Size = j, s.cache.entries[m.Layer][j].Size
			out = append(out, m)
		}
	}
	return out, nil
}

// markVisible says of each listed file whether its image's final
// filesystem shows it.
func (s *stacks) markVisible(found []FindMatch) {
	// Of each image's final filesystem, only the paths listed.
	finals := map[string]map[string]overlay.Visible{} // image -> path -> what shows it; nil: a layer not indexed
	for _, m := range found {
		if finals[m.Digest] == nil {
			finals[m.Digest] = map[string]overlay.Visible{}
		}
		finals[m.Digest][m.Path] = overlay.Visible{Layer: -1}
	}
	for d, fin := range finals {
		layers := s.stack(d)
		if layers == nil {
			finals[d] = nil
			continue
		}
		for _, v := range overlay.Shown(layers) {
			if _, listed := fin[v.Path]; listed {
				v.Layer += s.from[d] // a position
				fin[v.Path] = v
			}
		}
	}
	for i := range found {
		m := &found[i]
		fin := finals[m.Digest]
		if fin == nil {
			continue // a layer not indexed: unknown
		}
		v := fin[m.Path]
		shown := v.Layer >= 0
		visible := shown && v.Layer == m.Position && v.Entry == m.ordinal
		m.Visible = &visible
		if !visible {
			by := -1
			if shown {
				by = v.Layer
			}
			m.HiddenBy = &by
		}
	}
}

// ParseLayer reads a layer digest as --layer takes it: sha256: and 64 hex
// digits, or the 64 digits alone (parseDigest, whole).
func ParseLayer(s string) (string, error) {
	d, ok := parseDigest(s)
	if !ok || len(d) != len("sha256:")+64 {
		return "", fmt.Errorf("--layer %q: give a layer's blob digest or diff_id in full, sha256: and 64 hex digits", strings.TrimPrefix(s, "sha256:"))
	}
	return d, nil
}

// Preamble implements output.Preamble.
func (f *Find) Preamble() []string {
	line := fmt.Sprintf("%s: %s in %s of %s", f.Query, output.Count(int64(f.Matches), "match", "matches"),
		output.Count(int64(f.Images), "live image", "live images"), output.Count(int64(f.Repositories), "repository", "repositories"))
	if len(f.Found) < f.Matches {
		line += fmt.Sprintf(" (the first %d listed; --limit 0 lists all)", len(f.Found))
	}
	lines := []string{line}
	if f.Unindexed > 0 {
		lines = append(lines, fmt.Sprintf("%s without a file index not searched: run layerq-ingest scan --layers", output.Count(f.Unindexed, "live layer", "live layers")))
	}
	return append(lines, "")
}

// Empty implements output.Empty.
func (f *Find) Empty() string { return "no live image holds it" }

// Columns implements output.Table.
func (f *Find) Columns() []output.Column {
	return output.Cols("registry", "repository", "tags", "digest", "platform", "position", "layer", "created_by", "path", "size", "visible", "hidden_by")
}

// Rows implements output.Table.
func (f *Find) Rows() [][]any {
	rows := make([][]any, 0, len(f.Found))
	for _, m := range f.Found {
		var visible any
		if m.Visible != nil {
			visible = *m.Visible
		}
		rows = append(rows, []any{m.Registry, m.Repository, m.Tags, output.Digest(m.Digest), m.Platform, m.Position, output.Digest(m.Layer),
			step(m.CreatedBy), m.Path, output.Bytes(m.Size), visible, m.HiddenBy})
	}
	return rows
}

// TableColumns implements output.Grouped: for people, the file's state
// in words.
func (f *Find) TableColumns() []output.Column {
	return []output.Column{{Key: "repository"}, {Key: "tags"}, {Key: "digest", Wide: true}, {Key: "platform"}, {Key: "position", Title: "#"},
		{Key: "created_by", Title: "STEP"}, {Key: "path"}, {Key: "size"}, {Key: "state"}}
}

// TableRows implements output.Grouped.
func (f *Find) TableRows() [][]any {
	rows := make([][]any, 0, len(f.Found))
	for _, m := range f.Found {
		state := ""
		switch {
		case m.Visible == nil && m.Path != "":
			state = "unknown (a layer not indexed)"
		case m.Visible == nil:
		case *m.Visible:
			state = "visible"
		case *m.HiddenBy < 0:
			state = "removed by a later layer"
		default:
			state = fmt.Sprintf("hidden: #%d writes the path", *m.HiddenBy)
		}
		size := any(output.Bytes(m.Size))
		if m.Path == "" {
			size = nil
		}
		rows = append(rows, []any{m.Repository, m.Tags, output.Digest(m.Digest), m.Platform, m.Position, step(m.CreatedBy), m.Path, size, state})
	}
	return rows
}

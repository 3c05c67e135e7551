package synth_test

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

// duplicates --kind blob and --kind file with --repo read the selected
// repositories' blobs from what the fold keeps per repository, and file
// duplicates are counted from the layers' listings in the process, or on
// the server for a selection of many files. On a
// registry with recompressed copies, file indexes and deleted images, and
// two repositories made for the filters (one holds a single encoding of a
// layer stored twice; the other held both, in an image since deleted),
// every filter's figures are those worked out here from the graph's own
// rows: the live images' layers, their blobs and their files.
func TestDuplicatesFiltered(t *testing.T) {
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk, opts.Files, opts.Recompressed = 300, 15, 4, 100, true, 0.1
	pool, _ := generate(t, opts)
	ctx := context.Background()

	var twice []string // the two smallest encodings of a layer stored twice
	if err := pool.QueryRow(ctx, `SELECT (array_agg(b.digest ORDER BY b.size, b.digest))[1:2] FROM blobs b
		WHERE b.diff_id = (SELECT diff_id FROM blobs WHERE diff_id IS NOT NULL GROUP BY diff_id HAVING count(*) > 1 ORDER BY diff_id LIMIT 1)`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	// In the first image too: two blobs no config names as a layer (an
	// artifact's, say), neither a layer's encoding nor a layer to index; a
	// layer not indexed yet; and one indexed whose files are one content
	// under two paths (the lesser second), an empty file twice, two more
	// contents whose extra copies take as many bytes as the first (ties
	// ranked by content), and a file whose content is not known (a NULL
	// digest: not counted). Its listing is packed from its rows.
	nameless := []string{"sha256:" + strings.Repeat("e", 64), "sha256:" + strings.Repeat("f", 64)}
	execRows(t, pool, `INSERT INTO blobs (digest, size, media_type) SELECT d, 1000, 'application/vnd.oci.image.layer.v1.tar+gzip' FROM unnest($1::text[]) AS d`, 2, nameless)
	odd := []string{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("b", 64)} // indexed, not yet
	execRows(t, pool, `INSERT INTO blobs (digest, size, media_type, diff_id) SELECT d, 2000, 'application/vnd.oci.image.layer.v1.tar+gzip', 'sha256:' || repeat(n::text, 64)
		FROM unnest($1::text[]) WITH ORDINALITY AS x(d, n)`, 2, odd)
	file := func(path string, content byte, size int64) fileindex.Entry {
		return fileindex.Entry{Path: path, Type: fileindex.File, Size: size, Mode: 0o644, Digest: [16]byte{content, 1}}
	}
	if wrote, err := graph.New(pool).SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: odd[0], DiffID: "sha256:" + strings.Repeat("1", 64), CompressedSize: 2000,
		Index: &fileindex.Index{Compression: "gzip", UncompressedSize: 10240, Entries: []fileindex.Entry{
			file("z/copy", 7, 5000), file("a/copy", 7, 5000), file("empty-1", 8, 0), file("empty-2", 8, 0),
			file("t/1", 10, 2500), file("t/2", 10, 2500), file("t/3", 10, 2500), file("u/1", 9, 2500), file("u/2", 9, 2500), file("u/3", 9, 2500),
			file("unknown", 11, 4000)}}}); err != nil || !wrote {
		t.Fatalf("indexing %s: %v, %v", odd[0], wrote, err)
	}
	execRows(t, pool, `UPDATE layer_files SET digest = NULL WHERE blob_digest = $1 AND path = 'unknown'`, 1, odd[0])
	execRows(t, pool, `DELETE FROM layer_listings WHERE blob_digest = $1`, 1, odd[0])
	soloImages(t, pool, append(append(twice[:1:1], nameless...), odd...), twice)

	// The graph's own rows.
	type blob struct {
		diffID    string // "" for none
		size      int64
		mediaType string
		indexed   bool
		files     []report.FileContent // regular files: Digest, Size, SamplePath (the path)
	}
	blobs := map[string]*blob{}
	for _, r := range rowsOf(t, pool, `SELECT b.digest, coalesce(b.diff_id, '-'), b.size, b.media_type,
			EXISTS (SELECT FROM layer_indexes li WHERE li.blob_digest = b.digest) FROM blobs b`) {
		f := strings.Fields(strings.Trim(r, "[]"))
		b := &blob{diffID: strings.TrimPrefix(f[1], "-"), mediaType: f[3], indexed: f[4] == "true"}
		fmt.Sscan(f[2], &b.size)
		blobs[f[0]] = b
	}
	regularFiles(t, pool, "digest IS NOT NULL", func(blob, path string, content []byte, size int64) { // a file of unknown content is not counted
		blobs[blob].files = append(blobs[blob].files, report.FileContent{Digest: hex.EncodeToString(content), Size: size, SamplePath: path})
	})
	live := map[string]map[string]bool{} // repository -> the layer blobs of its live images
	for _, r := range rowsOf(t, pool, `SELECT DISTINCT r.name, ml.blob_digest
		FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
		JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		WHERE rm.deleted_at IS NULL`) {
		f := strings.Fields(strings.Trim(r, "[]"))
		if live[f[0]] == nil {
			live[f[0]] = map[string]bool{}
		}
		live[f[0]][f[1]] = true
	}
	selected := func(glob repoglob.Glob) []string { // the glob's live image layers (a diff_id), sorted
		in := map[string]bool{}
		for repo, ls := range live {
			if glob.Match(repo) {
				for l := range ls {
					if blobs[l].diffID != "" {
						in[l] = true
					}
				}
			}
		}
		return slices.Sorted(maps.Keys(in))
	}

	wantBlobs := func(layers []string, limit int) *report.BlobDuplicates {
		byContent := map[string][]string{}
		for _, l := range layers {
			byContent[blobs[l].diffID] = append(byContent[blobs[l].diffID], l)
		}
		out := &report.BlobDuplicates{Kind: "blob", Layers: []report.BlobDuplicate{}}
		for content, ds := range byContent {
			if len(ds) < 2 {
				continue
			}
			slices.SortFunc(ds, func(x, y string) int { return cmp.Or(cmp.Compare(blobs[x].size, blobs[y].size), strings.Compare(x, y)) })
			d := report.BlobDuplicate{DiffID: content}
			for i, x := range ds {
				b := blobs[x]
				e := report.BlobEncoding{Digest: x, Size: b.size, MediaType: b.mediaType, Compression: report.Compression(b.mediaType), Kept: i == 0}
				if i > 0 {
					e.ExtraBytes = b.size
					d.BytesStoredTwice += b.size
				}
				d.StoredBytes += b.size
				d.Blobs = append(d.Blobs, e)
			}
			out.TotalLayers++
			out.BytesStoredTwice += d.BytesStoredTwice
			out.Layers = append(out.Layers, d)
		}
		slices.SortFunc(out.Layers, func(x, y report.BlobDuplicate) int {
			return cmp.Or(-cmp.Compare(x.BytesStoredTwice, y.BytesStoredTwice), strings.Compare(x.DiffID, y.DiffID))
		})
		out.Layers = out.Layers[:min(limit, len(out.Layers))]
		return out
	}

	wantFiles := func(layers []string, limit int) *report.FileDuplicates {
		out := &report.FileDuplicates{Kind: "file", DedupRatio: 1, Top: []report.FileContent{}}
		unique := map[string]int64{}
		top := map[string]*report.FileContent{}
		holders := map[string]map[string]bool{}
		for _, l := range layers {
			b := blobs[l]
			if !b.indexed {
				out.Unindexed++
				continue
			}
			out.Layers++
			for _, f := range b.files {
				out.Files++
				out.TotalBytes += f.Size
				unique[f.Digest] = f.Size
				if f.Size == 0 {
					continue
				}
				c := top[f.Digest]
				if c == nil {
					c = &report.FileContent{Digest: f.Digest, Size: f.Size, SamplePath: f.SamplePath}
					top[f.Digest], holders[f.Digest] = c, map[string]bool{}
				}
				c.Copies++
				c.SamplePath = min(c.SamplePath, f.SamplePath)
				holders[f.Digest][l] = true
			}
		}
		out.UniqueFiles = int64(len(unique))
		for _, n := range unique {
			out.UniqueBytes += n
		}
		if out.TotalBytes > 0 {
			out.DedupRatio = float64(out.UniqueBytes) / float64(out.TotalBytes)
		}
		for d, c := range top {
			if c.Copies > 1 {
				c.Layers, c.ExtraBytes = int64(len(holders[d])), c.Size*(c.Copies-1)
				out.Top = append(out.Top, *c)
			}
		}
		slices.SortFunc(out.Top, func(x, y report.FileContent) int {
			return cmp.Or(-cmp.Compare(x.ExtraBytes, y.ExtraBytes), strings.Compare(x.Digest, y.Digest))
		})
		out.Top = out.Top[:min(limit, len(out.Top))]
		return out
	}

	repo := slices.Min(slices.Collect(maps.Keys(live)))
	for _, name := range []string{"ns01/app-00001", "ns01/**", "ns0?/app-0000*", "solo/**", "solo/two", repo, ""} {
		glob := repoglob.Compile(name)
		layers := selected(glob)
		for _, limit := range []int{1, 5, 100000} {
			o := report.DuplicatesOptions{Kind: "blob", Repositories: glob, Limit: limit}
			r, err := report.LoadDuplicates(ctx, pool, o)
			if err != nil {
				t.Fatal(err)
			}
			if w := wantBlobs(layers, limit); !reflect.DeepEqual(r, w) {
				t.Errorf("duplicates --kind blob --repo %q --limit %d:\n%+v\nwant\n%+v", name, limit, r, w)
			}
			// Files counted in the process from the layers' listings, and
			// on the server (a selection of more files than the process
			// counts).
			o.Kind = "file"
			for _, inProcess := range []int64{0, 1} {
				o.FilesInProcess = inProcess
				r, err = report.LoadDuplicates(ctx, pool, o)
				if err != nil {
					t.Fatal(err)
				}
				if w := wantFiles(layers, limit); !reflect.DeepEqual(r, w) {
					t.Errorf("duplicates --kind file --repo %q --limit %d (at most %d files in the process):\n%+v\nwant\n%+v", name, limit, inProcess, r, w)
				}
			}
		}
	}
	// What the filters find, so the comparisons above are not of empty
	// reports.
	if w := wantBlobs(selected(repoglob.Compile("solo/**")), 10); w.TotalLayers != 0 || len(live["solo/one"]) != 5 {
		t.Errorf("solo/** holds a layer stored twice, or solo/one not its five blobs: %+v, %v", w, live["solo/one"])
	}
	content := func(b byte) string { return hex.EncodeToString([]byte{b, 1, 15: 0}) }
	if w := wantFiles(selected(repoglob.Compile("solo/**")), 10); w.Unindexed != 1 || len(w.Top) < 3 ||
		w.Top[0] != (report.FileContent{Digest: content(7), Size: 5000, Copies: 2, Layers: 1, ExtraBytes: 5000, SamplePath: "a/copy"}) ||
		w.Top[1].Digest != content(9) || w.Top[2].Digest != content(10) || w.Top[2].ExtraBytes != 5000 {
		t.Errorf("solo/**: %+v; want one layer not indexed, a content twice in one layer first, and two tied with it", w)
	}
	if w := wantBlobs(selected(repoglob.Compile("ns01/**")), 10); w.TotalLayers < 2 {
		t.Errorf("ns01/** holds %d layers stored twice; the test wants some", w.TotalLayers)
	}
	if w := wantFiles(selected(repoglob.Compile("ns01/app-00001")), 10); len(w.Top) < 5 || w.Layers < 5 {
		t.Errorf("ns01/app-00001: %d layers, %d contents stored twice; the test wants some", w.Layers, len(w.Top))
	}

	// With no layer indexed in the registry, a namespace's layers all wait
	// (its blobs are not probed for listings there are none of).
	if _, err := pool.Exec(ctx, `DELETE FROM layer_files; DELETE FROM layer_indexes`); err != nil {
		t.Fatal(err)
	}
	fold(t, pool)
	for _, b := range blobs {
		b.indexed = false
	}
	for _, name := range []string{"ns01/**", "solo/**", "ns01/app-00001"} {
		glob := repoglob.Compile(name)
		r, err := report.LoadDuplicates(ctx, pool, report.DuplicatesOptions{Kind: "file", Repositories: glob, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if w := wantFiles(selected(glob), 10); !reflect.DeepEqual(r, w) || w.Unindexed == 0 {
			t.Errorf("duplicates --kind file --repo %q with no layer indexed:\n%+v\nwant\n%+v (some layers waiting)", name, r, w)
		}
	}
	// One layer of ns01 indexed again: fewer layers indexed in all than
	// ns01 has waiting, so its listings are read from the indexed side.
	one := selected(repoglob.Compile("ns01/**"))[0]
	again := []fileindex.Entry{file("x/1", 20, 3000), file("y/1", 20, 3000), file("z/1", 21, 10)}
	if wrote, err := graph.New(pool).SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: one, DiffID: blobs[one].diffID, CompressedSize: blobs[one].size,
		Index: &fileindex.Index{Compression: "gzip", UncompressedSize: 10240, Entries: again}}); err != nil || !wrote {
		t.Fatalf("indexing %s again: %v, %v", one, wrote, err)
	}
	fold(t, pool)
	blobs[one].indexed, blobs[one].files = true, nil
	for _, e := range again {
		blobs[one].files = append(blobs[one].files, report.FileContent{Digest: hex.EncodeToString(e.Digest[:]), Size: e.Size, SamplePath: e.Path})
	}
	for _, name := range []string{"ns01/**", "ns01/app-00001"} {
		glob := repoglob.Compile(name)
		r, err := report.LoadDuplicates(ctx, pool, report.DuplicatesOptions{Kind: "file", Repositories: glob, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if w := wantFiles(selected(glob), 10); !reflect.DeepEqual(r, w) || (name == "ns01/**" && (w.Layers != 1 || len(w.Top) != 1)) {
			t.Errorf("duplicates --kind file --repo %q with one layer indexed:\n%+v\nwant\n%+v (one layer, one content twice)", name, r, w)
		}
	}
}

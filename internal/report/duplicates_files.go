package report

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/hugeheap"
	"github.com/layerq/layerq/internal/listing"
)

// selectLayers returns the distinct live layers of the repositories
// matching repository (a regexp) that are indexed, their regular files,
// and how many are not indexed. One namespace's repositories are read
// from what the fold keeps per namespace; other selections from their
// repositories' blobs.
func selectLayers(ctx context.Context, db DB, repository string) (indexed []string, files, unindexed int64, err error) {
	ns, one, err := oneNamespace(ctx, db, repository, "")
	if err != nil {
		return nil, 0, 0, err
	}
	if one {
		var sel []dbsqlc.DuplicatesFileSelectionNamespaceRow
		err = concurrently(ctx, db,
			func(ctx context.Context) (err error) {
				sel, err = queries.DuplicatesFileSelectionNamespace(ctx, db, dbsqlc.DuplicatesFileSelectionNamespaceParams{Registry: ns.Registry, Namespace: ns.Namespace})
				return err
			},
			func(ctx context.Context) (err error) {
				unindexed, err = queries.DuplicatesFileUnindexedNamespace(ctx, db, dbsqlc.DuplicatesFileUnindexedNamespaceParams{Registry: ns.Registry, Namespace: ns.Namespace})
				return err
			})
		if err != nil {
			return nil, 0, 0, err
		}
		indexed = make([]string, len(sel))
		for i, l := range sel {
			indexed[i] = l.BlobDigest
			files += int64(l.Files)
		}
		return indexed, files, unindexed, nil
	}
	sel, err := queries.DuplicatesFileSelection(ctx, db, repository)
	if err != nil {
		return nil, 0, 0, err
	}
	for _, l := range sel {
		if l.Files < 0 {
			unindexed++
			continue
		}
		indexed = append(indexed, l.BlobDigest)
		files += int64(l.Files)
	}
	return indexed, files, unindexed, nil
}

// DefaultFilesInProcess is how many regular files a filter's file
// duplicates are counted from in the process at most: each distinct
// content takes about 120 bytes of what the count keeps, and the process
// about twice that (every file of a 100k-image registry, 7.3 M contents,
// took 1.7 GB), so at most about 500 MB; a namespace of that registry
// holds about 500,000 files. Beyond, the server counts them, in bounded
// memory and more slowly.
const DefaultFilesInProcess = 2_000_000

// bytesPerContent is about what countFiles keeps per regular file: its
// content's count, the content's key in the index, its path.
const bytesPerContent = 128

// contentCount is what countFiles keeps of one file content.
type contentCount struct {
	size   int64
	copies int64  // regular files holding it
	layers int64  // layers holding it
	last   int    // the last layer that held it (1-based), to count layers once
	path   string // the least of its paths (byte order, as the kept figures' min)
}

// countFiles works out duplicates --kind file for the repositories
// opts selects: the distinct layer blobs of their live images, each
// counted once as the registry stores it once (those not indexed yet
// apart), their regular files and bytes, the distinct contents and their
// bytes, and the contents whose extra copies take the most (empty files
// aside). A regular file whose content the index does not know is not
// counted, as the fold does not count it. The layers are selected once
// (selectLayers); up to opts.FilesInProcess files they
// are counted here from the layers' listings, one value per layer (a
// namespace's half a million files: a row each from layer_files took
// seconds, their listings are a few megabytes); beyond, on the server.
func countFiles(ctx context.Context, db DB, opts DuplicatesOptions) (*FileDuplicates, error) {
	indexed, files, unindexed, err := selectLayers(ctx, db, opts.Repositories.Regexp())
	if err != nil {
		return nil, fmt.Errorf("querying file duplicates: %w", err)
	}
	out := &FileDuplicates{Kind: "file", Unindexed: unindexed}
	if bound := cmp.Or(opts.FilesInProcess, DefaultFilesInProcess); files > bound {
		var (
			sum dbsqlc.DuplicatesFileRow
			top []dbsqlc.DuplicatesFileTopRow
		)
		err := concurrently(ctx, db,
			func(ctx context.Context) (err error) {
				sum, err = queries.DuplicatesFile(ctx, db, indexed)
				return wrap(err, "querying file duplicates")
			},
			func(ctx context.Context) (err error) {
				top, err = queries.DuplicatesFileTop(ctx, db, dbsqlc.DuplicatesFileTopParams{Blobs: indexed, Limit: int64(opts.Limit)})
				return wrap(err, "querying duplicated files")
			})
		if err != nil {
			return nil, err
		}
		out.Layers, out.Files, out.TotalBytes, out.UniqueFiles, out.UniqueBytes = int64(len(indexed)), sum.Files, sum.TotalBytes, sum.UniqueFiles, sum.UniqueBytes
		return out.withTop(mapRows(top, func(c dbsqlc.DuplicatesFileTopRow) FileContent { return FileContent(c) })), nil
	}

	// What the count keeps, from huge pages where the process allows it.
	hugeheap.Reserve(files * bytesPerContent)
	rows, err := db.Query(ctx, qLayerListingsOf, pgx.QueryExecModeDescribeExec, indexed)
	if err != nil {
		return nil, fmt.Errorf("querying file duplicates: %w", err)
	}
	var (
		digest  string
		entries int32
		raw     pgtype.DriverBytes
		all     int64 // the entries of them all, unused: the files are known
		index   = make(map[[16]byte]int, files/2)
		counts  = make([]contentCount, 0, files/2)
	)
	_, err = pgx.ForEachRow(rows, []any{&digest, &entries, &raw, &all}, func() error {
		out.Layers++
		layer := int(out.Layers)
		err := listing.Files(raw, int(entries), func(path []byte, size int64, content [16]byte, ok bool) {
			if !ok { // no content known: not counted, as the kept figures
				return
			}
			out.Files++
			out.TotalBytes += size
			at, ok := index[content]
			if !ok {
				at = len(counts)
				index[content] = at
				counts = append(counts, contentCount{size: size, path: string(path)})
			}
			c := &counts[at]
			c.copies++
			if c.last != layer {
				c.layers, c.last = c.layers+1, layer
			}
			if string(path) < c.path { // compared without a copy
				c.path = string(path)
			}
		})
		if err != nil {
			return fmt.Errorf("layer %s: %w", digest, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading file duplicates: %w", err)
	}
	out.UniqueFiles = int64(len(counts))
	type ranked struct {
		digest [16]byte
		at     int
	}
	var top []ranked
	for d, at := range index {
		c := &counts[at]
		out.UniqueBytes += c.size
		if c.copies > 1 && c.size > 0 {
			top = append(top, ranked{d, at})
		}
	}
	extra := func(r ranked) int64 { c := &counts[r.at]; return c.size * (c.copies - 1) }
	top = topN(top, opts.Limit, func(x, y ranked) int {
		return cmp.Or(cmp.Compare(extra(y), extra(x)), slices.Compare(x.digest[:], y.digest[:]))
	})
	contents := make([]FileContent, 0, len(top))
	for _, r := range top {
		c := &counts[r.at]
		contents = append(contents, FileContent{Digest: hex.EncodeToString(r.digest[:]), Size: c.size, Copies: c.copies,
			Layers: c.layers, ExtraBytes: extra(r), SamplePath: c.path})
	}
	return out.withTop(contents), nil
}

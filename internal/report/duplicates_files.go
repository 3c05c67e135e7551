package report

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/hugeheap"
	"github.com/layerq/layerq/internal/listing"
	sqlfiles "github.com/layerq/layerq/sql"
)

// selectLayers returns the distinct live layers of the repositories
// matching repository (a regexp) that are indexed, and how many are not,
// from their repositories' blobs: what the server counts past the
// process's bound.
func selectLayers(ctx context.Context, db DB, repository string) (indexed []string, unindexed int64, err error) {
	sel, err := queries.DuplicatesFileSelection(ctx, db, repository)
	if err != nil {
		return nil, 0, err
	}
	for _, l := range sel {
		if !l.Indexed {
			unindexed++
			continue
		}
		indexed = append(indexed, l.BlobDigest)
	}
	return indexed, unindexed, nil
}

// qLayerListingsNamespace, qLayerListingsNamespaceIndexed and
// qLayerListingsSelection read the listings of a filter's layers as they
// come: one namespace's (probed from its blobs, or from the registries'
// indexed layers), and any other selection's.
var (
	qLayerListingsNamespace        = sqlfiles.Statement("layer_listings_namespace")
	qLayerListingsNamespaceIndexed = sqlfiles.Statement("layer_listings_namespace_indexed")
	qLayerListingsSelection        = sqlfiles.Statement("layer_listings_selection")
)

// DefaultFilesInProcess is how many regular files a filter's file
// duplicates are counted from in the process at most: each distinct
// content takes about 120 bytes of what the count keeps (its count, 56
// bytes, its least path and its place in the map), and the process about
// twice that (every file of a 100k-image registry, 7.3 M contents, took
// 1.7 GB when each count held its path as a string), so at most about 500
// MB; a namespace of that registry holds about 500,000 files. Beyond, the
// server counts them, in bounded memory and more slowly.
const DefaultFilesInProcess = 2_000_000

// reserveForCount is what a count is given from huge pages, once it has
// counted reserveAfterFiles files: about what it keeps for a namespace of
// half a million files (each distinct content about 120 bytes of what the
// count keeps, and the map about as much again). A count of fewer files
// keeps too little to gain from them.
const (
	reserveForCount   = 64 << 20
	reserveAfterFiles = 50_000
)

// contentCount is what countFiles keeps of one file content. It holds no
// pointer, so the collector does not scan the counts.
type contentCount struct {
	digest  [16]byte
	size    int64
	copies  int64  // regular files holding it
	layers  int64  // layers holding it
	last    int32  // the last layer that held it (1-based), to count layers once
	pathLen uint32 // the least of its paths (byte order, as the kept figures' min):
	pathAt  int    // paths[pathAt:pathAt+pathLen]
}

// countBlock is how many contents a block of counts holds: the counts grow
// a block at a time, and what is counted is never copied.
const countBlock = 1 << 14

// countFiles works out duplicates --kind file for the repositories
// opts selects: the distinct layer blobs of their live images, each
// counted once as the registry stores it once (those not indexed yet
// apart), their regular files and bytes, the distinct contents and their
// bytes, and the contents whose extra copies take the most (empty files
// aside). A regular file whose content the index does not know is not
// counted, as the fold does not count it. The selected layers' listings
// are read in one statement, one value per layer, and counted here as
// they arrive (a namespace's half a million files: a row each from
// layer_files took seconds, their listings are tens of megabytes); one
// namespace's layers are taken from what the fold keeps per namespace,
// each probed for its listing; or, when the registries hold no more
// indexed layers in all than the namespace has waiting, from the indexed
// side (with none, an empty index).
// Past opts.FilesInProcess files the process stops, and the server
// counts them.
func countFiles(ctx context.Context, db DB, opts DuplicatesOptions) (*FileDuplicates, error) {
	glob := opts.Repositories.Regexp()
	ns, one, err := oneNamespace(ctx, db, glob, "")
	if err != nil {
		return nil, fmt.Errorf("querying file duplicates: %w", err)
	}
	c := fileCount{bound: cmp.Or(opts.FilesInProcess, DefaultFilesInProcess), index: map[[16]byte]int32{}}
	if one {
		var kept dbsqlc.DuplicatesFileNamespaceBacklogRow
		kept, err = queries.DuplicatesFileNamespaceBacklog(ctx, db,
			dbsqlc.DuplicatesFileNamespaceBacklogParams{Registry: ns.Registry, Namespace: ns.Namespace})
		if err != nil {
			return nil, fmt.Errorf("querying file duplicates: %w", err)
		}
		if kept.IndexedLayers <= kept.Unindexed { // from the fewer indexed layers (none: nothing read)
			c.out.Unindexed = kept.Unindexed
			err = c.read(ctx, db, qLayerListingsNamespaceIndexed, ns.Registry, ns.Namespace)
		} else {
			err = c.read(ctx, db, qLayerListingsNamespace, ns.Registry, ns.Namespace)
		}
	} else {
		err = c.read(ctx, db, qLayerListingsSelection, glob)
	}
	if errors.Is(err, errTooManyFiles) {
		return countFilesOnServer(ctx, db, glob, opts.Limit)
	}
	if err != nil {
		return nil, err
	}
	return c.result(opts.Limit), nil
}

// errTooManyFiles stops a count in the process at its bound.
var errTooManyFiles = errors.New("more files than the process counts")

// fileCount is what countFiles keeps as the listings arrive.
type fileCount struct {
	bound  int64 // the most files it counts
	out    FileDuplicates
	index  map[[16]byte]int32 // a content's place in counts
	counts [][]contentCount   // blocks of countBlock contents
	paths  []byte             // the contents' least paths
}

// content is the count of a content's place i.
func (c *fileCount) content(i int32) *contentCount {
	return &c.counts[i/countBlock][i%countBlock]
}

// add counts one regular file.
func (c *fileCount) add(layer int32, path []byte, size int64, digest [16]byte) {
	c.out.Files++
	c.out.TotalBytes += size
	at, ok := c.index[digest]
	if !ok {
		at = int32(len(c.index))
		if at%countBlock == 0 {
			c.counts = append(c.counts, make([]contentCount, 0, countBlock))
		}
		c.index[digest] = at
		b := &c.counts[len(c.counts)-1]
		*b = append(*b, contentCount{digest: digest, size: size, copies: 1, layers: 1, last: layer,
			pathLen: uint32(len(path)), pathAt: len(c.paths)})
		c.paths = append(c.paths, path...)
		return
	}
	cc := c.content(at)
	cc.copies++
	if cc.last != layer {
		cc.layers, cc.last = cc.layers+1, layer
	}
	if string(path) < string(c.path(cc)) { // compared without a copy
		cc.pathLen, cc.pathAt = uint32(len(path)), len(c.paths)
		c.paths = append(c.paths, path...)
	}
}

// path is the least path of a content counted.
func (c *fileCount) path(cc *contentCount) []byte {
	return c.paths[cc.pathAt : cc.pathAt+int(cc.pathLen)]
}

// read counts the listings query returns (with args): rows of a blob's
// digest, whether it is indexed, and its listing. errTooManyFiles when
// they hold more regular files than c.bound; the server then stops
// sending the rest when db is a pool (the query's connection is closed,
// and the pool opens another for what follows), else the rest is read
// and dropped.
func (c *fileCount) read(ctx context.Context, db DB, query string, args ...any) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// In binary, whatever the connection's mode (DescribeExec: one more
	// round trip to learn the result's types), and each listing read from
	// the driver's buffer.
	rows, err := db.Query(ctx, query, append([]any{pgx.QueryExecModeDescribeExec}, args...)...)
	if err != nil {
		return fmt.Errorf("querying file duplicates: %w", err)
	}
	var (
		digest  string
		indexed bool
		raw     pgtype.DriverBytes
		reserve = true
	)
	_, err = pgx.ForEachRow(rows, []any{&digest, &indexed, &raw}, func() error {
		if !indexed {
			c.out.Unindexed++
			return nil
		}
		if reserve && c.out.Files >= reserveAfterFiles {
			// What the count will keep, from huge pages where the
			// process allows it: once it is large enough to gain.
			hugeheap.Reserve(reserveForCount)
			reserve = false
		}
		c.out.Layers++
		layer := int32(c.out.Layers)
		err := listing.AllFiles(raw, func(path []byte, size int64, content [16]byte, ok bool) {
			if ok { // no content known: not counted, as the kept figures
				c.add(layer, path, size, content)
			}
		})
		if err != nil {
			return fmt.Errorf("layer %s: %w", digest, err)
		}
		if c.out.Files > c.bound {
			if _, ok := db.(*pgxpool.Pool); ok {
				cancel()
			}
			return errTooManyFiles
		}
		return nil
	})
	if errors.Is(err, errTooManyFiles) {
		return err
	}
	if err != nil {
		return fmt.Errorf("reading file duplicates: %w", err)
	}
	return nil
}

// result is the report of what c counted, its top limit contents.
func (c *fileCount) result(limit int) *FileDuplicates {
	out := c.out
	out.Kind = "file"
	out.UniqueFiles = int64(len(c.index))
	var top []*contentCount
	for _, b := range c.counts {
		for i := range b {
			cc := &b[i]
			out.UniqueBytes += cc.size
			if cc.copies > 1 && cc.size > 0 {
				top = append(top, cc)
			}
		}
	}
	extra := func(cc *contentCount) int64 { return cc.size * (cc.copies - 1) }
	top = topN(top, limit, func(x, y *contentCount) int {
		return cmp.Or(cmp.Compare(extra(y), extra(x)), slices.Compare(x.digest[:], y.digest[:]))
	})
	contents := make([]FileContent, 0, len(top))
	for _, cc := range top {
		contents = append(contents, FileContent{Digest: hex.EncodeToString(cc.digest[:]), Size: cc.size, Copies: cc.copies,
			Layers: cc.layers, ExtraBytes: extra(cc), SamplePath: string(c.path(cc))})
	}
	return out.withTop(contents)
}

// countFilesOnServer is countFiles for more files than the process
// counts: the selected layers' files counted by the server, in bounded
// memory and more slowly.
func countFilesOnServer(ctx context.Context, db DB, glob string, limit int) (*FileDuplicates, error) {
	indexed, unindexed, err := selectLayers(ctx, db, glob)
	if err != nil {
		return nil, fmt.Errorf("querying file duplicates: %w", err)
	}
	var (
		sum dbsqlc.DuplicatesFileRow
		top []dbsqlc.DuplicatesFileTopRow
	)
	err = concurrently(ctx, db,
		func(ctx context.Context) (err error) {
			sum, err = queries.DuplicatesFile(ctx, db, indexed)
			return wrap(err, "querying file duplicates")
		},
		func(ctx context.Context) (err error) {
			top, err = queries.DuplicatesFileTop(ctx, db, dbsqlc.DuplicatesFileTopParams{Blobs: indexed, Limit: int64(limit)})
			return wrap(err, "querying duplicated files")
		})
	if err != nil {
		return nil, err
	}
	out := &FileDuplicates{Kind: "file", Layers: int64(len(indexed)), Unindexed: unindexed, Files: sum.Files, TotalBytes: sum.TotalBytes,
		UniqueFiles: sum.UniqueFiles, UniqueBytes: sum.UniqueBytes}
	return out.withTop(mapRows(top, func(c dbsqlc.DuplicatesFileTopRow) FileContent { return FileContent(c) })), nil
}

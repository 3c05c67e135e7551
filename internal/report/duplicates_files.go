package report

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/layerq/layerq/internal/listing"
	sqlfiles "github.com/layerq/layerq/sql"
)

// qDuplicateFileListings reads the selected layers' listings.
var qDuplicateFileListings = sqlfiles.Statement("duplicates_file_listings")

// contentCount is what countFiles keeps of one file content.
type contentCount struct {
	size   int64
	copies int64  // regular files holding it
	layers int64  // layers holding it
	last   int    // the last layer that held it (1-based), to count layers once
	path   string // the least of its paths (byte order, as the kept figures' min)
}

// countFiles works out duplicates --kind file for the repositories
// matching glob's regexp from their layers' listings, one value per
// layer: the distinct layer blobs of their live images, each counted
// once as the registry stores it once (those not indexed yet apart), their
// regular files and bytes, the distinct contents and their bytes, and the
// limit contents whose extra copies take the most (empty files aside). A
// namespace's layers hold hundreds of thousands of entries: a row each
// from layer_files took seconds, their listings are a few megabytes.
func countFiles(ctx context.Context, db DB, repository string, limit int) (*FileDuplicates, error) {
	rows, err := db.Query(ctx, qDuplicateFileListings, pgx.QueryExecModeDescribeExec, repository)
	if err != nil {
		return nil, fmt.Errorf("querying file duplicates: %w", err)
	}
	out := &FileDuplicates{Kind: "file", DedupRatio: 1, Top: []FileContent{}}
	var (
		digest  string
		entries int32
		raw     pgtype.DriverBytes
		index   = map[[16]byte]int{}
		counts  []contentCount
	)
	_, err = pgx.ForEachRow(rows, []any{&digest, &entries, &raw}, func() error {
		if entries < 0 {
			out.Unindexed++
			return nil
		}
		out.Layers++
		layer := int(out.Layers)
		err := listing.Files(raw, int(entries), func(path []byte, size int64, content [16]byte) {
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
		return wrap(err, "layer "+digest)
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
	if out.TotalBytes > 0 {
		out.DedupRatio = float64(out.UniqueBytes) / float64(out.TotalBytes)
	}
	extra := func(r ranked) int64 { c := &counts[r.at]; return c.size * (c.copies - 1) }
	slices.SortFunc(top, func(x, y ranked) int {
		return cmp.Or(cmp.Compare(extra(y), extra(x)), slices.Compare(x.digest[:], y.digest[:]))
	})
	for _, r := range top[:min(limit, len(top))] {
		c := &counts[r.at]
		out.Top = append(out.Top, FileContent{Digest: hex.EncodeToString(r.digest[:]), Size: c.size, Copies: c.copies,
			Layers: c.layers, ExtraBytes: extra(r), SamplePath: c.path})
	}
	return out, nil
}

package synth

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
)

// BigPair is the repository AddBigPair writes, and its two tags.
const (
	BigPairRepository = "big/pair"
	BigPairA          = BigPairRepository + ":a"
	BigPairB          = BigPairRepository + ":b"
)

// The big pair's shape: layers of bigFiles files of bigFileSize bytes
// each, bigLayers of them per image (about 1 GB of files an image), the
// bottom bigShared shared.
const (
	bigLayers   = 10
	bigShared   = 6
	bigFiles    = 4000
	bigFileSize = 25_000
)

// bigEntries is the file index of layer j of image side ("a" or "b"): a
// directory of bigFiles files; b's own layers rewrite a's files at the same
// paths (a tenth of them with other content), add as many new ones, and
// remove one in eight of a's layer at the same position (whiteouts).
func bigEntries(side string, j int) []fileindex.Entry {
	f := &files{dirs: map[string]bool{}}
	dir := fmt.Sprintf("opt/big/l%02d", j)
	f.dir("opt")
	f.dir("opt/big")
	f.dir(dir)
	for i := range bigFiles {
		content := fmt.Sprint("big ", j, " ", i)
		if side == "b" && j >= bigShared && i%10 == 0 {
			content += " b"
		}
		f.file(fmt.Sprintf("%s/f%05d.bin", dir, i), content, bigFileSize, 0)
	}
	if side == "b" && j >= bigShared {
		for i := range bigFiles / 8 {
			f.whiteout(fmt.Sprintf("opt/big/l%02d/f%05d.bin", j-bigShared, i*8))
		}
		for i := range bigFiles {
			f.file(fmt.Sprintf("%s/new%05d.bin", dir, i), fmt.Sprint("big new ", j, " ", i), bigFileSize, 0)
		}
	}
	return f.entries
}

// AddBigPair adds to a synthetic graph two images of about 1 GB of files
// each in big/pair, tagged a and b, with their file indexes: b shares the
// bottom layers of a and changes the rest, for diffs of large images. It
// folds the aggregates after.
func AddBigPair(ctx context.Context, pool *pgxpool.Pool) error {
	const registry = "synth.test"
	at := time.Now().UTC().Add(-time.Hour)
	type img struct {
		side, digest string
		layers       []layer
	}
	var imgs []img
	for _, side := range []string{"a", "b"} {
		im := img{side: side, digest: digest("big pair ", side)}
		for j := range bigLayers {
			key := fmt.Sprint("big a ", j)
			if side == "b" && j >= bigShared {
				key = fmt.Sprint("big b ", j)
			}
			var parent *layer
			if j > 0 {
				parent = &im.layers[j-1]
			}
			diff := digest("diff ", key)
			chain := diff
			if parent != nil {
				chain = digest(parent.chain, " ", diff)
			}
			im.layers = append(im.layers, layer{blob: digest("blob ", key), diffID: diff, chain: chain, key: key,
				createdBy: fmt.Sprintf("COPY big/l%02d /opt/big/l%02d # buildkit", j, j), size: bigFiles * bigFileSize / 3})
		}
		imgs = append(imgs, im)
	}
	store := graph.New(pool)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var repo int64
		if err := tx.QueryRow(ctx, `INSERT INTO repositories (registry, name) VALUES ($1, $2) RETURNING id`, registry, BigPairRepository).Scan(&repo); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, im := range imgs {
			var total int64
			for _, l := range im.layers {
				total += l.size
				if !seen[l.blob] {
					seen[l.blob] = true
					if _, err := tx.Exec(ctx, `INSERT INTO blobs (digest, size, media_type, diff_id) VALUES ($1, $2, $3, $4)`, l.blob, l.size, l.mediaType(), l.diffID); err != nil {
						return err
					}
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO manifests (digest, media_type, size, kind, config_digest, config_media_type, config_size, os, architecture, created, layer_count, layers_size)
				VALUES ($1, 'application/vnd.oci.image.manifest.v1+json', 1200, 'image', $2, 'application/vnd.oci.image.config.v1+json', 3000, 'linux', 'amd64', $3, $4, $5)`,
				im.digest, digest("big pair config ", im.side), at, len(im.layers), total); err != nil {
				return err
			}
			for p, l := range im.layers {
				if _, err := tx.Exec(ctx, `INSERT INTO manifest_layers (manifest_digest, position, blob_digest, media_type, chain_id, created_by, created) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
					im.digest, p, l.blob, l.mediaType(), l.chain, l.createdBy, at); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO repository_manifests (repository_id, manifest_digest, first_seen, observed_at) VALUES ($1, $2, $3, $3)`, repo, im.digest, at); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4)`, repo, im.side, im.digest, at); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tag_events (repository_id, tag, action, manifest_digest, occurred_at, source) VALUES ($1, $2, 'push', $3, $4, 'synth')`, repo, im.side, im.digest, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the big pair: %w", err)
	}
	var batch []graph.LayerIndex
	seen := map[string]bool{}
	for _, im := range imgs {
		for j, l := range im.layers {
			if seen[l.blob] {
				continue
			}
			seen[l.blob] = true
			side := "a"
			if l.key != fmt.Sprint("big a ", j) {
				side = "b"
			}
			es := bigEntries(side, j)
			batch = append(batch, graph.LayerIndex{BlobDigest: l.blob, DiffID: l.diffID, CompressedSize: l.size,
				Index: &fileindex.Index{Entries: es, UncompressedSize: tarSize(es), Compression: "gzip"}})
		}
	}
	if _, err := store.SaveLayerIndexes(ctx, batch); err != nil {
		return fmt.Errorf("the big pair's layer indexes: %w", err)
	}
	if _, err := store.ApplyLayerKeys(ctx); err != nil {
		return fmt.Errorf("the big pair's near-duplicate keys: %w", err)
	}
	_, err = store.ApplyAggregates(ctx)
	return err
}

package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qIngestRepositories        = sqlfiles.Query("ingest_repositories")
	qIngestBlobs               = sqlfiles.Query("ingest_blobs")
	qIngestManifests           = sqlfiles.Query("ingest_manifests")
	qIngestRepositoryManifests = sqlfiles.Query("ingest_repository_manifests")
	qIngestTags                = sqlfiles.Query("ingest_tags")
	qLockTags                  = sqlfiles.Query("lock_tags")
)

// Ingest writes a batch of observations in one transaction: one set-based
// statement per table (the manifests statement also writes the layer lists,
// index entries and config histories of the manifests it inserts), sent in a
// single round trip.
func (s *Store) Ingest(ctx context.Context, obs []Observation) error {
	if len(obs) == 0 {
		return nil
	}
	b := buildBatch(obs)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b.queue())
		for _, what := range b.names {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return batchErr(what, err)
			}
		}
		return br.Close()
	})
}

// ingestBatch holds one column slice per table column, deduplicated and sorted.
type ingestBatch struct {
	names []string
	args  [][]any
	sqls  []string
}

func (b *ingestBatch) add(name, sql string, args ...any) {
	b.names = append(b.names, name)
	b.sqls = append(b.sqls, sql)
	b.args = append(b.args, args)
}

func (b *ingestBatch) queue() *pgx.Batch {
	pb := &pgx.Batch{}
	for i := range b.sqls {
		pb.Queue(b.sqls[i], b.args[i]...)
	}
	return pb
}

type repoKey struct{ registry, name string }

type tagRow struct {
	repoKey
	tag, digest, source, eventID string
	at                           time.Time
}

func buildBatch(obs []Observation) *ingestBatch {
	repos := map[repoKey]bool{}
	blobs := map[string]Layer{}
	manifests := map[string]Manifest{}
	type rm struct {
		repoKey
		digest string
	}
	members := map[rm]time.Time{} // latest observation
	tags := map[[3]string]tagRow{}
	for _, o := range obs {
		rk := repoKey{o.Registry, o.Repository}
		repos[rk] = true
		for _, m := range o.Manifests {
			manifests[m.Digest] = m
			if k := (rm{rk, m.Digest}); o.ObservedAt.After(members[k]) {
				members[k] = o.ObservedAt
			}
			for _, l := range m.Layers {
				if prev, ok := blobs[l.Digest]; !ok || prev.DiffID == "" {
					blobs[l.Digest] = l
				}
			}
		}
		if o.Tag != "" {
			k := [3]string{o.Registry, o.Repository, o.Tag}
			if prev, ok := tags[k]; !ok || !o.ObservedAt.Before(prev.at) {
				tags[k] = tagRow{rk, o.Tag, o.Root().Digest, o.Source, o.EventID, o.ObservedAt}
			}
		}
	}

	b := &ingestBatch{}

	repoKeys := sortedKeys(repos, func(a, b repoKey) int {
		return cmp.Or(cmp.Compare(a.registry, b.registry), cmp.Compare(a.name, b.name))
	})
	var regs, names []string
	for _, k := range repoKeys {
		regs, names = append(regs, k.registry), append(names, k.name)
	}
	b.add("repositories", qIngestRepositories, regs, names)

	var bd, bm, bdiff []string
	var bs []int64
	for _, d := range sortedKeys(blobs, cmp.Compare[string]) {
		l := blobs[d]
		bd, bs, bm, bdiff = append(bd, d), append(bs, l.Size), append(bm, l.MediaType), append(bdiff, l.DiffID)
	}
	b.add("blobs", qIngestBlobs, bd, bs, bm, nullStrings(bdiff))

	var mc manifestColumns
	var hc historyColumns
	var lc layerColumns
	var cc childColumns
	configs := map[string]bool{}
	for _, d := range sortedKeys(manifests, cmp.Compare[string]) {
		m := manifests[d]
		mc.add(m)
		if m.ConfigDigest != "" && len(m.History) > 0 && !configs[m.ConfigDigest] {
			configs[m.ConfigDigest] = true
			hc.add(m.ConfigDigest, m.History)
		}
		lc.add(m)
		cc.add(m)
	}
	// History rows sort by config digest, which need not follow manifest order.
	hc.sort()
	// One statement writes the manifests and, for those it inserts, their
	// layer lists, index entries and config histories.
	margs := append(mc.args(), lc.args()...)
	margs = append(margs, cc.args()...)
	margs = append(margs, hc.args()...)
	b.add("manifests", qIngestManifests, margs...)

	var mr, mn, md []string
	var mat []time.Time
	for _, k := range sortedKeys(members, func(a, b rm) int {
		return cmp.Or(cmp.Compare(a.registry, b.registry), cmp.Compare(a.name, b.name), cmp.Compare(a.digest, b.digest))
	}) {
		mr, mn, md, mat = append(mr, k.registry), append(mn, k.name), append(md, k.digest), append(mat, members[k])
	}
	b.add("repository manifests", qIngestRepositoryManifests, mr, mn, md, mat)

	var tr, tn, tt, td, ts, te []string
	var tat []time.Time
	for _, k := range sortedKeys(tags, func(a, b [3]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]))
	}) {
		t := tags[k]
		tr, tn, tt, td = append(tr, t.registry), append(tn, t.name), append(tt, t.tag), append(td, t.digest)
		ts, te, tat = append(ts, t.source), append(te, t.eventID), append(tat, t.at)
	}
	b.add("tag locks", qLockTags, tr, tn, tt)
	b.add("tags", qIngestTags, tr, tn, tt, td, tat, ts, nullStrings(te))
	return b
}

type manifestColumns struct {
	digest, mediaType, kind, configDigest, configMediaType []string
	os, arch, variant, artifactType, subject               []string
	annotations, labels, baseName, baseDigest, mismatch    []string
	size, configSize, layersSize                           []int64
	created                                                []*time.Time
	layerCount                                             []int32
}

func (c *manifestColumns) add(m Manifest) {
	var layersSize int64
	for _, l := range m.Layers {
		layersSize += l.Size
	}
	c.digest = append(c.digest, m.Digest)
	c.mediaType = append(c.mediaType, m.MediaType)
	c.size = append(c.size, m.Size)
	c.kind = append(c.kind, string(m.Kind))
	c.configDigest = append(c.configDigest, m.ConfigDigest)
	c.configMediaType = append(c.configMediaType, m.ConfigMediaType)
	c.configSize = append(c.configSize, m.ConfigSize)
	c.os = append(c.os, m.Platform.OS)
	c.arch = append(c.arch, m.Platform.Architecture)
	c.variant = append(c.variant, m.Platform.Variant)
	c.created = append(c.created, m.Created)
	c.artifactType = append(c.artifactType, m.ArtifactType)
	c.subject = append(c.subject, m.SubjectDigest)
	c.annotations = append(c.annotations, jsonObject(m.Annotations))
	c.labels = append(c.labels, jsonObject(m.Labels))
	c.baseName = append(c.baseName, m.BaseName)
	c.baseDigest = append(c.baseDigest, m.BaseDigest)
	c.mismatch = append(c.mismatch, m.HistoryMismatch)
	c.layerCount = append(c.layerCount, int32(len(m.Layers)))
	c.layersSize = append(c.layersSize, layersSize)
}

func (c *manifestColumns) args() []any {
	return []any{c.digest, c.mediaType, c.size, c.kind, nullStrings(c.configDigest), nullStrings(c.configMediaType), nullInts(c.configSize),
		nullStrings(c.os), nullStrings(c.arch), nullStrings(c.variant), c.created, nullStrings(c.artifactType), nullStrings(c.subject),
		c.annotations, c.labels, nullStrings(c.baseName), nullStrings(c.baseDigest), nullStrings(c.mismatch),
		c.layerCount, c.layersSize}
}

type historyColumns struct {
	config, createdBy, author, comment []string
	position                           []int32
	created                            []*time.Time
	empty                              []bool
}

func (c *historyColumns) add(config string, h []HistoryEntry) {
	for i, e := range h {
		c.config = append(c.config, config)
		c.position = append(c.position, int32(i))
		c.created = append(c.created, e.Created)
		c.createdBy = append(c.createdBy, e.CreatedBy)
		c.author = append(c.author, e.Author)
		c.comment = append(c.comment, e.Comment)
		c.empty = append(c.empty, e.EmptyLayer)
	}
}

// sort orders the rows by (config digest, position), the key of the table.
func (c *historyColumns) sort() {
	idx := make([]int, len(c.config))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(c.config[a], c.config[b]), cmp.Compare(c.position[a], c.position[b]))
	})
	c.config = permute(c.config, idx)
	c.position = permute(c.position, idx)
	c.created = permute(c.created, idx)
	c.createdBy = permute(c.createdBy, idx)
	c.author = permute(c.author, idx)
	c.comment = permute(c.comment, idx)
	c.empty = permute(c.empty, idx)
}

func (c *historyColumns) args() []any {
	return []any{c.config, c.position, c.created, nullStrings(c.createdBy), nullStrings(c.author), nullStrings(c.comment), c.empty}
}

type layerColumns struct {
	manifest, blob, mediaType, chain, createdBy, comment []string
	position                                             []int32
	history                                              []*int32
	created                                              []*time.Time
}

func (c *layerColumns) add(m Manifest) {
	for i, l := range m.Layers {
		c.manifest = append(c.manifest, m.Digest)
		c.position = append(c.position, int32(i))
		c.blob = append(c.blob, l.Digest)
		c.mediaType = append(c.mediaType, l.MediaType)
		c.chain = append(c.chain, l.ChainID)
		var h *int32
		if l.HistoryIndex >= 0 {
			v := int32(l.HistoryIndex)
			h = &v
		}
		c.history = append(c.history, h)
		c.createdBy = append(c.createdBy, l.CreatedBy)
		c.created = append(c.created, l.Created)
		c.comment = append(c.comment, l.Comment)
	}
}

func (c *layerColumns) args() []any {
	return []any{c.manifest, c.position, c.blob, c.mediaType, nullStrings(c.chain), c.history, nullStrings(c.createdBy), c.created, nullStrings(c.comment)}
}

type childColumns struct {
	index, child, mediaType, os, arch, variant, osVersion []string
	position                                              []int32
	size                                                  []int64
}

func (c *childColumns) add(m Manifest) {
	for i, ch := range m.Children {
		c.index = append(c.index, m.Digest)
		c.position = append(c.position, int32(i))
		c.child = append(c.child, ch.Digest)
		c.mediaType = append(c.mediaType, ch.MediaType)
		c.size = append(c.size, ch.Size)
		c.os = append(c.os, ch.Platform.OS)
		c.arch = append(c.arch, ch.Platform.Architecture)
		c.variant = append(c.variant, ch.Platform.Variant)
		c.osVersion = append(c.osVersion, ch.Platform.OSVersion)
	}
}

func (c *childColumns) args() []any {
	return []any{c.index, c.position, c.child, c.mediaType, c.size,
		nullStrings(c.os), nullStrings(c.arch), nullStrings(c.variant), nullStrings(c.osVersion)}
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

func permute[T any](s []T, idx []int) []T {
	out := make([]T, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

// nullStrings turns "" into SQL NULL.
func nullStrings(s []string) []*string {
	out := make([]*string, len(s))
	for i := range s {
		if s[i] != "" {
			out[i] = &s[i]
		}
	}
	return out
}

// nullInts turns 0 into SQL NULL.
func nullInts(s []int64) []*int64 {
	out := make([]*int64, len(s))
	for i := range s {
		if s[i] != 0 {
			out[i] = &s[i]
		}
	}
	return out
}

func jsonObject(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

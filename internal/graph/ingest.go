package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/layerq/layerq/internal/image"
	sqlfiles "github.com/layerq/layerq/sql"
)

var (
	qIngestRepositories        = sqlfiles.Statement("ingest_repositories")
	qIngestBlobs               = sqlfiles.Statement("ingest_blobs")
	qIngestManifests           = sqlfiles.Statement("ingest_manifests")
	qIngestRepositoryManifests = sqlfiles.Statement("ingest_repository_manifests")
	qIngestTags                = sqlfiles.Statement("ingest_tags")
)

// Ingest writes a batch of observations: one set-based statement per table
// (the manifests statement also writes the layer lists, index entries and
// configs of the manifests it inserts; the tags statement also their
// events), each group sent in a single round trip.
//
// Repositories and blobs are written and committed first, on their own:
// they are facts that never change (a blob's diff_id is only ever filled
// in), and concurrent batches share them (a repository split between two
// batches, base image layers). Inserted in the batch's own transaction, the
// second writer of a new repository or blob would wait for the first
// writer's whole batch to commit. Everything else, which says where
// manifests live, is written in one transaction.
func (s *Store) Ingest(ctx context.Context, obs []image.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	b := buildBatch(obs)
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return b.shared.send(ctx, tx) }); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error { return b.main.send(ctx, tx) })
}

// ingestBatch is a batch's statements: those written first, on their own,
// and those of the main transaction.
type ingestBatch struct {
	shared, main statements
}

// statements holds statements with their arguments: one column slice per
// table column, deduplicated and sorted.
type statements struct {
	names []string
	args  [][]any
	sqls  []string
}

func (b *statements) add(name, sql string, args ...any) {
	b.names = append(b.names, name)
	b.sqls = append(b.sqls, sql)
	b.args = append(b.args, args)
}

// send runs the statements in tx, in one round trip.
func (b *statements) send(ctx context.Context, tx pgx.Tx) error {
	pb := &pgx.Batch{}
	for i := range b.sqls {
		pb.Queue(b.sqls[i], b.args[i]...)
	}
	br := tx.SendBatch(ctx, pb)
	for _, what := range b.names {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return batchErr(what, err)
		}
	}
	return br.Close()
}

type repoKey struct{ registry, name string }

type tagRow struct {
	repoKey
	tag, digest, source, eventID string
	at                           time.Time
}

func buildBatch(obs []image.Observation) *ingestBatch {
	repos := map[repoKey]bool{}
	blobs := map[string]image.Layer{}
	manifests := map[string]image.Manifest{}
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
				// One blob listed by several manifests of the batch: its
				// diff_id where one names it, and the least media type, as
				// ingest_blobs.sql keeps across batches.
				if prev, ok := blobs[l.Digest]; ok {
					if l.DiffID == "" {
						l.DiffID = prev.DiffID
					}
					l.MediaType = min(l.MediaType, prev.MediaType)
				}
				blobs[l.Digest] = l
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
	b.shared.add("repositories", qIngestRepositories, regs, names)

	var bd, bm, bdiff []string
	var bs []int64
	for _, d := range sortedKeys(blobs, cmp.Compare[string]) {
		l := blobs[d]
		bd, bs, bm, bdiff = append(bd, d), append(bs, l.Size), append(bm, l.MediaType), append(bdiff, l.DiffID)
	}
	b.shared.add("blobs", qIngestBlobs, bd, bs, bm, bdiff)

	var mc manifestColumns
	var lc layerColumns
	var cc childColumns
	configs := map[string][]image.HistoryEntry{}
	for _, d := range sortedKeys(manifests, cmp.Compare[string]) {
		m := manifests[d]
		mc.add(m)
		if m.ConfigDigest != "" && len(m.History) > 0 {
			if _, ok := configs[m.ConfigDigest]; !ok {
				configs[m.ConfigDigest] = m.History
			}
		}
		lc.add(m)
		cc.add(m)
	}
	// Configs sort by digest, which need not follow manifest order.
	var cd, ch []string
	for _, d := range sortedKeys(configs, cmp.Compare[string]) {
		cd, ch = append(cd, d), append(ch, historyJSON(configs[d]))
	}
	// One statement writes the manifests and, for those it inserts, their
	// layer lists, index entries and configs.
	margs := append(mc.args(), lc.args()...)
	margs = append(margs, cc.args()...)
	margs = append(margs, cd, ch)
	b.main.add("manifests", qIngestManifests, margs...)

	var mr, mn, md []string
	var mat []time.Time
	for _, k := range sortedKeys(members, func(a, b rm) int {
		return cmp.Or(cmp.Compare(a.registry, b.registry), cmp.Compare(a.name, b.name), cmp.Compare(a.digest, b.digest))
	}) {
		mr, mn, md, mat = append(mr, k.registry), append(mn, k.name), append(md, k.digest), append(mat, members[k])
	}
	b.main.add("repository manifests", qIngestRepositoryManifests, mr, mn, md, mat)

	// One tags statement per (source, event): a scan's batch is one.
	type tagColumns struct {
		source                      string
		eventID                     *string
		registry, name, tag, digest []string
		at                          []time.Time
	}
	var groups []*tagColumns
	byEvent := map[[2]string]*tagColumns{}
	for _, k := range sortedKeys(tags, func(a, b [3]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]))
	}) {
		t := tags[k]
		g := byEvent[[2]string{t.source, t.eventID}]
		if g == nil {
			g = &tagColumns{source: t.source}
			if t.eventID != "" {
				g.eventID = &t.eventID
			}
			byEvent[[2]string{t.source, t.eventID}] = g
			groups = append(groups, g)
		}
		g.registry, g.name, g.tag, g.digest = append(g.registry, t.registry), append(g.name, t.name), append(g.tag, t.tag), append(g.digest, t.digest)
		g.at = append(g.at, t.at)
	}
	for _, g := range groups {
		b.main.add("tags", qIngestTags, g.registry, g.name, g.tag, g.digest, g.at, g.source, g.eventID)
	}
	return b
}

type manifestColumns struct {
	digest, mediaType, kind, configDigest, configMediaType []string
	os, arch, variant, artifactType, subject               []string
	annotations, labels, baseName, baseDigest, mismatch    []string
	size, configSize, layersSize                           []int64
	created                                                []time.Time
	layerCount                                             []int32
}

func (c *manifestColumns) add(m image.Manifest) {
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
	c.created = append(c.created, orZero(m.Created))
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
	return []any{c.digest, c.mediaType, c.size, c.kind, c.configDigest, c.configMediaType, c.configSize,
		c.os, c.arch, c.variant, c.created, c.artifactType, c.subject,
		c.annotations, c.labels, c.baseName, c.baseDigest, c.mismatch,
		c.layerCount, c.layersSize}
}

// historyJSON is a config history as the JSON array configs.history holds:
// per entry created (RFC 3339, UTC, to the microsecond Postgres keeps),
// created_by, author, comment and empty_layer, each left out when empty.
func historyJSON(h []image.HistoryEntry) string {
	n := 2
	for _, e := range h {
		n += 96 + len(e.CreatedBy) + len(e.Author) + len(e.Comment)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range h {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		start := len(b)
		if e.Created != nil {
			b = append(b, `"created":"`...)
			b = e.Created.UTC().Truncate(time.Microsecond).AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
		b = appendJSONField(b, start, "created_by", e.CreatedBy)
		b = appendJSONField(b, start, "author", e.Author)
		b = appendJSONField(b, start, "comment", e.Comment)
		if e.EmptyLayer {
			if len(b) > start {
				b = append(b, ',')
			}
			b = append(b, `"empty_layer":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	return string(b)
}

// appendJSONField appends "key":"value" to the object that starts at
// start in b, unless value is empty.
func appendJSONField(b []byte, start int, key, value string) []byte {
	if value == "" {
		return b
	}
	if len(b) > start {
		b = append(b, ',')
	}
	b = append(append(append(b, '"'), key...), '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString appends s as a JSON string. A NUL is copied as it is, so
// that Postgres refuses the batch as a data error, as it did when history
// entries were text columns (an escaped \u0000 would be stored, in a json
// column, and only fail when the history is read). Postgres checks the
// encoding itself.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 0x20 || c == 0) && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

type layerColumns struct {
	manifest, blob, mediaType, chain, createdBy, comment []string
	position, history                                    []int32
	created                                              []time.Time
}

func (c *layerColumns) add(m image.Manifest) {
	for i, l := range m.Layers {
		c.manifest = append(c.manifest, m.Digest)
		c.position = append(c.position, int32(i))
		c.blob = append(c.blob, l.Digest)
		c.mediaType = append(c.mediaType, l.MediaType)
		c.chain = append(c.chain, l.ChainID)
		c.history = append(c.history, int32(max(l.HistoryIndex, -1)))
		c.createdBy = append(c.createdBy, l.CreatedBy)
		c.created = append(c.created, orZero(l.Created))
		c.comment = append(c.comment, l.Comment)
	}
}

func (c *layerColumns) args() []any {
	return []any{c.manifest, c.position, c.blob, c.mediaType, c.chain, c.history, c.createdBy, c.created, c.comment}
}

type childColumns struct {
	index, child, mediaType, os, arch, variant, osVersion []string
	position                                              []int32
	size                                                  []int64
}

func (c *childColumns) add(m image.Manifest) {
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
	return []any{c.index, c.position, c.child, c.mediaType, c.size, c.os, c.arch, c.variant, c.osVersion}
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

// orZero is *t, or the zero time (0001-01-01 UTC), which the ingest
// statements turn into NULL, for nil. Plain slices encode much faster than
// slices of pointers.
func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func jsonObject(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

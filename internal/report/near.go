package report

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/layerq/layerq/internal/dbsqlc"
)

// nearKeysFloor is the least --min-similarity the kept prefixes serve
// (layer_prefix_keys holds each layer's prefix at 0.8, migration 00014);
// below it the report compares every pair of layers that share a file.
const nearKeysFloor = 0.8

// nearWalkPage is how many layers the walk takes at a time.
const nearWalkPage = 256

// nearPair is a pair of layers compared exactly; a sorts before b.
type nearPair struct {
	a, b           string
	shared         int64 // bytes of the files both hold
	files          int64 // how many files both hold
	bytesA, bytesB int64
	similarity     float64
}

// before reports whether p ranks before q in the report: more shared
// bytes, then more similar, then by digests.
func (p nearPair) before(q nearPair) bool {
	if p.shared != q.shared {
		return p.shared > q.shared
	}
	if p.similarity != q.similarity {
		return p.similarity > q.similarity
	}
	if p.a != q.a {
		return p.a < q.a
	}
	return p.b < q.b
}

// nearTop holds the best pairs found so far, the worst on top.
type nearTop []nearPair

func (h nearTop) Len() int           { return len(h) }
func (h nearTop) Less(i, j int) bool { return h[j].before(h[i]) }
func (h nearTop) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nearTop) Push(x any)        { *h = append(*h, x.(nearPair)) }
func (h *nearTop) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// nearLayerPairs finds the top limit pairs of live indexed layers at least
// minSimilarity (>= nearKeysFloor) similar, by prefix filtering: it walks
// the layers from the largest file bytes down, takes the candidates each
// one's prefix gives among the layers after it (the smaller), compares
// each pair exactly from the kept keys, and stops once the next layer is
// smaller than the shared bytes of the last pair of a full page: no pair
// left can share more. With a repository filter (not every repository),
// the walk is over the matching repositories' layers and so are the
// candidates.
func nearLayerPairs(ctx context.Context, db DB, opts DuplicatesOptions) ([]nearPair, error) {
	var (
		only map[string]bool
		list []dbsqlc.NearLayersWalkRow // the filter's layers, in walk order
	)
	if !opts.Repositories.All() {
		rows, err := queries.NearLayersIn(ctx, db, opts.Repositories.Regexp())
		if err != nil {
			return nil, fmt.Errorf("querying the layers of matching repositories: %w", err)
		}
		only = make(map[string]bool, len(rows))
		for _, r := range rows {
			only[r.BlobDigest] = true
			list = append(list, dbsqlc.NearLayersWalkRow(r))
		}
	}
	next := func(beforeBytes int64, beforeDigest string) ([]dbsqlc.NearLayersWalkRow, error) {
		if only != nil {
			n := min(nearWalkPage, len(list))
			page := list[:n]
			list = list[n:]
			return page, nil
		}
		page, err := queries.NearLayersWalk(ctx, db, dbsqlc.NearLayersWalkParams{BeforeBytes: beforeBytes, BeforeDigest: beforeDigest, Page: nearWalkPage})
		if err != nil {
			return nil, fmt.Errorf("walking the indexed layers: %w", err)
		}
		return page, nil
	}

	top := &nearTop{}
	full := func() bool { return top.Len() >= opts.Limit }
	// A pair can enter the page when its bound (the smaller layer's file
	// bytes, the most the two can share) is at least the last pair's
	// shared bytes: equal, it may tie and rank before it.
	mayEnter := func(bound int64) bool { return !full() || bound >= (*top)[0].shared }
	type keys struct{ keys, sizes []int64 }
	cached := map[string]keys{}
	fileBytes := map[string]int64{}

	beforeBytes, beforeDigest := int64(math.MaxInt64), ""
	for {
		page, err := next(beforeBytes, beforeDigest)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 || !mayEnter(page[0].FileBytes) {
			break
		}
		last := page[len(page)-1]
		beforeBytes, beforeDigest = last.FileBytes, last.BlobDigest
		layers := make([]string, 0, len(page))
		for _, l := range page {
			if mayEnter(l.FileBytes) {
				layers = append(layers, l.BlobDigest)
				fileBytes[l.BlobDigest] = l.FileBytes
			}
		}
		cands, err := queries.NearLayersCandidates(ctx, db, dbsqlc.NearLayersCandidatesParams{Layers: layers, MinSimilarity: opts.MinSimilarity})
		if err != nil {
			return nil, fmt.Errorf("querying near-duplicate candidates: %w", err)
		}
		// The largest bound first, so a full page skips the rest.
		slices.SortFunc(cands, func(x, y dbsqlc.NearLayersCandidatesRow) int {
			if x.Bound != y.Bound {
				return cmp.Compare(y.Bound, x.Bound)
			}
			if c := strings.Compare(x.Layer, y.Layer); c != 0 {
				return c
			}
			return strings.Compare(x.Candidate, y.Candidate)
		})
		var need []string
		for _, c := range cands {
			if only != nil && !only[c.Candidate] {
				continue
			}
			fileBytes[c.Candidate] = c.FileBytes
			for _, d := range []string{c.Layer, c.Candidate} {
				if _, ok := cached[d]; !ok {
					cached[d] = keys{}
					need = append(need, d)
				}
			}
		}
		if len(need) > 0 {
			rows, err := queries.NearLayersKeys(ctx, db, need)
			if err != nil {
				return nil, fmt.Errorf("reading layer keys: %w", err)
			}
			for _, r := range rows {
				cached[r.BlobDigest] = keys{r.Keys, r.Sizes}
			}
		}
		for _, c := range cands {
			if only != nil && !only[c.Candidate] || !mayEnter(c.Bound) {
				continue
			}
			ka, kb := cached[c.Layer], cached[c.Candidate]
			shared, files := sharedFiles(ka.keys, ka.sizes, kb.keys, kb.sizes)
			if shared == 0 {
				continue
			}
			p := nearPair{a: c.Layer, b: c.Candidate, shared: shared, files: files, bytesA: fileBytes[c.Layer], bytesB: fileBytes[c.Candidate]}
			if p.a > p.b {
				p.a, p.b, p.bytesA, p.bytesB = p.b, p.a, p.bytesB, p.bytesA
			}
			// As the exhaustive query works it out (float8 in Postgres).
			p.similarity = float64(shared) / float64(p.bytesA+p.bytesB-shared)
			if p.similarity < opts.MinSimilarity {
				continue
			}
			if !full() {
				heap.Push(top, p)
			} else if p.before((*top)[0]) {
				(*top)[0] = p
				heap.Fix(top, 0)
			}
		}
	}
	out := make([]nearPair, top.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(top).(nearPair)
	}
	return out, nil
}

// sharedFiles merges two layers' sorted (key, size) arrays: the bytes and
// the count of the files both hold.
func sharedFiles(ka, sa, kb, sb []int64) (bytes, files int64) {
	i, j := 0, 0
	for i < len(ka) && j < len(kb) {
		switch {
		case ka[i] < kb[j] || ka[i] == kb[j] && sa[i] < sb[j]:
			i++
		case ka[i] > kb[j] || sa[i] > sb[j]:
			j++
		default:
			bytes += sa[i]
			files++
			i++
			j++
		}
	}
	return bytes, files
}

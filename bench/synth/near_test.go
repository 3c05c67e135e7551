package synth_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
)

// duplicates --kind layer reads the pairs kept as layers are indexed
// (found from each new layer's prefix, compared from the kept keys). On a
// registry with file indexes of real shape (build outputs copied and
// chown-ed, npm dependencies sharing popular files, recompressed copies,
// deleted images) its pairs are, for every threshold, limit and filter,
// those a comparison of every pair of live layers from the raw file
// entries gives, in the same order, with the same figures, a pair of
// contents once (the first of its encodings' pairs); and, over every
// repository, those of the report's exhaustive query (the one below 0.8),
// names and steps included.
func TestNearDuplicates(t *testing.T) {
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk, opts.Files = 300, 15, 4, 100, true
	pool, _ := generate(t, opts)
	ctx := context.Background()
	// The synthetic pairs (a build output and its chown-ed copy) share
	// their largest file. Rebuilt bundles do not: give 80 of the copies
	// another largest file, so the first file a pair shares lies deeper
	// in its prefix, and write their keys and pairs again.
	var changed []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(blob_digest) FROM (SELECT DISTINCT blob_digest FROM layer_files
		WHERE path LIKE 'srv/%' AND uid = 1000 ORDER BY blob_digest LIMIT 80) c`).Scan(&changed); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE layer_files lf SET digest = decode(md5(lf.blob_digest), 'hex')
		 FROM (SELECT DISTINCT ON (blob_digest) blob_digest, ordinal FROM layer_files
		       WHERE blob_digest = ANY ($1) AND type = 1 ORDER BY blob_digest, size DESC, ordinal) big
		 WHERE lf.blob_digest = big.blob_digest AND lf.ordinal = big.ordinal`,
		`DELETE FROM layer_pairs WHERE layer_a = ANY ($1) OR layer_b = ANY ($1)`,
		`DELETE FROM layer_prefix_keys WHERE blob_digest = ANY ($1)`,
		`DELETE FROM layer_file_keys WHERE blob_digest = ANY ($1)`,
		`SELECT layerq_layer_keys($1)`,
	} {
		if _, err := pool.Exec(ctx, q, changed); err != nil {
			t.Fatal(err)
		}
	}

	// A filter must hold both layers of a pair, in live images: the pair
	// that shares the most gets its first layer alone in an image of a
	// repository of its own, and both layers in an image of another that
	// is then deleted. And a pair counts only layers of images (a diff_id
	// in a config): three other pairs get a side that no config names.
	var solo, unnamed []string
	if err := pool.QueryRow(ctx, `SELECT ARRAY[layer_a, layer_b] FROM layer_pairs ORDER BY shared_bytes DESC, layer_a, layer_b LIMIT 1`).Scan(&solo); err != nil {
		t.Fatal(err)
	}
	soloImages(t, pool, solo[:1], solo)
	// The filters below select the first repository by name whose images
	// hold both layers of a pair, and its namespace; the three are of that
	// repository.
	var repo string
	if err := pool.QueryRow(ctx, `WITH held AS (
			SELECT DISTINCT r.name, ml.blob_digest FROM repository_manifests rm
			JOIN repositories r ON r.id = rm.repository_id
			JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
			WHERE rm.deleted_at IS NULL)
		SELECT min(a.name) FROM layer_pairs p
		JOIN held a ON a.blob_digest = p.layer_a JOIN held b ON b.blob_digest = p.layer_b AND b.name = a.name
		WHERE p.layer_a <> ALL ($1) AND p.layer_b <> ALL ($1)`, solo).Scan(&repo); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `WITH held AS (
			SELECT DISTINCT ml.blob_digest FROM repository_manifests rm
			JOIN repositories r ON r.id = rm.repository_id AND r.name = $2
			JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
			WHERE rm.deleted_at IS NULL)
		SELECT array_agg(layer_b) FROM (SELECT layer_b FROM layer_pairs
			WHERE layer_a IN (SELECT blob_digest FROM held) AND layer_b IN (SELECT blob_digest FROM held)
			  AND layer_a <> ALL ($1) AND layer_b <> ALL ($1)
			GROUP BY layer_b ORDER BY max(shared_bytes) DESC, layer_b LIMIT 3) p`, solo, repo).Scan(&unnamed); err != nil {
		t.Fatal(err)
	}
	execRows(t, pool, `UPDATE blobs SET diff_id = NULL WHERE digest = ANY ($1)`, 3, unnamed)

	type layer struct {
		fileBytes int64
		files     int64
		diffID    *string
		tokens    map[string]int64 // path + "\x00" + content -> size
	}
	layers := map[string]*layer{}
	rows, err := pool.Query(ctx, `SELECT blob_digest, file_bytes, files, diff_id FROM layer_indexes`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		l := &layer{tokens: map[string]int64{}}
		var d string
		if err := rows.Scan(&d, &l.fileBytes, &l.files, &l.diffID); err != nil {
			t.Fatal(err)
		}
		layers[d] = l
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	regularFiles(t, pool, "size > 0 AND digest IS NOT NULL", func(blob, path string, content []byte, size int64) {
		layers[blob].tokens[fmt.Sprintf("%s\x00%x\x00%d", path, content, size)] = size
	})
	live := map[string][]string{} // repository -> its live layers with a diff_id
	for _, r := range rowsOf(t, pool, `SELECT DISTINCT r.name || ' ' || ml.blob_digest
		FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
		JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		JOIN blobs b ON b.digest = ml.blob_digest AND b.diff_id IS NOT NULL
		WHERE rm.deleted_at IS NULL`) {
		f := strings.Fields(strings.Trim(r, "[]"))
		live[f[0]] = append(live[f[0]], f[1])
	}

	type pair struct {
		a, b          string
		shared, files int64
		similarity    float64
	}
	// Every pair of layers that share a file, from an inverted index of
	// the raw entries: (path, content) -> the layers holding it.
	var digests []string
	for d := range layers {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	holders := map[string][]int{}
	for i, d := range digests {
		for tok := range layers[d].tokens {
			holders[tok] = append(holders[tok], i)
		}
	}
	sharing := map[[2]int]*pair{}
	for tok, hs := range holders {
		slices.Sort(hs)
		for x, i := range hs {
			for _, j := range hs[x+1:] {
				p := sharing[[2]int{i, j}]
				if p == nil {
					p = &pair{a: digests[i], b: digests[j]}
					sharing[[2]int{i, j}] = p
				}
				p.shared += layers[digests[i]].tokens[tok]
				p.files++
			}
		}
	}
	// want is every pair of the glob's live indexed layers at least
	// minSimilarity similar, ranked.
	want := func(glob repoglob.Glob, minSimilarity float64, limit int) []pair {
		in := map[string]bool{}
		for repo, ls := range live {
			if glob.Match(repo) {
				for _, l := range ls {
					in[l] = true
				}
			}
		}
		var out []pair
		for _, p := range sharing {
			la, lb := layers[p.a], layers[p.b]
			if !in[p.a] || !in[p.b] || la.diffID != nil && lb.diffID != nil && *la.diffID == *lb.diffID {
				continue // a blob duplicate: one tar twice
			}
			q := *p
			q.similarity = float64(q.shared) / float64(la.fileBytes+lb.fileBytes-q.shared)
			if q.similarity >= minSimilarity {
				out = append(out, q)
			}
		}
		slices.SortFunc(out, func(x, y pair) int {
			switch {
			case x.shared != y.shared:
				return -cmpInt(x.shared, y.shared)
			case x.similarity != y.similarity:
				if x.similarity > y.similarity {
					return -1
				}
				return 1
			case x.a != y.a:
				return strings.Compare(x.a, y.a)
			}
			return strings.Compare(x.b, y.b)
		})
		// A pair of contents once: the first of its encodings' pairs.
		content := func(d string) string {
			if id := layers[d].diffID; id != nil {
				return *id
			}
			return d
		}
		seen := map[[2]string]bool{}
		once := out[:0]
		for _, p := range out {
			k := [2]string{content(p.a), content(p.b)}
			if k[0] > k[1] {
				k[0], k[1] = k[1], k[0]
			}
			if !seen[k] {
				seen[k] = true
				once = append(once, p)
			}
		}
		return once[:min(limit, len(once))]
	}

	total, deep := 0, 0
	for _, glob := range []string{"", strings.SplitN(repo, "/", 2)[0] + "/**", repo, "solo/**"} {
		for _, minSimilarity := range []float64{0.8, 0.9, 0.95, 1} {
			for _, limit := range []int{1, 7, 100000} {
				o := report.DuplicatesOptions{Kind: "layer", Repositories: repoglob.Compile(glob), Limit: limit, MinSimilarity: minSimilarity}
				r, err := report.LoadDuplicates(ctx, pool, o)
				if err != nil {
					t.Fatal(err)
				}
				got := r.(*report.LayerDuplicates).Pairs
				w := want(o.Repositories, minSimilarity, limit)
				name := fmt.Sprintf("--repo %q --min-similarity %g --limit %d", glob, minSimilarity, limit)
				if len(got) != len(w) {
					t.Errorf("%s: %d pairs, want %d", name, len(got), len(w))
					continue
				}
				for i, g := range got {
					x := w[i]
					if g.A.Digest != x.a || g.B.Digest != x.b || g.BytesSaved != x.shared || g.SharedFiles != x.files || g.Similarity != x.similarity ||
						g.A.FileBytes != layers[x.a].fileBytes || g.B.FileBytes != layers[x.b].fileBytes || g.A.Files != layers[x.a].files || g.B.Files != layers[x.b].files {
						t.Errorf("%s: pair %d = %+v; want %+v", name, i, g, x)
					}
				}
				if limit == 100000 && minSimilarity == 0.8 && glob != "solo/**" && len(w) == 0 {
					t.Errorf("%s: no pair to find", name)
				}
				if limit == 100000 {
					total += len(w)
					for _, p := range w {
						if p.similarity < 1 {
							deep++
						}
					}
				}
				if glob != "" || limit != 100000 || minSimilarity != 0.8 {
					continue
				}
				o.Exhaustive = true
				e, err := report.LoadDuplicates(ctx, pool, o)
				if err != nil {
					t.Fatal(err)
				}
				if ep := e.(*report.LayerDuplicates).Pairs; !slices.Equal(got, ep) {
					t.Errorf("%s: the exhaustive query gives\n%+v\nthe kept prefixes\n%+v", name, ep, got)
				}
			}
		}
	}
	t.Logf("%d pairs, %d below similarity 1", total, deep)
	if total < 20 || deep < 20 {
		t.Errorf("%d pairs over all thresholds: the registry gives the report too little to find", total)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

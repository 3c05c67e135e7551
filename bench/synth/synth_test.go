package synth_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/bench/synth"
	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/repoglob"
	"github.com/layerq/layerq/internal/report"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A small graph: what Generate says it wrote is what the database holds,
// and the aggregates are folded.
func TestGenerate(t *testing.T) {
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk = 600, 20, 5, 250
	pool, sum := generate(t, opts)
	ctx := context.Background()
	pushes := opts.Images + opts.Bases*opts.BaseBuilds
	if sum.Repositories != opts.Images/opts.PerRepository+opts.Bases || sum.Images != pushes+sum.Recompressed || sum.TagEvents != pushes {
		t.Errorf("summary %+v: want %d repositories, %d images (and the recompressed copies), %d tag events", sum, opts.Images/opts.PerRepository+opts.Bases, pushes, pushes)
	}
	// About Recompressed of the application pushes also as a copy.
	if want := opts.Recompressed * float64(opts.Images); float64(sum.Recompressed) < want/3 || float64(sum.Recompressed) > want*3 {
		t.Errorf("%d recompressed copies; want about %.0f", sum.Recompressed, want)
	}
	var repos, manifests, edges, blobs, events, deleted, queued, live int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM manifests),
		(SELECT count(*) FROM manifest_layers), (SELECT count(*) FROM blobs), (SELECT count(*) FROM tag_events),
		(SELECT count(*) FROM repository_manifests WHERE deleted_at IS NOT NULL), (SELECT count(*) FROM aggregate_queue),
		(SELECT sum(images) FROM repository_usage)`).Scan(&repos, &manifests, &edges, &blobs, &events, &deleted, &queued, &live); err != nil {
		t.Fatal(err)
	}
	if repos != sum.Repositories || manifests != sum.Images || edges != sum.Edges || blobs != sum.Blobs || events != sum.TagEvents || deleted != sum.Deleted {
		t.Errorf("database holds %d repositories, %d manifests, %d edges, %d blobs, %d tag events, %d deleted; summary %+v",
			repos, manifests, edges, blobs, events, deleted, sum)
	}
	// Each copy stores its original's contents again: every content of a
	// live copy has two live encodings.
	var twice int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM content_usage WHERE encodings > 1`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if sum.Recompressed > 0 && twice == 0 {
		t.Errorf("%d recompressed copies, but no content kept with two encodings", sum.Recompressed)
	}
	if sum.Deleted == 0 || edges < 9*manifests || queued != 0 || live != sum.Images-sum.Deleted {
		t.Errorf("%d deleted, %d edges for %d images, %d still queued, %d live images counted (want %d)", sum.Deleted, edges, manifests, queued, live, sum.Images-sum.Deleted)
	}
}

// With Files, every layer blob has its file index, and the waste synth
// stores for each live image is what layerq works out from the database
// (report.SettleWaste, as serve and the report run it); the registry has
// real work for the bloat report: waste of every kind the builders make.
func TestGenerateFiles(t *testing.T) {
	opts := synth.Defaults
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk, opts.Files = 200, 20, 4, 100, true
	pool, sum := generate(t, opts)
	ctx := context.Background()
	var indexed, entries, unindexed, pending int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM layer_indexes), (SELECT count(*) FROM layer_files),
		(SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = b.digest)),
		(SELECT count(*) FROM waste_pending)`).Scan(&indexed, &entries, &unindexed, &pending); err != nil {
		t.Fatal(err)
	}
	if indexed != sum.Blobs || indexed != sum.IndexedLayers || entries != sum.Entries || unindexed != 0 {
		t.Errorf("%d layers indexed with %d entries, %d blobs without an index; summary %+v", indexed, entries, unindexed, sum)
	}
	if sum.Entries < 50*sum.IndexedLayers {
		t.Errorf("%d entries for %d layers: the indexes are too small to give the reports work", sum.Entries, sum.IndexedLayers)
	}
	const waste = `SELECT manifest_digest, layers, wasted_bytes, wasted_compressed_bytes, final_files, final_bytes, pairs::text
		FROM image_waste JOIN image_waste_pairs USING (manifest_digest) ORDER BY 1`
	kept := rowsOf(t, pool, waste)
	if len(kept) != sum.Images-sum.Deleted || pending != 0 {
		t.Fatalf("%d images with their waste and %d waiting for it; want the %d live, none waiting", len(kept), pending, sum.Images-sum.Deleted)
	}
	if _, err := pool.Exec(ctx, `TRUNCATE image_waste, image_waste_pairs; INSERT INTO waste_pending SELECT manifest_digest FROM image_index_state ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	if err := report.SettleWaste(ctx, pool, report.BloatOptions{Repositories: repoglob.Compile("**")}, graph.New(pool), 0); err != nil {
		t.Fatal(err)
	}
	if again := rowsOf(t, pool, waste); !slices.Equal(kept, again) {
		t.Errorf("synth's image waste differs from layerq's analysis of the same layers:\nsynth:  %.2000s\nlayerq: %.2000s", strings.Join(kept, "\n"), strings.Join(again, "\n"))
	}
	// Every kind of finding the builders' habits make, in the live images.
	b, err := report.LoadBloat(ctx, pool, report.BloatOptions{Repositories: repoglob.Compile("**"), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range rowsOf(t, pool, `SELECT DISTINCT p->>'kind' FROM image_waste_pairs, jsonb_array_elements(pairs) p`) {
		kinds[r]++
	}
	for _, k := range []string{"[removed]", "[overwritten]", "[metadata_changed]"} {
		if kinds[k] == 0 {
			t.Errorf("no image hides bytes as %s; kinds found: %v", k, kinds)
		}
	}
	if b.Analyzed != sum.Images-sum.Deleted || b.Shown == 0 || len(b.Images) != 5 || b.Pending != 0 {
		t.Errorf("bloat: %d analyzed, %d shown, %d listed, %d pending; want %d analyzed, some shown, 5 listed, none pending",
			b.Analyzed, b.Shown, len(b.Images), b.Pending, sum.Images-sum.Deleted)
	}
	// A page of a few repositories, from each one's images by waste as
	// the fold keeps them, is the page a walk of every image by waste
	// finds, at every length; with an image live in two of them too.
	compare := func(when string) {
		for _, glob := range []string{"ns01/**", "ns0*/**", "ns02/app-0000*", "library/**"} {
			for _, limit := range []int{1, 3, 7, 1000} {
				opts := report.BloatOptions{Repositories: repoglob.Compile(glob), Limit: limit}
				ranked, err := report.LoadBloat(ctx, pool, opts)
				if err != nil {
					t.Fatal(err)
				}
				opts.Afresh = true
				walked, err := report.LoadBloat(ctx, pool, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(ranked, walked) {
					t.Errorf("%s: bloat --repo %s --limit %d from each repository's images by waste\n%+v\nwalked\n%+v", when, glob, limit, ranked, walked)
				}
				if glob == "ns0*/**" && len(walked.Images) != min(limit, walked.Shown) {
					t.Errorf("%s: bloat --repo %s --limit %d listed %d of %d shown", when, glob, limit, len(walked.Images), walked.Shown)
				}
			}
		}
	}
	compare("as generated")
	// Two images of one repository that waste the same bytes: its page
	// ranks them by digest, as the walk does.
	var first, second string
	var wasted int64
	if err := pool.QueryRow(ctx, `SELECT a.manifest_digest, a.wasted_bytes, b.manifest_digest
		FROM repository_waste a JOIN repositories r ON r.id = a.repository_id
		JOIN LATERAL (SELECT b.manifest_digest FROM repository_waste b WHERE b.repository_id = a.repository_id AND b.manifest_digest <> a.manifest_digest
		              ORDER BY b.wasted_bytes DESC, b.manifest_digest LIMIT 1) b ON true
		WHERE r.name LIKE 'ns01/%' ORDER BY r.name, a.wasted_bytes DESC, a.manifest_digest LIMIT 1`).Scan(&first, &wasted, &second); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM image_waste WHERE manifest_digest = $1`, second); err != nil {
		t.Fatal(err)
	}
	if err := graph.New(pool).SaveWaste(ctx, []graph.ImageWaste{{Digest: second, Layers: 2, WastedBytes: wasted, WastedCompressedBytes: 1}}); err != nil {
		t.Fatal(err)
	}
	fold(t, pool)
	compare("with two images of a repository tied")
	var twice string
	if err := pool.QueryRow(ctx, `SELECT rw.manifest_digest FROM repository_waste rw JOIN repositories r ON r.id = rw.repository_id
		WHERE r.name LIKE 'ns01/%' ORDER BY rw.wasted_bytes DESC, 1 LIMIT 1`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if tag, err := pool.Exec(ctx, `INSERT INTO repository_manifests (repository_id, manifest_digest, observed_at)
		SELECT r.id, $1, now() FROM repositories r WHERE r.name LIKE 'ns01/%'
		  AND NOT EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.repository_id = r.id AND rm.manifest_digest = $1)
		ORDER BY r.name LIMIT 1`, twice); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("the image most wasteful in ns01 live in another of its repositories: %v, %v", tag, err)
	}
	fold(t, pool)
	compare("with an image in two repositories of ns01")
}

// rowsOf runs sql and renders each row as one string.
func rowsOf(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The ranked reports on a registry of hundreds of repositories:
//   - top-shared names the first five repositories by name holding each
//     content, whether the content is held by a few repositories (read and
//     sorted) or by more than a hundred (a walk of the repositories in name
//     order): each ranking's sample is what the graph's own tables say;
//   - cache --top N lists the first N of every repository ranked by the
//     bytes their builds pushed anew, and its totals are theirs summed;
//   - bases --dependents N lists the first N of each base's dependents,
//     and its counts are the whole list's.
func TestRankings(t *testing.T) {
	opts := synth.Defaults
	// 600 repositories of 3 pushes: the popular bases sit under hundreds
	// of them, the rest under a few.
	opts.Images, opts.PerRepository, opts.Namespaces, opts.Chunk = 1800, 3, 6, 1000
	pool, sum := generate(t, opts)
	ctx := context.Background()
	want := map[string][]string{} // content -> every live repository holding it, by name
	rows, err := pool.Query(ctx, `
		SELECT DISTINCT coalesce(b.diff_id, b.digest), r.name
		FROM repository_manifests rm
		JOIN repositories r ON r.id = rm.repository_id
		JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
		JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		JOIN blobs b ON b.digest = ml.blob_digest
		WHERE rm.deleted_at IS NULL ORDER BY 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var content, repo string
		if err := rows.Scan(&content, &repo); err != nil {
			t.Fatal(err)
		}
		want[content] = append(want[content], repo)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	many, few := 0, 0
	for _, sort := range []string{report.SortImages, report.SortRepositories, report.SortSaved, report.SortStored} {
		got, err := report.LoadTopShared(ctx, pool, report.TopSharedOptions{Limit: 60, Repositories: repoglob.Compile(""), MinImages: 2, SortBy: sort})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Layers) != 60 {
			t.Fatalf("--sort-by %s: %d rows, want 60", sort, len(got.Layers))
		}
		for _, l := range got.Layers {
			all := want[l.Content]
			if int64(len(all)) != l.Repositories {
				t.Errorf("--sort-by %s: %s in %d repositories, the graph says %d", sort, l.Content, l.Repositories, len(all))
			}
			if w := all[:min(5, len(all))]; !slices.Equal(l.SampleRepositories, w) {
				t.Errorf("--sort-by %s: %s (%d repositories) names %v, want %v", sort, l.Content, len(all), l.SampleRepositories, w)
			}
			switch {
			case len(all) > 100:
				many++
			case len(all) > 5:
				few++
			}
		}
	}
	if many == 0 || few == 0 {
		t.Errorf("%d rows of contents held by over 100 repositories, %d by 6 to 100: the test needs both", many, few)
	}

	// top-shared --repo from the repositories' kept counts is what
	// counting their images afresh gives, ties and all; then with a
	// manifest live in two of the matching repositories (where the sums
	// would count it twice).
	compare := func(when string) {
		for _, glob := range []string{"ns03/**", "ns03/app-0000*", "ns0*/app-000*", "ns04/app-00004", "library/**"} {
			for _, sort := range []string{report.SortImages, report.SortRepositories} {
				for _, minImages := range []int{1, 2} {
					opts := report.TopSharedOptions{Limit: 15, Repositories: repoglob.Compile(glob), SortBy: sort, MinImages: minImages}
					kept, err := report.LoadTopShared(ctx, pool, opts)
					if err != nil {
						t.Fatal(err)
					}
					opts.Afresh = true
					afresh, err := report.LoadTopShared(ctx, pool, opts)
					if err != nil {
						t.Fatal(err)
					}
					if minImages == 1 && len(afresh.Layers) == 0 {
						t.Errorf("%s: --repo %s: no image", when, glob)
					}
					if !reflect.DeepEqual(kept, afresh) {
						t.Errorf("%s: --repo %s --sort-by %s --min-images %d: from the kept counts\n%+v\nafresh\n%+v", when, glob, sort, minImages, kept, afresh)
					}
				}
			}
		}
	}
	compare("each image in one repository")
	// ns03's images holding its most shared layer, in ns03/app-00009 too:
	// a sum over the repositories would count them twice.
	top, err := report.LoadTopShared(ctx, pool, report.TopSharedOptions{Limit: 1, Repositories: repoglob.Compile("ns03/**"),
		SortBy: report.SortImages, MinImages: 2, Afresh: true})
	if err != nil || len(top.Layers) == 0 {
		t.Fatalf("ns03's most shared layer: %+v, %v", top, err)
	}
	tag, err := pool.Exec(ctx, `INSERT INTO repository_manifests (repository_id, manifest_digest, first_seen, observed_at)
		SELECT DISTINCT (SELECT id FROM repositories WHERE name = 'ns03/app-00009'), rm.manifest_digest, now(), now()
		FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
		JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		JOIN blobs b ON b.digest = ml.blob_digest
		WHERE r.name LIKE 'ns03/%' AND rm.deleted_at IS NULL AND coalesce(b.diff_id, b.digest) = $1
		ON CONFLICT DO NOTHING`, top.Layers[0].Content)
	if err != nil || tag.RowsAffected() < 2 {
		t.Fatalf("copying the images holding %s: %d, %v", top.Layers[0].Content, tag.RowsAffected(), err)
	}
	fold(t, pool)
	compare("the images holding ns03's most shared layer in ns03/app-00009 too")

	for _, c := range []struct {
		glob  string
		since time.Time
	}{{"", time.Time{}}, {"ns03/**", time.Time{}}, {"", sum.Until.Add(-20 * 24 * time.Hour)}, {"ns03/**", sum.Until.Add(-20 * 24 * time.Hour)}} {
		glob := c.glob
		all, err := report.LoadCache(ctx, pool, report.CacheOptions{Repositories: repoglob.Compile(glob), Since: c.since, Busters: 3})
		if err != nil {
			t.Fatal(err)
		}
		var total report.CacheTotal
		for i, r := range all.Repositories {
			if i > 0 {
				p := all.Repositories[i-1]
				if a, b := p.TotalBytes-p.ReusedBytes, r.TotalBytes-r.ReusedBytes; a < b || a == b && p.Repository > r.Repository {
					t.Errorf("--repo %q: %s (%d bytes anew) listed before %s (%d)", glob, p.Repository, a, r.Repository, b)
				}
			}
			total.Repositories++
			total.Builds, total.Compared = total.Builds+r.Builds, total.Compared+r.Compared
			total.ReusedLayers, total.TotalLayers = total.ReusedLayers+r.ReusedLayers, total.TotalLayers+r.TotalLayers
			total.ReusedBytes, total.TotalBytes = total.ReusedBytes+r.ReusedBytes, total.TotalBytes+r.TotalBytes
		}
		total.ReuseRatio = float64(total.ReusedBytes) / float64(total.TotalBytes)
		if all.Total != total || total.Repositories < 20 {
			t.Errorf("--repo %q --since %v --top 0: total %+v, the listed repositories sum to %+v", glob, c.since, all.Total, total)
		}
		if c.since.IsZero() {
			// The figures of a filter are those of every repository
			// restricted to it; its busters are the steps its builds
			// compared first changed at, as cache_history lists them.
			every, err := report.LoadCache(ctx, pool, report.CacheOptions{Busters: 3})
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]report.CacheRepository{}
			for _, r := range every.Repositories {
				r.Transitions = nil
				byName[r.Repository] = r
			}
			for _, r := range all.Repositories {
				r.Transitions = nil
				if !reflect.DeepEqual(r, byName[r.Repository]) {
					t.Errorf("--repo %q: %+v; over every repository %+v", glob, r, byName[r.Repository])
				}
			}
			want := rowsOf(t, pool, fmt.Sprintf(`SELECT step, first_changed_position = 0 OR base_moved, count(*), count(DISTINCT repository)
				FROM cache_history WHERE step IS NOT NULL AND repository ~ '%s'
				GROUP BY 1, 2 ORDER BY 3 DESC, 4 DESC, 1 LIMIT 3`, repoglob.Compile(glob).Regexp()))
			var got []string
			for _, b := range all.Busters {
				got = append(got, fmt.Sprint([]any{b.Step, b.BaseChanged, b.Busts, b.Repositories}))
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("--repo %q busters %v, want %v", glob, got, want)
			}
		}
		top, err := report.LoadCache(ctx, pool, report.CacheOptions{Repositories: repoglob.Compile(glob), Since: c.since, Top: 7, Limit: 2, Busters: 3})
		if err != nil {
			t.Fatal(err)
		}
		if top.Total != all.Total || len(top.Repositories) != 7 {
			t.Fatalf("--repo %q --top 7: %d listed, total %+v; want 7, %+v", glob, len(top.Repositories), top.Total, all.Total)
		}
		for i, r := range top.Repositories {
			w := all.Repositories[i]
			if r.Repository != w.Repository || r.TotalBytes != w.TotalBytes || len(r.Transitions) != min(2, len(w.Transitions)) {
				t.Errorf("--repo %q --top 7: row %d is %s (%d transitions), want %s (%d)", glob, i, r.Repository, len(r.Transitions), w.Repository, len(w.Transitions))
			}
		}
	}

	// bases --dependents 3: each base's three repositories with the most
	// images on it, of the whole list; the counts are the whole list's.
	for _, glob := range []string{"", "ns03/**"} {
		all, err := report.LoadBases(ctx, pool, report.BasesOptions{Repositories: repoglob.Compile(glob)})
		if err != nil {
			t.Fatal(err)
		}
		top, err := report.LoadBases(ctx, pool, report.BasesOptions{Repositories: repoglob.Compile(glob), Dependents: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Bases) < 5 || len(top.Bases) != len(all.Bases) {
			t.Fatalf("--repo %q: %d bases listed with every dependent, %d with 3", glob, len(all.Bases), len(top.Bases))
		}
		over3 := 0
		for i, b := range all.Bases {
			var images, stale int64
			staleRepos := 0
			for j, d := range b.Dependents {
				images, stale = images+d.Images, stale+d.StaleImages
				if d.StaleImages > 0 {
					staleRepos++
				}
				if j > 0 && (b.Dependents[j-1].Images < d.Images || b.Dependents[j-1].Images == d.Images && b.Dependents[j-1].Repository > d.Repository) {
					t.Errorf("--repo %q: base %s lists %s before %s", glob, b.Repository, b.Dependents[j-1].Repository, d.Repository)
				}
			}
			if images != b.Images || stale != b.StaleImages || staleRepos != b.StaleRepositories || len(b.Dependents) != b.Repositories {
				t.Errorf("--repo %q: base %s:%s counts %d images (%d outdated) in %d repositories (%d outdated); its dependents sum to %d (%d) in %d (%d)",
					glob, b.Repository, b.Tag, b.Images, b.StaleImages, b.Repositories, b.StaleRepositories, images, stale, len(b.Dependents), staleRepos)
			}
			g := top.Bases[i]
			w := b
			w.Dependents = b.Dependents[:min(3, len(b.Dependents))]
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("--repo %q --dependents 3:\n got %+v\nwant %+v", glob, g, w)
			}
			if b.Repositories > 3 {
				over3++
			}
		}
		if over3 == 0 {
			t.Errorf("--repo %q: no base with over 3 dependent repositories", glob)
		}
	}

	// bloat over every image, while the layers are not indexed: the
	// layers it waits for, counted from what the fold keeps, are those
	// counted from every image's layers; with a few layers refused (one of
	// them indexed too) and a few indexed.
	store := graph.New(pool)
	liveLayers := func(repos string) []string {
		var layers []string
		rows, err := pool.Query(ctx, `SELECT DISTINCT ml.blob_digest FROM repository_manifests rm
			JOIN repositories r ON r.id = rm.repository_id AND r.name LIKE $1
			JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
			JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
			WHERE rm.deleted_at IS NULL ORDER BY 1`, repos)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				t.Fatal(err)
			}
			layers = append(layers, d)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return layers
	}
	// The layers refused and indexed are ns03's, so that namespace's kept
	// count moves too.
	layers, ns03 := liveLayers("%"), liveLayers("ns03/%")
	if len(ns03) < 20 {
		t.Fatalf("ns03 holds %d layers, want 20 or more", len(ns03))
	}
	for step, want := range []report.BloatBacklog{{Unindexed: len(layers)}, {Unindexed: len(layers) - 7 - 4, Rejected: 7}} {
		nsWant := report.BloatBacklog{Unindexed: len(ns03)}
		if step == 1 {
			nsWant = report.BloatBacklog{Unindexed: len(ns03) - 7 - 4, Rejected: 7}
			// ns03[:7] refused, ns03[6:11] indexed.
			for i, d := range ns03[:11] {
				if i < 7 {
					if err := store.RejectLayer(ctx, graph.LayerRejection{BlobDigest: d, Registry: "synth.test", Class: "test", Reason: "refused by the test"}); err != nil {
						t.Fatal(err)
					}
				}
				if i >= 6 { // ns03[6] refused and indexed
					idx := &fileindex.Index{Entries: []fileindex.Entry{{Path: "etc/os-release", Type: fileindex.File, Size: 3}}, Compression: "gzip"}
					if _, err := store.SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: d, Index: idx}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if _, err := store.ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
		// ns03/** is one namespace (its kept count); ns0*/** is several and
		// ns04/app-00004 one repository of one (each counted from its images).
		for _, glob := range []string{"**", "ns03/**", "ns0*/**", "ns04/app-00004"} {
			opts := report.BloatOptions{Repositories: repoglob.Compile(glob), Limit: 5}
			kept, err := report.LoadBloat(ctx, pool, opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.Afresh = true
			afresh, err := report.LoadBloat(ctx, pool, opts)
			if err != nil {
				t.Fatal(err)
			}
			if kept.Backlog() != afresh.Backlog() || !reflect.DeepEqual(kept, afresh) || len(kept.LeftOut) == 0 {
				t.Errorf("step %d, --repo %s: bloat from the kept counts (waiting for %+v)\n%+v\ncounted afresh (%+v)\n%+v", step, glob, kept.Backlog(), kept, afresh.Backlog(), afresh)
			}
			if glob == "**" && kept.Backlog() != want {
				t.Errorf("step %d: waiting for %+v, want %+v", step, kept.Backlog(), want)
			}
			if glob == "ns03/**" && kept.Backlog() != nsWant {
				t.Errorf("step %d, --repo ns03/**: waiting for %+v, want %+v", step, kept.Backlog(), nsWant)
			}
		}
	}
}

// generate writes the synthetic graph of opts into a database of its own.
func generate(t *testing.T, opts synth.Options) (*pgxpool.Pool, synth.Summary) {
	t.Helper()
	pool := pgtest.NewPool(t)
	sum, err := synth.Generate(context.Background(), pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	return pool, sum
}

// execRows runs sql and fails the test unless it changes rows rows.
func execRows(t *testing.T, pool *pgxpool.Pool, sql string, rows int64, args ...any) {
	t.Helper()
	if tag, err := pool.Exec(context.Background(), sql, args...); err != nil || tag.RowsAffected() != rows {
		t.Fatalf("%s: %d rows (%v), want %d", sql, tag.RowsAffected(), err, rows)
	}
}

// fold folds what is queued into the aggregates.
func fold(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := graph.New(pool).ApplyAggregates(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// soloImages gives a filter two repositories of their own, then folds:
// solo/one holds an image of the layers one (bottom first), solo/two
// held an image of the layers two, deleted since (its kept rows count
// no manifest).
func soloImages(t *testing.T, pool *pgxpool.Pool, one, two []string) {
	t.Helper()
	for _, image := range []struct {
		repository string
		layers     []string
	}{{"solo/one", one}, {"solo/two", two}} {
		execRows(t, pool, `WITH r AS (INSERT INTO repositories (registry, name) SELECT registry, $1 FROM repositories ORDER BY id LIMIT 1 RETURNING id),
			m AS (INSERT INTO manifests (digest, media_type, size, kind, layer_count, layers_size)
			      SELECT 'sha256:' || encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'application/vnd.oci.image.manifest.v1+json', 500, 'image',
			          cardinality($2::text[]), (SELECT sum(size) FROM blobs WHERE digest = ANY ($2))
			      RETURNING digest),
			l AS (INSERT INTO manifest_layers (manifest_digest, position, blob_digest, media_type)
			      SELECT m.digest, l.n - 1, l.digest, 'application/vnd.oci.image.layer.v1.tar+gzip' FROM m, unnest($2::text[]) WITH ORDINALITY AS l(digest, n))
			INSERT INTO repository_manifests (repository_id, manifest_digest, first_seen, observed_at) SELECT r.id, m.digest, now(), now() FROM r, m`,
			1, image.repository, image.layers)
	}
	fold(t, pool)
	execRows(t, pool, `UPDATE repository_manifests SET deleted_at = now() WHERE repository_id = (SELECT id FROM repositories WHERE name = 'solo/two')`, 1)
	fold(t, pool)
}

// regularFiles calls fn with each regular file of layer_files that the
// condition where holds for: its layer, path, content digest (nil: none)
// and size.
func regularFiles(t *testing.T, pool *pgxpool.Pool, where string, fn func(blob, path string, content []byte, size int64)) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT blob_digest, path, digest, size FROM layer_files WHERE type = 1 AND `+where+` ORDER BY blob_digest, ordinal`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blob, path string
		content    []byte
		size       int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&blob, &path, &content, &size}, func() error {
		fn(blob, path, content, size)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

package graph_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/layerq/layerq/internal/fileindex"
	"github.com/layerq/layerq/internal/graph"
	"github.com/layerq/layerq/internal/image"
	"github.com/layerq/layerq/internal/migrate"
	"github.com/layerq/layerq/internal/testenv/pgtest"
)

// The aggregates the triggers keep, each next to a from-scratch query over
// the graph that defines it. After any history of writes they must agree
// row for row.
var aggregateChecks = []struct{ name, kept, naive string }{
	{"storage per repository", `
		SELECT registry, repository, images, manifests, logical_bytes, physical_bytes, unique_bytes, shared_bytes
		FROM storage_repositories`, naiveContent + `
		SELECT r.registry, r.name, count(*) FILTER (WHERE m.kind = 'image'), count(*),
			sum(m.layers_size + coalesce(m.config_size, 0))::bigint,
			(SELECT sum(size) FROM rb WHERE rb.repository_id = r.id)::bigint,
			(SELECT coalesce(sum(rb.size), 0)::bigint FROM rb JOIN holders h ON h.registry = r.registry AND h.digest = rb.digest
			 WHERE rb.repository_id = r.id AND h.repos = 1),
			(SELECT coalesce(sum(rb.size), 0)::bigint FROM rb JOIN holders h ON h.registry = r.registry AND h.digest = rb.digest
			 WHERE rb.repository_id = r.id AND h.repos > 1)
		FROM live l JOIN repositories r ON r.id = l.repository_id JOIN manifests m ON m.digest = l.manifest_digest
		GROUP BY r.id`},
	{"storage per namespace", `
		SELECT registry, namespace, images, manifests, logical_bytes, physical_bytes, unique_bytes, shared_bytes
		FROM storage_namespaces`, naiveContent + `,
		nb AS (SELECT DISTINCT r.registry, split_part(r.name, '/', 1) AS ns, rb.digest, rb.size
		       FROM rb JOIN repositories r ON r.id = rb.repository_id),
		nh AS (SELECT registry, digest, count(*) AS nss FROM nb GROUP BY 1, 2)
		SELECT x.registry, x.ns, count(*) FILTER (WHERE x.kind = 'image'), count(*),
			sum(x.bytes)::bigint,
			(SELECT sum(size)::bigint FROM nb WHERE nb.registry = x.registry AND nb.ns = x.ns),
			(SELECT coalesce(sum(nb.size), 0)::bigint FROM nb JOIN nh USING (registry, digest)
			 WHERE nb.registry = x.registry AND nb.ns = x.ns AND nh.nss = 1),
			(SELECT coalesce(sum(nb.size), 0)::bigint FROM nb JOIN nh USING (registry, digest)
			 WHERE nb.registry = x.registry AND nb.ns = x.ns AND nh.nss > 1)
		FROM (SELECT r.registry, split_part(r.name, '/', 1) AS ns, m.kind, m.layers_size + coalesce(m.config_size, 0) AS bytes
		      FROM live l JOIN repositories r ON r.id = l.repository_id JOIN manifests m ON m.digest = l.manifest_digest) x
		GROUP BY 1, 2`},
	// The repositories of each namespace holding each blob, and the live
	// image manifests using it summed over them.
	{"blobs per namespace", `
		SELECT registry, namespace, digest, refs, image_refs FROM namespace_blobs WHERE refs <> 0 OR image_refs <> 0`, naiveContent + `
		SELECT r.registry, split_part(r.name, '/', 1), c.digest, count(DISTINCT l.repository_id)::integer,
			(count(*) FILTER (WHERE m.kind = 'image'))::integer
		FROM live l JOIN content c USING (manifest_digest) JOIN manifests m ON m.digest = l.manifest_digest
		JOIN repositories r ON r.id = l.repository_id
		GROUP BY 1, 2, 3`},
	{"manifests in two repositories per namespace", `
		SELECT registry, namespace, shared_manifests FROM namespace_usage WHERE shared_manifests <> 0`, `
		SELECT registry, ns, count(*)::integer FROM (
			SELECT r.registry, split_part(r.name, '/', 1) AS ns, rm.manifest_digest
			FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
			WHERE rm.deleted_at IS NULL GROUP BY 1, 2, 3 HAVING count(*) > 1) d
		GROUP BY 1, 2`},
	{"storage per registry", `
		SELECT registry, images, manifests, logical_bytes, physical_bytes FROM storage_registries`, naiveContent + `
		SELECT r.registry, count(*) FILTER (WHERE m.kind = 'image'), count(*),
			sum(m.layers_size + coalesce(m.config_size, 0))::bigint,
			(SELECT sum(size)::bigint FROM (SELECT DISTINCT rr.registry, rb.digest, rb.size FROM rb JOIN repositories rr ON rr.id = rb.repository_id) d
			 WHERE d.registry = r.registry)
		FROM live l JOIN repositories r ON r.id = l.repository_id JOIN manifests m ON m.digest = l.manifest_digest
		GROUP BY 1`},
	{"blob usage", `
		SELECT digest, manifests, repositories FROM blob_usage WHERE manifests > 0 OR repositories > 0`, `
		WITH live AS (SELECT rm.repository_id, rm.manifest_digest FROM repository_manifests rm
		              JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' WHERE rm.deleted_at IS NULL),
		content AS (SELECT ml.manifest_digest, ml.blob_digest AS digest FROM manifest_layers ml
		            UNION SELECT digest, config_digest FROM manifests WHERE config_digest IS NOT NULL)
		SELECT c.digest, count(DISTINCT l.manifest_digest), count(DISTINCT l.repository_id)
		FROM live l JOIN content c USING (manifest_digest) GROUP BY 1`},
	{"layer contents per repository", `
		SELECT repository_id, content, images FROM repository_contents WHERE images <> 0`, `
		SELECT rm.repository_id, coalesce(b.diff_id, b.digest), count(DISTINCT rm.manifest_digest)
		FROM repository_manifests rm
		JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
		JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		JOIN blobs b ON b.digest = ml.blob_digest
		WHERE rm.deleted_at IS NULL GROUP BY 1, 2`},
	// The same summed per namespace: each repository's images holding the
	// content, and the repositories holding it.
	{"layer contents per namespace", `
		SELECT registry, namespace, content, images, repositories FROM namespace_contents WHERE images <> 0 OR repositories <> 0`, `
		SELECT r.registry, split_part(r.name, '/', 1), x.content, sum(x.images)::integer, count(*)::integer
		FROM (SELECT rm.repository_id, coalesce(b.diff_id, b.digest) AS content, count(DISTINCT rm.manifest_digest) AS images
		      FROM repository_manifests rm
		      JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
		      JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		      JOIN blobs b ON b.digest = ml.blob_digest
		      WHERE rm.deleted_at IS NULL GROUP BY 1, 2) x
		JOIN repositories r ON r.id = x.repository_id
		GROUP BY 1, 2, 3`},
	{"layer content usage", `
		SELECT content, images, repositories, stored_bytes, saved_bytes, encodings, extra_bytes FROM content_usage WHERE images <> 0 OR repositories <> 0`, `
		WITH live AS (SELECT DISTINCT rm.repository_id, rm.manifest_digest FROM repository_manifests rm
		              JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' WHERE rm.deleted_at IS NULL),
		uses AS (SELECT coalesce(b.diff_id, b.digest) AS content, b.digest, b.size, l.manifest_digest, l.repository_id
		         FROM live l JOIN manifest_layers ml USING (manifest_digest) JOIN blobs b ON b.digest = ml.blob_digest),
		enc AS (SELECT content, digest, size, count(DISTINCT manifest_digest) AS images FROM uses GROUP BY 1, 2, 3)
		SELECT u.content, count(DISTINCT u.manifest_digest), count(DISTINCT u.repository_id),
			(SELECT sum(size) FROM enc WHERE enc.content = u.content)::bigint,
			(SELECT sum(size * (images - 1)) FROM enc WHERE enc.content = u.content)::bigint,
			(SELECT count(*) FROM enc WHERE enc.content = u.content)::integer,
			(SELECT sum(size) - min(size) FROM enc WHERE enc.content = u.content)::bigint
		FROM uses u GROUP BY 1`},
	{"duplicate encodings over the registry", `
		SELECT contents, extra_bytes FROM content_totals`, `
		WITH live AS (SELECT DISTINCT rm.manifest_digest FROM repository_manifests rm
		              JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' WHERE rm.deleted_at IS NULL),
		enc AS (SELECT DISTINCT coalesce(b.diff_id, b.digest) AS content, b.digest, b.size
		        FROM live l JOIN manifest_layers ml USING (manifest_digest) JOIN blobs b ON b.digest = ml.blob_digest),
		dup AS (SELECT content, sum(size) - min(size) AS extra FROM enc GROUP BY 1 HAVING count(*) > 1)
		SELECT count(*), coalesce(sum(extra), 0)::bigint FROM dup`},
	{"duplicate encodings per registry", `
		SELECT registry, content, encodings, stored_bytes, extra_bytes FROM registry_contents`, `
		WITH live AS (SELECT DISTINCT r.registry, ml.blob_digest AS digest FROM repository_manifests rm
		              JOIN repositories r ON r.id = rm.repository_id
		              JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest WHERE rm.deleted_at IS NULL)
		SELECT l.registry, b.diff_id, count(*)::integer, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint
		FROM live l JOIN blobs b ON b.digest = l.digest
		WHERE b.diff_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1`},
	{"duplicate encodings per namespace", `
		SELECT registry, namespace, content, encodings, stored_bytes, extra_bytes FROM namespace_duplicate_blobs`, `
		WITH live AS (SELECT DISTINCT r.registry, split_part(r.name, '/', 1) AS ns, ml.blob_digest AS digest FROM repository_manifests rm
		              JOIN repositories r ON r.id = rm.repository_id
		              JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest WHERE rm.deleted_at IS NULL)
		SELECT l.registry, l.ns, b.diff_id, count(*)::integer, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint
		FROM live l JOIN blobs b ON b.digest = l.digest
		WHERE b.diff_id IS NOT NULL GROUP BY 1, 2, 3 HAVING count(*) > 1`},
	{"cache rollups", `
		SELECT repository_id, stream_kind, month, pushes, reused_layers, total_layers, reused_bytes, total_bytes, growth_bytes
		FROM cache_monthly WHERE pushes <> 0`, `
		SELECT repository_id, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date, count(*)::integer,
			sum(reused_layers)::bigint, sum(total_layers)::bigint, sum(reused_bytes)::bigint, sum(total_bytes)::bigint,
			sum(total_bytes - from_bytes)::bigint
		FROM cache_transitions GROUP BY 1, 2, 3`},
	{"cache totals", `
		SELECT repository_id, stream_kind, pushes, reused_layers, total_layers, reused_bytes, total_bytes
		FROM cache_totals WHERE pushes <> 0`, `
		SELECT repository_id, stream_kind, count(*)::integer,
			sum(reused_layers)::bigint, sum(total_layers)::bigint, sum(reused_bytes)::bigint, sum(total_bytes)::bigint
		FROM cache_transitions GROUP BY 1, 2`},
	// A repository's figures are of its tag streams once a tag of it moved
	// (it has a tag comparison), of its created streams before.
	{"window sums per day", `
		SELECT day, repository_id, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds FROM cache_window_days`, `
		WITH tagged AS (SELECT DISTINCT repository_id FROM cache_transitions WHERE stream_kind = 'tag'),
		c AS (SELECT t.repository_id, (t.occurred_at AT TIME ZONE 'UTC')::date AS day, count(*) AS compared, sum(t.reused_layers) AS rl,
		          sum(t.total_layers) AS tl, sum(t.reused_bytes) AS rb, sum(t.total_bytes) AS tb
		      FROM cache_transitions t
		      WHERE t.stream_kind = CASE WHEN t.repository_id IN (SELECT repository_id FROM tagged) THEN 'tag' ELSE 'created' END GROUP BY 1, 2),
		b AS (SELECT p.repository_id, (p.occurred_at AT TIME ZONE 'UTC')::date AS day, sum(p.builds) AS builds
		      FROM cache_push_builds p WHERE p.repository_id IN (SELECT repository_id FROM tagged) GROUP BY 1, 2),
		d AS (SELECT repository_id, day, coalesce(c.compared, 0) AS compared, coalesce(rl, 0) AS rl, coalesce(tl, 0) AS tl, coalesce(rb, 0) AS rb,
		          coalesce(tb, 0) AS tb, coalesce(b.builds, 0) AS builds FROM c FULL JOIN b USING (repository_id, day)),
		days AS (SELECT s.repository_id, g::date AS day FROM (SELECT repository_id, min(day) AS f, max(day) AS l FROM d GROUP BY 1) s,
		         generate_series(s.f::timestamp, s.l::timestamp, interval '1 day') g)
		SELECT x.day, x.repository_id, sum(coalesce(d.compared, 0)) OVER w::bigint, sum(coalesce(d.rl, 0)) OVER w::bigint, sum(coalesce(d.tl, 0)) OVER w::bigint,
			sum(coalesce(d.rb, 0)) OVER w::bigint, sum(coalesce(d.tb, 0)) OVER w::bigint, sum(coalesce(d.builds, 0)) OVER w::bigint
		FROM days x LEFT JOIN d USING (repository_id, day)
		WINDOW w AS (PARTITION BY x.repository_id ORDER BY x.day)`},
	{"window totals", `
		SELECT repository_id, stream_kind, first_day, last_day, compared, reused_layers, total_layers, reused_bytes, total_bytes, builds FROM cache_window_totals`, `
		WITH tagged AS (SELECT DISTINCT repository_id FROM cache_transitions WHERE stream_kind = 'tag'),
		u AS (SELECT t.repository_id, t.occurred_at, 1 AS compared, t.reused_layers, t.total_layers, t.reused_bytes, t.total_bytes, 0 AS builds
		      FROM cache_transitions t
		      WHERE t.stream_kind = CASE WHEN t.repository_id IN (SELECT repository_id FROM tagged) THEN 'tag' ELSE 'created' END
		      UNION ALL
		      SELECT p.repository_id, p.occurred_at, 0, 0, 0, 0, 0, p.builds FROM cache_push_builds p WHERE p.repository_id IN (SELECT repository_id FROM tagged))
		SELECT repository_id, CASE WHEN repository_id IN (SELECT repository_id FROM tagged) THEN 'tag' ELSE 'created' END,
			min((occurred_at AT TIME ZONE 'UTC')::date), max((occurred_at AT TIME ZONE 'UTC')::date), sum(compared)::bigint,
			sum(reused_layers)::bigint, sum(total_layers)::bigint, sum(reused_bytes)::bigint, sum(total_bytes)::bigint, sum(builds)::bigint
		FROM u GROUP BY 1`},
	{"last bust per repository and step", `
		SELECT repository_id, step, base_changed, last_at FROM cache_step_last`, `
		SELECT t.repository_id, t.step, t.first_changed_position = 0 OR t.base_moved, max(t.occurred_at)
		FROM cache_transitions t
		WHERE t.step IS NOT NULL
		  AND t.stream_kind = CASE WHEN EXISTS (SELECT FROM cache_transitions g WHERE g.repository_id = t.repository_id AND g.stream_kind = 'tag') THEN 'tag' ELSE 'created' END
		GROUP BY 1, 2, 3`},
	{"repositories per step by the day of their last bust", `
		SELECT step, base_changed, day, repositories FROM cache_step_last_days WHERE repositories <> 0`, `
		SELECT step, bc, (last_at AT TIME ZONE 'UTC')::date, count(*) FROM (
			SELECT t.repository_id, t.step, t.first_changed_position = 0 OR t.base_moved AS bc, max(t.occurred_at) AS last_at
			FROM cache_transitions t
			WHERE t.step IS NOT NULL
			  AND t.stream_kind = CASE WHEN EXISTS (SELECT FROM cache_transitions g WHERE g.repository_id = t.repository_id AND g.stream_kind = 'tag') THEN 'tag' ELSE 'created' END
			GROUP BY 1, 2, 3) l
		GROUP BY 1, 2, 3`},
	{"busters per day", `
		SELECT step, base_changed, day, busts FROM cache_step_days WHERE busts <> 0`, `
		SELECT t.step, t.first_changed_position = 0 OR t.base_moved, (t.occurred_at AT TIME ZONE 'UTC')::date, count(*)
		FROM cache_transitions t
		WHERE t.step IS NOT NULL
		  AND t.stream_kind = CASE WHEN EXISTS (SELECT FROM cache_transitions g WHERE g.repository_id = t.repository_id AND g.stream_kind = 'tag') THEN 'tag' ELSE 'created' END
		GROUP BY 1, 2, 3`},
	{"cache step rollups", `
		SELECT repository_id, stream_kind, step, base_changed, pushes FROM cache_steps WHERE pushes <> 0`, `
		SELECT repository_id, stream_kind, step, first_changed_position = 0 OR base_moved, count(*)::integer
		FROM cache_transitions WHERE step IS NOT NULL GROUP BY 1, 2, 3, 4`},
	// Each tag push's builds: an image with layers, or the platforms of a
	// pushed index's image children (attestations left out).
	{"builds per push", `
		SELECT tag_event_id, repository_id, occurred_at, builds FROM cache_push_builds`, `
		SELECT e.id, e.repository_id, e.occurred_at, b.builds::integer
		FROM tag_events e
		JOIN LATERAL (
			SELECT count(*) AS builds FROM manifests m WHERE m.digest = e.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
			UNION ALL
			SELECT count(DISTINCT layerq_platform(c.os, c.architecture, c.variant))
			FROM index_children c JOIN manifests m ON m.digest = c.child_digest AND m.kind = 'image' AND m.layer_count > 0
			WHERE c.index_digest = e.manifest_digest AND coalesce(c.os, '') <> 'unknown'
		) b ON b.builds > 0
		WHERE e.action = 'push'`},
	// The registry's busters: each repository's comparisons of the kind
	// its figures use (tag once a tag of it moved).
	{"cache step totals", `
		SELECT step, base_changed, pushes, repositories FROM cache_step_totals WHERE pushes <> 0 OR repositories <> 0`, `
		SELECT t.step, t.first_changed_position = 0 OR t.base_moved, count(*)::bigint, count(DISTINCT t.repository_id)::integer
		FROM cache_transitions t
		WHERE t.step IS NOT NULL
		  AND t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_transitions g WHERE g.repository_id = t.repository_id AND g.stream_kind = 'tag')
		                           THEN 'tag' ELSE 'created' END
		GROUP BY 1, 2`},
	// The comparisons per day over every repository, and of them those
	// that grew: each repository's of the kind its figures use.
	{"growth days", `
		SELECT day, pushes, grew FROM growth_days WHERE pushes <> 0 OR grew <> 0`, `
		SELECT (t.occurred_at AT TIME ZONE 'UTC')::date, count(*)::bigint, count(*) FILTER (WHERE t.total_bytes > t.from_bytes)::bigint
		FROM cache_transitions t
		WHERE t.stream_kind = CASE WHEN EXISTS (SELECT 1 FROM cache_transitions g WHERE g.repository_id = t.repository_id AND g.stream_kind = 'tag')
		                           THEN 'tag' ELSE 'created' END
		GROUP BY 1`},
	// Each repository's comparisons per stream kind and day, with their
	// bytes added.
	{"growth per repository and day", `
		SELECT repository_id, stream_kind, day, pushes, growth_bytes FROM repository_growth_days WHERE pushes <> 0 OR growth_bytes <> 0`, `
		SELECT repository_id, stream_kind, (occurred_at AT TIME ZONE 'UTC')::date, count(*)::integer, sum(total_bytes - from_bytes)::bigint
		FROM cache_transitions GROUP BY 1, 2, 3`},
	// Whether the base moved between two compared builds: the bases they
	// are on now, and the first change among the new base's layers.
	// And the earlier build's layer bytes.
	{"cache transitions' base moves", `
		SELECT id, base_from, base_to, base_moved, from_bytes FROM cache_transitions`, `
		SELECT t.id, f.base_digest, b.base_digest,
			coalesce(t.first_changed_position < b.base_layers AND f.base_digest IS DISTINCT FROM b.base_digest, false),
			(SELECT coalesce(sum(bl.size), 0) FROM manifest_layers ml JOIN blobs bl ON bl.digest = ml.blob_digest WHERE ml.manifest_digest = t.from_digest)::bigint
		FROM cache_transitions t
		LEFT JOIN image_bases f ON f.manifest_digest = t.from_digest
		LEFT JOIN image_bases b ON b.manifest_digest = t.to_digest`},
	{"image index state", `
		SELECT manifest_digest, unindexed, rejected, run_sizes FROM image_index_state
		WHERE manifest_digest IN (SELECT manifest_digest FROM manifest_layers)`, `
		SELECT ml.manifest_digest,
			count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = ml.blob_digest)
			                   AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = ml.blob_digest))::integer,
			count(*) FILTER (WHERE EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = ml.blob_digest))::integer,
			array_agg(CASE WHEN ml.created_by LIKE 'RUN %' THEN b.size END ORDER BY ml.position)
		FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest GROUP BY 1`},
	// What the waste analysis reads of waste_pending: rows of images that
	// are no longer ready may stay there, as the analysis skips them.
	{"images ready for the waste analysis", `
		SELECT p.manifest_digest FROM waste_pending p
		JOIN image_index_state s ON s.manifest_digest = p.manifest_digest AND s.unindexed = 0 AND s.rejected = 0
		WHERE p.manifest_digest IN (SELECT manifest_digest FROM manifest_layers)`, `
		SELECT ml.manifest_digest FROM manifest_layers ml
		GROUP BY 1
		HAVING bool_and(EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = ml.blob_digest)
		                AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = ml.blob_digest))
		   AND NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = ml.manifest_digest)
		   AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = ml.manifest_digest AND rm.deleted_at IS NULL)`},
	// A live layer: a live image lists the blob and a config names its
	// diff_id (an artifact's layer is not one, even with a diff_id known).
	{"live layers and whether they are indexed", `
		SELECT blob_digest, indexed FROM live_layer_blobs`, `
		SELECT DISTINCT ll.blob_digest, EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = ll.blob_digest)
		FROM live_layers ll JOIN manifests mk ON mk.digest = ll.manifest_digest AND mk.kind = 'image' WHERE ll.diff_id IS NOT NULL`},
	// What find reads, by keys: a digest's key is its first 32 hex digits,
	// as a uuid.
	{"live images' layers", `
		SELECT layer, repository_id, image, position FROM live_image_layers`, `
		SELECT substr(ml.blob_digest, 8, 32)::uuid, rm.repository_id, substr(rm.manifest_digest, 8, 32)::uuid, ml.position
		FROM repository_manifests rm
		JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
		JOIN manifest_layers ml ON ml.manifest_digest = rm.manifest_digest
		WHERE rm.deleted_at IS NULL`},
	{"paths of regular files", `
		SELECT path FROM file_paths`, `
		SELECT DISTINCT path FROM layer_files WHERE type = 1`},
	{"paths and the layers writing them", `
		SELECT fp.path, pl.layer, pl.files FROM path_layers pl JOIN file_paths fp ON fp.id = pl.path_id`, `
		SELECT path, substr(blob_digest, 8, 32)::uuid, count(*)::integer
		FROM layer_files WHERE type = 1 GROUP BY 1, 2`},
	{"file contents of the live indexed layers", `
		SELECT encode(digest, 'hex'), size, copies, layers FROM file_contents`, liveIndexed + `
		SELECT encode(lf.digest, 'hex'), max(lf.size), count(*), count(DISTINCT lf.blob_digest)
		FROM layer_files lf JOIN l USING (blob_digest) WHERE lf.type = 1 GROUP BY lf.digest`},
	{"file totals", `
		SELECT layers, unindexed, files, total_bytes, unique_files, unique_bytes FROM file_totals`, liveIndexed + `,
		f AS (SELECT lf.digest, lf.size FROM layer_files lf JOIN l USING (blob_digest) WHERE lf.type = 1)
		SELECT (SELECT count(*) FROM l),
			(SELECT count(DISTINCT ll.blob_digest) FROM live_layers ll JOIN manifests mk ON mk.digest = ll.manifest_digest AND mk.kind = 'image'
			 WHERE ll.diff_id IS NOT NULL
			 AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = ll.blob_digest)),
			(SELECT count(*) FROM f), (SELECT coalesce(sum(size), 0)::bigint FROM f),
			(SELECT count(DISTINCT digest) FROM f), (SELECT coalesce(sum(size), 0)::bigint FROM (SELECT DISTINCT digest, size FROM f) u)`},
	// The live layers each namespace holds with no file index: blobs a
	// live manifest of the namespace holds that are layers of a live
	// manifest (with a diff_id) somewhere.
	{"layers not indexed per namespace", `
		SELECT registry, namespace, unindexed FROM namespace_backlog WHERE unindexed <> 0`, naiveContent + `
		SELECT r.registry, split_part(r.name, '/', 1), count(DISTINCT rb.digest)
		FROM rb JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest IN (SELECT ll.blob_digest FROM live_layers ll JOIN manifests mk ON mk.digest = ll.manifest_digest AND mk.kind = 'image'
		                    WHERE ll.diff_id IS NOT NULL)
		  AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = rb.digest)
		GROUP BY 1, 2`},
	{"bloat totals per repository", `
		SELECT repository_id, images, analyzed, waiting, refused, shown, wasted_bytes, wasted_compressed_bytes
		FROM repository_bloat WHERE images <> 0`, `
		WITH x AS (
			SELECT rm.repository_id, w.wasted_bytes, w.wasted_compressed_bytes, s.unindexed, s.rejected,
				w.manifest_digest IS NOT NULL
					AND (w.wasted_bytes > 0 OR layerq_has_layer_run(s.run_sizes, coalesce(ib.base_layers, 0), 1048576)) AS shown
			FROM repository_manifests rm
			JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
			JOIN image_index_state s ON s.manifest_digest = m.digest
			LEFT JOIN image_waste w ON w.manifest_digest = m.digest AND s.unindexed = 0 AND s.rejected = 0
			LEFT JOIN image_bases ib ON ib.manifest_digest = m.digest
			WHERE rm.deleted_at IS NULL)
		SELECT repository_id, count(*), count(wasted_bytes), count(*) FILTER (WHERE wasted_bytes IS NULL AND (unindexed > 0 OR rejected = 0)),
			count(*) FILTER (WHERE rejected > 0), count(*) FILTER (WHERE shown),
			coalesce(sum(wasted_bytes) FILTER (WHERE shown), 0)::bigint, coalesce(sum(wasted_compressed_bytes) FILTER (WHERE shown), 0)::bigint
		FROM x GROUP BY 1`},
	// The images the bloat report shows at its defaults, under each
	// repository holding them, with the bytes they waste.
	{"images shown per repository", `
		SELECT repository_id, manifest_digest, wasted_bytes FROM repository_waste`, `
		SELECT rm.repository_id, rm.manifest_digest, w.wasted_bytes
		FROM repository_manifests rm
		JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image'
		JOIN image_index_state s ON s.manifest_digest = m.digest AND s.unindexed = 0 AND s.rejected = 0
		JOIN image_waste w ON w.manifest_digest = m.digest
		LEFT JOIN image_bases ib ON ib.manifest_digest = m.digest
		WHERE rm.deleted_at IS NULL
		  AND (w.wasted_bytes > 0 OR layerq_has_layer_run(s.run_sizes, coalesce(ib.base_layers, 0), 1048576))`},
	// Dashboard views that read the kept tables, next to how they read the
	// graph before (migration 00011).
	{"duplicate_blobs view", `
		SELECT registry, diff_id, encodings, stored_bytes, bytes_stored_twice, digests, media_types FROM duplicate_blobs`, `
		SELECT rb.registry, b.diff_id, count(*)::bigint, sum(b.size)::bigint, (sum(b.size) - min(b.size))::bigint,
			array_agg(b.digest ORDER BY b.size, b.digest), array_agg(b.media_type ORDER BY b.size, b.digest)
		FROM registry_blobs rb JOIN blobs b ON b.digest = rb.digest
		WHERE rb.repositories > 0 AND b.diff_id IS NOT NULL
		GROUP BY rb.registry, b.diff_id HAVING count(*) > 1`},
	{"ingest_backlog view", `
		SELECT layers_pending FROM ingest_backlog`, `
		SELECT count(*)::bigint FROM blob_usage u JOIN blobs b ON b.digest = u.digest
		WHERE u.manifests > 0 AND b.diff_id IS NOT NULL
		  AND b.media_type NOT LIKE '%foreign%' AND b.media_type NOT LIKE '%nondistributable%'
		  AND NOT EXISTS (SELECT 1 FROM layer_indexes li WHERE li.blob_digest = u.digest)
		  AND NOT EXISTS (SELECT 1 FROM layer_rejections lr WHERE lr.blob_digest = u.digest)`},
	{"live images per base", `
		SELECT base_digest, repository_id, images FROM base_repositories WHERE images <> 0`, `
		SELECT ib.base_digest, rm.repository_id, count(*) FROM repository_manifests rm
		JOIN image_bases ib USING (manifest_digest) WHERE rm.deleted_at IS NULL GROUP BY 1, 2`},
	// Each base build in use, the tag naming it (pointing at it or at an
	// index holding it now, else the last to), and the build of its
	// platform that tag points at now when it has moved on.
	{"base builds", `
		SELECT base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale FROM base_builds`,
		naiveBaseBuilds + ` SELECT * FROM nbb`},
	// Each base's (tag's) live images per dependent repository over its
	// builds, and those on its stale builds.
	{"dependents per base", `
		SELECT base_repository_id, base_tag, repository_id, images, stale_images FROM base_dependents WHERE images <> 0 OR stale_images <> 0`,
		naiveBaseBuilds + `,
		live AS (SELECT ib.base_digest, rm.repository_id, count(*) AS n FROM repository_manifests rm
			JOIN image_bases ib USING (manifest_digest) WHERE rm.deleted_at IS NULL GROUP BY 1, 2)
		SELECT nbb.base_repository_id, nbb.base_tag, live.repository_id, sum(live.n)::bigint, coalesce(sum(live.n) FILTER (WHERE nbb.stale), 0)::bigint
		FROM nbb JOIN live USING (base_digest) WHERE nbb.base_repository_id IS NOT NULL GROUP BY 1, 2, 3`},
}

// naiveBaseBuilds opens a WITH whose nbb is base_builds from scratch: each
// base build with live images on it, the tag naming it and whether that
// tag has moved on.
const naiveBaseBuilds = `
		WITH builds AS (
			SELECT ib.base_digest, count(*)::bigint AS images, count(DISTINCT rm.repository_id)::bigint AS repositories
			FROM repository_manifests rm JOIN image_bases ib USING (manifest_digest)
			WHERE rm.deleted_at IS NULL GROUP BY 1),
		refs AS (
			SELECT base_digest, base_digest AS ref FROM builds
			UNION ALL SELECT b.base_digest, c.index_digest FROM builds b JOIN index_children c ON c.child_digest = b.base_digest),
		tagged AS (
			SELECT DISTINCT ON (f.base_digest) f.base_digest, t.repository_id, t.name AS tag
			FROM refs f JOIN tags t ON t.manifest_digest = f.ref AND t.deleted_at IS NULL
			ORDER BY f.base_digest, t.updated_at DESC, t.name, t.repository_id),
		last AS (
			SELECT DISTINCT ON (f.base_digest) f.base_digest, e.repository_id, e.tag
			FROM refs f JOIN tag_events e ON e.manifest_digest = f.ref AND e.action = 'push'
			WHERE f.base_digest NOT IN (SELECT base_digest FROM tagged)
			ORDER BY f.base_digest, e.occurred_at DESC, e.id DESC),
		named AS (SELECT base_digest, repository_id, tag, true AS current FROM tagged
			UNION ALL SELECT base_digest, repository_id, tag, false FROM last),
		nbb AS (SELECT b.base_digest, b.images, b.repositories,
			coalesce(n.repository_id, (SELECT rm.repository_id FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
			                           WHERE rm.manifest_digest = b.base_digest ORDER BY rm.deleted_at IS NOT NULL, r.name, r.registry, rm.repository_id LIMIT 1)) AS base_repository_id,
			coalesce(n.tag, '') AS base_tag,
			CASE WHEN n.current THEN b.base_digest ELSE cur.image END AS current_digest,
			(NOT coalesce(n.current, true) AND cur.image IS NOT NULL AND cur.image <> b.base_digest) AS stale
		FROM builds b
		LEFT JOIN named n USING (base_digest)
		LEFT JOIN tags t ON NOT n.current AND t.repository_id = n.repository_id AND t.name = n.tag AND t.deleted_at IS NULL
		LEFT JOIN LATERAL (
			SELECT p.image FROM layerq_platform_images(t.manifest_digest) p JOIN manifests bm ON bm.digest = b.base_digest
			WHERE p.platform = layerq_platform(bm.os, bm.architecture, bm.variant)) cur ON true)`

// liveIndexed opens a WITH: the live layers (with a diff_id) that are
// indexed.
const liveIndexed = `
	WITH l AS (SELECT DISTINCT ll.blob_digest FROM live_layers ll JOIN layer_indexes li USING (blob_digest)
	           JOIN manifests mk ON mk.digest = ll.manifest_digest AND mk.kind = 'image' WHERE ll.diff_id IS NOT NULL)`

// naiveContent opens a WITH: live memberships, the distinct blobs (layers
// and configs) each repository holds, and how many repositories of its
// registry hold each blob.
const naiveContent = `
	WITH live AS (SELECT repository_id, manifest_digest FROM repository_manifests WHERE deleted_at IS NULL),
	content AS (SELECT ml.manifest_digest, ml.blob_digest AS digest, b.size FROM manifest_layers ml JOIN blobs b ON b.digest = ml.blob_digest
	            UNION SELECT digest, config_digest, config_size FROM manifests WHERE config_digest IS NOT NULL),
	rb AS (SELECT DISTINCT l.repository_id, c.digest, c.size FROM live l JOIN content c USING (manifest_digest)),
	holders AS (SELECT r.registry, rb.digest, count(*) AS repos FROM rb JOIN repositories r ON r.id = rb.repository_id GROUP BY 1, 2)`

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// rows runs sql and renders each row as one string, sorted.
func rows(t *testing.T, q querier, sql string, args ...any) []string {
	t.Helper()
	rs, err := q.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	var out []string
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	slices.Sort(out)
	return out
}

// checkAggregates compares every kept aggregate with its definition, and
// the bases and created streams with a recomputation from scratch (in a
// transaction that is rolled back).
func checkAggregates(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	if _, err := graph.New(pool).ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	var queued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM aggregate_queue`).Scan(&queued); err != nil || queued != 0 {
		t.Fatalf("%d changes still queued after applying (%v)", queued, err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	compareAggregates(t, tx, nil, "")
	const (
		bases   = `SELECT manifest_digest, base_digest, base_layers, source FROM image_bases`
		streams = `SELECT repository_id, platform, from_digest, to_digest, reused_layers, reused_bytes, first_changed_position
		           FROM cache_transitions WHERE stream_kind = 'created'`
	)
	keptBases, keptStreams := rows(t, tx, bases), rows(t, tx, streams)
	if _, err := tx.Exec(ctx, `DELETE FROM image_bases; DELETE FROM base_repositories;
		DELETE FROM cache_transitions WHERE stream_kind = 'created'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT layerq_recompute_bases(array_agg(DISTINCT manifest_digest)) FROM repository_manifests`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT layerq_extend_created_streams(array_agg(repository_id), array_agg(manifest_digest)) FROM repository_manifests`); err != nil {
		t.Fatal(err)
	}
	if fresh := rows(t, tx, bases); !slices.Equal(keptBases, fresh) {
		t.Errorf("image bases differ from a recomputation\nkept:\n  %s\nrecomputed:\n  %s", strings.Join(keptBases, "\n  "), strings.Join(fresh, "\n  "))
	}
	if fresh := rows(t, tx, streams); !slices.Equal(keptStreams, fresh) {
		t.Errorf("created streams differ from a recomputation\nkept:\n  %s\nrecomputed:\n  %s", strings.Join(keptStreams, "\n  "), strings.Join(fresh, "\n  "))
	}
	// An update of comparisons (no writer moves their day or sizes today;
	// a base move found later updates others of their columns) keeps the
	// rollups that follow them exact: every third moved back two days,
	// every other made to grow by a byte, or to shrink by one.
	if _, err := tx.Exec(ctx, `UPDATE cache_transitions SET occurred_at = occurred_at - CASE WHEN id % 3 = 0 THEN interval '2 days' ELSE interval '0' END,
		total_bytes = from_bytes + CASE WHEN id % 2 = 0 THEN 1 ELSE -1 END`); err != nil {
		t.Fatal(err)
	}
	compareAggregates(t, tx, comparisonChecks, ", after an update of the comparisons")
	// Each repository's latest comparison of each stream kind deleted,
	// where one of that kind is left (no writer deletes comparisons
	// today): its sums end at its last day with one.
	if _, err := tx.Exec(ctx, `DELETE FROM cache_transitions WHERE id IN (
		SELECT DISTINCT ON (repository_id, stream_kind) id FROM cache_transitions c
		WHERE (SELECT count(*) FROM cache_transitions d WHERE d.repository_id = c.repository_id AND d.stream_kind = c.stream_kind) > 1
		ORDER BY repository_id, stream_kind, occurred_at DESC, id)`); err != nil {
		t.Fatal(err)
	}
	compareAggregates(t, tx, comparisonChecks, ", after a delete of each repository's latest comparison")
}

// comparisonChecks name the aggregates that follow cache_transitions
// through its triggers.
var comparisonChecks = []string{"growth days", "growth per repository and day", "cache rollups", "cache totals",
	"window sums per day", "window totals", "last bust per repository and step", "busters per day"}

// compareAggregates compares the aggregates of aggregateChecks named in
// names (nil: all) with their definitions; after says when, in messages.
func compareAggregates(t *testing.T, q querier, names []string, after string) {
	t.Helper()
	found := 0
	for _, c := range aggregateChecks {
		if names != nil && !slices.Contains(names, c.name) {
			continue
		}
		found++
		if kept, naive := rows(t, q, c.kept), rows(t, q, c.naive); !slices.Equal(kept, naive) {
			t.Errorf("%s%s: kept aggregate differs from its definition\nkept:\n  %s\ndefinition:\n  %s",
				c.name, after, strings.Join(kept, "\n  "), strings.Join(naive, "\n  "))
		}
	}
	if names != nil && found != len(names) {
		t.Fatalf("%d of the checks %q are aggregateChecks", found, names)
	}
}

// TestAggregatesExactUnderConcurrentWrites runs writers that push, re-push,
// untag and delete images sharing bases across repositories, namespaces and
// two registries, all at once, then checks every aggregate.
func TestAggregatesExactUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()

	bases := [][]string{{"os1"}, {"os1", "py"}, {"os2"}, {"os2", "node", "npm"}}
	repos := []string{"team-a/api", "team-a/web", "team-b/api", "tools", "team-b/batch/worker"}
	registries := []string{"reg.test", "other.test"}

	const writers, steps = 4, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	// Two appliers fold the queue while the writers write.
	done := make(chan struct{})
	var appliers sync.WaitGroup
	for range 2 {
		appliers.Add(1)
		go func() {
			defer appliers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := store.ApplyAggregates(ctx); err != nil {
					errs <- fmt.Errorf("applier: %w", err)
					return
				}
			}
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			at := t0
			for s := range steps {
				at = at.Add(5 * time.Hour) // over days: the window sums are kept per day
				reg := registries[rng.IntN(len(registries))]
				repo := repos[rng.IntN(len(repos))]
				var err error
				switch op := rng.IntN(10); {
				case op < 6: // push a build on a base
					base := bases[rng.IntN(len(bases))]
					layers := append(slices.Clone(base), fmt.Sprintf("app-%d", rng.IntN(12)))
					if rng.IntN(3) == 0 {
						layers = append(layers, fmt.Sprintf("assets-%d", rng.IntN(4)))
					}
					foreign := rng.IntN(6) == 0 // a layer outside the registry (Windows base layers)
					if foreign {
						layers = append(layers, fmt.Sprintf("foreign-%d", rng.IntN(3)))
					}
					m := imageOf(strings.Join(layers, "+"), layers...)
					if foreign {
						m.Layers[len(m.Layers)-1].MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
					}
					if rng.IntN(2) == 0 { // the base itself, pushed to its own repository
						m = imageOf(strings.Join(base, "+"), base...)
						repo = "library/" + base[len(base)-1]
					}
					switch rng.IntN(6) { // the same layers recompressed: other blobs, same contents
					case 0:
						m = zstdCopy(m)
					case 1: // a third encoding, which a registry may hold without the other two
						m = recompressed(m, "gzip -9", 9, 10, "application/vnd.oci.image.layer.v1.tar+gzip")
					case 2: // the zstd copy's top blob as an artifact's layer, no diff_id named: a later zstd push names it
						top := zstdCopy(m).Layers[len(m.Layers)-1]
						m = image.Manifest{Digest: digest("artifact " + top.Digest), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 400,
							Kind: image.KindArtifact, ConfigDigest: digest("artifact config"), ConfigSize: 2, ArtifactType: "application/x-test",
							Layers: []image.Layer{{Digest: top.Digest, Size: top.Size, MediaType: "application/octet-stream", HistoryIndex: -1}}}
					}
					o := obs(repo, fmt.Sprintf("t%d", rng.IntN(3)), at, m)
					o.Registry = reg
					err = store.Ingest(ctx, []image.Observation{o})
				case op < 8: // delete a manifest that may be live
					layers := append(slices.Clone(bases[rng.IntN(len(bases))]), fmt.Sprintf("app-%d", rng.IntN(12)))
					_, _, err = store.DeleteManifest(ctx, reg, repo, imageOf(strings.Join(layers, "+"), layers...).Digest, at, "test", fmt.Sprint(w, s))
				case op < 9:
					_, err = store.DeleteTags(ctx, reg, repo, []string{"t0"}, at, "test", fmt.Sprint(w, s))
				default:
					_, _, err = store.DeleteRepository(ctx, reg, repo, at, "test")
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d step %d: %w", w, s, err)
					return
				}
				// The layer indexer at work: a layer indexed, refused, or its
				// refusal forgotten (as an operator does to index it again).
				if err := indexStep(ctx, store, rng); err != nil {
					errs <- fmt.Errorf("writer %d step %d: %w", w, s, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	appliers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var live, images int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT manifest_digest) FROM repository_manifests WHERE deleted_at IS NULL`).Scan(&live, &images); err != nil {
		t.Fatal(err)
	}
	if live < 10 {
		t.Fatalf("only %d live memberships after the run; the test should leave a graph to check", live)
	}
	var moved, kept int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE base_moved), count(*) FILTER (WHERE NOT base_moved) FROM cache_transitions`).Scan(&moved, &kept); err != nil {
		t.Fatal(err)
	}
	if moved == 0 || kept == 0 {
		t.Fatalf("%d compared builds whose base moved, %d whose base did not: the test should leave both to check", moved, kept)
	}
	var busters, dupContents, nsDupContents, grew, same int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM cache_step_totals WHERE pushes > 0), (SELECT count(*) FROM registry_contents),
		(SELECT count(*) FROM namespace_duplicate_blobs),
		(SELECT coalesce(sum(grew), 0) FROM growth_days), (SELECT coalesce(sum(pushes - grew), 0) FROM growth_days)`).Scan(&busters, &dupContents, &nsDupContents, &grew, &same); err != nil {
		t.Fatal(err)
	}
	if busters == 0 || dupContents == 0 || nsDupContents == 0 || grew == 0 || same == 0 {
		t.Fatalf("%d cache busters, %d contents a registry holds in two encodings, %d a namespace does, %d comparisons that grew and %d that did not: the test should leave each to check",
			busters, dupContents, nsDupContents, grew, same)
	}
	// The history ends with an image of layers no other image holds,
	// pushed and indexed whole: one image is ready whatever the schedule
	// was, and the counts of the others stay as the writers left them.
	last := imageOf("last", "last-base", "last-app")
	if err := store.Ingest(ctx, []image.Observation{obs("team-c/last", "t0", t0.Add(time.Hour), last)}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"last-base", "last-app"} {
		if err := indexLayer(ctx, store, name); err != nil {
			t.Fatal(err)
		}
	}
	// The last images ready are analyzed too, after the writers: the
	// history ends with waste to fold whatever the schedule was.
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(99, 7))
	for range 3 {
		if err := indexStepWaste(ctx, store, rng); err != nil {
			t.Fatal(err)
		}
	}
	checkAggregates(t, pool)

	// An image the bloat report shows leaves a repository, and another's
	// analysis is deleted, then made again: the rows by waste follow.
	var reg, repo, gone, redone string
	if err := pool.QueryRow(ctx, `SELECT r.registry, r.name, rw.manifest_digest,
		(SELECT max(o.manifest_digest) FROM repository_waste o WHERE o.manifest_digest <> rw.manifest_digest)
		FROM repository_waste rw JOIN repositories r ON r.id = rw.repository_id ORDER BY 2, 3 LIMIT 1`).Scan(&reg, &repo, &gone, &redone); err != nil {
		t.Fatalf("an image shown under a repository, and another: %v", err)
	}
	if _, _, err := store.DeleteManifest(ctx, reg, repo, gone, t0.Add(1000*time.Hour), "test", "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM image_waste WHERE manifest_digest = $1`, redone); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM repository_waste rw JOIN repositories r ON r.id = rw.repository_id
		WHERE (r.name = $1 AND r.registry = $2 AND rw.manifest_digest = $3) OR rw.manifest_digest = $4`, repo, reg, gone, redone).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows by waste left of an image deleted from its repository, or whose analysis was deleted (%v)", left, err)
	}
	if err := store.SaveWaste(ctx, []graph.ImageWaste{{Digest: redone, Layers: 2, WastedBytes: 7000, WastedCompressedBytes: 300}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var nBases, nStreams int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM image_bases), (SELECT count(*) FROM cache_transitions WHERE stream_kind = 'created')`).Scan(&nBases, &nStreams); err != nil {
		t.Fatal(err)
	}
	if nBases == 0 || nStreams == 0 {
		t.Errorf("%d image bases and %d created-stream transitions kept; the history should make both", nBases, nStreams)
	}
	var recompressed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM content_usage WHERE encodings > 1`).Scan(&recompressed); err != nil {
		t.Fatal(err)
	}
	if recompressed == 0 {
		t.Error("no content kept with two live encodings; the history should make some")
	}
	var foreignLive int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM live_layer_blobs k JOIN blobs b ON b.digest = k.blob_digest
		WHERE NOT k.indexed AND b.media_type LIKE '%foreign%'`).Scan(&foreignLive); err != nil {
		t.Fatal(err)
	}
	if foreignLive == 0 {
		t.Error("no foreign layer live and unindexed; the history should make some (the backlog leaves them out)")
	}
	var ready, waiting, refused int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE unindexed = 0 AND rejected = 0), count(*) FILTER (WHERE unindexed > 0),
		count(*) FILTER (WHERE rejected > 0) FROM image_index_state`).Scan(&ready, &waiting, &refused); err != nil {
		t.Fatal(err)
	}
	if ready == 0 || waiting == 0 || refused == 0 {
		t.Errorf("image index states: %d ready, %d waiting for a layer, %d with a refused layer; the history should make each", ready, waiting, refused)
	}
	var analyzed, shown int
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(analyzed), 0), coalesce(sum(shown), 0) FROM repository_bloat`).Scan(&analyzed, &shown); err != nil {
		t.Fatal(err)
	}
	if analyzed == 0 || shown == 0 {
		t.Errorf("bloat totals: %d images analyzed, %d shown; the history should make both", analyzed, shown)
	}

	// A base's tag deleted and nothing else: the fold names its builds
	// again (the delete is queued), as their tags now say.
	var registry, baseRepo, baseTag string
	if err := pool.QueryRow(ctx, `SELECT r.registry, r.name, bb.base_tag FROM base_builds bb
		JOIN repositories r ON r.id = bb.base_repository_id
		JOIN tags t ON t.repository_id = r.id AND t.name = bb.base_tag AND t.deleted_at IS NULL
		ORDER BY 1, 2, 3 LIMIT 1`).Scan(&registry, &baseRepo, &baseTag); err != nil {
		t.Fatalf("no base build named by a live tag after the history: %v", err)
	}
	if n, err := store.DeleteTags(ctx, registry, baseRepo, []string{baseTag}, t0.Add(time.Duration(steps+1)*5*time.Hour), "test", ""); err != nil || n != 1 {
		t.Fatalf("deleting %s/%s:%s: %d events, %v", registry, baseRepo, baseTag, n, err)
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
}

// One statement moves a repository's image from a stale build of a base
// to its current build (both counts already kept): the base's images in
// that repository stay, its stale images fall.
func TestBaseDependentsFollowAMoveBetweenBuilds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := migratedTo(t, 0)
	var base, app int64
	if err := pool.QueryRow(ctx, `WITH r AS (INSERT INTO repositories (registry, name) VALUES ('reg.test', 'library/os'), ('reg.test', 'team/app') RETURNING id, name)
		SELECT (SELECT id FROM r WHERE name = 'library/os'), (SELECT id FROM r WHERE name = 'team/app')`).Scan(&base, &app); err != nil {
		t.Fatal(err)
	}
	dependents := func() (images, stale int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT images, stale_images FROM base_dependents WHERE base_repository_id = $1 AND base_tag = 'latest' AND repository_id = $2`,
			base, app).Scan(&images, &stale); err != nil {
			t.Fatal(err)
		}
		return images, stale
	}
	if _, err := pool.Exec(ctx, `INSERT INTO base_build_rows (base_digest, images, repositories, base_repository_id, base_tag, current_digest, stale)
		VALUES ('sha256:old', 1, 1, $1, 'latest', 'sha256:new', true), ('sha256:new', 1, 1, $1, 'latest', 'sha256:new', false)`, base); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO base_repositories (base_digest, repository_id, images) VALUES ('sha256:old', $1, 1), ('sha256:new', $1, 0)`, app); err != nil {
		t.Fatal(err)
	}
	if images, stale := dependents(); images != 1 || stale != 1 {
		t.Fatalf("an image on the stale build: base_dependents says %d images, %d stale; want 1, 1", images, stale)
	}
	if _, err := pool.Exec(ctx, `UPDATE base_repositories SET images = CASE base_digest WHEN 'sha256:old' THEN 0 ELSE 1 END WHERE repository_id = $1`, app); err != nil {
		t.Fatal(err)
	}
	if images, stale := dependents(); images != 1 || stale != 0 {
		t.Errorf("the image moved to the current build in one statement: base_dependents says %d images, %d stale; want 1, 0", images, stale)
	}
}

// indexStepWaste saves the waste analysis of an image that is ready, if
// any (its figures made up: the aggregates only follow them).
func indexStepWaste(ctx context.Context, store *graph.Store, rng *rand.Rand) error {
	var m string
	err := store.Pool().QueryRow(ctx, `SELECT p.manifest_digest FROM waste_pending p
		JOIN image_index_state s ON s.manifest_digest = p.manifest_digest AND s.unindexed = 0 AND s.rejected = 0
		WHERE NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = p.manifest_digest)
		ORDER BY md5(p.manifest_digest || $1) LIMIT 1`, fmt.Sprint(rng.Uint64())).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return store.SaveWaste(ctx, []graph.ImageWaste{{Digest: m, Layers: 2, WastedBytes: int64(1+rng.IntN(3)) * 1000, WastedCompressedBytes: 300}})
}

// indexLayers are the layers the writers of
// TestAggregatesExactUnderConcurrentWrites push (gzip; their zstd copies
// are never indexed).
var indexLayers = []string{"os1", "py", "os2", "node", "npm", "app-0", "app-1", "app-2", "app-3", "app-4", "app-5",
	"app-6", "app-7", "app-8", "app-9", "app-10", "app-11", "assets-0", "assets-1", "assets-2", "assets-3"}

// indexLayer saves the index of the gzip layer blob of that name: a file
// every layer holds, one some hold, one of its own (twice in its tar), an
// empty one, and a directory.
func indexLayer(ctx context.Context, store *graph.Store, name string) error {
	file := func(path, content string, size int64) fileindex.Entry {
		e := fileindex.Entry{Path: path, Type: fileindex.File, Size: size, Mode: 0o644}
		copy(e.Digest[:], digest(content))
		return e
	}
	idx := &fileindex.Index{Compression: "gzip", Entries: []fileindex.Entry{
		{Path: "etc", Type: fileindex.Dir, Mode: 0o755},
		file("etc/os-release", "os-release", 300),
		file("etc/"+name[:2], "shared "+name[:2], 1000),
		file("own/"+name, "own "+name, int64(100+len(name))),
		file("own/"+name, "own "+name, int64(100+len(name))),
		file("etc/empty", "", 0),
	}}
	_, err := store.SaveLayerIndex(ctx, graph.LayerIndex{BlobDigest: digest("blob " + name), CompressedSize: 100, Index: idx})
	return err
}

// indexStep, more often than not, indexes a layer (an empty index: what the
// bloat report finds in it is not the point), refuses one, or forgets a
// refusal.
func indexStep(ctx context.Context, store *graph.Store, rng *rand.Rand) error {
	l := digest("blob " + indexLayers[rng.IntN(len(indexLayers))])
	switch rng.IntN(16) {
	case 0, 1, 2, 3, 4, 5:
		return indexLayer(ctx, store, indexLayers[rng.IntN(len(indexLayers))])
	case 6:
		return store.RejectLayer(ctx, graph.LayerRejection{BlobDigest: l, Registry: "reg.test", Repository: "r", Class: "test", Reason: "refused by the test"})
	case 9, 10:
		return indexStepWaste(ctx, store, rng)
	case 11:
		// An analysis deleted, as an operator does to have it worked out
		// again: the image goes back on the queue.
		_, err := store.Pool().Exec(ctx, `DELETE FROM image_waste WHERE manifest_digest =
			(SELECT manifest_digest FROM image_waste ORDER BY md5(manifest_digest || $1) LIMIT 1)`, fmt.Sprint(rng.Uint64()))
		return err
	case 7, 8:
		_, err := store.Pool().Exec(ctx, `DELETE FROM layer_rejections WHERE blob_digest = $1`, l)
		return err
	}
	return nil
}

// A graph written before the aggregates existed (schema version 2) gets
// them built by the migration that adds them.
func TestAggregatesMigrationBuildsExistingGraph(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := migratedTo(t, 2)
	store := graph.New(pool)
	at := t0
	push := func(repo, tag string, layers ...string) {
		t.Helper()
		at = at.Add(time.Minute)
		if err := store.Ingest(ctx, []image.Observation{obs(repo, tag, at, imageOf(strings.Join(layers, "+"), layers...))}); err != nil {
			t.Fatal(err)
		}
	}
	push("library/os", "1", "os1")
	push("team-a/api", "latest", "os1", "api-1")
	push("team-a/api", "latest", "os1", "api-2") // a tag move
	push("team-b/web", "v1", "os1", "web-1")
	push("library/os", "1", "os2") // a new base build: the others are stale
	if _, _, err := store.DeleteManifest(ctx, "reg.test", "team-b/web", imageOf("os1+web-1", "os1", "web-1").Digest, at.Add(time.Minute), "test", "d1"); err != nil {
		t.Fatal(err)
	}
	if err := migrate.RunTo(ctx, url, 3); err != nil {
		t.Fatal(err)
	}
	// Changes queued and not folded when the later migrations run: the one
	// that adds the per-content counts folds them first.
	push("team-c/zstd", "1", "os2", "c-1")
	push("team-a/api", "latest", "os2", "api-3")
	// A recompressed copy: the migration that keeps the live encodings
	// per content counts two for each of its layers.
	if err := store.Ingest(ctx, []image.Observation{obs("team-a/api-zstd", "latest", at.Add(time.Minute), zstdCopy(imageOf("os2+api-3", "os2", "api-3")))}); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Up(ctx, url); err != nil {
		t.Fatal(err)
	}
	checkAggregates(t, pool)
	var recompressed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM content_usage WHERE encodings = 2 AND extra_bytes > 0`).Scan(&recompressed); err != nil {
		t.Fatal(err)
	}
	if recompressed != 2 {
		t.Errorf("%d contents with two live encodings after the migrations; want 2 (os2, api-3)", recompressed)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM registry_contents WHERE registry = 'reg.test' AND encodings = 2`).Scan(&recompressed); err != nil {
		t.Fatal(err)
	}
	if recompressed != 2 {
		t.Errorf("%d contents the registry holds in two encodings after the migrations; want 2 (os2, api-3)", recompressed)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM namespace_duplicate_blobs WHERE registry = 'reg.test' AND namespace = 'team-a' AND encodings = 2`).Scan(&recompressed); err != nil {
		t.Fatal(err)
	}
	if recompressed != 2 {
		t.Errorf("%d contents namespace team-a holds in two encodings after the migrations; want 2 (os2, api-3)", recompressed)
	}
	var transitions, bases, stale, days int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM cache_transitions WHERE stream_kind = 'tag'),
		(SELECT count(*) FROM image_bases), (SELECT count(*) FROM base_builds WHERE stale),
		(SELECT coalesce(sum(pushes), 0) FROM growth_days WHERE day = $1)`, t0.UTC().Format(time.DateOnly)).Scan(&transitions, &bases, &stale, &days); err != nil {
		t.Fatal(err)
	}
	// Three tag moves (api twice, os); api-1, api-2 and web-1 on os1,
	// c-1, api-3 and its recompressed copy on os2; os1 stale. The
	// repositories never tagged have one build each: nothing compared.
	if transitions != 3 || bases != 6 || stale != 1 || days != 3 {
		t.Errorf("after the migration: %d tag transitions, %d image bases, %d stale base builds, %d comparisons counted on their day; want 3, 6, 1, 3",
			transitions, bases, stale, days)
	}
}

// Layers whose configs name no diff_ids (no chain ids) are compared by blob:
// different blobs are not reused.
func TestCacheComparesLayersWithoutChainIDs(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	bare := func(name string, layers ...string) image.Manifest {
		m := imageOf(name, layers...)
		for i := range m.Layers {
			m.Layers[i].ChainID, m.Layers[i].DiffID = "", ""
		}
		return m
	}
	for i, m := range []image.Manifest{bare("v1", "a", "b1"), bare("v2", "a", "b2"), bare("v3", "c", "d")} {
		if err := store.Ingest(ctx, []image.Observation{obs("team/app", "latest", t0.Add(time.Duration(i)*time.Minute), m)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	got := rows(t, pool, `SELECT row_number() OVER (ORDER BY occurred_at), reused_layers, total_layers, first_changed_position
		FROM cache_transitions WHERE stream_kind = 'tag'`)
	if want := []string{"[1 1 2 1]", "[2 0 2 0]"}; !slices.Equal(got, want) {
		t.Errorf("transitions (order, reused, total, first changed) = %v, want %v", got, want)
	}
}

// An image names its base by an index digest (as BuildKit writes
// org.opencontainers.image.base.digest); the index arrives after the image
// and after the child the image is built on.
func TestBaseNamedByAnIndexThatArrivesLater(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	base := imageOf("os", "os")
	app := imageOf("os+app", "os", "app")
	index := image.Manifest{Digest: digest("index os"), MediaType: "application/vnd.oci.image.index.v1+json", Size: 300, Kind: image.KindIndex,
		Children: []image.Child{{Digest: base.Digest, MediaType: base.MediaType, Size: base.Size, Platform: image.Platform{OS: "linux", Architecture: "amd64"}}}}
	app.BaseName, app.BaseDigest = "reg.test/library/os:1", index.Digest
	apply := func(o image.Observation) {
		t.Helper()
		if err := store.Ingest(ctx, []image.Observation{o}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
	}
	apply(obs("library/os", "1.0", t0, base))
	apply(obs("team/app", "1", t0.Add(time.Minute), app))
	if got := rows(t, pool, `SELECT base_digest = $1, source FROM image_bases WHERE manifest_digest = $2`, base.Digest, app.Digest); !slices.Equal(got, []string{"[true chain]"}) {
		t.Fatalf("before the index: %v", got)
	}
	apply(obs("library/os", "1", t0.Add(2*time.Minute), index, base))
	if got := rows(t, pool, `SELECT base_digest = $1, source FROM image_bases WHERE manifest_digest = $2`, base.Digest, app.Digest); !slices.Equal(got, []string{"[true annotation]"}) {
		t.Errorf("after the index: %v, want the same base, named by its annotation", got)
	}
	checkAggregates(t, pool)
}

// layerq_apply_pending refuses callers that would double count: outside a
// REPEATABLE READ transaction, or without the applier lock.
func TestApplyPendingRefusesUnsafeCallers(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `SELECT layerq_apply_pending()`)
	if err == nil || !strings.Contains(err.Error(), "REPEATABLE READ") {
		t.Errorf("under READ COMMITTED: %v", err)
	}
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT layerq_apply_pending()`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "applier lock") {
		t.Errorf("without the lock: %v", err)
	}
}

// The periodic fold skips its turn while another applier holds the lock,
// and folds once it is free.
func TestAggregateSkipsWhileAnotherApplies(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	if err := store.Ingest(ctx, []image.Observation{obs("team/app", "1", t0, imageOf("a", "a"))}); err != nil {
		t.Fatal(err)
	}
	queued := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM aggregate_queue`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if queued() == 0 {
		t.Fatal("the push queued nothing")
	}
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(27761, 1)`); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 100)
	go store.Aggregate(actx, 10*time.Millisecond, nil, func(err error) { errs <- err }, nil)
	time.Sleep(200 * time.Millisecond) // about 20 ticks, each finding the lock taken
	if n := queued(); n == 0 {
		t.Fatal("folded while another applier held the lock")
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock(27761, 1)`); err != nil {
		t.Fatal(err)
	}
	holder.Release()
	for deadline := time.Now().Add(30 * time.Second); queued() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the queue was not folded after the lock was released")
		}
	}
	select {
	case err := <-errs:
		t.Fatalf("fold error: %v", err)
	default:
	}
}

// zstdCopy is m recompressed: every layer another blob (zstd, smaller) of
// the same content (diff_id), so another manifest with the same config.
func zstdCopy(m image.Manifest) image.Manifest {
	return recompressed(m, "zstd", 2, 3, "application/vnd.oci.image.layer.v1.tar+zstd")
}

// recompressed is m with each layer compressed another way (how, named):
// other blobs of num/den the size, the same contents.
func recompressed(m image.Manifest, how string, num, den int64, mediaType string) image.Manifest {
	c := m
	c.Digest = digest(how + " " + m.Digest)
	c.Layers = slices.Clone(m.Layers)
	for i, l := range c.Layers {
		l.Digest, l.Size, l.MediaType = digest(how+" "+l.Digest), l.Size*num/den, mediaType
		c.Layers[i] = l
	}
	return c
}

// migratedTo is a new database migrated to version (0: every migration),
// goose's own way, and a plain pool on it, closed at cleanup: for the
// tests of a migration, which migrate it down and up again.
func migratedTo(t *testing.T, version int64) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)
	migrateTo := func() error { return migrate.Up(ctx, url) }
	if version > 0 {
		migrateTo = func() error { return migrate.RunTo(ctx, url, version) }
	}
	if err := migrateTo(); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return url, pool
}

// A tag's comparison that happened before another tag's of the same
// repository, and is folded after it, leaves the step's last bust (what
// `cache --since` counts a repository's busters by) at the later one; and
// the repository's sums through each day take the earlier day in.
func TestCacheWindowTakesAnEarlierComparisonLate(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := graph.New(pool)
	ctx := context.Background()
	day := func(n int) time.Time { return t0.AddDate(0, 0, n) }
	push := func(tag string, at time.Time, m image.Manifest) {
		t.Helper()
		if err := store.Ingest(ctx, []image.Observation{obs("team/app", tag, at, m)}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ApplyAggregates(ctx); err != nil {
			t.Fatal(err)
		}
	}
	push("a", day(10), imageOf("a1", "os", "app-1"))
	push("a", day(11), imageOf("a2", "os", "app-2")) // first change: RUN app-2, day 11
	push("b", day(1), imageOf("b1", "os", "app-9"))
	// The same step ("RUN app-2") in another layer, on day 2.
	b2 := imageOf("b2", "os", "app-2")
	b2.Digest, b2.ConfigDigest = digest("manifest b2"), digest("config b2")
	b2.Layers[1].Digest, b2.Layers[1].DiffID, b2.Layers[1].ChainID = digest("blob other"), digest("diff other"), digest("chain other")
	push("b", day(2), b2)
	var last time.Time
	var days int
	if err := pool.QueryRow(ctx, `SELECT (SELECT last_at FROM cache_step_last WHERE step = 'RUN app-2'), (SELECT count(*) FROM cache_window_days)`).Scan(&last, &days); err != nil {
		t.Fatal(err)
	}
	if !last.Equal(day(11)) || days != 11 {
		t.Errorf("step RUN app-2 last a comparison's first change at %s, %d days of sums; want %s (tag a's) and 11 (days 1 to 11)", last, days, day(11))
	}
	checkAggregates(t, pool)

	// A repository whose tags never moved: its figures are its builds'
	// (created on days 1, 3 and 5). Its latest comparison deleted, its
	// sums end on day 3.
	for i, n := range []int{1, 3, 5} {
		m := imageOf(fmt.Sprint("cli", n), "os", fmt.Sprint("cli-", n))
		created := day(n)
		m.Created = &created
		if err := store.Ingest(ctx, []image.Observation{obs("team/cli", fmt.Sprint(i), day(20), m)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.ApplyAggregates(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM cache_transitions WHERE id = (SELECT t.id FROM cache_transitions t JOIN repositories r ON r.id = t.repository_id
		WHERE r.name = 'team/cli' ORDER BY t.occurred_at DESC LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	var lastDay time.Time
	if err := pool.QueryRow(ctx, `SELECT t.last_day FROM cache_window_totals t JOIN repositories r ON r.id = t.repository_id WHERE r.name = 'team/cli'`).Scan(&lastDay); err != nil || !lastDay.Equal(day(3).Truncate(24*time.Hour)) {
		t.Errorf("team/cli's sums end on %s (%v); want %s", lastDay, err, day(3).Truncate(24*time.Hour))
	}
	// (The created streams, worked out again, would have the comparison
	// back: only what follows the comparisons is checked.)
	compareAggregates(t, pool, comparisonChecks, ", after a delete")
}

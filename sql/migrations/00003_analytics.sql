-- Aggregates for the storage, top-shared, bases and cache reports.
--
-- Reports over 100k images cannot group a million manifest-layer edges on
-- every call, so the graph keeps counters. Triggers on repository_manifests
-- and tag_events append what changed to aggregate_queue (one row per
-- change: ingest pays little), and layerq_apply_pending folds the queue in,
-- set-based. Membership changes (a manifest going live or dead in a
-- repository) go up a chain of reference counts (layerq_apply_membership):
--
--   manifest_refs      live repositories per manifest
--   repository_blobs   live manifests per (repository, blob)
--   namespace_blobs    repositories holding a blob, per (registry, namespace)
--   registry_blobs     repositories and namespaces holding a blob, per registry
--   blob_usage         live image manifests and repositories per blob (top-shared)
--
-- and the per-scope totals the storage report reads (repository_usage,
-- namespace_usage, registry_usage). Each level changes only when the
-- level below crosses zero. New images get their bases worked out
-- (image_bases, base_repositories), new builds extend the created streams,
-- tag moves are compared (cache_transitions, rolled up monthly).
--
-- One applier at a time (graph.Store.ApplyAggregates: a session advisory
-- lock, then one REPEATABLE READ snapshot, in which the queue and the graph
-- agree); reports apply what is queued before they read, so their figures
-- are exact. Because changes are applied in one place, a level above
-- repository_blobs is recounted for the blobs whose holders changed rather
-- than carried as deltas, and no row is fought over by concurrent writers.
--
-- Blobs here are layers and configs; the manifests' own JSON is not counted.
-- A namespace is the first path segment of a repository name (the whole
-- name when it has none).

-- +goose Up
-- Writers wait until the aggregates are built: what the backfill reads is
-- then everything the graph holds, whatever the isolation level.
LOCK TABLE repository_manifests, tag_events, manifest_layers IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE manifest_refs (
    manifest_digest text PRIMARY KEY,
    repositories    integer NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id bigint NOT NULL,
    digest        text NOT NULL,
    size          bigint NOT NULL,
    refs          integer NOT NULL,   -- live manifests (any kind) in the repository using the blob
    image_refs    integer NOT NULL,   -- of which image manifests
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest_idx ON repository_blobs (digest) WHERE refs > 0;

CREATE TABLE namespace_blobs (
    registry  text NOT NULL,
    namespace text NOT NULL,
    digest    text NOT NULL,
    refs      integer NOT NULL,       -- repositories of the namespace holding the blob
    PRIMARY KEY (registry, namespace, digest)
);
CREATE INDEX namespace_blobs_digest_idx ON namespace_blobs (digest) WHERE refs > 0;

CREATE TABLE registry_blobs (
    registry          text NOT NULL,
    digest            text NOT NULL,
    size              bigint NOT NULL,
    repositories      integer NOT NULL,
    namespaces        integer NOT NULL,
    -- Set while exactly one repository (namespace) holds the blob.
    sole_repository   bigint,
    sole_namespace    text,
    PRIMARY KEY (registry, digest)
);
CREATE INDEX registry_blobs_digest_idx ON registry_blobs (digest);

CREATE TABLE blob_usage (
    digest       text PRIMARY KEY,
    size         bigint NOT NULL,
    manifests    integer NOT NULL,    -- live image manifests listing the blob
    repositories integer NOT NULL     -- repositories with such a manifest live
);
CREATE INDEX blob_usage_rank_idx ON blob_usage (manifests DESC, repositories DESC, size DESC, digest) WHERE manifests > 0;

CREATE TABLE repository_usage (
    repository_id  bigint PRIMARY KEY,
    images         integer NOT NULL,  -- live image manifests
    manifests      integer NOT NULL,  -- live manifests of any kind
    logical_bytes  bigint NOT NULL,   -- layers and config of each live manifest, summed
    physical_bytes bigint NOT NULL,   -- distinct blobs of the live manifests
    unique_bytes   bigint NOT NULL DEFAULT 0 -- blobs no other repository of the registry holds
);

CREATE TABLE namespace_usage (
    registry       text NOT NULL,
    namespace      text NOT NULL,
    images         integer NOT NULL,
    manifests      integer NOT NULL,
    logical_bytes  bigint NOT NULL,
    physical_bytes bigint NOT NULL,
    unique_bytes   bigint NOT NULL DEFAULT 0, -- blobs no other namespace of the registry holds
    PRIMARY KEY (registry, namespace)
);

-- Each blob counted once per registry.
CREATE TABLE registry_usage (
    registry       text PRIMARY KEY,
    physical_bytes bigint NOT NULL
);

-- The image each image is built on: "chain" when the base's whole chain of
-- layers is a prefix of this image's (the longest such image seen in a
-- repository this one is not in), "annotation" when the image names its base
-- with org.opencontainers.image.base.digest.
CREATE TABLE image_bases (
    manifest_digest text PRIMARY KEY,
    base_digest     text NOT NULL,
    base_layers     integer NOT NULL,
    source          text NOT NULL CHECK (source IN ('chain', 'annotation'))
);
-- Top chain id of every image manifest seen in a repository, to find bases.
CREATE TABLE image_tops (
    top_chain_id    text NOT NULL,
    manifest_digest text NOT NULL,
    layer_count     integer NOT NULL,
    PRIMARY KEY (top_chain_id, manifest_digest)
);
-- Live images per (base build, repository).
CREATE TABLE base_repositories (
    base_digest   text NOT NULL,
    repository_id bigint NOT NULL,
    images        integer NOT NULL,
    PRIMARY KEY (base_digest, repository_id)
);
-- Finding the images built on a new base looks layers up by chain id, or
-- manifests up by the base their annotation names.
CREATE INDEX manifests_base_digest_idx ON manifests (base_digest) WHERE base_digest IS NOT NULL;
CREATE INDEX manifest_layers_chain_idx ON manifest_layers USING hash (chain_id);
-- Naming a base build finds the tags that point or pointed at it.
CREATE INDEX tag_events_digest_idx ON tag_events (manifest_digest) WHERE action = 'push';
-- Top-shared names the step that made a layer from its first listing.
DROP INDEX manifest_layers_blob_idx;
CREATE INDEX manifest_layers_blob_idx ON manifest_layers (blob_digest, manifest_digest, position);

-- +goose StatementBegin
CREATE FUNCTION layerq_step(created_by text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- A history entry as the instruction that made it: the shell wrapper,
    -- build-arg prefix, BuildKit marker and content hashes taken out.
    SELECT nullif(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        coalesce(created_by, ''),
        '^\|[0-9]+ .*?(/bin/sh -c )', '\1'),
        '^/bin/sh -c #\(nop\)\s*', ''),
        '^(RUN )?/bin/sh -c ', 'RUN '),
        '\s*# buildkit$', ''),
        '(file|dir|multi):[0-9a-f]{64}', '\1:…', 'g')), '')
$$;
-- +goose StatementEnd

-- Advice in words for a step that was the first to change between two
-- builds (position counts from 0: the base's own layers come first).
-- +goose StatementBegin
CREATE FUNCTION layerq_cache_advice(step text, pos integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN step IS NULL THEN NULL
        WHEN pos = 0 THEN 'the base image changed: expected when the base moves; pin FROM by digest to choose when'
        WHEN step ~* '^(COPY|ADD)\s+(--\S+\s+)*\.\s+\S+$' THEN
            'copies the whole build context, so any source change rebuilds every step after it: copy the dependency manifests and lock file first (package.json and package-lock.json, go.mod and go.sum, requirements.txt), run the install, and move this COPY after the install'
        WHEN step ~* '^(COPY|ADD)\s' THEN 'copied files changed: expected when they did; keep rarely changing files in earlier COPY steps'
        WHEN step ~* '(apt-get|apt|apk|dnf|yum|microdnf)\s+(update|upgrade|install|add)' THEN
            'a package install ran again with the steps before it unchanged: the builder lost its cache (use --cache-from/--cache-to with a registry cache) or an ARG or ENV above it changed'
        WHEN step ~* '(npm|yarn|pnpm)\s+(ci|install)|pip3?\s+install|go\s+mod\s+download|bundle\s+install|cargo\s+(fetch|build)' THEN
            'a dependency install ran again with the steps before it unchanged: the builder lost its cache (use --cache-from/--cache-to) or an ARG or ENV above it changed'
        WHEN step ~* '^RUN\s' THEN 'ran again with the steps before it unchanged: the builder lost its cache, an ARG or ENV above it changed, or the command is not reproducible'
        ELSE NULL
    END
$$;
-- +goose StatementEnd

-- One row per consecutive pair of pushes in a stream, per platform: "tag"
-- streams follow a tag's moves (tag events), "created" streams a
-- repository's image builds of one platform in config created order (what a
-- scan, which sees no history, can tell). Pushes are history: deleting a
-- manifest later does not remove them.
CREATE TABLE cache_transitions (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id          bigint NOT NULL,
    stream_kind            text NOT NULL CHECK (stream_kind IN ('tag', 'created')),
    stream                 text NOT NULL,   -- the tag; '' for created streams
    platform               text NOT NULL,
    tag_event_id           bigint,
    from_digest            text NOT NULL,   -- image manifests compared
    to_digest              text NOT NULL,
    occurred_at            timestamptz NOT NULL,
    reused_layers          integer NOT NULL,
    total_layers           integer NOT NULL,
    reused_bytes           bigint NOT NULL,
    total_bytes            bigint NOT NULL,
    first_changed_position integer,
    first_changed_step     text,
    step                   text GENERATED ALWAYS AS (layerq_step(first_changed_step)) STORED
);
CREATE UNIQUE INDEX cache_transitions_event_idx ON cache_transitions (tag_event_id, platform) WHERE stream_kind = 'tag';
CREATE UNIQUE INDEX cache_transitions_created_idx ON cache_transitions (repository_id, platform, from_digest) WHERE stream_kind = 'created';
CREATE INDEX cache_transitions_repo_idx ON cache_transitions (repository_id, stream_kind, occurred_at, id);
CREATE INDEX cache_transitions_at_idx ON cache_transitions (occurred_at);
-- Repositories with a tag stream; the others show their created streams.
CREATE TABLE cache_tagged_repositories (repository_id bigint PRIMARY KEY);
-- Rollups of the transitions per repository and month (UTC), per
-- repository, and of their first changed steps per repository, kept by a
-- trigger so whole-history reports need not read every push.
CREATE TABLE cache_monthly (
    repository_id bigint NOT NULL,
    stream_kind   text NOT NULL,
    month         date NOT NULL,
    pushes        integer NOT NULL,
    reused_layers bigint NOT NULL,
    total_layers  bigint NOT NULL,
    reused_bytes  bigint NOT NULL,
    total_bytes   bigint NOT NULL,
    PRIMARY KEY (repository_id, stream_kind, month)
);
CREATE TABLE cache_totals (
    repository_id bigint NOT NULL,
    stream_kind   text NOT NULL,
    pushes        integer NOT NULL,
    reused_layers bigint NOT NULL,
    total_layers  bigint NOT NULL,
    reused_bytes  bigint NOT NULL,
    total_bytes   bigint NOT NULL,
    PRIMARY KEY (repository_id, stream_kind)
);
CREATE TABLE cache_steps (
    repository_id bigint NOT NULL,
    stream_kind   text NOT NULL,
    step          text NOT NULL,
    base_changed  boolean NOT NULL,
    pushes        integer NOT NULL,
    PRIMARY KEY (repository_id, stream_kind, step, base_changed)
);

-- What the graph's writers changed and the aggregates have not taken in
-- yet: membership changes (a manifest going live, +1, or dead, -1, in a
-- repository; inserted: the membership is new) and tag events. Writers only
-- append here, so ingest pays one row per change; layerq_apply_pending
-- folds the queue into the aggregates.
CREATE TABLE aggregate_queue (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id   bigint,
    manifest_digest text,
    delta           smallint,
    inserted        boolean NOT NULL DEFAULT false,
    tag_event_id    bigint
);

-- +goose StatementBegin
CREATE FUNCTION layerq_namespace(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT split_part(name, '/', 1) $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- os/architecture[/variant], with arm64's default variant v8 left out (as
-- containerd normalizes it), so an index entry and a config that disagree
-- on it still match.
CREATE FUNCTION layerq_platform(os text, architecture text, variant text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws('/', os, architecture, CASE WHEN architecture = 'arm64' AND variant = 'v8' THEN NULL ELSE variant END)
$$;
-- +goose StatementEnd

-- Apply membership changes: manifest p_manifest[i] went live (+1) or dead
-- (-1) in repository p_repo[i].
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_membership(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    touched text[];
BEGIN
    -- Manifest and repository-blob reference counts, and the per-repository
    -- and per-namespace totals that follow from the changes directly.
    WITH ch AS (
        SELECT u.r AS repository_id, u.m AS manifest_digest, sum(u.d)::integer AS delta
        FROM unnest(p_repo, p_manifest, p_delta) AS u(r, m, d)
        GROUP BY 1, 2 HAVING sum(u.d) <> 0
    ),
    chm AS (
        SELECT ch.*, m.kind = 'image' AS is_image,
            m.layers_size + coalesce(m.config_size, 0) AS bytes,
            r.registry, layerq_namespace(r.name) AS namespace
        FROM ch
        JOIN manifests m ON m.digest = ch.manifest_digest
        JOIN repositories r ON r.id = ch.repository_id
    ),
    mrin AS (
        SELECT manifest_digest, sum(delta)::integer AS delta, bool_or(is_image) AS is_image
        FROM chm GROUP BY 1
    ),
    mr AS (
        INSERT INTO manifest_refs AS t (manifest_digest, repositories)
        SELECT manifest_digest, delta FROM mrin ORDER BY manifest_digest
        ON CONFLICT (manifest_digest) DO UPDATE SET repositories = t.repositories + excluded.repositories
        RETURNING t.manifest_digest, t.repositories
    ),
    -- Image manifests that went live (+1) or dead (-1) everywhere.
    mt AS (
        SELECT mr.manifest_digest,
            (mr.repositories > 0)::integer - (mr.repositories - i.delta > 0)::integer AS d
        FROM mr JOIN mrin i USING (manifest_digest)
        WHERE i.is_image
    ),
    content AS (
        SELECT DISTINCT ml.manifest_digest, ml.blob_digest AS digest, b.size
        FROM manifest_layers ml
        JOIN blobs b ON b.digest = ml.blob_digest
        WHERE ml.manifest_digest IN (SELECT manifest_digest FROM mrin)
        UNION
        SELECT m.digest, m.config_digest, coalesce(m.config_size, 0)
        FROM manifests m
        WHERE m.digest IN (SELECT manifest_digest FROM mrin) AND m.config_digest IS NOT NULL
    ),
    rbin AS (
        SELECT chm.repository_id, c.digest, max(c.size) AS size,
            sum(chm.delta)::integer AS refs,
            coalesce(sum(chm.delta) FILTER (WHERE chm.is_image), 0)::integer AS image_refs
        FROM chm JOIN content c USING (manifest_digest)
        GROUP BY 1, 2
    ),
    rb AS (
        INSERT INTO repository_blobs AS t (repository_id, digest, size, refs, image_refs)
        SELECT repository_id, digest, size, refs, image_refs FROM rbin ORDER BY repository_id, digest
        ON CONFLICT (repository_id, digest) DO UPDATE
        SET refs = t.refs + excluded.refs, image_refs = t.image_refs + excluded.image_refs
        RETURNING t.repository_id, t.digest, t.size, t.refs, t.image_refs
    ),
    rt AS (
        SELECT rb.repository_id, rb.digest, rb.size,
            (rb.refs > 0)::integer - (rb.refs - i.refs > 0)::integer AS d,
            (rb.image_refs > 0)::integer - (rb.image_refs - i.image_refs > 0)::integer AS di
        FROM rb JOIN rbin i USING (repository_id, digest)
    ),
    ru AS (
        INSERT INTO repository_usage AS t (repository_id, images, manifests, logical_bytes, physical_bytes)
        SELECT x.repository_id, sum(x.images)::integer, sum(x.manifests)::integer, sum(x.logical)::bigint, sum(x.physical)::bigint
        FROM (
            SELECT repository_id, CASE WHEN is_image THEN delta ELSE 0 END AS images, delta AS manifests,
                delta * bytes AS logical, 0::bigint AS physical
            FROM chm
            UNION ALL
            SELECT repository_id, 0, 0, 0, d * size FROM rt WHERE d <> 0
        ) x
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (repository_id) DO UPDATE
        SET images = t.images + excluded.images, manifests = t.manifests + excluded.manifests,
            logical_bytes = t.logical_bytes + excluded.logical_bytes,
            physical_bytes = t.physical_bytes + excluded.physical_bytes
    ),
    nu AS (
        INSERT INTO namespace_usage AS t (registry, namespace, images, manifests, logical_bytes, physical_bytes)
        SELECT registry, namespace, sum(CASE WHEN is_image THEN delta ELSE 0 END)::integer, sum(delta)::integer,
            sum(delta * bytes)::bigint, 0
        FROM chm GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (registry, namespace) DO UPDATE
        SET images = t.images + excluded.images, manifests = t.manifests + excluded.manifests,
            logical_bytes = t.logical_bytes + excluded.logical_bytes
    ),
    bu AS (
        INSERT INTO blob_usage AS t (digest, size, manifests, repositories)
        SELECT x.digest, max(x.size), sum(x.dm)::integer, sum(x.dr)::integer
        FROM (
            SELECT c.digest, c.size, mt.d AS dm, 0 AS dr
            FROM mt JOIN content c USING (manifest_digest) WHERE mt.d <> 0
            UNION ALL
            SELECT digest, size, 0, di FROM rt WHERE di <> 0
        ) x
        GROUP BY 1 ORDER BY 1
        ON CONFLICT (digest) DO UPDATE
        SET manifests = t.manifests + excluded.manifests, repositories = t.repositories + excluded.repositories
    )
    SELECT array_agg(DISTINCT digest) INTO touched FROM rt WHERE d <> 0;

    IF touched IS NULL THEN
        RETURN;
    END IF;

    -- The blobs some repository started or stopped holding: count their
    -- holders per namespace and per registry afresh, and compare with what
    -- namespace_blobs and registry_blobs said, for physical and unique bytes.
    WITH holders AS (
        SELECT r.registry, layerq_namespace(r.name) AS namespace, rb.digest, rb.repository_id, rb.size
        FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
        WHERE rb.digest = ANY (touched) AND rb.refs > 0
    ),
    ns_new AS (
        SELECT registry, namespace, digest, max(size) AS size, count(*)::integer AS refs FROM holders GROUP BY 1, 2, 3
    ),
    ns_old AS (
        SELECT nb.registry, nb.namespace, nb.digest, nb.refs, rg.size
        FROM namespace_blobs nb JOIN registry_blobs rg USING (registry, digest)
        WHERE nb.digest = ANY (touched) AND nb.refs > 0
    ),
    ns AS (
        SELECT registry, namespace, digest, coalesce(n.size, o.size) AS size,
            coalesce(n.refs, 0) AS new_refs, coalesce(o.refs, 0) AS old_refs
        FROM ns_new n FULL JOIN ns_old o USING (registry, namespace, digest)
    ),
    nb AS (
        INSERT INTO namespace_blobs AS t (registry, namespace, digest, refs)
        SELECT registry, namespace, digest, new_refs FROM ns WHERE new_refs <> old_refs
        ORDER BY registry, namespace, digest
        ON CONFLICT (registry, namespace, digest) DO UPDATE SET refs = excluded.refs
    ),
    reg_new AS (
        SELECT registry, digest, max(size) AS size, count(*)::integer AS repositories,
            count(DISTINCT namespace)::integer AS namespaces,
            min(repository_id) AS any_repository, min(namespace) AS any_namespace
        FROM holders GROUP BY 1, 2
    ),
    reg_old AS (
        SELECT * FROM registry_blobs WHERE digest = ANY (touched)
    ),
    reg AS (
        SELECT registry, digest, coalesce(n.size, o.size) AS size,
            coalesce(n.repositories, 0) AS repositories, coalesce(n.namespaces, 0) AS namespaces,
            CASE WHEN n.repositories = 1 THEN n.any_repository END AS sole_repository,
            CASE WHEN n.namespaces = 1 THEN n.any_namespace END AS sole_namespace,
            coalesce(o.repositories, 0) AS old_repositories,
            o.sole_repository AS old_sole_repository, o.sole_namespace AS old_sole_namespace
        FROM reg_new n FULL JOIN reg_old o USING (registry, digest)
    ),
    rg AS (
        INSERT INTO registry_blobs AS t (registry, digest, size, repositories, namespaces, sole_repository, sole_namespace)
        SELECT registry, digest, size, repositories, namespaces, sole_repository, sole_namespace FROM reg
        ORDER BY registry, digest
        ON CONFLICT (registry, digest) DO UPDATE
        SET repositories = excluded.repositories, namespaces = excluded.namespaces,
            sole_repository = excluded.sole_repository, sole_namespace = excluded.sole_namespace
    ),
    phys AS (
        INSERT INTO registry_usage AS t (registry, physical_bytes)
        SELECT registry, sum(((repositories > 0)::integer - (old_repositories > 0)::integer) * size)::bigint
        FROM reg GROUP BY 1 ORDER BY 1
        ON CONFLICT (registry) DO UPDATE SET physical_bytes = t.physical_bytes + excluded.physical_bytes
    ),
    ruq AS (
        INSERT INTO repository_usage AS t (repository_id, images, manifests, logical_bytes, physical_bytes, unique_bytes)
        SELECT repository_id, 0, 0, 0, 0, sum(bytes)::bigint FROM (
            SELECT old_sole_repository AS repository_id, -size AS bytes FROM reg
            WHERE old_sole_repository IS NOT NULL AND old_sole_repository IS DISTINCT FROM sole_repository
            UNION ALL
            SELECT sole_repository, size FROM reg
            WHERE sole_repository IS NOT NULL AND old_sole_repository IS DISTINCT FROM sole_repository
        ) x GROUP BY 1 ORDER BY 1
        ON CONFLICT (repository_id) DO UPDATE SET unique_bytes = t.unique_bytes + excluded.unique_bytes
    )
    -- A namespace's physical bytes follow its holders crossing zero, its
    -- unique bytes its being the sole holder: one upsert, as a statement
    -- may change a row only once.
    INSERT INTO namespace_usage AS t (registry, namespace, images, manifests, logical_bytes, physical_bytes, unique_bytes)
    SELECT registry, namespace, 0, 0, 0, sum(physical)::bigint, sum(uniq)::bigint FROM (
        SELECT registry, namespace, ((new_refs > 0)::integer - (old_refs > 0)::integer) * size AS physical, 0 AS uniq
        FROM ns WHERE (new_refs > 0) <> (old_refs > 0)
        UNION ALL
        SELECT registry, old_sole_namespace, 0, -size FROM reg
        WHERE old_sole_namespace IS NOT NULL AND old_sole_namespace IS DISTINCT FROM sole_namespace
        UNION ALL
        SELECT registry, sole_namespace, 0, size FROM reg
        WHERE sole_namespace IS NOT NULL AND old_sole_namespace IS DISTINCT FROM sole_namespace
    ) x GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (registry, namespace) DO UPDATE
    SET physical_bytes = t.physical_bytes + excluded.physical_bytes, unique_bytes = t.unique_bytes + excluded.unique_bytes;
END;
$$;
-- +goose StatementEnd

-- Live image counts per (base, repository) follow membership changes of the
-- images whose base is known.
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_base_membership(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    WITH ch AS (
        SELECT u.r AS repository_id, u.m AS manifest_digest, sum(u.d)::integer AS delta
        FROM unnest(p_repo, p_manifest, p_delta) AS u(r, m, d)
        GROUP BY 1, 2 HAVING sum(u.d) <> 0
    ),
    bases AS (
        SELECT ib.manifest_digest, ib.base_digest FROM image_bases ib
        WHERE ib.manifest_digest IN (SELECT manifest_digest FROM ch)
    )
    INSERT INTO base_repositories AS t (base_digest, repository_id, images)
    SELECT b.base_digest, ch.repository_id, sum(ch.delta)::integer
    FROM ch JOIN bases b USING (manifest_digest)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (base_digest, repository_id) DO UPDATE SET images = t.images + excluded.images;
END;
$$;
-- +goose StatementEnd

-- Work out the bases of p_images (image manifests), store the ones that
-- changed, and move their live images' counts to the new base.
-- +goose StatementBegin
CREATE FUNCTION layerq_recompute_bases(p_images text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    ch_digest text[]; ch_old text[]; ch_new text[]; ch_source text[];
BEGIN
    IF p_images IS NULL OR cardinality(p_images) = 0 THEN
        RETURN;
    END IF;
    WITH s AS (
        SELECT m.digest, m.layer_count, m.base_digest AS annotated, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM manifests m WHERE m.digest = ANY (p_images) AND m.kind = 'image'
    ),
    annotated AS (
        SELECT DISTINCT ON (s.digest) s.digest, b.digest AS base, b.layer_count
        FROM s
        JOIN LATERAL (
            SELECT bm.digest, bm.layer_count, 0 AS pos FROM manifests bm
            WHERE bm.digest = s.annotated AND bm.kind = 'image'
            UNION ALL
            SELECT c.child_digest, cm.layer_count, c.position FROM index_children c
            JOIN manifests cm ON cm.digest = c.child_digest AND cm.kind = 'image'
            WHERE c.index_digest = s.annotated AND layerq_platform(c.os, c.architecture, c.variant) = s.platform
        ) b ON true
        WHERE s.annotated IS NOT NULL AND b.digest <> s.digest
        ORDER BY s.digest, b.pos
    ),
    chained AS (
        SELECT DISTINCT ON (s.digest) s.digest, b.digest AS base, b.layer_count
        FROM s
        JOIN manifest_layers ml ON ml.manifest_digest = s.digest
        JOIN image_tops it ON it.top_chain_id = ml.chain_id AND it.layer_count = ml.position + 1
        JOIN manifests b ON b.digest = it.manifest_digest
        WHERE b.digest <> s.digest AND b.layer_count < s.layer_count
          AND EXISTS (
            SELECT 1 FROM repository_manifests rb
            WHERE rb.manifest_digest = b.digest
              AND NOT EXISTS (SELECT 1 FROM repository_manifests rs
                              WHERE rs.manifest_digest = s.digest AND rs.repository_id = rb.repository_id))
        ORDER BY s.digest, b.layer_count DESC, b.created DESC NULLS LAST, b.digest
    ),
    best AS (
        SELECT s.digest, coalesce(a.base, c.base) AS base, coalesce(a.layer_count, c.layer_count) AS layers,
            CASE WHEN a.base IS NOT NULL THEN 'annotation' ELSE 'chain' END AS source
        FROM s
        LEFT JOIN annotated a USING (digest)
        LEFT JOIN chained c USING (digest)
    ),
    stored AS (
        SELECT ib.manifest_digest, ib.base_digest, ib.source FROM image_bases ib
        WHERE ib.manifest_digest IN (SELECT digest FROM best)
    )
    SELECT array_agg(b.digest ORDER BY b.digest), array_agg(l.base_digest ORDER BY b.digest), array_agg(b.base ORDER BY b.digest),
        array_agg(b.source ORDER BY b.digest)
    INTO ch_digest, ch_old, ch_new, ch_source
    FROM best b LEFT JOIN stored l ON l.manifest_digest = b.digest
    WHERE b.base IS DISTINCT FROM l.base_digest OR (b.base IS NOT NULL AND b.source IS DISTINCT FROM l.source);

    IF ch_digest IS NULL THEN
        RETURN;
    END IF;

    DELETE FROM image_bases WHERE manifest_digest = ANY (ch_digest);
    INSERT INTO image_bases (manifest_digest, base_digest, base_layers, source)
    SELECT s.digest, s.base, bm.layer_count, s.source
    FROM unnest(ch_digest, ch_new, ch_source) AS s(digest, base, source)
    JOIN manifests bm ON bm.digest = s.base
    WHERE s.base IS NOT NULL
    ORDER BY s.digest;

    -- The applier's snapshot holds exactly the memberships counted so far
    -- (layerq_apply_base_membership ran first): move them to the new base.
    WITH moved AS (
        SELECT u.old, u.new, rm.repository_id
        FROM unnest(ch_digest, ch_old, ch_new) AS u(digest, old, new)
        JOIN repository_manifests rm ON rm.manifest_digest = u.digest AND rm.deleted_at IS NULL
    )
    INSERT INTO base_repositories AS t (base_digest, repository_id, images)
    SELECT base, repository_id, sum(d)::integer FROM (
        SELECT old AS base, repository_id, -1 AS d FROM moved WHERE old IS NOT NULL
        UNION ALL
        SELECT new, repository_id, 1 FROM moved WHERE new IS NOT NULL
    ) x GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
    ON CONFLICT (base_digest, repository_id) DO UPDATE SET images = t.images + excluded.images;
END;
$$;
-- +goose StatementEnd

-- Compare pairs of image manifests layer by layer, all at once: the layers
-- of p_to[i] reused from p_from[i] are its leading layers with the same
-- chain id (or, where a chain id is unknown, the same blob).
-- +goose StatementBegin
CREATE FUNCTION layerq_compare_pairs(p_from text[], p_to text[])
RETURNS TABLE (from_digest text, to_digest text, reused_layers integer, total_layers integer, reused_bytes bigint,
               total_bytes bigint, first_changed_position integer, first_changed_step text)
LANGUAGE sql STABLE AS $$
    WITH p AS (
        SELECT DISTINCT f, t FROM unnest(p_from, p_to) AS u(f, t)
    ),
    l AS (
        SELECT p.f, p.t, tl.position, tl.created_by, b.size,
            coalesce(fl.position IS NOT NULL AND (fl.chain_id = tl.chain_id
                OR ((fl.chain_id IS NULL OR tl.chain_id IS NULL) AND fl.blob_digest = tl.blob_digest)), false) AS same
        FROM p
        JOIN manifest_layers tl ON tl.manifest_digest = p.t
        JOIN blobs b ON b.digest = tl.blob_digest
        LEFT JOIN manifest_layers fl ON fl.manifest_digest = p.f AND fl.position = tl.position
    ),
    w AS (
        SELECT l.*, min(l.position) FILTER (WHERE NOT l.same) OVER (PARTITION BY l.f, l.t) AS first FROM l
    )
    SELECT f, t, coalesce(first, count(*))::integer, count(*)::integer,
        coalesce(sum(size) FILTER (WHERE first IS NULL OR position < first), 0)::bigint,
        coalesce(sum(size), 0)::bigint, first,
        max(created_by) FILTER (WHERE position = first)
    FROM w
    GROUP BY f, t, first
$$;
-- +goose StatementEnd

-- The image manifests a tagged digest stands for, per platform: itself, or
-- an index's image children (attestations, platform unknown, left out).
-- +goose StatementBegin
CREATE FUNCTION layerq_platform_images(p_digest text) RETURNS TABLE (platform text, image text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (platform) platform, image FROM (
        SELECT layerq_platform(m.os, m.architecture, m.variant) AS platform, m.digest AS image, -1 AS position
        FROM manifests m WHERE m.digest = p_digest AND m.kind = 'image'
        UNION ALL
        SELECT layerq_platform(c.os, c.architecture, c.variant), c.child_digest, c.position
        FROM index_children c JOIN manifests m ON m.digest = c.child_digest AND m.kind = 'image'
        WHERE c.index_digest = p_digest AND coalesce(c.os, '') <> 'unknown'
    ) x ORDER BY platform, position
$$;
-- +goose StatementEnd

-- New image memberships extend their repository's created streams: each
-- new build goes between the builds created just before and after it.
-- +goose StatementBegin
CREATE FUNCTION layerq_extend_created_streams(p_repo bigint[], p_manifest text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    o_repo bigint[]; o_platform text[]; o_digest text[]; o_prev text[]; o_at timestamptz[];
    a_repo bigint[]; a_platform text[]; a_digest text[];
BEGIN
    -- The streams the new builds join, in order, each build with the one
    -- before it; and the anchors: each new build and the build before it,
    -- whose outgoing transitions are the ones that change.
    WITH new AS (
        SELECT DISTINCT u.r AS repository_id, u.m AS manifest_digest, layerq_platform(m.os, m.architecture, m.variant) AS platform
        FROM unnest(p_repo, p_manifest) AS u(r, m)
        JOIN manifests m ON m.digest = u.m AND m.kind = 'image' AND m.layer_count > 0
    ),
    streams AS (SELECT DISTINCT repository_id, platform FROM new),
    members AS (
        -- A build dated before 1980 (reproducible builders stamp 1970) has
        -- no real date: it is placed when layerq first saw it.
        SELECT rm.repository_id, s.platform, rm.manifest_digest,
            CASE WHEN m.created >= '1980-01-01' THEN m.created ELSE rm.first_seen END AS at
        FROM streams s
        JOIN repository_manifests rm ON rm.repository_id = s.repository_id
        JOIN manifests m ON m.digest = rm.manifest_digest AND m.kind = 'image' AND m.layer_count > 0
            AND layerq_platform(m.os, m.architecture, m.variant) = s.platform
    ),
    marked AS (
        SELECT mb.repository_id, mb.platform, mb.manifest_digest, mb.at, n.manifest_digest IS NOT NULL AS is_new
        FROM members mb
        LEFT JOIN new n USING (repository_id, platform, manifest_digest)
    ),
    ordered AS (
        SELECT m.*,
            lag(m.manifest_digest) OVER w AS prev,
            coalesce(lag(m.is_new) OVER w, false) AS prev_is_new
        FROM marked m
        WINDOW w AS (PARTITION BY m.repository_id, m.platform ORDER BY m.at, m.manifest_digest)
    ),
    anchors AS (
        SELECT repository_id, platform, manifest_digest AS digest FROM ordered WHERE is_new
        UNION
        SELECT repository_id, platform, prev FROM ordered WHERE is_new AND prev IS NOT NULL
    ),
    -- The pairs out of an anchor: a build whose predecessor is new, or
    -- which is new itself (its predecessor is then an anchor).
    pairs AS (
        SELECT * FROM ordered WHERE prev IS NOT NULL AND (is_new OR prev_is_new)
    )
    SELECT (SELECT array_agg(repository_id ORDER BY repository_id, platform, digest) FROM anchors),
        (SELECT array_agg(platform ORDER BY repository_id, platform, digest) FROM anchors),
        (SELECT array_agg(digest ORDER BY repository_id, platform, digest) FROM anchors),
        (SELECT array_agg(repository_id ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(platform ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(manifest_digest ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(prev ORDER BY repository_id, platform, prev) FROM pairs),
        (SELECT array_agg(at ORDER BY repository_id, platform, prev) FROM pairs)
    INTO a_repo, a_platform, a_digest, o_repo, o_platform, o_digest, o_prev, o_at;

    IF a_repo IS NULL THEN
        RETURN;
    END IF;

    DELETE FROM cache_transitions ct
    USING unnest(a_repo, a_platform, a_digest) AS a(repository_id, platform, digest)
    WHERE ct.stream_kind = 'created' AND ct.repository_id = a.repository_id
      AND ct.platform = a.platform AND ct.from_digest = a.digest;

    IF o_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, from_digest, to_digest, occurred_at,
        reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT o.repository_id, 'created', '', o.platform, o.prev, o.digest, o.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(o_repo, o_platform, o_digest, o_prev, o_at) AS o(repository_id, platform, digest, prev, at)
    JOIN layerq_compare_pairs(o_prev, o_digest) c ON c.from_digest = o.prev AND c.to_digest = o.digest
    ORDER BY o.repository_id, o.platform, o.prev;
END;
$$;
-- +goose StatementEnd

-- Fold every queued change into the aggregates: count membership changes,
-- record the tops of images new to a repository, work out the bases of new
-- images and of the images they are a base of, extend the created streams,
-- compare the tag moves. Returns how many queue rows it took in.
--
-- One applier at a time, and it must see the queue and the graph in one
-- snapshot (what it reads of memberships must be exactly what the queue
-- rows it takes have changed): graph.Store.ApplyAggregates takes a session
-- advisory lock, then calls this in a REPEATABLE READ transaction.
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    n integer;
    r bigint[]; m text[]; d integer[];
    nr bigint[]; nm text[];
    fresh text[]; affected text[]; events bigint[];
BEGIN
    WITH q AS (DELETE FROM aggregate_queue RETURNING *)
    SELECT count(*),
        array_agg(repository_id ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(manifest_digest ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(delta::integer ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(repository_id) FILTER (WHERE inserted),
        array_agg(manifest_digest) FILTER (WHERE inserted),
        array_agg(tag_event_id) FILTER (WHERE tag_event_id IS NOT NULL)
    INTO n, r, m, d, nr, nm, events
    FROM q;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    IF r IS NOT NULL THEN
        PERFORM layerq_apply_membership(r, m, d);
        PERFORM layerq_apply_base_membership(r, m, d);
    END IF;

    IF nr IS NOT NULL THEN
        -- Image manifests seen in a repository for the first time.
        SELECT array_agg(DISTINCT x.digest) INTO fresh
        FROM unnest(nm) AS x(digest)
        JOIN manifests mf ON mf.digest = x.digest AND mf.kind = 'image';
    END IF;
    IF nr IS NOT NULL THEN
        INSERT INTO image_tops (top_chain_id, manifest_digest, layer_count)
        SELECT ml.chain_id, mf.digest, mf.layer_count
        FROM manifests mf
        JOIN manifest_layers ml ON ml.manifest_digest = mf.digest AND ml.position = mf.layer_count - 1
        WHERE mf.digest = ANY (fresh) AND ml.chain_id IS NOT NULL
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;

        -- The new images, and the images built on them (their whole chain
        -- of layers is a prefix of those, or they name them as base).
        SELECT array_agg(DISTINCT digest) INTO affected FROM (
            SELECT unnest(coalesce(fresh, '{}')) AS digest
            UNION
            SELECT dl.manifest_digest
            FROM manifests mf
            JOIN manifest_layers top ON top.manifest_digest = mf.digest AND top.position = mf.layer_count - 1
            JOIN manifest_layers dl ON dl.chain_id = top.chain_id AND dl.position = top.position
            WHERE mf.digest = ANY (fresh) AND top.chain_id IS NOT NULL AND dl.manifest_digest <> mf.digest
              AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = dl.manifest_digest)
            UNION
            SELECT mm.digest FROM manifests mm
            WHERE mm.kind = 'image'
              AND (mm.base_digest = ANY (nm)
                   OR mm.base_digest IN (SELECT c.index_digest FROM index_children c WHERE c.child_digest = ANY (fresh)))
              AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = mm.digest)
        ) a;
        PERFORM layerq_recompute_bases(affected);
        PERFORM layerq_extend_created_streams(nr, nm);
    END IF;

    IF events IS NOT NULL THEN
        PERFORM layerq_add_tag_transitions(events);
    END IF;
    RETURN n;
END;
$$;
-- +goose StatementEnd

-- layerq_apply_queue, for callers holding up their end: the applier lock
-- and one snapshot for the whole fold. Anything else would count changes
-- twice or not at all, so it refuses.
-- +goose StatementBegin
CREATE FUNCTION layerq_apply_pending() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF current_setting('transaction_isolation') NOT IN ('repeatable read', 'serializable') THEN
        RAISE EXCEPTION 'layerq_apply_pending must run in a REPEATABLE READ transaction (graph.Store.ApplyAggregates does)';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 27761 AND objid = 1
                   AND objsubid = 2 AND pid = pg_backend_pid() AND granted) THEN
        RAISE EXCEPTION 'layerq_apply_pending needs the applier lock, pg_advisory_lock(27761, 1), taken before the transaction';
    END IF;
    RETURN layerq_apply_queue();
END;
$$;
-- +goose StatementEnd
REVOKE EXECUTE ON FUNCTION layerq_apply_queue() FROM PUBLIC;

-- The triggers queue what changed.
-- +goose StatementBegin
CREATE FUNCTION layerq_memberships_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (repository_id, manifest_digest, delta, inserted)
    SELECT repository_id, manifest_digest, CASE WHEN deleted_at IS NULL THEN 1 END, true FROM new_rows;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_memberships_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (repository_id, manifest_digest, delta)
    SELECT n.repository_id, n.manifest_digest, CASE WHEN n.deleted_at IS NULL THEN 1 ELSE -1 END
    FROM new_rows n JOIN old_rows o USING (repository_id, manifest_digest)
    WHERE (n.deleted_at IS NULL) <> (o.deleted_at IS NULL);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_memberships_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (repository_id, manifest_digest, delta)
    SELECT repository_id, manifest_digest, -1 FROM old_rows WHERE deleted_at IS NULL;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_tag_events_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (tag_event_id)
    SELECT id FROM new_rows
    WHERE action = 'push' AND previous_digest IS NOT NULL AND previous_digest <> manifest_digest;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- Tag moves (tag events p_ids) become tag-stream transitions, one per
-- platform both sides have.
-- +goose StatementBegin
CREATE FUNCTION layerq_add_tag_transitions(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    e_repo bigint[]; e_tag text[]; e_id bigint[]; e_at timestamptz[]; e_platform text[]; e_from text[]; e_to text[];
BEGIN
    SELECT array_agg(x.repository_id ORDER BY x.id, x.platform), array_agg(x.tag ORDER BY x.id, x.platform),
        array_agg(x.id ORDER BY x.id, x.platform), array_agg(x.occurred_at ORDER BY x.id, x.platform),
        array_agg(x.platform ORDER BY x.id, x.platform), array_agg(x.from_image ORDER BY x.id, x.platform),
        array_agg(x.to_image ORDER BY x.id, x.platform)
    INTO e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to
    FROM (
        SELECT e.repository_id, e.tag, e.id, e.occurred_at, t.platform, f.image AS from_image, t.image AS to_image
        FROM tag_events e
        CROSS JOIN LATERAL layerq_platform_images(e.manifest_digest) t
        JOIN LATERAL layerq_platform_images(e.previous_digest) f ON f.platform = t.platform
        WHERE e.id = ANY (p_ids) AND e.action = 'push' AND e.previous_digest IS NOT NULL
          AND e.previous_digest <> e.manifest_digest
    ) x;
    IF e_repo IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO cache_transitions (repository_id, stream_kind, stream, platform, tag_event_id, from_digest, to_digest,
        occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, first_changed_position, first_changed_step)
    SELECT u.repository_id, 'tag', u.tag, u.platform, u.id, u.f, u.t, u.at,
        c.reused_layers, c.total_layers, c.reused_bytes, c.total_bytes, c.first_changed_position, c.first_changed_step
    FROM unnest(e_repo, e_tag, e_id, e_at, e_platform, e_from, e_to) AS u(repository_id, tag, id, at, platform, f, t)
    JOIN layerq_compare_pairs(e_from, e_to) c ON c.from_digest = u.f AND c.to_digest = u.t
    ORDER BY u.id, u.platform
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd


-- Add transitions p_ids (p_sign 1), or the given deleted ones (-1), to the
-- rollups.
-- +goose StatementBegin
CREATE FUNCTION layerq_cache_rollup(p_ids bigint[], p_sign integer) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    PERFORM layerq_cache_rollup_rows(
        array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
        array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(step),
        array_agg(first_changed_position), p_sign)
    FROM cache_transitions WHERE id = ANY (p_ids);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_cache_rollup_rows(p_repo bigint[], p_kind text[], p_at timestamptz[], p_reused integer[],
    p_total integer[], p_reused_bytes bigint[], p_total_bytes bigint[], p_step text[], p_first integer[], p_sign integer)
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    IF p_repo IS NULL THEN
        RETURN;
    END IF;
    WITH x AS (
        SELECT * FROM unnest(p_repo, p_kind, p_at, p_reused, p_total, p_reused_bytes, p_total_bytes, p_step, p_first)
            AS u(repository_id, stream_kind, occurred_at, reused_layers, total_layers, reused_bytes, total_bytes, step, first)
    ),
    monthly AS (
        INSERT INTO cache_monthly AS t (repository_id, stream_kind, month, pushes, reused_layers, total_layers, reused_bytes, total_bytes)
        SELECT repository_id, stream_kind, date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date,
            p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes)
        FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (repository_id, stream_kind, month) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes
    ),
    totals AS (
        INSERT INTO cache_totals AS t (repository_id, stream_kind, pushes, reused_layers, total_layers, reused_bytes, total_bytes)
        SELECT repository_id, stream_kind, p_sign * count(*)::integer, p_sign * sum(reused_layers), p_sign * sum(total_layers),
            p_sign * sum(reused_bytes), p_sign * sum(total_bytes)
        FROM x GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (repository_id, stream_kind) DO UPDATE
        SET pushes = t.pushes + excluded.pushes, reused_layers = t.reused_layers + excluded.reused_layers,
            total_layers = t.total_layers + excluded.total_layers, reused_bytes = t.reused_bytes + excluded.reused_bytes,
            total_bytes = t.total_bytes + excluded.total_bytes
    )
    INSERT INTO cache_steps AS t (repository_id, stream_kind, step, base_changed, pushes)
    SELECT repository_id, stream_kind, step, first = 0, p_sign * count(*)::integer
    FROM x WHERE step IS NOT NULL
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (repository_id, stream_kind, step, base_changed) DO UPDATE SET pushes = t.pushes + excluded.pushes;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION layerq_cache_transitions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_tagged_repositories (repository_id)
        SELECT DISTINCT repository_id FROM new_rows WHERE stream_kind = 'tag' ORDER BY 1
        ON CONFLICT DO NOTHING;
        PERFORM layerq_cache_rollup(array_agg(id), 1) FROM new_rows;
    ELSE
        PERFORM layerq_cache_rollup_rows(
            array_agg(repository_id), array_agg(stream_kind), array_agg(occurred_at), array_agg(reused_layers),
            array_agg(total_layers), array_agg(reused_bytes), array_agg(total_bytes), array_agg(step),
            array_agg(first_changed_position), -1)
        FROM old_rows;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER cache_transitions_inserted AFTER INSERT ON cache_transitions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_transitions_changed();
CREATE TRIGGER cache_transitions_deleted AFTER DELETE ON cache_transitions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_cache_transitions_changed();

CREATE TRIGGER repository_manifests_inserted AFTER INSERT ON repository_manifests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_memberships_inserted();
CREATE TRIGGER repository_manifests_updated AFTER UPDATE ON repository_manifests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_memberships_updated();
CREATE TRIGGER repository_manifests_deleted AFTER DELETE ON repository_manifests
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_memberships_deleted();
CREATE TRIGGER tag_events_inserted AFTER INSERT ON tag_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layerq_tag_events_inserted();

-- Build the aggregates for what the graph holds already.
INSERT INTO aggregate_queue (repository_id, manifest_digest, delta, inserted)
SELECT repository_id, manifest_digest, CASE WHEN deleted_at IS NULL THEN 1 END, true
FROM repository_manifests ORDER BY repository_id, manifest_digest;
INSERT INTO aggregate_queue (tag_event_id)
SELECT id FROM tag_events
WHERE action = 'push' AND previous_digest IS NOT NULL AND previous_digest <> manifest_digest ORDER BY id;
SELECT layerq_apply_queue();

-- Top-shared, precomputed: layers by live image manifests using them.
CREATE VIEW shared_layers AS
SELECT u.digest, coalesce(b.diff_id, '') AS diff_id, u.size, u.manifests, u.repositories,
    u.size * (u.manifests - 1) AS bytes_saved
FROM blob_usage u JOIN blobs b ON b.digest = u.digest
WHERE u.manifests > 0;

-- Storage per repository, per namespace and per registry. Logical bytes sum
-- each live manifest's layers and config; physical bytes count each blob
-- once; unique bytes are the blobs no other repository (namespace) of the
-- registry holds; shared = physical - unique.
CREATE VIEW storage_repositories AS
SELECT r.registry, r.name AS repository, layerq_namespace(r.name) AS namespace,
    u.images, u.manifests, u.logical_bytes, u.physical_bytes, u.unique_bytes,
    u.physical_bytes - u.unique_bytes AS shared_bytes
FROM repository_usage u
JOIN repositories r ON r.id = u.repository_id
WHERE u.manifests > 0;

CREATE VIEW storage_namespaces AS
SELECT u.registry, u.namespace, u.images, u.manifests, u.logical_bytes, u.physical_bytes, u.unique_bytes,
    u.physical_bytes - u.unique_bytes AS shared_bytes
FROM namespace_usage u
WHERE u.manifests > 0;

CREATE VIEW storage_registries AS
SELECT u.registry, u.images, u.manifests, u.logical_bytes, coalesce(p.physical_bytes, 0) AS physical_bytes,
    round(u.logical_bytes::numeric / nullif(p.physical_bytes, 0), 4)::float8 AS dedup_ratio
FROM (SELECT registry, sum(images)::bigint AS images, sum(manifests)::bigint AS manifests,
          sum(logical_bytes)::bigint AS logical_bytes
      FROM namespace_usage GROUP BY 1) u
LEFT JOIN registry_usage p USING (registry)
WHERE u.manifests > 0;

-- Consecutive pushes: every tag stream, and the created streams of
-- repositories no tag history covers.
CREATE VIEW cache_history AS
SELECT t.id, r.registry, r.name AS repository, t.stream_kind, t.stream, t.platform,
    t.from_digest, t.to_digest, t.occurred_at, t.reused_layers, t.total_layers,
    t.reused_bytes, t.total_bytes, t.first_changed_position, t.first_changed_step,
    t.step, layerq_cache_advice(t.step, t.first_changed_position) AS advice
FROM cache_transitions t
JOIN repositories r ON r.id = t.repository_id
LEFT JOIN cache_tagged_repositories x ON x.repository_id = t.repository_id
WHERE t.stream_kind = CASE WHEN x.repository_id IS NOT NULL THEN 'tag' ELSE 'created' END;

-- The rollups of the same streams: per repository and month, per
-- repository, and by first changed step. Tag rollups exist only for
-- repositories with a tag stream; created ones count for the others.
CREATE VIEW cache_effective_monthly AS
SELECT m.* FROM cache_monthly m WHERE m.stream_kind = 'tag' AND m.pushes > 0
UNION ALL
SELECT m.* FROM cache_monthly m
WHERE m.stream_kind = 'created' AND m.pushes > 0
  AND NOT EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = m.repository_id);

CREATE VIEW cache_effective_totals AS
SELECT m.* FROM cache_totals m WHERE m.stream_kind = 'tag' AND m.pushes > 0
UNION ALL
SELECT m.* FROM cache_totals m
WHERE m.stream_kind = 'created' AND m.pushes > 0
  AND NOT EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = m.repository_id);

CREATE VIEW cache_effective_steps AS
SELECT m.* FROM cache_steps m WHERE m.stream_kind = 'tag' AND m.pushes > 0
UNION ALL
SELECT m.* FROM cache_steps m
WHERE m.stream_kind = 'created' AND m.pushes > 0
  AND NOT EXISTS (SELECT 1 FROM cache_tagged_repositories x WHERE x.repository_id = m.repository_id);

CREATE VIEW cache_history_monthly AS
SELECT r.registry, r.name AS repository, m.month, m.pushes, m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_monthly m JOIN repositories r ON r.id = m.repository_id;

CREATE VIEW cache_history_totals AS
SELECT r.registry, r.name AS repository, m.pushes, m.reused_layers, m.total_layers, m.reused_bytes, m.total_bytes
FROM cache_effective_totals m JOIN repositories r ON r.id = m.repository_id;

CREATE VIEW cache_history_steps AS
SELECT r.registry, r.name AS repository, m.step, m.base_changed, m.pushes
FROM cache_effective_steps m JOIN repositories r ON r.id = m.repository_id;

-- Each base build in use: its live dependents, the tag that names it and
-- whether that tag has moved on to another build.
CREATE VIEW base_builds AS
WITH builds AS (
    SELECT base_digest, sum(images)::bigint AS images, count(*)::bigint AS repositories
    FROM base_repositories WHERE images > 0 GROUP BY 1
),
refs AS (
    SELECT base_digest, base_digest AS ref FROM builds
    UNION ALL
    SELECT b.base_digest, c.index_digest FROM builds b JOIN index_children c ON c.child_digest = b.base_digest
),
tagged AS (
    -- Live tags pointing at the build (or an index holding it) now.
    SELECT DISTINCT ON (f.base_digest) f.base_digest, t.repository_id, t.name AS tag
    FROM refs f JOIN tags t ON t.manifest_digest = f.ref AND t.deleted_at IS NULL
    ORDER BY f.base_digest, t.updated_at DESC, t.name
),
last AS (
    -- Otherwise the tag that pointed at it last.
    SELECT DISTINCT ON (f.base_digest) f.base_digest, e.repository_id, e.tag
    FROM refs f JOIN tag_events e ON e.manifest_digest = f.ref AND e.action = 'push'
    WHERE f.base_digest NOT IN (SELECT base_digest FROM tagged)
    ORDER BY f.base_digest, e.occurred_at DESC, e.id DESC
),
named AS (
    SELECT base_digest, repository_id, tag, true AS current FROM tagged
    UNION ALL
    SELECT base_digest, repository_id, tag, false FROM last
)
SELECT b.base_digest, b.images, b.repositories,
    coalesce(n.repository_id, (SELECT rm.repository_id FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
                               WHERE rm.manifest_digest = b.base_digest ORDER BY rm.deleted_at IS NOT NULL, r.name LIMIT 1)) AS base_repository_id,
    coalesce(n.tag, '') AS base_tag,
    CASE WHEN n.current THEN b.base_digest ELSE cur.image END AS current_digest,
    (NOT coalesce(n.current, true) AND cur.image IS NOT NULL AND cur.image <> b.base_digest) AS stale
FROM builds b
LEFT JOIN named n USING (base_digest)
LEFT JOIN tags t ON NOT n.current AND t.repository_id = n.repository_id AND t.name = n.tag AND t.deleted_at IS NULL
LEFT JOIN LATERAL (
    SELECT p.image FROM layerq_platform_images(t.manifest_digest) p
    JOIN manifests bm ON bm.digest = b.base_digest
    WHERE p.platform = layerq_platform(bm.os, bm.architecture, bm.variant)
) cur ON true;

-- +goose Down
DROP VIEW base_builds, cache_history_steps, cache_history_totals, cache_history_monthly,
    cache_effective_steps, cache_effective_totals, cache_effective_monthly, cache_history, storage_registries, storage_namespaces, storage_repositories, shared_layers;
DROP INDEX manifest_layers_blob_idx;
CREATE INDEX manifest_layers_blob_idx ON manifest_layers (blob_digest);
DROP TRIGGER cache_transitions_deleted ON cache_transitions;
DROP TRIGGER cache_transitions_inserted ON cache_transitions;
DROP FUNCTION layerq_cache_transitions_changed(), layerq_cache_rollup(bigint[], integer),
    layerq_cache_rollup_rows(bigint[], text[], timestamptz[], integer[], integer[], bigint[], bigint[], text[], integer[], integer);
DROP TRIGGER tag_events_inserted ON tag_events;
DROP TRIGGER repository_manifests_deleted ON repository_manifests;
DROP TRIGGER repository_manifests_updated ON repository_manifests;
DROP TRIGGER repository_manifests_inserted ON repository_manifests;
DROP FUNCTION layerq_tag_events_inserted(), layerq_add_tag_transitions(bigint[]), layerq_apply_pending(), layerq_apply_queue(), layerq_memberships_deleted(), layerq_memberships_updated(),
    layerq_memberships_inserted(), layerq_extend_created_streams(bigint[], text[]),
    layerq_platform_images(text), layerq_compare_pairs(text[], text[]), layerq_recompute_bases(text[]),
    layerq_apply_base_membership(bigint[], text[], integer[]), layerq_apply_membership(bigint[], text[], integer[]),
    layerq_platform(text, text, text), layerq_namespace(text);
DROP INDEX tag_events_digest_idx, manifest_layers_chain_idx, manifests_base_digest_idx;
DROP TABLE aggregate_queue, cache_steps, cache_totals, cache_monthly, cache_tagged_repositories, cache_transitions, base_repositories, image_tops, image_bases, registry_usage,
    namespace_usage, repository_usage, blob_usage,
    registry_blobs, namespace_blobs, repository_blobs, manifest_refs;
DROP FUNCTION layerq_cache_advice(text, integer), layerq_step(text);

-- The files of this folder hold the schema's functions as they are now;
-- every migrate applies them after the migrations. sql/sql.go (Functions)
-- says how to write them: CREATE OR REPLACE, and how to change a signature.

-- The fold. EXECUTE on layerq_apply_queue is revoked from PUBLIC (migration
-- 00003); on layerq_apply_pending, revoked from PUBLIC (00004) and granted to
-- layerq_writer (00005). CREATE OR REPLACE keeps both.

-- Fold every queued change into the aggregates: count membership changes,
-- record the tops of images new to a repository, work out the bases of new
-- images and of the images they are a base of, extend the created streams,
-- compare the tag moves, keep the base builds' rows. Returns how many
-- queue rows it took in.
--
-- One applier at a time, and it must see the queue and the graph in one
-- snapshot (what it reads of memberships must be exactly what the queue
-- rows it takes have changed): graph.Store.ApplyAggregates takes a session
-- advisory lock, then calls this in a REPEATABLE READ transaction.
CREATE OR REPLACE FUNCTION layerq_apply_queue() RETURNS integer
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    n integer;
    r bigint[]; m text[]; d integer[];
    nr bigint[]; nm text[];
    fresh text[]; affected text[]; events bigint[]; blobs text[]; live text[]; marked text[]; changed text[];
    held text[]; relabel text[];
BEGIN
    WITH q AS (DELETE FROM aggregate_queue RETURNING *)
    SELECT count(*),
        array_agg(repository_id ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(manifest_digest ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(delta::integer ORDER BY repository_id, manifest_digest) FILTER (WHERE delta IS NOT NULL),
        array_agg(repository_id) FILTER (WHERE inserted),
        array_agg(manifest_digest) FILTER (WHERE inserted),
        array_agg(tag_event_id) FILTER (WHERE tag_event_id IS NOT NULL),
        array_agg(DISTINCT blob_digest) FILTER (WHERE blob_digest IS NOT NULL),
        array_agg(DISTINCT manifest_digest) FILTER (WHERE inserted OR delta > 0),
        array_agg(DISTINCT manifest_digest) FILTER (WHERE repository_id IS NULL AND manifest_digest IS NOT NULL),
        array_agg(DISTINCT blob_digest) FILTER (WHERE relabeled)
    INTO n, r, m, d, nr, nm, events, blobs, live, marked, relabel
    FROM q;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    -- The blobs whose namespaces or live layer state this fold may change
    -- leave the per-namespace backlog now, and come back at the end.
    IF m IS NOT NULL OR blobs IS NOT NULL THEN
        SELECT array_agg(DISTINCT x) INTO held FROM (
            SELECT ml.blob_digest AS x FROM manifest_layers ml WHERE ml.manifest_digest = ANY (coalesce(m, '{}'))
            UNION ALL SELECT mf.config_digest FROM manifests mf WHERE mf.digest = ANY (coalesce(m, '{}')) AND mf.config_digest IS NOT NULL
            UNION ALL SELECT unnest(coalesce(blobs, '{}'))
        ) c;
        PERFORM layerq_apply_namespace_backlog(held, -1);
    END IF;

    IF r IS NOT NULL THEN
        PERFORM layerq_apply_membership(r, m, d);
        PERFORM layerq_apply_base_membership(r, m, d);
    END IF;
    -- Blobs whose diff_id was learned: their contents counted afresh,
    -- after the memberships.
    IF relabel IS NOT NULL THEN
        PERFORM layerq_relabel_contents(relabel, r, m);
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
    IF live IS NOT NULL OR blobs IS NOT NULL THEN
        PERFORM layerq_apply_index_state(live, blobs);
    END IF;
    -- The analysis queue (only the fold writes waste_pending): off it, the
    -- images analyzed (an image_waste row queued them) and those no longer
    -- live anywhere; back on it, the images whose analysis was deleted
    -- (to be worked out again).
    IF marked IS NOT NULL OR m IS NOT NULL THEN
        DELETE FROM waste_pending p
        WHERE (p.manifest_digest = ANY (coalesce(marked, '{}'))
               AND EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = p.manifest_digest))
           OR (p.manifest_digest = ANY (coalesce(m, '{}'))
               AND NOT EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = p.manifest_digest AND rm.deleted_at IS NULL));
    END IF;
    IF marked IS NOT NULL THEN
        INSERT INTO waste_pending (manifest_digest)
        SELECT s.manifest_digest FROM image_index_state s
        WHERE s.manifest_digest = ANY (marked) AND s.unindexed = 0 AND s.rejected = 0
          AND NOT EXISTS (SELECT 1 FROM image_waste w WHERE w.manifest_digest = s.manifest_digest)
          AND EXISTS (SELECT 1 FROM repository_manifests rm WHERE rm.manifest_digest = s.manifest_digest AND rm.deleted_at IS NULL)
        ORDER BY 1
        ON CONFLICT DO NOTHING;
    END IF;
    IF m IS NOT NULL OR blobs IS NOT NULL THEN
        PERFORM layerq_apply_file_contents(m, blobs);
        PERFORM layerq_apply_namespace_backlog(held, 1);
    END IF;
    -- The bloat totals: the images whose contribution may have changed
    -- (new, index state, waste, base), after everything they read.
    SELECT array_agg(DISTINCT x) INTO changed FROM (
        SELECT unnest(coalesce(live, '{}')) AS x
        UNION ALL SELECT unnest(coalesce(marked, '{}'))
        UNION ALL SELECT unnest(coalesce(affected, '{}'))
        UNION ALL SELECT ml.manifest_digest FROM manifest_layers ml WHERE ml.blob_digest = ANY (coalesce(blobs, '{}'))
    ) c;
    IF r IS NOT NULL OR changed IS NOT NULL THEN
        PERFORM layerq_apply_bloat(r, m, d, changed);
    END IF;
    -- The base builds in use, their names and staleness (base_builds):
    -- after the bases, the memberships and the tag pushes and deletes they
    -- read (a batch of layer indexes alone changes none of them).
    IF r IS NOT NULL OR nr IS NOT NULL OR events IS NOT NULL THEN
        PERFORM layerq_refresh_base_builds();
    END IF;
    RETURN n;
END;
$$;

-- layerq_apply_queue, for callers holding up their end: the applier lock
-- and one snapshot for the whole fold. Anything else would count changes
-- twice or not at all, so it refuses.
CREATE OR REPLACE FUNCTION layerq_apply_pending() RETURNS integer
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

-- Compare pairs of image manifests layer by layer, all at once: the layers
-- of p_to[i] reused from p_from[i] are its leading layers with the same
-- chain id (or, where a chain id is unknown, the same blob). total_bytes
-- is p_to[i]'s layer bytes, from_bytes p_from[i]'s.
CREATE OR REPLACE FUNCTION layerq_compare_pairs(p_from text[], p_to text[])
RETURNS TABLE (from_digest text, to_digest text, reused_layers integer, total_layers integer, reused_bytes bigint,
               total_bytes bigint, first_changed_position integer, first_changed_step text, from_bytes bigint)
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
    ),
    fb AS (
        SELECT d.f, coalesce(sum(b.size), 0)::bigint AS bytes
        FROM (SELECT DISTINCT f FROM p) d
        JOIN manifest_layers fl ON fl.manifest_digest = d.f
        JOIN blobs b ON b.digest = fl.blob_digest
        GROUP BY d.f
    )
    SELECT w.f, w.t, coalesce(w.first, count(*))::integer, count(*)::integer,
        coalesce(sum(w.size) FILTER (WHERE w.first IS NULL OR w.position < w.first), 0)::bigint,
        coalesce(sum(w.size), 0)::bigint, w.first,
        max(w.created_by) FILTER (WHERE w.position = w.first),
        coalesce(min(fb.bytes), 0)::bigint
    FROM w
    LEFT JOIN fb ON fb.f = w.f
    GROUP BY w.f, w.t, w.first
$$;

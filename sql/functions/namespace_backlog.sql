-- What `layerq bloat --repo NS/**` waits for, kept per namespace
-- (migration 00022): the live layers each namespace holds that have no
-- file index (namespace_backlog), as file_totals.unindexed counts them
-- over the registry (the refused ones included; a report counts those
-- apart, from the few rejections).

-- Take blobs p_blobs out of (p_sign -1) or into (1) the counts of the
-- namespaces holding them. The fold calls it with -1 before it changes
-- anything, and with 1 after, for every blob whose holding namespaces
-- (namespace_blobs) or whose live layer state (live_layer_blobs) it may
-- change: the layers and configs of the manifests whose memberships
-- changed, and the blobs whose index changed. Both read only what the
-- fold keeps, so the two calls see the state before and after the fold.
CREATE OR REPLACE FUNCTION layerq_apply_namespace_backlog(p_blobs text[], p_sign integer) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    INSERT INTO namespace_backlog AS t (registry, namespace, unindexed)
    SELECT nb.registry, nb.namespace, p_sign * count(*)
    FROM namespace_blobs nb
    JOIN live_layer_blobs k ON k.blob_digest = nb.digest AND NOT k.indexed
    WHERE nb.digest = ANY (p_blobs) AND nb.refs > 0
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (registry, namespace) DO UPDATE SET unindexed = t.unindexed + excluded.unindexed;
END;
$$;

-- Apply membership changes: manifest p_manifest[i] went live (+1) or dead
-- (-1) in repository p_repo[i]. The per-blob counts first
-- (layerq_apply_membership_blobs keeps manifest_refs, which the per-content
-- fold reads after it), then the per-content ones.
CREATE OR REPLACE FUNCTION layerq_apply_membership(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM layerq_apply_membership_blobs(p_repo, p_manifest, p_delta);
    PERFORM layerq_apply_content(p_repo, p_manifest, p_delta);
END;
$$;

-- Apply membership changes: manifest p_manifest[i] went live (+1) or dead
-- (-1) in repository p_repo[i]. The per-blob counts first
-- (layerq_apply_membership_blobs keeps manifest_refs, which the per-content
-- fold reads after it), then the per-content ones, then the live images'
-- layers (layerq_apply_image_layers). Into aggregates no
-- fold has written, the changes add up to the live memberships, counted
-- once instead (layerq_load_membership).
CREATE OR REPLACE FUNCTION layerq_apply_membership(p_repo bigint[], p_manifest text[], p_delta integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF layerq_membership_unfolded() THEN
        PERFORM layerq_load_membership();
        RETURN;
    END IF;
    PERFORM layerq_apply_membership_blobs(p_repo, p_manifest, p_delta);
    PERFORM layerq_apply_content(p_repo, p_manifest, p_delta);
    PERFORM layerq_apply_image_layers(p_repo, p_manifest, p_delta);
END;
$$;

-- The image builds a tagged digest stands for, per platform.

-- The image manifests a tagged digest stands for, per platform: itself, or
-- an index's image children (attestations, platform unknown, left out).
CREATE OR REPLACE FUNCTION layerq_platform_images(p_digest text) RETURNS TABLE (platform text, image text)
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

-- The image builds a digest pushed to repository p_repo stands for, per
-- platform: an image itself (as cache_build_platforms files it), or an
-- index's image children with the platforms the index declares
-- (attestations, platform unknown, left out).
CREATE OR REPLACE FUNCTION layerq_stream_images(p_repo bigint, p_digest text) RETURNS TABLE (platform text, image text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (platform) platform, image FROM (
        SELECT b.platform, b.image, -1 AS position
        FROM cache_build_platforms b WHERE b.repository_id = p_repo AND b.image = p_digest
        UNION ALL
        SELECT layerq_platform(c.os, c.architecture, c.variant), c.child_digest, c.position
        FROM index_children c JOIN manifests m ON m.digest = c.child_digest AND m.kind = 'image' AND m.layer_count > 0
        WHERE c.index_digest = p_digest AND coalesce(c.os, '') <> 'unknown'
    ) x ORDER BY platform, position
$$;

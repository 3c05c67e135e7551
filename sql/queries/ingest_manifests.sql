-- Manifests of a batch, sorted by digest. Content addressed, so never updated.
INSERT INTO manifests (
    digest, media_type, size, kind, config_digest, config_media_type, config_size,
    os, architecture, variant, created, artifact_type, subject_digest,
    annotations, labels, base_name, base_digest, history_mismatch,
    layer_count, layers_size)
SELECT digest, media_type, size, kind, config_digest, config_media_type, config_size,
    os, architecture, variant, created, artifact_type, subject_digest,
    annotations::jsonb, labels::jsonb, base_name, base_digest, history_mismatch,
    layer_count, layers_size
FROM unnest(
    $1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[],
    $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $13::text[],
    $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
    $19::integer[], $20::bigint[])
AS t(digest, media_type, size, kind, config_digest, config_media_type, config_size,
    os, architecture, variant, created, artifact_type, subject_digest,
    annotations, labels, base_name, base_digest, history_mismatch,
    layer_count, layers_size)
ON CONFLICT (digest) DO NOTHING

-- Manifests of a batch, sorted by digest, with what hangs below them. A
-- manifest is content addressed and written once, with its layer list and
-- index entries, by the transaction that inserts its row: only the manifests
-- this statement inserts get layers and index entries, which therefore need
-- no conflict handling (a concurrent writer of the same manifest waits for
-- this row and then inserts nothing). Two new manifests may share a config,
-- so configs are inserted on conflict do nothing.
--   $1-$20  manifests, sorted by digest
--   $21-$29 layer lists, sorted by (manifest_digest, position)
--   $30-$38 index entries, sorted by (index_digest, position)
--   $39-$40 configs (digest, history as a JSON array), sorted by digest
-- Columns that may be NULL come as plain arrays, with '' (text), 0 (sizes),
-- -1 (history_index) or 0001-01-01 UTC (times) for NULL.
WITH new AS (
    INSERT INTO manifests (
        digest, media_type, size, kind, config_digest, config_media_type, config_size,
        os, architecture, variant, created, artifact_type, subject_digest,
        annotations, labels, base_name, base_digest, history_mismatch,
        layer_count, layers_size)
    SELECT digest, media_type, size, kind, nullif(config_digest, ''), nullif(config_media_type, ''), nullif(config_size, 0),
        nullif(os, ''), nullif(architecture, ''), nullif(variant, ''), nullif(created, '0001-01-01 00:00:00+00'),
        nullif(artifact_type, ''), nullif(subject_digest, ''),
        annotations::jsonb, labels::jsonb, nullif(base_name, ''), nullif(base_digest, ''), nullif(history_mismatch, ''),
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
    RETURNING digest, config_digest
),
layers AS (
    INSERT INTO manifest_layers (manifest_digest, position, blob_digest, media_type, chain_id, history_index, created_by, created, comment)
    SELECT l.manifest_digest, l.position, l.blob_digest, l.media_type, nullif(l.chain_id, ''), nullif(l.history_index, -1),
        nullif(l.created_by, ''), nullif(l.created, '0001-01-01 00:00:00+00'), nullif(l.comment, '')
    FROM unnest($21::text[], $22::integer[], $23::text[], $24::text[], $25::text[], $26::integer[], $27::text[], $28::timestamptz[], $29::text[])
        AS l(manifest_digest, position, blob_digest, media_type, chain_id, history_index, created_by, created, comment)
    WHERE l.manifest_digest IN (SELECT digest FROM new)
    ORDER BY l.manifest_digest, l.position
),
children AS (
    INSERT INTO index_children (index_digest, position, child_digest, media_type, size, os, architecture, variant, os_version)
    SELECT c.index_digest, c.position, c.child_digest, c.media_type, c.size,
        nullif(c.os, ''), nullif(c.architecture, ''), nullif(c.variant, ''), nullif(c.os_version, '')
    FROM unnest($30::text[], $31::integer[], $32::text[], $33::text[], $34::bigint[], $35::text[], $36::text[], $37::text[], $38::text[])
        AS c(index_digest, position, child_digest, media_type, size, os, architecture, variant, os_version)
    WHERE c.index_digest IN (SELECT digest FROM new)
    ORDER BY c.index_digest, c.position
)
INSERT INTO configs (digest, history)
SELECT h.digest, h.history::json
FROM unnest($39::text[], $40::text[]) AS h(digest, history)
WHERE h.digest IN (SELECT config_digest FROM new)
ORDER BY h.digest
ON CONFLICT (digest) DO NOTHING

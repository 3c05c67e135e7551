-- Manifests of a batch, sorted by digest, with what hangs below them. A
-- manifest is content addressed and written once, with its layer list and
-- index entries, by the transaction that inserts its row: only the manifests
-- this statement inserts get layers and index entries, which therefore need
-- no conflict handling (a concurrent writer of the same manifest waits for
-- this row and then inserts nothing). Two new manifests may share a config,
-- so config history rows are inserted on conflict do nothing.
--   $1-$20  manifests, sorted by digest
--   $21-$29 layer lists, sorted by (manifest_digest, position)
--   $30-$38 index entries, sorted by (index_digest, position)
--   $39-$45 config history entries, sorted by (config_digest, position)
WITH new AS (
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
    RETURNING digest, config_digest
),
layers AS (
    INSERT INTO manifest_layers (manifest_digest, position, blob_digest, media_type, chain_id, history_index, created_by, created, comment)
    SELECT l.*
    FROM unnest($21::text[], $22::integer[], $23::text[], $24::text[], $25::text[], $26::integer[], $27::text[], $28::timestamptz[], $29::text[])
        AS l(manifest_digest, position, blob_digest, media_type, chain_id, history_index, created_by, created, comment)
    WHERE l.manifest_digest IN (SELECT digest FROM new)
    ORDER BY l.manifest_digest, l.position
),
children AS (
    INSERT INTO index_children (index_digest, position, child_digest, media_type, size, os, architecture, variant, os_version)
    SELECT c.*
    FROM unnest($30::text[], $31::integer[], $32::text[], $33::text[], $34::bigint[], $35::text[], $36::text[], $37::text[], $38::text[])
        AS c(index_digest, position, child_digest, media_type, size, os, architecture, variant, os_version)
    WHERE c.index_digest IN (SELECT digest FROM new)
    ORDER BY c.index_digest, c.position
)
INSERT INTO config_history (config_digest, position, created, created_by, author, comment, empty_layer)
SELECT h.*
FROM unnest($39::text[], $40::integer[], $41::timestamptz[], $42::text[], $43::text[], $44::text[], $45::boolean[])
    AS h(config_digest, position, created, created_by, author, comment, empty_layer)
WHERE h.config_digest IN (SELECT config_digest FROM new)
ORDER BY h.config_digest, h.position
ON CONFLICT (config_digest, position) DO NOTHING

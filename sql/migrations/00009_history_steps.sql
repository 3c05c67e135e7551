-- Honest steps for the layers already in the graph.
--
-- The OCI image spec maps the config history entries without empty_layer
-- onto the layers, in order. Builders get empty_layer wrong (buildah marks
-- a base's "ADD file:… in /" empty and its CMD ["bash"] not), and the
-- mapping then says a 90 MiB layer was made by CMD. The walker now
-- re-attributes such a layer as it ingests it (internal/walker,
-- honestSteps); this does the same to the layers ingested before, so
-- reports name the step that wrote the bytes:
--
-- A layer mapped to an instruction that changes only the config (CMD,
-- ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL,
-- HEALTHCHECK, SHELL, ONBUILD, ARG, MAINTAINER) goes to the nearest ADD,
-- COPY or RUN entry no other layer maps to: among the entries between it
-- and the layer below, the nearest first; else among those up to the layer
-- above, unless that layer needs them itself. An empty layer (the empty
-- tar's diff_id), and a WORKDIR layer under 1 KiB (the directory BuildKit
-- commits for it), stay as they are. manifests.history_mismatch says what
-- was done, as the walker says it.

-- +goose Up
-- +goose StatementBegin
-- The instruction a history entry records (see walker.instruction).
CREATE FUNCTION pg_temp.layerq_instruction(created_by text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN s ~ '^/bin/sh -c #\(nop\)' THEN substring(s FROM '^/bin/sh -c #\(nop\)[ \t\n\r\f\v]*([A-Z]+)(?:[ \t\n\r\f\v]|$)')
        WHEN s ~ '^(/bin/sh -c |\|[0-9]+ )' THEN 'RUN'
        ELSE substring(s FROM '^([A-Z]+)(?:[ \t\n\r\f\v]|$)')
    END
    FROM (SELECT regexp_replace(coalesce(created_by, ''), '^[ \t\n\r\f\v]+', '') AS s) x
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- A step on one line, at most 60 characters (see walker.brief).
CREATE FUNCTION pg_temp.layerq_brief(created_by text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN char_length(s) > 60 THEN left(s, 59) || '…' ELSE s END
    FROM (SELECT btrim(regexp_replace(coalesce(created_by, ''), '[ \t\n\r\f\v]+', ' ', 'g')) AS s) x
$$;
-- +goose StatementEnd

CREATE TEMP TABLE layerq_step_moves ON COMMIT DROP AS
WITH suspects AS (
    -- Image manifests with a layer mapped to a metadata-only instruction
    -- (manifest_layers.created_by is the mapped entry's).
    SELECT DISTINCT ml.manifest_digest FROM manifest_layers ml
    WHERE ml.created_by ~ '(CMD|ENTRYPOINT|ENV|LABEL|EXPOSE|USER|WORKDIR|VOLUME|STOPSIGNAL|HEALTHCHECK|SHELL|ONBUILD|ARG|MAINTAINER)'
      AND pg_temp.layerq_instruction(ml.created_by) IN ('CMD', 'ENTRYPOINT', 'ENV', 'LABEL', 'EXPOSE', 'USER', 'WORKDIR',
        'VOLUME', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'ONBUILD', 'ARG', 'MAINTAINER')
),
mapped AS (
    SELECT ml.manifest_digest, ml.position, ml.history_index AS h, m.config_digest,
        lag(ml.history_index) OVER w AS below, lead(ml.history_index) OVER w AS above,
        pg_temp.layerq_instruction(ml.created_by) AS instruction, b.diff_id, b.size
    FROM suspects s
    JOIN manifests m ON m.digest = s.manifest_digest AND m.kind = 'image'
    JOIN manifest_layers ml ON ml.manifest_digest = s.manifest_digest
    JOIN blobs b ON b.digest = ml.blob_digest
    WHERE ml.history_index IS NOT NULL
    WINDOW w AS (PARTITION BY ml.manifest_digest ORDER BY ml.position)
),
needs AS (
    SELECT mapped.*,
        instruction IN ('CMD', 'ENTRYPOINT', 'ENV', 'LABEL', 'EXPOSE', 'USER', 'WORKDIR',
            'VOLUME', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'ONBUILD', 'ARG', 'MAINTAINER')
        AND diff_id IS DISTINCT FROM 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef'
        AND NOT (instruction = 'WORKDIR' AND size < 1024) AS needs
    FROM mapped
),
flagged AS (
    SELECT needs.*, coalesce(lead(needs.needs) OVER (PARTITION BY manifest_digest ORDER BY position), false) AS above_needs
    FROM needs
)
SELECT f.manifest_digest, f.config_digest, f.position, f.h,
    coalesce(
        (SELECT e.position FROM config_history e
         WHERE e.config_digest = f.config_digest AND e.position < f.h AND e.position > coalesce(f.below, -1)
           AND pg_temp.layerq_instruction(e.created_by) IN ('ADD', 'COPY', 'RUN')
         ORDER BY e.position DESC LIMIT 1),
        (SELECT e.position FROM config_history e
         WHERE NOT f.above_needs AND e.config_digest = f.config_digest AND e.position > f.h
           AND (f.above IS NULL OR e.position < f.above)
           AND pg_temp.layerq_instruction(e.created_by) IN ('ADD', 'COPY', 'RUN')
         ORDER BY e.position LIMIT 1)) AS target
FROM flagged f
WHERE f.needs;

UPDATE manifests m SET history_mismatch = concat_ws('; ', m.history_mismatch, x.notes)
FROM (
    SELECT mv.manifest_digest, string_agg(CASE
        WHEN mv.target IS NULL THEN format('layer #%s maps to history entry #%s (%s), which makes no layer, and no ADD, COPY or RUN entry beside it could have made it',
            mv.position, mv.h, pg_temp.layerq_brief(he.created_by))
        ELSE format('layer #%s is from history entry #%s (%s%s), not #%s (%s), which makes no layer',
            mv.position, mv.target, pg_temp.layerq_brief(te.created_by), CASE WHEN te.empty_layer THEN ', marked empty_layer' ELSE '' END,
            mv.h, pg_temp.layerq_brief(he.created_by))
        END, '; ' ORDER BY mv.position) AS notes
    FROM layerq_step_moves mv
    JOIN config_history he ON he.config_digest = mv.config_digest AND he.position = mv.h
    LEFT JOIN config_history te ON te.config_digest = mv.config_digest AND te.position = mv.target
    GROUP BY mv.manifest_digest
) x
WHERE m.digest = x.manifest_digest;

UPDATE manifest_layers ml
SET history_index = mv.target, created_by = e.created_by, created = e.created, comment = e.comment
FROM layerq_step_moves mv
JOIN config_history e ON e.config_digest = mv.config_digest AND e.position = mv.target
WHERE ml.manifest_digest = mv.manifest_digest AND ml.position = mv.position;

DROP TABLE layerq_step_moves;
DROP FUNCTION pg_temp.layerq_brief(text), pg_temp.layerq_instruction(text);

-- +goose Down
-- Nothing to undo: the steps the spec's mapping gave were wrong.

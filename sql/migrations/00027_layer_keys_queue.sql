-- Near-duplicate keys worked out after the index, in batches.
--
-- Each layer's keys and pairs (layerq_layer_keys, 00014) were worked out
-- in the transaction that wrote its index, and the calls took turns (an
-- advisory lock held to the end of that transaction): every layer indexer
-- waited for every other one's keys, and a scan of one image spent a
-- fifth of its server time on them (115 of about 500 ms for 12 layers),
-- though only `layerq duplicates --kind layer` reads them.
--
-- Now the index's transaction queues the blob (layer_keys_queue), and
-- layerq_apply_layer_keys works out the keys of the queued blobs, a batch
-- per call (sql/functions/layer_keys.sql). `layerq duplicates --kind
-- layer` calls it before reading, as the reports fold the aggregates, and
-- `layerq-ingest serve` every few seconds where it indexes layers.

-- +goose Up
CREATE TABLE layer_keys_queue (
    seq         bigserial PRIMARY KEY,     -- taken in this order: first queued, first done
    blob_digest text NOT NULL UNIQUE,      -- a layer_indexes row whose keys are yet to be worked out
    attempts    integer NOT NULL DEFAULT 0, -- times its keys failed (it then went to the end)
    last_error  text                       -- why, the last time
);

-- A layer indexed without its keys (none should be): queued.
INSERT INTO layer_keys_queue (blob_digest)
SELECT li.blob_digest FROM layer_indexes li
WHERE NOT EXISTS (SELECT FROM layer_file_keys k WHERE k.blob_digest = li.blob_digest)
ORDER BY 1;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION layerq_apply_layer_keys(p_limit integer, p_upto bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    batch text[];
    d text;
BEGIN
    PERFORM pg_advisory_xact_lock(27761, 2);
    SELECT array_agg(q.blob_digest ORDER BY q.seq) INTO batch
    FROM (SELECT seq, blob_digest FROM layer_keys_queue WHERE seq <= p_upto AND attempts = 0 ORDER BY seq LIMIT p_limit) q;
    IF batch IS NULL THEN
        -- The head is done: one layer that failed before, tried again alone.
        SELECT array_agg(q.blob_digest) INTO batch
        FROM (SELECT blob_digest FROM layer_keys_queue WHERE seq <= p_upto AND attempts > 0 ORDER BY seq LIMIT 1) q;
        IF batch IS NULL THEN
            RETURN 0;
        END IF;
    END IF;
    BEGIN
        PERFORM layerq_layer_keys(batch);
        DELETE FROM layer_keys_queue WHERE blob_digest = ANY (batch);
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
        -- A layer's own data failed: one at a time, so the others get
        -- their keys and the one that fails goes to the end of the queue
        -- with its error.
        FOREACH d IN ARRAY batch LOOP
            BEGIN
                PERFORM layerq_layer_keys(ARRAY[d]);
                DELETE FROM layer_keys_queue WHERE blob_digest = d;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
                UPDATE layer_keys_queue
                SET seq = nextval(pg_get_serial_sequence('layer_keys_queue', 'seq')), attempts = attempts + 1, last_error = SQLERRM
                WHERE blob_digest = d;
            END;
        END LOOP;
    END;
    RETURN cardinality(batch);
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- The keys of what is queued, worked out before the queue goes: the
-- release before works them out with each index and keeps no queue.
SELECT layerq_layer_keys(array_agg(blob_digest ORDER BY seq)) FROM layer_keys_queue;
DROP FUNCTION layerq_apply_layer_keys(integer, bigint);
DROP TABLE layer_keys_queue;

-- The fingerprint of the function files a migrate last brought the
-- schema's functions to (NULL: none yet), which it leaves as the comment
-- on layerq_apply_pending. Run by internal/migrate (see
-- schema_versions.sql).
SELECT obj_description(to_regprocedure('layerq_apply_pending()'), 'pg_proc');

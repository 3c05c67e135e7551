-- The role layerq-ingest writes the graph as.
--
-- layerq_writer may read every row and write the graph's own rows (what
-- ingest writes), queue changes for the fold and run the fold, and nothing
-- more: the aggregates are written only by the fold (layerq_apply_pending,
-- which runs as its owner), the migrations' own table only by `migrate`, and
-- there is no DDL (tables, indexes, functions belong to the role that runs
-- the migrations) and no TRUNCATE. A login role for the
-- ingest processes joins it (CREATE ROLE layerq_ingest LOGIN PASSWORD '…'
-- IN ROLE layerq_writer); `layerq-ingest migrate` runs as the owner.
-- Like layerq_reader (00004), the role is made when the migrating user may
-- make roles, else the migration warns and an administrator makes it.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
            BEGIN
                CREATE ROLE layerq_writer NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        ELSE
            RAISE WARNING 'layerq: cannot create role layerq_writer as %; create it (CREATE ROLE layerq_writer NOLOGIN) and grant it what migration 00005 grants', current_user;
            RETURN;
        END IF;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO layerq_writer', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO layerq_writer', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO layerq_writer', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO layerq_writer', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO layerq_writer', current_schema());
    -- The applier writes the aggregates as its owner; the writer may call it,
    -- and only queues changes itself (the triggers run as the writer).
    GRANT EXECUTE ON FUNCTION layerq_apply_pending() TO layerq_writer;
    REVOKE INSERT, UPDATE, DELETE ON manifest_refs, repository_blobs, namespace_blobs, registry_blobs, blob_usage,
        repository_usage, namespace_usage, registry_usage, image_bases, image_tops, base_repositories,
        cache_transitions, cache_tagged_repositories, cache_monthly, cache_totals, cache_steps FROM layerq_writer;
    REVOKE UPDATE, DELETE ON aggregate_queue FROM layerq_writer;
    REVOKE INSERT, UPDATE, DELETE ON layerq_schema_migrations FROM layerq_writer;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'layerq_writer') THEN
        REVOKE EXECUTE ON FUNCTION layerq_apply_pending() FROM layerq_writer;
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE USAGE, SELECT ON SEQUENCES FROM layerq_writer', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM layerq_writer', current_schema());
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM layerq_writer', current_schema());
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM layerq_writer', current_schema());
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM layerq_writer', current_schema());
    END IF;
END
$$;
-- +goose StatementEnd

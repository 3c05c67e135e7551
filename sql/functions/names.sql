-- Names the aggregates key on: a repository's namespace, an image's
-- platform, a layer's content. The aggregates store what these return
-- (namespace_usage, cache_transitions.platform, repository_contents and
-- content_usage), so changing one takes a migration that recounts what was
-- stored with the old definition.

-- A namespace is the first path segment of a repository name (the whole
-- name when it has none).
CREATE OR REPLACE FUNCTION layerq_namespace(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT split_part(name, '/', 1) $$;

-- os/architecture[/variant], with arm64's default variant v8 left out (as
-- containerd normalizes it), so an index entry and a config that disagree
-- on it still match.
CREATE OR REPLACE FUNCTION layerq_platform(os text, architecture text, variant text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws('/', os, architecture, CASE WHEN architecture = 'arm64' AND variant = 'v8' THEN NULL ELSE variant END)
$$;

CREATE OR REPLACE FUNCTION layerq_content(diff_id text, digest text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(diff_id, digest) $$;

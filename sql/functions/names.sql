-- Names the aggregates key on: a repository's namespace, an image's
-- platform, a layer's content, a build's time. The aggregates store what
-- these return (namespace_usage, cache_transitions.platform and
-- occurred_at, repository_contents and content_usage), so changing one
-- takes a migration that recounts what was stored with the old definition.

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

-- When an image was built, as the created streams order and date their
-- builds: its config's date, unless that is before Docker existed (2013).
-- Reproducible builders stamp a fixed date (1970-01-01: Bazel, ko, Jib,
-- Nix; 1980-01-01T00:00:01Z: Cloud Native Buildpacks), which says nothing
-- of when: then when the registry was first seen holding it.
CREATE OR REPLACE FUNCTION layerq_built_at(created timestamptz, first_seen timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN created >= '2013-01-01 00:00:00+00' THEN created ELSE first_seen END
$$;

-- The cache report's words for a build step. cache_transitions.step is a
-- column generated with layerq_step and stored: changing layerq_step takes a
-- migration that recomputes it.

CREATE OR REPLACE FUNCTION layerq_step(created_by text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- A history entry as the instruction that made it: the shell wrapper,
    -- build-arg prefix, BuildKit marker and content hashes taken out.
    SELECT nullif(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
        coalesce(created_by, ''),
        '^\|[0-9]+ .*?(/bin/sh -c )', '\1'),
        '^/bin/sh -c #\(nop\)\s*', ''),
        '^(RUN )?/bin/sh -c ', 'RUN '),
        '\s*# buildkit$', ''),
        '(file|dir|multi):[0-9a-f]{64}', '\1:…', 'g')), '')
$$;

-- Advice in words for a step that was the first to change between two
-- builds (position counts from 0: the base's own layers come first).
CREATE OR REPLACE FUNCTION layerq_cache_advice(step text, pos integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN step IS NULL THEN NULL
        WHEN pos = 0 THEN 'the base image changed: expected when the base moves; pin FROM by digest to choose when'
        WHEN step ~* '^(COPY|ADD)\s+(--\S+\s+)*\.\s+\S+$' THEN
            'copies the whole build context, so any source change rebuilds every step after it: copy the dependency manifests and lock file first (package.json and package-lock.json, go.mod and go.sum, requirements.txt), run the install, and move this COPY after the install'
        WHEN step ~* '^(COPY|ADD)\s' THEN 'copied files changed: expected when they did; keep rarely changing files in earlier COPY steps'
        WHEN step ~* '(apt-get|apt|apk|dnf|yum|microdnf)\s+(update|upgrade|install|add)' THEN
            'a package install ran again with the steps before it unchanged: the builder lost its cache (use --cache-from/--cache-to with a registry cache) or an ARG or ENV above it changed'
        WHEN step ~* '(npm|yarn|pnpm)\s+(ci|install)|pip3?\s+install|go\s+mod\s+download|bundle\s+install|cargo\s+(fetch|build)' THEN
            'a dependency install ran again with the steps before it unchanged: the builder lost its cache (use --cache-from/--cache-to) or an ARG or ENV above it changed'
        WHEN step ~* '^RUN\s' THEN 'ran again with the steps before it unchanged: the builder lost its cache, an ARG or ENV above it changed, or the command is not reproducible'
        ELSE NULL
    END
$$;

-- `layerq find --path '*.pem'`: names by their end.
--
-- The name index (00016) serves a name glob with a literal start; one that
-- starts with a wildcard (`*.pem`, `*-core.jar`) read every entry of
-- every layer. This index holds each base name reversed, so a name's
-- literal end is a prefix of it.

-- +goose Up
CREATE INDEX layer_files_name_suffix_idx ON layer_files (split_part(reverse(path), '/', 1) text_pattern_ops);

-- +goose Down
DROP INDEX layer_files_name_suffix_idx;

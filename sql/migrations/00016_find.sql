-- `layerq find`: which live images hold a file, by name or by content.
--
-- layer_files is keyed by layer and position; finding the layers that hold
-- a file named log4j-core-2.14.1.jar, or the same bytes as a file of
-- another image, read every entry of every layer. Two indexes: by base name
-- (the path's last segment, for names and name prefixes: `find --path
-- '**/log4j-core-*'`), and by content digest (`find --same-as`).
--
-- Neither is partial, and the content index is a hash index (equality
-- only): the ingest's and the fold's statements read a layer's regular
-- files by key, filtering on type and on a digest being present, and a
-- partial index on `type = 1` or a btree on the digest would be a plan
-- for them too on a table whose statistics lag (the layer indexes were
-- written 3 times slower with partial indexes on a freshly loaded graph).

-- +goose Up
CREATE INDEX layer_files_name_idx ON layer_files (reverse(split_part(reverse(path), '/', 1)) text_pattern_ops);
CREATE INDEX layer_files_content_idx ON layer_files USING hash (digest);

-- +goose Down
DROP INDEX layer_files_content_idx;
DROP INDEX layer_files_name_idx;

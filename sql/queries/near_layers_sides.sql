-- name: NearLayersSides :many
-- duplicates --kind layer: what the report shows of each layer of its
-- pairs: its files and their bytes, and the first repository by name
-- holding it with the step that made it.
SELECT li.blob_digest, li.files, li.file_bytes, coalesce(u.name, '') AS repository, coalesce(u.created_by, '') AS created_by
FROM layer_indexes li
LEFT JOIN LATERAL (
    SELECT ll.repository AS name, ml.created_by FROM live_layers ll
    JOIN manifest_layers ml ON ml.manifest_digest = ll.manifest_digest AND ml.position = ll.position
    WHERE ll.blob_digest = li.blob_digest ORDER BY ll.repository, ll.manifest_digest, ll.position LIMIT 1) u ON true
WHERE li.blob_digest = ANY (@layers::text[]);

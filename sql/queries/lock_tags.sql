-- Lock the existing tags a batch moves, in key order, before ingest_tags
-- reads their previous digests: that statement then sees the latest commit
-- of every concurrent writer, and concurrent batches lock in one order.
SELECT tg.name
FROM tags tg
JOIN repositories r ON r.id = tg.repository_id
JOIN unnest($1::text[], $2::text[], $3::text[]) AS t(registry, name, tag)
    ON r.registry = t.registry AND r.name = t.name AND tg.name = t.tag
ORDER BY tg.repository_id, tg.name
FOR UPDATE OF tg

-- How many layers (diff_ids) the file index holds.
SELECT count(*) FROM layer_indexes

-- Vectors stored inline in the table row instead of out of line in TOAST.
--
-- A 512-dim vector is 2,056 bytes, just over PostgreSQL's 2,032-byte threshold, so with
-- the default (EXTENDED) storage every vector lived in the TOAST table: re-ranking a
-- search's 400 candidates meant 400 extra TOAST index lookups and chunk reads, about
-- half of the statement's time at a million clips. MAIN keeps a vector in its row
-- whenever the row fits a page (any model up to ~2,000 dims); larger ones still move out.
-- Rows already stored keep their TOASTed vectors until rewritten (VACUUM FULL embeddings).
ALTER TABLE embeddings ALTER COLUMN embedding SET STORAGE MAIN;

-- The ledger looks round locks up by (user_id, round_id): a win settled by round locks it, a
-- rollback reads it. The primary key starts with provider, so without this index each lookup
-- scanned the whole key index.
CREATE INDEX round_locks_user_round ON round_locks (user_id, round_id);

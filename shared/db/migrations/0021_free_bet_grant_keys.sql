-- A free-bet grant may carry the caller's Idempotency-Key: a retried grant answers with the grant
-- already recorded instead of granting again at Hypetech.
ALTER TABLE free_bet_grants ADD COLUMN IF NOT EXISTS idempotency_key text;
CREATE UNIQUE INDEX IF NOT EXISTS free_bet_grants_idempotency_key
    ON free_bet_grants (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

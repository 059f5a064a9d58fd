-- The operator API's own rows, and the columns it reads that the ledger's first schema lacks.
-- None of these is money: balances, transactions and postings stay the ledger's alone.

-- One request per Idempotency-Key: a key reused for a different request (other endpoint, other
-- body) is refused 409 before anything is published to the ledger.
CREATE TABLE operator_idempotency_keys (
    idempotency_key  text        PRIMARY KEY,
    fingerprint      text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT operator_idempotency_keys_key_length CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT operator_idempotency_keys_fingerprint_sha256 CHECK (fingerprint ~ '^[0-9a-f]{64}$')
);
CREATE INDEX operator_idempotency_keys_created_at ON operator_idempotency_keys (created_at);

-- The Hypetech session a webhook transaction came in (NULL for the operator's own commands), so a
-- player's history can be filtered by session. The ledger writes it with the transaction.
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS session_token text;
CREATE INDEX IF NOT EXISTS transactions_user_session
    ON transactions (user_id, currency, session_token, created_at)
    WHERE session_token IS NOT NULL;

-- What a launch asked for and got back.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS game_url text;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS language text;
CREATE INDEX IF NOT EXISTS sessions_user_created ON sessions (user_id, created_at);

-- The cap on the cash-out multiplier a grant was offered with (Hypetech's max_multiplier).
ALTER TABLE free_bet_grants ADD COLUMN IF NOT EXISTS max_multiplier numeric;
ALTER TABLE free_bet_grants ADD CONSTRAINT free_bet_grants_max_multiplier_above_one
    CHECK (max_multiplier IS NULL OR max_multiplier > 1);
CREATE INDEX IF NOT EXISTS free_bet_grants_user_created
    ON free_bet_grants (user_id, currency, created_at, grant_id);

-- Balances as of any time: each player posting carries the player's balance after it, and an
-- index (account, currency, time, order) makes "the balance at T" one lookup of the last posting
-- at or before T. posted_at is the batch's time (the same now() as transactions.created_at);
-- posting_id orders the postings of one batch (one writer per account at a time, which holds
-- the account's row lock, so a later posting of an account always gets a larger id).
ALTER TABLE postings ADD COLUMN posting_id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE postings ADD COLUMN posted_at timestamptz;
ALTER TABLE postings ADD COLUMN balance_after bigint;

-- Postings written before this migration: their time is their transaction's, their order the
-- order they were stored in (the identity above numbers existing rows in table order), and their
-- running balance the sum of the player's postings up to them.
ALTER TABLE postings DISABLE TRIGGER postings_append_only;
UPDATE postings p
SET posted_at = t.created_at
FROM transactions t
WHERE t.operator_tx_id = p.operator_tx_id;
UPDATE postings p
SET balance_after = r.running
FROM (
    SELECT posting_id,
           sum(amount) OVER (
               PARTITION BY account_ref, currency ORDER BY posted_at, posting_id
           ) AS running
    FROM postings
    WHERE account_type = 'player'
) r
WHERE r.posting_id = p.posting_id;
ALTER TABLE postings ENABLE TRIGGER postings_append_only;

ALTER TABLE postings ALTER COLUMN posted_at SET DEFAULT now();
ALTER TABLE postings ALTER COLUMN posted_at SET NOT NULL;
ALTER TABLE postings ADD CONSTRAINT postings_posting_id_unique UNIQUE (posting_id);
ALTER TABLE postings ADD CONSTRAINT postings_balance_after_only_players
    CHECK ((account_type = 'player') = (balance_after IS NOT NULL));
ALTER TABLE postings ADD CONSTRAINT postings_balance_after_not_negative
    CHECK (balance_after >= 0);

CREATE INDEX postings_player_balance
    ON postings (account_ref, currency, posted_at, posting_id)
    INCLUDE (balance_after)
    WHERE account_type = 'player';

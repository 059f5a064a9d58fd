-- Rounds Hypetech reports FINISHED whose open bets nothing won: the reconciler settles them as
-- lost through a ledger command (reason round-finished, no money moves). A settlement is stored
-- with the session's findings, in the same transaction, and sent afterwards, so a reconciler
-- killed in between sends it on its next run; the ledger answers a repeated key from its record.
CREATE TABLE reconciler_round_settlements (
    idempotency_key  text        PRIMARY KEY,
    run_id           bigint      NOT NULL REFERENCES reconciliation_runs (run_id),
    session_id       text        NOT NULL,
    user_id          text        NOT NULL,
    currency         text        NOT NULL,
    round_id         text        NOT NULL,
    bet_tx_ids       text[]      NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    reply_status     integer,
    CONSTRAINT reconciler_round_settlements_bets CHECK (cardinality(bet_tx_ids) > 0),
    CONSTRAINT reconciler_round_settlements_sent CHECK ((sent_at IS NULL) = (reply_status IS NULL))
);

CREATE INDEX reconciler_round_settlements_unsent ON reconciler_round_settlements (created_at)
    WHERE sent_at IS NULL;

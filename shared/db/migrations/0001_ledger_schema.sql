-- The ledger's schema: accounts, idempotent decisions, double-entry transactions and postings,
-- bets and their state machine, rollback tombstones, free-bet grants, sessions, the outbox and the
-- consumed offsets. The ledger consumer is the only writer of money; the database enforces every
-- invariant it can, in case the one-writer-per-partition model is ever broken by a bug.

-- Player wallets, one per (user_id, currency). House accounts (provider clearing, bonus, operator
-- cash) have no row here: their balances are derived from postings, so no hot row exists.
CREATE TABLE accounts (
    user_id     text        NOT NULL,
    currency    text        NOT NULL,
    status      text        NOT NULL DEFAULT 'active',
    balance     bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, currency),
    CONSTRAINT accounts_status_known CHECK (status IN ('active', 'blocked')),
    CONSTRAINT accounts_balance_not_negative CHECK (balance >= 0)
);

-- The first decision for a key is final: stored with its exact response (status and body text).
-- Webhooks are keyed (provider, kind, provider_tx_id); operator commands ('operator', kind,
-- idempotency_key). Retention deletes rows older than the retention window (>= 180 days).
CREATE TABLE decisions (
    provider          text        NOT NULL,
    kind              text        NOT NULL,
    provider_tx_id    text        NOT NULL,
    user_id           text        NOT NULL,
    currency          text        NOT NULL,
    fingerprint       text        NOT NULL,
    outcome           text        NOT NULL,
    status            smallint    NOT NULL,
    body              text        NOT NULL,
    operator_tx_id    uuid        NOT NULL UNIQUE,
    flags             text[]      NOT NULL DEFAULT '{}',
    source_topic      text        NOT NULL,
    source_partition  integer     NOT NULL,
    source_offset     bigint      NOT NULL,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, kind, provider_tx_id),
    CONSTRAINT decisions_kind_known CHECK (
        kind IN ('bet', 'win', 'lose', 'rollback',
                 'create_account', 'block', 'unblock', 'deposit', 'withdraw', 'settle_lost')
    ),
    CONSTRAINT decisions_outcome_known CHECK (outcome IN ('applied', 'rejected')),
    CONSTRAINT decisions_outcome_matches_status CHECK ((outcome = 'applied') = (status = 200))
);
CREATE INDEX decisions_decided_at ON decisions (decided_at);
CREATE INDEX decisions_user ON decisions (user_id, currency, decided_at);
CREATE INDEX decisions_flagged ON decisions (decided_at) WHERE flags <> '{}';

-- One row per applied movement of money; permanent (balances are recomputed from postings).
CREATE TABLE transactions (
    operator_tx_id  uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    provider        text        NOT NULL,
    provider_tx_id  text        NOT NULL,
    user_id         text        NOT NULL,
    currency        text        NOT NULL,
    round_id        text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_user ON transactions (user_id, currency, created_at);

-- Double entry. account_type is 'player' (account_ref = user_id), 'provider_clearing'
-- (account_ref = provider), 'bonus' (account_ref = provider) or 'operator_cash'
-- (account_ref = 'operator'). The postings of one transaction sum to zero per currency.
CREATE TABLE postings (
    operator_tx_id  uuid     NOT NULL REFERENCES transactions (operator_tx_id),
    leg             smallint NOT NULL,
    account_type    text     NOT NULL,
    account_ref     text     NOT NULL,
    currency        text     NOT NULL,
    amount          bigint   NOT NULL,
    PRIMARY KEY (operator_tx_id, leg),
    CONSTRAINT postings_account_type_known CHECK (
        account_type IN ('player', 'provider_clearing', 'bonus', 'operator_cash')
    ),
    CONSTRAINT postings_amount_not_zero CHECK (amount <> 0)
);
CREATE INDEX postings_account ON postings (account_type, account_ref, currency);

-- Zero sum per transaction and currency, checked once per INSERT statement over every
-- transaction the statement touched (all legs of a transaction are inserted in one statement).
CREATE FUNCTION postings_zero_sum() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT p.operator_tx_id INTO bad
    FROM postings p
    WHERE p.operator_tx_id IN (SELECT DISTINCT n.operator_tx_id FROM new_rows n)
    GROUP BY p.operator_tx_id, p.currency
    HAVING sum(p.amount) <> 0
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'postings of transaction % do not sum to zero', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER postings_zero_sum
AFTER INSERT ON postings
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION postings_zero_sum();

-- Postings and transactions are append-only.
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER postings_append_only
BEFORE UPDATE OR DELETE ON postings
FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TRIGGER transactions_append_only
BEFORE UPDATE OR DELETE ON transactions
FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Free-bet grants: written by the operator API, consumed (and returned on rollback) by the ledger.
CREATE TABLE free_bet_grants (
    grant_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text        NOT NULL,
    currency     text        NOT NULL,
    game         text,
    bonus_code   text,
    quantity     integer     NOT NULL,
    remaining    integer     NOT NULL,
    value_minor  bigint      NOT NULL DEFAULT 0,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT free_bet_grants_quantity_positive CHECK (quantity > 0),
    CONSTRAINT free_bet_grants_remaining_in_range CHECK (remaining BETWEEN 0 AND quantity),
    CONSTRAINT free_bet_grants_value_not_negative CHECK (value_minor >= 0)
);
CREATE INDEX free_bet_grants_user ON free_bet_grants (user_id, currency);

-- Bets and their state machine: open -> won | lost | rolled_back, lost -> rolled_back, won final.
CREATE TABLE bets (
    provider        text        NOT NULL,
    bet_tx_id       text        NOT NULL,
    user_id         text        NOT NULL,
    currency        text        NOT NULL,
    round_id        text,
    amount          bigint      NOT NULL,
    mode            text        NOT NULL,
    bonus_code      text,
    grant_id        bigint      REFERENCES free_bet_grants (grant_id),
    state           text        NOT NULL DEFAULT 'open',
    operator_tx_id  uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, bet_tx_id),
    CONSTRAINT bets_state_known CHECK (state IN ('open', 'won', 'lost', 'rolled_back')),
    CONSTRAINT bets_mode_known CHECK (mode IN ('default', 'free')),
    CONSTRAINT bets_amount_not_negative CHECK (amount >= 0),
    CONSTRAINT bets_grant_only_on_free_bets CHECK (grant_id IS NULL OR mode = 'free')
);
CREATE INDEX bets_round ON bets (user_id, round_id, provider);

CREATE FUNCTION bets_state_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (
        (OLD.state = 'open' AND NEW.state IN ('won', 'lost', 'rolled_back'))
        OR (OLD.state = 'lost' AND NEW.state = 'rolled_back')
    ) THEN
        RAISE EXCEPTION 'bet %/% cannot go from % to %', OLD.provider, OLD.bet_tx_id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.provider, NEW.bet_tx_id, NEW.user_id, NEW.currency, NEW.amount, NEW.mode)
        IS DISTINCT FROM (OLD.provider, OLD.bet_tx_id, OLD.user_id, OLD.currency, OLD.amount, OLD.mode) THEN
        RAISE EXCEPTION 'bet %/% may only change its state', OLD.provider, OLD.bet_tx_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER bets_state_transition
BEFORE UPDATE ON bets
FOR EACH ROW EXECUTE FUNCTION bets_state_transition();

-- A round in which a win without linked_tx_id was applied: none of its bets can be rolled back.
CREATE TABLE round_locks (
    provider        text        NOT NULL,
    user_id         text        NOT NULL,
    round_id        text        NOT NULL,
    operator_tx_id  uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, user_id, round_id)
);

-- A rollback whose bet was unknown: the bet is refused (410) if it ever arrives.
CREATE TABLE rollback_tombstones (
    provider        text        NOT NULL,
    bet_tx_id       text        NOT NULL,
    rollback_tx_id  text        NOT NULL,
    user_id         text        NOT NULL,
    currency        text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, bet_tx_id)
);
CREATE INDEX rollback_tombstones_created_at ON rollback_tombstones (created_at);

-- Game sessions: written by the operator API at game launch, read by the ledger's session check.
CREATE TABLE sessions (
    token       text        PRIMARY KEY,
    user_id     text        NOT NULL,
    currency    text        NOT NULL,
    game        text,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Transactional outbox: events written with the decision, published in id order by the relay.
CREATE TABLE outbox (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    message_key   text        NOT NULL,
    payload       text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The next offset to apply per consumer group and partition, written in the batch transaction.
CREATE TABLE consumed_offsets (
    group_id     text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition),
    CONSTRAINT consumed_offsets_not_negative CHECK (next_offset >= 0)
);

-- Every run of the retention job, so expiry of keys and tombstones is never silent.
CREATE TABLE retention_runs (
    run_id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ran_at              timestamptz NOT NULL DEFAULT now(),
    cutoff              timestamptz NOT NULL,
    decisions_deleted   bigint      NOT NULL,
    tombstones_deleted  bigint      NOT NULL,
    outbox_deleted      bigint      NOT NULL
);

-- The row types of the ledger's batch write (services/ledger/store.py, _WRITE): one array of
-- rows per table instead of one array per column. The statement is the same set of CTEs over
-- unnest; only the shape of its parameters changes. asyncpg checks every element of every 1-D
-- array it encodes (two isinstance tests against collections.abc per text element, in Python):
-- about 140 per webhook over ~100 column arrays, 4.7 % of the ledger's CPU in py-spy. An array of
-- rows is checked once per row (four tests), and its fields go through the same binary codecs:
-- the write's client CPU went from 93-104 to 65-72 us per bet (docs/benchmarks.md, tenth session).
--
-- Each type lists the columns store.INSERTS, UPSERTS and UPDATES give, in the same order and
-- types (tests/integration/ledger/test_ledger_schema.py holds them together). A column added
-- to a table the ledger writes goes into its type here too, by a later migration.

CREATE TYPE ledger_insert_idempotency_keys AS (
    provider       text,
    kind           text,
    provider_tx_id text,
    operator_tx_id uuid
);

CREATE TYPE ledger_insert_decisions AS (
    provider         text,
    kind             text,
    provider_tx_id   text,
    user_id          text,
    currency         text,
    fingerprint      text,
    outcome          text,
    status           smallint,
    body             text,
    operator_tx_id   uuid,
    flags            text,
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    occurred_at      timestamptz,
    session_token    text,
    round_id         text,
    amount           numeric,
    target_tx_id     text,
    mode             text
);

CREATE TYPE ledger_insert_accounts AS (
    user_id  text,
    currency text,
    status   text,
    balance  bigint
);

CREATE TYPE ledger_insert_transactions AS (
    operator_tx_id uuid,
    kind           text,
    provider       text,
    provider_tx_id text,
    user_id        text,
    currency       text,
    round_id       text,
    session_token  text
);

CREATE TYPE ledger_insert_postings AS (
    operator_tx_id uuid,
    leg            smallint,
    account_type   text,
    account_ref    text,
    currency       text,
    amount         bigint,
    balance_after  bigint
);

CREATE TYPE ledger_insert_bets AS (
    provider       text,
    bet_tx_id      text,
    user_id        text,
    currency       text,
    round_id       text,
    amount         bigint,
    mode           text,
    bonus_code     text,
    grant_id       bigint,
    state          text,
    operator_tx_id uuid
);

CREATE TYPE ledger_insert_rollback_tombstones AS (
    provider       text,
    bet_tx_id      text,
    rollback_tx_id text,
    user_id        text,
    currency       text
);

CREATE TYPE ledger_insert_round_locks AS (
    provider       text,
    user_id        text,
    round_id       text,
    operator_tx_id uuid
);

CREATE TYPE ledger_insert_outbox AS (
    event_id    uuid,
    topic       text,
    message_key text,
    payload     text,
    traceparent text
);

CREATE TYPE ledger_insert_protection_changes AS (
    operator_tx_id  uuid,
    time_zone       text,
    user_id         text,
    currency        text,
    change          text,
    idempotency_key text,
    limit_kind      text,
    period          text,
    amount          bigint,
    exclusion       text,
    until           timestamptz,
    requested_at    timestamptz,
    requested_by    text,
    reason          text,
    effective_at    timestamptz
);

CREATE TYPE ledger_upsert_player_limits AS (
    user_id        text,
    currency       text,
    kind           text,
    period         text,
    amount         bigint,
    pending_amount bigint,
    pending_at     timestamptz
);

CREATE TYPE ledger_upsert_player_exclusions AS (
    user_id  text,
    currency text,
    kind     text,
    since    timestamptz,
    until    timestamptz
);

CREATE TYPE ledger_upsert_limit_totals AS (
    user_id      text,
    currency     text,
    period       text,
    period_start date,
    deposits     bigint,
    wagers       bigint,
    losses       bigint,
    alerts       smallint
);

CREATE TYPE ledger_update_accounts AS (
    user_id  text,
    currency text,
    status   text,
    delta    bigint
);

CREATE TYPE ledger_update_free_bet_grants AS (
    grant_id bigint,
    delta    integer
);

CREATE TYPE ledger_update_bets AS (
    provider  text,
    bet_tx_id text,
    state     text
);

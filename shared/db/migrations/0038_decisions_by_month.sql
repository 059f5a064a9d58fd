-- Decisions partitioned by the month of decided_at (UTC), so retention drops a month whole
-- (DETACH PARTITION CONCURRENTLY, DROP TABLE: no rows deleted, nothing to vacuum) and the
-- current month's indexes are the working set of the inserts (docs/ledger.md "Sized for years").
--
-- A partitioned table's unique indexes must include its partition key, so the idempotency key
-- (provider, kind, provider_tx_id) is kept unique in its own narrow, unpartitioned table: the
-- ledger's load reads it by key, exactly as it read decisions, and its decided_at names the one
-- partition holding the stored answer (a probe of that partition's primary key). The ledger
-- writes the key and the decision in the same statement, both decided_at = now() of the batch's
-- transaction; a concurrent duplicate conflicts on idempotency_keys_pkey as it did on
-- decisions_pkey. Retention deletes a month's keys, then drops its partition.
--
-- No DEFAULT partition: it would forbid DETACH PARTITION CONCURRENTLY, and every month attached
-- later would have to scan it. Months are created ahead instead (decisions_add_months, called by
-- this migration, by the ledger at start and every hour, and by retention), and a batch that
-- meets a month without its partition creates it and is written again
-- (services/ledger/unit_of_work.py).
--
-- An existing table is copied into the new one, each row to its month, and dropped: see
-- docs/ledger.md for how long that takes per million rows (bench decisions-migration).

CREATE TABLE idempotency_keys (
    provider        text        NOT NULL,
    kind            text        NOT NULL,
    provider_tx_id  text        NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    operator_tx_id  uuid        NOT NULL
);

ALTER TABLE decisions RENAME TO decisions_before_0038;
ALTER TABLE decisions_before_0038 DROP CONSTRAINT decisions_pkey;
ALTER TABLE decisions_before_0038 DROP CONSTRAINT decisions_operator_tx_id_key;
DROP INDEX decisions_decided_at, decisions_user, decisions_flagged, decisions_session;

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
    operator_tx_id    uuid        NOT NULL,
    flags             text[]      NOT NULL DEFAULT '{}',
    source_topic      text        NOT NULL,
    source_partition  integer     NOT NULL,
    source_offset     bigint      NOT NULL,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    occurred_at       timestamptz,
    session_token     text,
    round_id          text,
    amount            numeric,
    target_tx_id      text,
    mode              text,
    CONSTRAINT decisions_kind_known CHECK (
        kind IN ('bet', 'win', 'lose', 'rollback',
                 'create_account', 'block', 'unblock', 'deposit', 'withdraw', 'settle_lost',
                 'set_limit', 'remove_limit', 'exclude', 'time_out')
    ),
    CONSTRAINT decisions_outcome_known CHECK (outcome IN ('applied', 'rejected')),
    CONSTRAINT decisions_outcome_matches_status CHECK ((outcome = 'applied') = (status = 200)),
    CONSTRAINT decisions_target_on_rollbacks CHECK (kind = 'rollback' OR target_tx_id IS NULL),
    CONSTRAINT decisions_mode_known CHECK (mode IN ('default', 'free'))
) PARTITION BY RANGE (decided_at);

-- The partition of each month (UTC) from the month of since through the month of until that
-- has none yet, named decisions_yYYYYmMM; returns how many it attached. Each is created apart
-- and then attached: ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on decisions, which the
-- ledger's reads and inserts never wait for (CREATE TABLE ... PARTITION OF would take ACCESS
-- EXCLUSIVE). Concurrent callers are serialised by a transaction-level advisory lock.
CREATE FUNCTION decisions_add_months(since timestamptz, until timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', since AT TIME ZONE 'UTC')::date;
    last date := date_trunc('month', until AT TIME ZONE 'UTC')::date;
    name text;
    added integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('decisions_add_months'));
    WHILE month <= last LOOP
        name := 'decisions_' || to_char(month, '"y"YYYY"m"MM');
        IF NOT EXISTS (
            SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'decisions'::regclass AND c.relname = name
        ) THEN
            EXECUTE format(
                'CREATE TABLE %I (LIKE decisions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name
            );
            EXECUTE format(
                'ALTER TABLE decisions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                name,
                month::timestamp AT TIME ZONE 'UTC',
                (month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            added := added + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN added;
END
$$;

-- Every month of the existing rows, and this month and the next.
SELECT decisions_add_months(
    least(coalesce((SELECT min(decided_at) FROM decisions_before_0038), now()), now()),
    greatest(coalesce((SELECT max(decided_at) FROM decisions_before_0038), now()), now())
        + interval '1 month'
);

INSERT INTO decisions (
    provider, kind, provider_tx_id, user_id, currency, fingerprint, outcome, status, body,
    operator_tx_id, flags, source_topic, source_partition, source_offset, decided_at,
    occurred_at, session_token, round_id, amount, target_tx_id, mode
)
SELECT provider, kind, provider_tx_id, user_id, currency, fingerprint, outcome, status, body,
       operator_tx_id, flags, source_topic, source_partition, source_offset, decided_at,
       occurred_at, session_token, round_id, amount, target_tx_id, mode
FROM decisions_before_0038;

INSERT INTO idempotency_keys (provider, kind, provider_tx_id, decided_at, operator_tx_id)
SELECT provider, kind, provider_tx_id, decided_at, operator_tx_id
FROM decisions_before_0038;

DROP TABLE decisions_before_0038;

-- Indexes after the copy (a sort each, not an insert per row); on decisions they are made on
-- every partition, and each partition attached later gets them.
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey
    PRIMARY KEY (provider, kind, provider_tx_id);
-- Retention takes a month's keys through it.
CREATE INDEX idempotency_keys_decided_at ON idempotency_keys (decided_at);

-- The probe of the load (the decided_at its idempotency_keys row names, then the key) and the
-- time index (retention's edge batches, the reconciler's sessions of a period) in one: led by
-- decided_at, its inserts land at the right edge, and a probe is one descent.
ALTER TABLE decisions ADD CONSTRAINT decisions_pkey
    PRIMARY KEY (decided_at, provider, kind, provider_tx_id);
CREATE INDEX decisions_user ON decisions (user_id, currency, decided_at);
CREATE INDEX decisions_flagged ON decisions (decided_at) WHERE flags <> '{}';
CREATE INDEX decisions_session ON decisions (session_token) WHERE session_token IS NOT NULL;
-- The audit joins transactions and protection changes to their decisions by it (no longer
-- unique: a unique index must include decided_at; operator_tx_id is made from the unique key).
CREATE INDEX decisions_operator_tx_id ON decisions (operator_tx_id);

-- Months retention detached and dropped whole (their keys are counted in decisions_deleted).
ALTER TABLE retention_runs ADD COLUMN partitions_dropped integer NOT NULL DEFAULT 0;

-- No ANALYZE here: on a fresh database it would record the tables as empty, and a plan made on
-- an analysed empty table reads it whole (tests/integration/ledger/test_ledger_plans.py);
-- autovacuum analyses the partitions once they have rows.

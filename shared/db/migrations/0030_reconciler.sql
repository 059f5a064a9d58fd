-- The reconciler's tables: what each webhook asked for (read from wallet.commands.v1), the runs
-- with their per-session progress (so a restarted reconciler finishes the run it was killed in),
-- the findings with both sides' evidence, who changed their status, and the watermark.

-- The reconciler's tap of wallet.commands.v1: one row per webhook key, the first delivery (the
-- one the ledger decided on; a different payload under the same key is refused and not applied).
-- It gives every decision its session, round, amount as sent and rollback target.
CREATE TABLE reconciler_webhooks (
    provider        text        NOT NULL,
    kind            text        NOT NULL,
    provider_tx_id  text        NOT NULL,
    session_token   text,
    user_id         text        NOT NULL,
    currency        text        NOT NULL,
    amount          numeric,
    round_id        text,
    target_tx_id    text,
    mode            text        NOT NULL,
    received_at     timestamptz NOT NULL,
    tapped_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, kind, provider_tx_id),
    CONSTRAINT reconciler_webhooks_kind_known CHECK (kind IN ('bet', 'win', 'lose', 'rollback')),
    CONSTRAINT reconciler_webhooks_target_on_rollbacks CHECK (kind = 'rollback' OR target_tx_id IS NULL),
    CONSTRAINT reconciler_webhooks_mode_known CHECK (mode IN ('default', 'free'))
);
CREATE INDEX reconciler_webhooks_session ON reconciler_webhooks (session_token);

CREATE TABLE reconciliation_runs (
    run_id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger         text        NOT NULL,
    status          text        NOT NULL DEFAULT 'running',
    session_filter  text,
    window_from     timestamptz NOT NULL,
    window_to       timestamptz NOT NULL,
    advances_watermark boolean  NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    resumed         integer     NOT NULL DEFAULT 0,
    sessions_total  integer     NOT NULL DEFAULT 0,
    totals          jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT reconciliation_runs_trigger_known CHECK (trigger IN ('scheduled', 'manual')),
    CONSTRAINT reconciliation_runs_status_known CHECK (status IN ('running', 'finished')),
    CONSTRAINT reconciliation_runs_finished_when_done CHECK ((status = 'finished') = (finished_at IS NOT NULL)),
    CONSTRAINT reconciliation_runs_window_ordered CHECK (window_from <= window_to),
    CONSTRAINT reconciliation_runs_totals_object CHECK (jsonb_typeof(totals) = 'object'),
    CONSTRAINT reconciliation_runs_sessions_not_negative CHECK (sessions_total >= 0)
);
-- At most one run in progress: a second reconciler cannot start a parallel run.
CREATE UNIQUE INDEX reconciliation_runs_one_running ON reconciliation_runs ((true)) WHERE status = 'running';

-- Per-session progress of a run: a session is done when its findings are committed, in the same
-- transaction, so a killed run resumes with the sessions still pending.
CREATE TABLE reconciliation_run_sessions (
    run_id          bigint      NOT NULL REFERENCES reconciliation_runs (run_id),
    session_id      text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending',
    provider_rows   integer     NOT NULL DEFAULT 0,
    ledger_rows     integer     NOT NULL DEFAULT 0,
    totals          jsonb       NOT NULL DEFAULT '{}',
    error           text,
    finished_at     timestamptz,
    PRIMARY KEY (run_id, session_id),
    CONSTRAINT reconciliation_run_sessions_state_known CHECK (state IN ('pending', 'done', 'failed')),
    CONSTRAINT reconciliation_run_sessions_finished_when_not_pending
        CHECK ((state = 'pending') = (finished_at IS NULL)),
    CONSTRAINT reconciliation_run_sessions_error_when_failed CHECK ((state = 'failed') = (error IS NOT NULL)),
    CONSTRAINT reconciliation_run_sessions_rows_not_negative CHECK (provider_rows >= 0 AND ledger_rows >= 0),
    CONSTRAINT reconciliation_run_sessions_totals_object CHECK (jsonb_typeof(totals) = 'object')
);
CREATE INDEX reconciliation_run_sessions_pending ON reconciliation_run_sessions (run_id, session_id)
    WHERE state = 'pending';

CREATE TABLE reconciliation_findings (
    finding_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key        text        NOT NULL UNIQUE,
    finding_class     text        NOT NULL,
    provider          text        NOT NULL,
    session_id        text        NOT NULL,
    kind              text,
    provider_tx_id    text,
    round_id          text,
    user_id           text,
    currency          text,
    detail            text        NOT NULL,
    provider_row      jsonb,
    ledger_row        jsonb,
    status            text        NOT NULL DEFAULT 'open',
    version           integer     NOT NULL DEFAULT 1,
    published_version integer     NOT NULL DEFAULT 0,
    status_changed_by text,
    status_changed_at timestamptz,
    status_reason     text,
    first_run_id      bigint      NOT NULL REFERENCES reconciliation_runs (run_id),
    last_run_id       bigint      NOT NULL REFERENCES reconciliation_runs (run_id),
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    times_seen        integer     NOT NULL DEFAULT 1,
    correction_key    text        UNIQUE,
    corrected_at      timestamptz,
    CONSTRAINT reconciliation_findings_class_known CHECK (finding_class IN (
        'missing_in_ledger', 'missing_at_provider', 'amount_mismatch', 'kind_mismatch',
        'status_mismatch', 'open_bet_on_finished_round')),
    CONSTRAINT reconciliation_findings_status_known CHECK (status IN ('open', 'resolved', 'ignored')),
    CONSTRAINT reconciliation_findings_evidence CHECK (CASE finding_class
        WHEN 'missing_in_ledger' THEN provider_row IS NOT NULL AND ledger_row IS NULL
        WHEN 'missing_at_provider' THEN provider_row IS NULL AND ledger_row IS NOT NULL
        ELSE provider_row IS NOT NULL AND ledger_row IS NOT NULL END),
    CONSTRAINT reconciliation_findings_changed_together CHECK (
        (status_changed_by IS NULL) = (status_changed_at IS NULL)),
    CONSTRAINT reconciliation_findings_closed_has_author CHECK (
        status = 'open' OR status_changed_by IS NOT NULL),
    CONSTRAINT reconciliation_findings_versions CHECK (version >= 1 AND published_version BETWEEN 0 AND version),
    CONSTRAINT reconciliation_findings_times_seen_positive CHECK (times_seen >= 1),
    CONSTRAINT reconciliation_findings_seen_ordered CHECK (first_seen_at <= last_seen_at)
);
CREATE INDEX reconciliation_findings_open ON reconciliation_findings (finding_class, finding_id)
    WHERE status = 'open';
CREATE INDEX reconciliation_findings_session ON reconciliation_findings (session_id);
CREATE INDEX reconciliation_findings_unpublished ON reconciliation_findings (finding_id)
    WHERE published_version < version;

-- Every status change of a finding: who, when, why.
CREATE TABLE reconciliation_finding_changes (
    finding_id   bigint      NOT NULL REFERENCES reconciliation_findings (finding_id),
    version      integer     NOT NULL,
    from_status  text,
    to_status    text        NOT NULL,
    changed_by   text        NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    reason       text,
    PRIMARY KEY (finding_id, version),
    CONSTRAINT reconciliation_finding_changes_status_known CHECK (
        to_status IN ('open', 'resolved', 'ignored')
        AND (from_status IS NULL OR from_status IN ('open', 'resolved', 'ignored')))
);

-- Ledger activity up to this time has been reconciled by a finished full run.
CREATE TABLE reconciliation_watermarks (
    name        text        PRIMARY KEY,
    watermark   timestamptz NOT NULL,
    run_id      bigint      NOT NULL REFERENCES reconciliation_runs (run_id),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

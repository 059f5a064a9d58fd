-- Player protection: limits, exclusions, the period totals the checks read, and the history of
-- every change. The ledger writes all of them in the same write as the money (one writer per
-- player); the database still refuses what must never happen.

-- The command's own time (a webhook's received_at, an operator command's requested_at), the
-- time the ledger decided it at; NULL for decisions stored before this migration.
ALTER TABLE decisions ADD COLUMN occurred_at timestamptz;

ALTER TABLE decisions DROP CONSTRAINT decisions_kind_known;
ALTER TABLE decisions ADD CONSTRAINT decisions_kind_known CHECK (
    kind IN ('bet', 'win', 'lose', 'rollback',
             'create_account', 'block', 'unblock', 'deposit', 'withdraw', 'settle_lost',
             'set_limit', 'remove_limit', 'exclude', 'time_out')
);

-- One row per limit of an account. amount is in force since the last change; a raise or a
-- removal waits for the cooling-off period: pending_amount (NULL: removal) from pending_at.
-- The limit in force at a moment is resolved by the ledger, so no job rewrites rows.
CREATE TABLE player_limits (
    user_id         text        NOT NULL,
    currency        text        NOT NULL,
    kind            text        NOT NULL,
    period          text        NOT NULL,
    amount          bigint      NOT NULL,
    pending_amount  bigint,
    pending_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, currency, kind, period),
    FOREIGN KEY (user_id, currency) REFERENCES accounts (user_id, currency),
    CONSTRAINT player_limits_kind_known CHECK (kind IN ('deposit', 'wager', 'loss', 'max_bet')),
    CONSTRAINT player_limits_period_known CHECK (period IN ('day', 'week', 'month', 'bet')),
    CONSTRAINT player_limits_period_fits CHECK ((kind = 'max_bet') = (period = 'bet')),
    CONSTRAINT player_limits_amount_positive CHECK (amount > 0),
    -- Only a raise waits: a lower limit takes effect at once and needs no pending value.
    CONSTRAINT player_limits_pending_is_a_raise CHECK (
        pending_amount IS NULL OR (pending_amount > amount AND pending_at IS NOT NULL)
    )
);

-- The exclusion of an account (self-exclusion or time-out): until NULL is indefinite. It is never
-- shortened nor deleted while in force (trigger below); an ended one may be replaced.
CREATE TABLE player_exclusions (
    user_id     text        NOT NULL,
    currency    text        NOT NULL,
    kind        text        NOT NULL,
    since       timestamptz NOT NULL,
    until       timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, currency),
    FOREIGN KEY (user_id, currency) REFERENCES accounts (user_id, currency),
    CONSTRAINT player_exclusions_kind_known CHECK (kind IN ('self_exclusion', 'time_out')),
    CONSTRAINT player_exclusions_ends_after_start CHECK (until IS NULL OR until > since),
    CONSTRAINT player_exclusions_time_out_ends CHECK (kind <> 'time_out' OR until IS NOT NULL)
);

CREATE FUNCTION player_exclusions_never_shortened() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'exclusion of %/% cannot be deleted', OLD.user_id, OLD.currency
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.since = OLD.since THEN
        -- The same exclusion: it may only get longer.
        IF OLD.until IS NULL AND NEW.until IS NOT NULL
           OR NEW.until < OLD.until THEN
            RAISE EXCEPTION 'exclusion of %/% cannot be shortened', OLD.user_id, OLD.currency
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF OLD.until IS NULL OR NEW.since < OLD.until THEN
        -- A new exclusion replaces the old one only once the old one has ended.
        RAISE EXCEPTION 'exclusion of %/% is still in force', OLD.user_id, OLD.currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER player_exclusions_never_shortened
BEFORE UPDATE OR DELETE ON player_exclusions
FOR EACH ROW EXECUTE FUNCTION player_exclusions_never_shortened();

-- Running totals per account and calendar period (day, week, month in the operator's time zone),
-- updated in the same write as the money: a check reads three rows, never the history. A row
-- holds its period's first day; a later period starts from zero and replaces it.
-- losses is net (stakes - wins - refunds) and may be negative; free bets count toward none.
-- alerts: bits of the 80 % / 100 % thresholds already announced in the period.
CREATE TABLE limit_totals (
    user_id       text     NOT NULL,
    currency      text     NOT NULL,
    period        text     NOT NULL,
    period_start  date     NOT NULL,
    deposits      bigint   NOT NULL DEFAULT 0,
    wagers        bigint   NOT NULL DEFAULT 0,
    losses        bigint   NOT NULL DEFAULT 0,
    alerts        smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, currency, period),
    FOREIGN KEY (user_id, currency) REFERENCES accounts (user_id, currency),
    CONSTRAINT limit_totals_period_known CHECK (period IN ('day', 'week', 'month')),
    CONSTRAINT limit_totals_deposits_not_negative CHECK (deposits >= 0),
    CONSTRAINT limit_totals_wagers_not_negative CHECK (wagers >= 0),
    CONSTRAINT limit_totals_period_start_fits CHECK (
        period = 'day'
        OR (period = 'week' AND extract(isodow FROM period_start) = 1)
        OR (period = 'month' AND extract(day FROM period_start) = 1)
    )
);

-- Every change of a player's protection, with who asked, when, why and when it takes effect.
-- The time of every decision is kept too (decisions.occurred_at), so `hypeledger audit` can replay
-- an account's decisions against the limits in force at each one.
-- Kept for good (records of money: at least 5 years), append-only; retention never touches it.
CREATE TABLE protection_changes (
    operator_tx_id   uuid        PRIMARY KEY,
    time_zone        text        NOT NULL,  -- where the ledger's calendar periods began
    user_id          text        NOT NULL,
    currency         text        NOT NULL,
    change           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    limit_kind       text,
    period           text,
    amount           bigint,
    exclusion        text,
    until            timestamptz,
    requested_at     timestamptz NOT NULL,
    requested_by     text        NOT NULL,
    reason           text        NOT NULL,
    effective_at     timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (user_id, currency) REFERENCES accounts (user_id, currency),
    CONSTRAINT protection_changes_change_known CHECK (
        change IN ('set_limit', 'remove_limit', 'exclude', 'time_out')
    ),
    CONSTRAINT protection_changes_limit_named CHECK (
        (change IN ('set_limit', 'remove_limit')) = (limit_kind IS NOT NULL AND period IS NOT NULL)
    ),
    CONSTRAINT protection_changes_set_has_amount CHECK ((change = 'set_limit') = (amount IS NOT NULL)),
    CONSTRAINT protection_changes_amount_positive CHECK (amount IS NULL OR amount > 0),
    CONSTRAINT protection_changes_exclusion_named CHECK (
        (change IN ('exclude', 'time_out')) = (exclusion IS NOT NULL)
    ),
    CONSTRAINT protection_changes_takes_effect_after_request CHECK (effective_at >= requested_at)
);
CREATE INDEX protection_changes_account ON protection_changes (user_id, currency, requested_at);

CREATE TRIGGER protection_changes_append_only
BEFORE UPDATE OR DELETE ON protection_changes
FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TRIGGER protection_changes_no_truncate
BEFORE TRUNCATE ON protection_changes
FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

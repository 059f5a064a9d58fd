-- Every change an operator made to a stored consumer offset that no longer fitted its topic's log
-- (`hypeledger ledger-offsets set`): who, why, from where to where, and the log's bounds then.
-- Rows are never updated nor deleted.
CREATE TABLE offset_resolutions (
    resolution_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id       text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    stored_before  bigint,
    next_offset    bigint      NOT NULL,
    log_start      bigint      NOT NULL,
    log_end        bigint      NOT NULL,
    operator       text        NOT NULL,
    reason         text        NOT NULL,
    resolved_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT offset_resolutions_within_log CHECK (next_offset BETWEEN log_start AND log_end),
    CONSTRAINT offset_resolutions_signed CHECK (length(operator) > 0 AND length(reason) > 0)
);

CREATE TRIGGER offset_resolutions_append_only
BEFORE UPDATE OR DELETE ON offset_resolutions
FOR EACH ROW EXECUTE FUNCTION refuse_change();

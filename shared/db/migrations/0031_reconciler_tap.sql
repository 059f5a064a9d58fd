-- The reconciler's tap reads wallet.commands.v1 without a consumer group: it owns every
-- partition and keeps its next offsets here, written in the same transaction as the rows it
-- stored, so a restart neither loses nor repeats a webhook.
CREATE TABLE reconciler_tap_offsets (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition),
    CONSTRAINT reconciler_tap_offsets_not_negative CHECK (next_offset >= 0)
);

-- One correction command can settle several findings (two open bets of one round share it).
ALTER TABLE reconciliation_findings DROP CONSTRAINT reconciliation_findings_correction_key_key;
CREATE INDEX reconciliation_findings_correction_key ON reconciliation_findings (correction_key)
    WHERE correction_key IS NOT NULL;

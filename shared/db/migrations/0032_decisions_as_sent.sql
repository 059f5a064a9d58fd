-- Every decision keeps what its webhook asked for: the session, the round, the amount as sent,
-- the bet a rollback undoes and the mode. The reconciler reads them here. It used to tap
-- wallet.commands.v1 for them (reconciler_webhooks), so a command that left the topic by
-- retention before the tap read it was invisible to reconciliation; the tap's tables go.
ALTER TABLE decisions
    ADD COLUMN session_token text,
    ADD COLUMN round_id      text,
    ADD COLUMN amount        numeric,
    ADD COLUMN target_tx_id  text,
    ADD COLUMN mode          text;

UPDATE decisions d
SET session_token = w.session_token,
    round_id = w.round_id,
    amount = w.amount,
    target_tx_id = w.target_tx_id,
    mode = w.mode
FROM reconciler_webhooks w
WHERE w.provider = d.provider AND w.kind = d.kind AND w.provider_tx_id = d.provider_tx_id;

ALTER TABLE decisions
    ADD CONSTRAINT decisions_target_on_rollbacks CHECK (kind = 'rollback' OR target_tx_id IS NULL),
    ADD CONSTRAINT decisions_mode_known CHECK (mode IN ('default', 'free'));

-- The reconciler lists a session's decisions by its token.
CREATE INDEX decisions_session ON decisions (session_token) WHERE session_token IS NOT NULL;

DROP TABLE reconciler_webhooks;
DROP TABLE reconciler_tap_offsets;

-- One transaction per idempotency key, enforced by the database even after retention has expired
-- the decision rows: (provider, kind, provider_tx_id) of webhooks, ('operator', kind,
-- idempotency_key) of operator commands. Also serves the audit's bet-to-debit join.
CREATE UNIQUE INDEX transactions_key ON transactions (provider, kind, provider_tx_id);

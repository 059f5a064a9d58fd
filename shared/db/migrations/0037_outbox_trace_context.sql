-- The W3C trace context (traceparent) of the command whose decision wrote the event: the relay
-- publishes the event in the same trace (services/ledger/spans.py). Null when the command had none.
ALTER TABLE outbox ADD COLUMN traceparent text;

-- The example consumer's own tables (docs/events.md#an-example-consumer). {schema} is its schema.
CREATE SCHEMA IF NOT EXISTS {schema};

-- Every event applied, by its CloudEvents id: a redelivered event finds its id here and is skipped.
CREATE TABLE IF NOT EXISTS {schema}.applied_events (
    event_id    uuid        PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Gross gaming revenue per provider, currency and hour (UTC) of play: stakes taken, less
-- payouts and stakes refunded by rollbacks. Exact decimals in the currency's units.
CREATE TABLE IF NOT EXISTS {schema}.ggr_hourly (
    provider  text        NOT NULL,
    currency  text        NOT NULL,
    hour      timestamptz NOT NULL,
    stakes    numeric     NOT NULL DEFAULT 0,
    payouts   numeric     NOT NULL DEFAULT 0,
    refunds   numeric     NOT NULL DEFAULT 0,
    ggr       numeric     GENERATED ALWAYS AS (stakes - payouts - refunds) STORED,
    PRIMARY KEY (provider, currency, hour)
);

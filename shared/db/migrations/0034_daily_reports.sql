-- Daily reports read one day of transactions and bets. Both tables are appended in time order,
-- so a BRIN index on the time (a few pages per million rows, nearly free to maintain on insert)
-- finds a day's blocks without a B-tree on the hot path.
CREATE INDEX transactions_created_at_brin ON transactions USING brin (created_at);
CREATE INDEX bets_created_at_brin ON bets USING brin (created_at);

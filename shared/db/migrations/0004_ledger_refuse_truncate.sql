-- Postings and transactions are append-only: UPDATE and DELETE are refused row by row
-- (0001), and TRUNCATE, which fires no row trigger, is refused here. Wiping the money's history
-- takes dropping these triggers first, on purpose.
CREATE TRIGGER postings_no_truncate
BEFORE TRUNCATE ON postings
FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TRIGGER transactions_no_truncate
BEFORE TRUNCATE ON transactions
FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

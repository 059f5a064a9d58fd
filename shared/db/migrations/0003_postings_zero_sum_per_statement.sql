-- The zero-sum check reads only the rows its INSERT statement added.
--
-- 0001's version summed every stored posting of the transactions a statement touched, through
-- `operator_tx_id IN (SELECT ... FROM new_rows)`. The plan cached for the trigger could not
-- know the transition table's size and read `postings` as a whole: each batch's insert cost
-- grew with the table (13 ms for 1,000 rows on an empty table, 26 ms at 60,000 rows; at a
-- production table's size, seconds per batch).
--
-- Checking the statement's own rows is complete: postings are append-only (no UPDATE or DELETE,
-- see postings_append_only), so a transaction's postings are the union of what its INSERT
-- statements added, and if each statement's rows sum to zero per transaction and currency,
-- so does the whole. Legs of one transaction inserted by two statements must balance in each,
-- as before (the old check refused the first unbalanced statement too).
CREATE OR REPLACE FUNCTION postings_zero_sum() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT n.operator_tx_id INTO bad
    FROM new_rows n
    GROUP BY n.operator_tx_id, n.currency
    HAVING sum(n.amount) <> 0
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'postings of transaction % do not sum to zero', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

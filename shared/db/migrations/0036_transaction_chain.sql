-- Tamper evidence: every transaction is a link of its player account's hash chain
-- (services/ledger/chain.py says why per account, and how the encoding is built; it is the
-- independent implementation `hypeledger audit` verifies these links with).
-- link = sha256(previous link's hex || canonical encoding); the first link's previous is 64 zeros.
CREATE TABLE transaction_chain (
    operator_tx_id  uuid        PRIMARY KEY REFERENCES transactions (operator_tx_id),
    user_id         text        NOT NULL,
    currency        text        NOT NULL,
    seq             bigint      NOT NULL,
    prev_hash       text        NOT NULL,
    hash            text        NOT NULL,
    linked_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transaction_chain_seq_positive CHECK (seq > 0),
    CONSTRAINT transaction_chain_hashes_hex CHECK (
        prev_hash ~ '^[0-9a-f]{64}$' AND hash ~ '^[0-9a-f]{64}$'
    ),
    UNIQUE (user_id, currency, seq)
);

CREATE TRIGGER transaction_chain_append_only
BEFORE UPDATE OR DELETE ON transaction_chain
FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The newest link of each account: where its next transaction is chained from.
CREATE TABLE chain_heads (
    user_id     text        NOT NULL,
    currency    text        NOT NULL,
    seq         bigint      NOT NULL,
    head        text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, currency)
);

CREATE FUNCTION chain_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '~' ELSE octet_length(value)::text || ':' || value END
$$;

-- The canonical text of a transaction's own fields, and of one posting (chain.py's encoding).
CREATE FUNCTION chain_transaction_text(t transactions) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT chain_field(t.operator_tx_id::text) || chain_field(t.kind)
        || chain_field(t.provider) || chain_field(t.provider_tx_id)
        || chain_field(t.user_id) || chain_field(t.currency) || chain_field(t.round_id)
        || chain_field(((extract(epoch FROM t.created_at) * 1000000)::bigint)::text)
$$;

CREATE FUNCTION chain_posting_text(
    leg smallint, account_type text, account_ref text, currency text, amount bigint,
    balance_after bigint
) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT chain_field(leg::text) || chain_field(account_type) || chain_field(account_ref)
        || chain_field(currency) || chain_field(amount::text) || chain_field(balance_after::text)
$$;

-- Chain transactions (given in each account's posting order, with their canonical texts) onto
-- their accounts' heads; a transaction already chained is skipped.
CREATE FUNCTION chain_append(ids uuid[], users text[], currencies text[], canons text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    account_user text := NULL;
    account_currency text := NULL;
    prev text;
    n bigint;
    link text;
    tx_ids uuid[] := '{}';
    link_users text[] := '{}';
    link_currencies text[] := '{}';
    seqs bigint[] := '{}';
    prevs text[] := '{}';
    hashes text[] := '{}';
BEGIN
    FOR r IN
        SELECT x.id, x.u, x.c, x.canon, h.head, h.seq
        FROM unnest(ids, users, currencies, canons) WITH ORDINALITY AS x (id, u, c, canon, i)
        LEFT JOIN chain_heads h ON h.user_id = x.u AND h.currency = x.c
        WHERE NOT EXISTS (SELECT 1 FROM transaction_chain c WHERE c.operator_tx_id = x.id)
        ORDER BY x.i
    LOOP
        IF account_user IS DISTINCT FROM r.u OR account_currency IS DISTINCT FROM r.c THEN
            account_user := r.u;
            account_currency := r.c;
            prev := coalesce(r.head, repeat('0', 64));
            n := coalesce(r.seq, 0);
        END IF;
        n := n + 1;
        link := encode(sha256(convert_to(prev || r.canon, 'UTF8')), 'hex');
        tx_ids := tx_ids || r.id;
        link_users := link_users || r.u;
        link_currencies := link_currencies || r.c;
        seqs := seqs || n;
        prevs := prevs || prev;
        hashes := hashes || link;
        prev := link;
    END LOOP;
    IF cardinality(tx_ids) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO transaction_chain (operator_tx_id, user_id, currency, seq, prev_hash, hash)
    SELECT * FROM unnest(tx_ids, link_users, link_currencies, seqs, prevs, hashes);
    INSERT INTO chain_heads AS h (user_id, currency, seq, head)
    SELECT DISTINCT ON (l.u, l.c) l.u, l.c, l.s, l.h
    FROM unnest(link_users, link_currencies, seqs, hashes) AS l (u, c, s, h)
    ORDER BY l.u, l.c, l.s DESC
    ON CONFLICT (user_id, currency) DO UPDATE
    SET seq = excluded.seq, head = excluded.head, updated_at = now();
END;
$$;

-- Every statement that inserts postings (COPY included) chains its transactions, from the
-- statement's own rows (the table is not read: the cost does not grow with it), in the same
-- database transaction as the money they describe. Legs added to a transaction by a later
-- statement are not in its link: the audit then reports the transaction changed.
CREATE FUNCTION postings_chain_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    users text[];
    currencies text[];
    canons text[];
BEGIN
    SELECT array_agg(x.operator_tx_id ORDER BY x.user_id, x.currency, x.first),
           array_agg(x.user_id ORDER BY x.user_id, x.currency, x.first),
           array_agg(x.currency ORDER BY x.user_id, x.currency, x.first),
           array_agg(x.canon ORDER BY x.user_id, x.currency, x.first)
    INTO ids, users, currencies, canons
    FROM (
        SELECT t.operator_tx_id, t.user_id, t.currency, min(n.posting_id) AS first,
               chain_transaction_text(t) || string_agg(
                   chain_posting_text(
                       n.leg, n.account_type, n.account_ref, n.currency, n.amount,
                       n.balance_after
                   ),
                   '' ORDER BY n.leg
               ) AS canon
        FROM new_rows n
        JOIN transactions t ON t.operator_tx_id = n.operator_tx_id
        GROUP BY t.operator_tx_id
    ) x;
    IF ids IS NOT NULL THEN
        PERFORM chain_append(ids, users, currencies, canons);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER postings_chain_link
AFTER INSERT ON postings
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION postings_chain_link();

-- Transactions stored before this migration are chained now, each account's in posting order.
SELECT chain_append(
    coalesce(array_agg(x.operator_tx_id ORDER BY x.user_id, x.currency, x.first), '{}'),
    coalesce(array_agg(x.user_id ORDER BY x.user_id, x.currency, x.first), '{}'),
    coalesce(array_agg(x.currency ORDER BY x.user_id, x.currency, x.first), '{}'),
    coalesce(array_agg(x.canon ORDER BY x.user_id, x.currency, x.first), '{}')
)
FROM (
    SELECT t.operator_tx_id, t.user_id, t.currency, min(p.posting_id) AS first,
           chain_transaction_text(t) || string_agg(
               chain_posting_text(
                   p.leg, p.account_type, p.account_ref, p.currency, p.amount, p.balance_after
               ),
               '' ORDER BY p.leg
           ) AS canon
    FROM transactions t
    JOIN postings p ON p.operator_tx_id = t.operator_tx_id
    GROUP BY t.operator_tx_id
) x;

-- Each day's chain heads as recorded and published (services/ledger/chain_days.py).
CREATE TABLE chain_days (
    day            date        PRIMARY KEY,
    time_zone      text        NOT NULL,
    accounts       bigint      NOT NULL,
    links          bigint      NOT NULL,
    digest         text        NOT NULL,
    previous_root  text        NOT NULL,
    root           text        NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER chain_days_append_only
BEFORE UPDATE OR DELETE ON chain_days
FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE INDEX transaction_chain_linked_at ON transaction_chain USING brin (linked_at);

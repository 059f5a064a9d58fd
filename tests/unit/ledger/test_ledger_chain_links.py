"""The hash chain's pure side: the canonical encoding, links, the first broken link, the day's
root; and the committed schema of the daily heads event."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema

from services.ledger.chain import (
    GENESIS,
    ChainPosting,
    ChainTransaction,
    StoredLink,
    canonical,
    first_broken,
    heads_root,
    link,
    micros,
)
from shared.contracts.chain import ChainHeadsEvent

SCHEMA = Path(__file__).resolve().parents[3] / "shared/contracts/schemas/chain_heads_event.v1.json"
AT = datetime(2026, 5, 4, 12, 30, 1, 123456, tzinfo=UTC)


def tx(tx_id: str = "t1", amount: int = -500, round_id: str | None = "r1") -> ChainTransaction:
    return ChainTransaction(
        operator_tx_id=tx_id,
        kind="bet",
        provider="hypetech",
        provider_tx_id=f"p-{tx_id}",
        user_id="u1",
        currency="BRL",
        round_id=round_id,
        created_at=AT,
        postings=(
            ChainPosting(1, "provider_clearing", "hypetech", "BRL", -amount, None),
            ChainPosting(0, "player", "u1", "BRL", amount, 1000 + amount),
        ),
    )


def chain(*txs: ChainTransaction) -> list[tuple[StoredLink, ChainTransaction | None]]:
    links, previous = [], GENESIS
    for seq, one in enumerate(txs, start=1):
        current = link(previous, one)
        links.append((StoredLink(one.operator_tx_id, seq, previous, current), one))
        previous = current
    return links


def test_the_encoding_is_length_prefixed_in_leg_order_with_nulls_marked() -> None:
    text = canonical(tx(round_id=None))

    assert text.startswith("2:t13:bet8:hypetech4:p-t12:u13:BRL~")
    assert text.endswith(
        "1:06:player2:u13:BRL4:-5003:5001:117:provider_clearing8:hypetech3:BRL3:500~"
    )
    assert micros(AT) == 1_777_897_801_123_456


def test_the_encoding_tells_apart_values_that_would_run_together() -> None:
    one = replace(tx(), provider="ab", provider_tx_id="c")
    other = replace(tx(), provider="a", provider_tx_id="bc")

    assert canonical(one) != canonical(other)
    assert canonical(tx(round_id=None)) != canonical(tx(round_id=""))


def test_a_held_chain_has_no_broken_link() -> None:
    assert first_broken(chain(tx("t1"), tx("t2"), tx("t3"))) is None


def test_a_changed_amount_breaks_its_own_link_first() -> None:
    links = chain(tx("t1"), tx("t2"), tx("t3"))
    stored, _ = links[1]
    links[1] = (stored, tx("t2", amount=-501))

    broken = first_broken(links)

    assert broken is not None
    assert (broken.operator_tx_id, broken.seq, broken.reason) == ("t2", 2, "transaction changed")


def test_a_missing_link_or_transaction_is_named() -> None:
    links = chain(tx("t1"), tx("t2"), tx("t3"))

    gap = first_broken([links[0], links[2]])
    gone = first_broken([links[0], (links[1][0], None), links[2]])

    assert gap is not None
    assert (gap.operator_tx_id, gap.reason) == ("t3", "expected link 2")
    assert gone is not None
    assert gone.reason == "its transaction is gone"


def test_the_root_depends_on_every_head_not_on_their_order() -> None:
    heads = [("u1", "BRL", "a" * 64), ("u2", "BRL", "b" * 64)]

    assert heads_root(heads) == heads_root(list(reversed(heads)))
    assert heads_root(heads) != heads_root([heads[0], ("u2", "BRL", "c" * 64)])


def test_the_event_schema_file_matches_the_model_and_an_event_satisfies_it() -> None:
    committed = json.loads(SCHEMA.read_text())
    event = ChainHeadsEvent(
        event_id="6f1c7a52-0d55-4f7e-9a51-3b0f4bfa0c11",
        day=date(2026, 5, 4),
        time_zone="America/Sao_Paulo",
        accounts=2,
        links=5,
        digest="a" * 64,
        previous_root=GENESIS,
        root="b" * 64,
    )

    assert committed == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://hypeledger.dev/schemas/chain_heads_event.v1.json",
        **ChainHeadsEvent.model_json_schema(),
    }
    jsonschema.validate(json.loads(event.model_dump_json()), committed)

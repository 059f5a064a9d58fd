"""Pure checks of a finished run: the ledger against the simulator's truth, findings against faults.

Inputs are plain JSON values (the truth export, the operator API's answers, the reconciler's
findings); outputs are the differences, each one line a person can act on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MONEY_KINDS = {"BET": "bet", "WIN": "win", "ROLLBACK": "rollback"}


@dataclass(frozen=True, slots=True)
class Mismatch:
    area: str
    subject: str
    detail: str


def balance_mismatches(
    truth: Mapping[str, Any], ledger: Mapping[tuple[str, str], str | None]
) -> list[Mismatch]:
    """Every player's ledger balance must equal the balance the truth expects the operator to hold."""
    found = []
    for player in truth["players"]:
        key = (player["user_id"], player["currency"])
        expected = Decimal(player["expected_operator_balance"])
        got = ledger.get(key)
        if got is None or Decimal(got) != expected:
            found.append(
                Mismatch("balance", f"{key[0]} {key[1]}", f"ledger {got}, expected {expected}")
            )
    return found


def expected_movements(truth: Mapping[str, Any]) -> tuple[dict[tuple[str, str], Decimal], set[str]]:
    """``(kind, provider_tx_id) -> signed player amount`` the ledger must show, and the ids whose
    outcome the provider never learned (no answer after every retry), which are not checked."""
    bets = {
        tx["transactionId"]: tx for tx in truth["transactions"] if tx["transactionType"] == "BET"
    }
    unknown = {
        tx_id for tx_id, tx in bets.items() if tx["operatorStatus"] is None and tx["delivered"]
    }
    moves: dict[tuple[str, str], Decimal] = {}
    for tx in truth["transactions"]:
        kind = MONEY_KINDS.get(tx["transactionType"])
        if kind is None or tx["operatorStatus"] != 200:
            continue
        if tx.get("mode") == "free" and kind != "win":
            continue
        amount = Decimal(tx["amount"])
        if kind == "bet":
            moves[(kind, tx["transactionId"])] = -amount
        elif kind == "win":
            moves[(kind, tx["transactionId"])] = amount
        else:
            bet = bets.get(tx.get("linkedTransactionId") or tx["transactionId"])
            if bet is not None and bet["transactionId"] in unknown:
                unknown.add(tx["transactionId"])
            elif bet is not None and bet["operatorStatus"] == 200 and bet.get("mode") != "free":
                moves[(kind, tx["transactionId"])] = Decimal(bet["amount"])  # the ORIGINAL stake
    return moves, unknown


def movement_mismatches(
    truth: Mapping[str, Any], ledger_rows: Iterable[Mapping[str, Any]]
) -> list[Mismatch]:
    """Every money-moving webhook applied exactly once with its amount, and nothing else."""
    expected, unknown = expected_movements(truth)
    seen: dict[tuple[str, str], Decimal] = {}
    found = []
    for row in ledger_rows:
        kind = str(row.get("kind"))
        if kind not in MONEY_KINDS.values():
            continue
        key = (kind, str(row.get("provider_tx_id")))
        amount = Decimal(str(row.get("amount") or 0))
        if key in seen:
            found.append(Mismatch("transaction", f"{kind} {key[1]}", "applied twice"))
        seen[key] = amount
    for key, amount in expected.items():
        got = seen.get(key)
        if got is None:
            found.append(Mismatch("transaction", f"{key[0]} {key[1]}", "missing in the ledger"))
        elif got != amount:
            found.append(
                Mismatch("transaction", f"{key[0]} {key[1]}", f"ledger {got}, expected {amount}")
            )
    for key, amount in seen.items():
        if key not in expected and amount != 0 and key[1] not in unknown:
            found.append(
                Mismatch(
                    "transaction",
                    f"{key[0]} {key[1]}",
                    f"moved {amount}, the provider never saw it",
                )
            )
    return found


def expected_findings(truth: Mapping[str, Any]) -> dict[str, set[str]]:
    """Finding class -> provider transaction ids the reconciler must report: the injected faults
    and nothing else (the lost bets of finished rounds are settled, not reported)."""
    expected: dict[str, set[str]] = defaultdict(set)
    for record in truth["faults"]["records"]:
        if record["kind"] == "drift":
            expected["missing_in_ledger"].add(record["transactionId"])
        elif record["kind"] == "wrong_rollback_amount":
            expected["amount_mismatch"].add(record["transactionId"])
    return dict(expected)


def finding_mismatches(
    truth: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]
) -> list[Mismatch]:
    """The reconciler's findings must be exactly what the faults predict."""
    expected = expected_findings(truth)
    got: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        got[str(finding["class"])].add(str(finding.get("provider_tx_id")))
    found = []
    for finding_class in sorted(set(expected) | set(got)):
        want, have = expected.get(finding_class, set()), got.get(finding_class, set())
        for tx_id in sorted(want - have):
            found.append(
                Mismatch("finding", f"{finding_class} {tx_id}", "injected but not reported")
            )
        for tx_id in sorted(have - want):
            found.append(
                Mismatch("finding", f"{finding_class} {tx_id}", "reported but not injected")
            )
    return found


def count_classes(findings: Sequence[Mapping[str, Any]]) -> Counter[str]:
    return Counter(str(finding["class"]) for finding in findings)


def refusals(truth: Mapping[str, Any]) -> dict[str, int]:
    """Bets and deposits the operator refused, by problem type (from the provider's side)."""
    return dict(
        Counter(
            tx["operatorProblem"]
            for tx in truth["transactions"]
            if tx["transactionType"] == "BET" and tx.get("operatorProblem")
        )
    )


def protection_mismatches(
    truth: Mapping[str, Any], loss_limits: Mapping[str, Decimal], excluded: Iterable[str]
) -> list[Mismatch]:
    """Player protection against the truth: no excluded player had a bet accepted, and no
    limited player lost more than the daily loss limit on any day (checked as: the net loss of
    the run, stakes minus wins minus refunds accepted by the operator, is at most the limit times
    the days the run touched)."""
    found = []
    shut_out = set(excluded)
    net: dict[str, Decimal] = defaultdict(Decimal)
    days: dict[str, set[str]] = defaultdict(set)
    for tx in truth["transactions"]:
        user = tx["userId"]
        if tx["operatorStatus"] != 200 or tx.get("mode") == "free":
            continue
        kind = tx["transactionType"]
        if kind == "BET" and user in shut_out:
            found.append(Mismatch("protection", user, f"bet {tx['transactionId']} accepted"))
        sign = {"BET": 1, "WIN": -1, "ROLLBACK": -1}.get(kind)
        if sign is not None:
            net[user] += sign * Decimal(tx["amount"])
            days[user].add(tx["requestedAt"][:10])
    for user, limit in loss_limits.items():
        bound = limit * max(1, len(days[user]))
        if net[user] > bound:
            found.append(
                Mismatch("protection", user, f"net loss {net[user]} above {bound} (loss limit)")
            )
    return found

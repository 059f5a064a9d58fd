"""The Schemathesis configuration both services' Schemathesis tests use.

Deterministic (a fixed seed, no example database) and bounded: per operation, the document's
examples and ``EXAMPLES`` generated requests, valid and invalid ("all" modes), unshrunk (a failure
is reported as found). ``HYPELEDGER_SCHEMATHESIS=full`` adds the coverage phase: every
constraint's edges, each required part left out, and methods the path does not take (405 with
``Allow``); it sends about ten times as many requests (minutes, not seconds).
Every check runs but positive-data acceptance: a valid request for a player who has no account
is rightly answered 404, which that check would call a failure.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

EXAMPLES = 25
SEED = 20_261_207
FULL = os.environ.get("HYPELEDGER_SCHEMATHESIS", "") == "full"


def config(**extra: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True,
                       "no-shrink": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": FULL}},
        "checks": {"positive_data_acceptance": {"enabled": False}},
        **extra,
    })  # fmt: skip

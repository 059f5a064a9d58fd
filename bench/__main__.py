"""Benchmarks: ``python -m bench [name] [options]`` (``make bench`` runs every one of them)."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "ledger": "bench.ledger",
    "reconcile": "bench.reconcile",
    "ingress": "bench.ingress_bench",
    "ingress-handler": "bench.ingress_handler",
    "ledger-plan-cache": "bench.ledger_plan_cache",
}
#: Run by name only, not by ``make bench`` (each seeds millions of rows first).
ON_REQUEST = {
    "ledger-growth": "bench.ledger_growth",
    "retention": "bench.retention",
    "decisions-migration": "bench.decisions_migration",
}


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in BENCHES | ON_REQUEST:
        importlib.import_module((BENCHES | ON_REQUEST)[args[0]]).main(args[1:])
        return
    for module in BENCHES.values():
        importlib.import_module(module).main(args)


if __name__ == "__main__":
    main()

"""The ingress's own CPU per webhook, without sockets: the ASGI app driven in one process.

``python -m bench ingress-handler [--n 20000] [--runs 5]``

Builds the real app (``services.ingress.app.create_app``) with the production settings path
(JSON logs to a discarded stream, metrics, tracing as configured) and a ledger link that answers
every command at once with a stored-answer-shaped reply, then calls it with pre-signed bet
webhooks as uvicorn would (scope, ``receive``, ``send``). What it measures is the CPU the ingress's
own code spends per webhook: verifying, normalising, building and serialising the envelope,
reading the reply, answering, the log line and the metrics. Sockets, the HTTP parser and the Kafka
client are not in it (``bench ingress`` measures the whole process); that makes it steady enough
to compare two trees on a busy machine. Prints one JSON object: CPU microseconds per webhook for
each run and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from services.ingress.app import create_app
from services.ingress.settings import IngressSettings
from services.ingress.signature import sign
from shared.jsonwire import dumps_compact
from shared.kafka_rpc import RpcReply, RpcStats
from shared.logs import configure_logging

BASE_URL = "http://127.0.0.1:8080"
PATH = "/webhooks/hypetech/bet"
KEY = "bench-handler-hypetech-key-0123456789abcdef"
#: What the ledger answers an applied bet with (the ingress passes ``body`` through unread).
REPLY = dumps_compact({
    "status": 200,
    "body": dumps_compact({"status": "ok", "balance": "990.00", "currency": "USD",
                           "operator_tx_id": "0f0e0d0c-0b0a-4909-8807-060504030201"}),
    "content_type": "application/json",
    "operator_tx_id": "0f0e0d0c-0b0a-4909-8807-060504030201",
}).encode()  # fmt: skip


class InstantLedger:
    """A ledger link that answers every request at once (the seam ``create_app`` takes)."""

    def __init__(self) -> None:
        self.stats = RpcStats()

    @property
    def reply_consumer_assigned(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def broker_reachable(self, timeout_s: float = 1.0) -> bool:
        return True

    async def request(
        self, *, key: str, value: bytes, timeout_s: float, correlation_id: str | None = None
    ) -> RpcReply:
        return RpcReply(REPLY, {}, correlation_id or "")


def signed_bodies(n: int, users: int = 500) -> list[tuple[bytes, bytes]]:
    """``n`` (body, signature) pairs of bets, round-robin over ``users`` players."""
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(n):
        user = f"player-{i % users}"
        body = dumps_compact({
            "user_id": user, "currency": "USD", "amount": "10.00", "provider": "hypetech",
            "provider_tx_id": f"{run}-{i}", "game": "aviador", "action": "bet",
            "round_id": f"{run}-r{i // users}", "mode": "default", "count_register": "1",
            "session_token": f"tok-{user}",
        }).encode()  # fmt: skip
        out.append((body, sign(KEY.encode(), BASE_URL + PATH, body).encode()))
    return out


def scope_of(body: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"hype-hash", signature),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }


async def drive(app: Any, requests: Sequence[tuple[bytes, bytes]]) -> tuple[float, int]:
    """Call the app once per request; the CPU seconds it took and how many answered 200."""
    ok = 0

    async def one(body: bytes, signature: bytes) -> None:
        nonlocal ok
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal ok
            if message["type"] == "http.response.start" and message["status"] == 200:
                ok += 1

        await app(scope_of(body, signature), receive, send)

    started = time.process_time()
    for body, signature in requests:
        await one(body, signature)
    return time.process_time() - started, ok


async def measure(n: int, runs: int) -> dict[str, Any]:
    settings = IngressSettings(
        environment="production",
        public_base_url=BASE_URL,
        hypetech_api_keys=[KEY],  # pydantic reads str as SecretStr
        command_key_id="bench",
        command_key="bench-handler-command-key-0123456789abcdef",
    )
    app = create_app(settings, ledger=InstantLedger())
    per_request_us: list[float] = []
    await drive(app, signed_bodies(min(n, 2000)))  # warm-up: imports, caches, first allocations
    for _ in range(runs):
        requests = signed_bodies(n)
        cpu_s, ok = await drive(app, requests)
        if ok != n:
            raise SystemExit(f"only {ok} of {n} webhooks were answered 200")
        per_request_us.append(round(cpu_s / n * 1e6, 1))
    return {"n": n, "cpu_us_per_webhook": per_request_us,
            "median_us": statistics.median(per_request_us)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ingress-handler", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="webhooks per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    # the service's own log configuration, its lines written to /dev/null (rendering and
    # writing them is part of what is measured)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    configure_logging("INFO", "json")
    result = asyncio.run(measure(args.n, args.runs))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""Load generator for the ingress: signed bet webhooks over keep-alive HTTP/1.1, its own process.

Raw asyncio streams with requests built and signed before the clock starts, so the generator
spends its CPU on sending, not on an HTTP client library. Two modes:

* fixed rate (open loop): request ``i`` is due at ``start + i / rate``; its latency is measured
  from when it was DUE, so a stalled server cannot hide queueing (no coordinated omission);
* full speed (closed loop, ``--rate 0``): ``--connections`` requests in flight, each sent as soon
  as the previous answer on its connection arrived.

Prints ``measuring`` when its clock starts, then one JSON object: counts by status, throughput,
latency percentiles, the generator's peak RSS and its CPU from the clock's start (``cpu_s``).

    python -m bench.ingress_load --url http://127.0.0.1:8080 --key K --users users.txt --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.ingress_stats import announce_measuring, summary
from services.ingress.signature import sign
from shared.jsonwire import dumps_compact

BET_PATH = "/webhooks/hypetech/bet"


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


def build_requests(url: str, key: bytes, users: list[str], count: int, amount: str) -> list[bytes]:
    """``count`` signed bets, round-robin over ``users``, each with a fresh provider_tx_id."""
    parts = urlsplit(url)
    host = parts.netloc
    run = uuid.uuid4().hex[:8]
    requests = []
    for n in range(count):
        user = users[n % len(users)]
        body = dumps_compact({
            "user_id": user, "currency": "USD", "amount": amount, "provider": "hypetech",
            "provider_tx_id": f"{run}-{n}", "game": "aviador", "action": "bet",
            "round_id": f"{run}-r{n // len(users)}", "mode": "default", "count_register": "1",
            "session_token": f"tok-{user}",
        }).encode()  # fmt: skip
        signature = sign(key, url + BET_PATH, body)
        head = (
            f"POST {BET_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Hype-Hash: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def connection(
    host: str, port: int, queue: asyncio.Queue[tuple[float, bytes] | None], results: Results
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := await queue.get()) is not None:
            due, raw = item
            due = due or time.perf_counter()
            try:
                writer.write(raw)
                status = await read_status(reader)
            except (OSError, asyncio.IncompleteReadError):
                results.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            results.latencies.append(time.perf_counter() - due)
            results.statuses[status] += 1
    finally:
        writer.close()


async def run(args: argparse.Namespace, users: list[str]) -> dict[str, object]:
    count = args.count if args.rate == 0 else int(args.rate * args.duration)
    requests = build_requests(args.url, args.key.encode(), users, count, args.amount)
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    results = Results()
    workers = [
        asyncio.create_task(connection(host, port, queue, results)) for _ in range(args.connections)
    ]
    announce_measuring()
    cpu_started, started = time.process_time(), time.perf_counter()
    if args.rate == 0:
        for raw in requests:
            queue.put_nowait((0.0, raw))
    else:
        interval = 1.0 / args.rate
        for n, raw in enumerate(requests):
            due = started + n * interval
            delay = due - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            queue.put_nowait((due, raw))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    mode = "full-speed" if args.rate == 0 else f"{args.rate:g}/s"
    report = summary(mode, count, results.latencies, elapsed)
    report.update(statuses=dict(results.statuses), errors=results.errors)
    report["cpu_s"] = round(time.process_time() - cpu_started, 4)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="public base URL the ingress signs against")
    parser.add_argument("--key", required=True)
    parser.add_argument("--users", required=True, help="file of user ids, whitespace separated")
    parser.add_argument("--rate", type=float, default=0, help="requests/s; 0 = full speed")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=20_000, help="requests at full speed")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--amount", default="0.01")
    args = parser.parse_args()
    users = Path(args.users).read_text().split()
    print(json.dumps(asyncio.run(run(args, users))))


if __name__ == "__main__":
    main()

"""The broker's request-reply floor: bare produce -> consume -> reply ping-pong, no HTTP, no ledger.

``respond`` runs the echo side (groupless consumer of the command topic, replies to each record's
``reply_to`` with its ``correlation_id``). ``request`` runs the asking side through the same
``shared.kafka_rpc`` client the ingress uses, at a fixed rate or at full speed, and prints
``measuring`` when its clock starts, then one JSON object, like ``bench.ingress_load`` does. Each
side is its own process.

    python -m bench.ingress_floor respond --bootstrap 127.0.0.1:9092 --prefix b1.
    python -m bench.ingress_floor request --bootstrap 127.0.0.1:9092 --prefix b1. --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

from bench.ingress_stats import announce_measuring, summary
from shared import kafka
from shared.command_auth import reply_headers
from shared.contracts.topics import COMMANDS, HEADER_CORRELATION_ID, HEADER_REPLY_TO
from shared.kafka_rpc import KafkaRpcClient, RpcError
from shared.settings import CommonSettings

#: The echo's answer to every request.
ECHO = b'{"status":200,"body":"{}"}'


def settings_of(args: argparse.Namespace) -> CommonSettings:
    return CommonSettings(
        environment="development",
        kafka_bootstrap_servers=args.bootstrap,
        kafka_flavour=args.flavour,
        kafka_fetch_max_wait_ms=args.fetch_max_wait_ms,
        topic_prefix=args.prefix,
    )


async def respond(args: argparse.Namespace) -> None:
    settings = settings_of(args)
    consumer = kafka.consumer(settings, settings.topic(COMMANDS), group_id=None)
    producer = kafka.producer(settings)
    signer = settings.command_signer()  # replies are signed, as the ledger signs them
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    await producer.send(
                        headers[HEADER_REPLY_TO].decode(),
                        ECHO,
                        headers=reply_headers(
                            signer, correlation_id=headers[HEADER_CORRELATION_ID], value=ECHO
                        ),
                    )
    finally:
        await consumer.stop()
        await producer.stop()


async def request(args: argparse.Namespace) -> dict[str, Any]:
    client = KafkaRpcClient(settings_of(args), request_topic=COMMANDS, client_id="bench-floor")
    await client.start()
    latencies: list[float] = []
    failures = 0
    count = args.count if args.rate == 0 else int(args.rate * args.duration)

    async def one(n: int, due: float) -> None:
        nonlocal failures
        try:
            await client.request(key=f"user-{n % 997}", value=b'{"ping":1}', timeout_s=10)
        except RpcError:
            failures += 1
            return
        latencies.append(time.perf_counter() - due)

    announce_measuring()
    cpu_started, started = time.process_time(), time.perf_counter()
    try:
        if args.rate == 0:
            queue = iter(range(count))

            async def lane() -> None:
                for n in queue:
                    await one(n, time.perf_counter())

            await asyncio.gather(*(lane() for _ in range(args.in_flight)))
        else:
            tasks = []
            for n in range(count):
                due = started + n / args.rate
                delay = due - time.perf_counter()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(n, due)))
            await asyncio.gather(*tasks)
    finally:
        await client.stop()
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    mode = "full-speed" if args.rate == 0 else f"{args.rate:g}/s"
    report = summary(mode, count, latencies, elapsed)
    report.update(failures=failures, cpu_s=round(cpu_s, 4))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=["respond", "request"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--flavour", default="kafka")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=None)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args()
    if args.side == "respond":
        asyncio.run(respond(args))
    else:
        print(json.dumps(asyncio.run(request(args))))


if __name__ == "__main__":
    main()

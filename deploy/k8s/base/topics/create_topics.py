"""Create hypeledger's Kafka topics with their partition counts, retention and replication.

Runs in the hypeledger image (it needs only aiokafka): the Kubernetes topics Job and the compose
``kafka-topics`` service mount this folder and run ``python create_topics.py topics.json``.
Idempotent: an existing topic is left as it is, but one with FEWER partitions than declared is a
loud failure (a topic auto-created by a client gets one partition, which would cap the ledger at
one replica and hide it).

Environment:
    HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS  brokers (required)
    HYPELEDGER_TOPIC_PREFIX             prepended to every name (default empty)
    REPLICATION_FACTOR                  default 3; min.insync.replicas is set to min(2, RF)
    PARTITIONS_<KEY>                    override one topic's partitions, e.g. PARTITIONS_COMMANDS=24
    TOPICS_TIMEOUT_S                    how long to wait for the brokers (default 120)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

VISIBLE_WITHIN_S = 30.0


def declared_topics(path: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """The declared topics with the environment's prefix, partition overrides and replication."""
    replication = int(env.get("REPLICATION_FACTOR", "3"))
    prefix = env.get("HYPELEDGER_TOPIC_PREFIX", "")
    topics = []
    for topic in json.loads(path.read_text())["topics"]:
        partitions = int(env.get(f"PARTITIONS_{topic['key'].upper()}", topic["partitions"]))
        config = dict(topic.get("config", {}))
        config.setdefault("min.insync.replicas", str(min(2, replication)))
        topics.append(
            {
                "name": prefix + topic["name"],
                "partitions": partitions,
                "replication": replication,
                "config": config,
            }
        )
    return topics


async def start_admin(bootstrap: str, timeout_s: float) -> AIOKafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
        except KafkaConnectionError:
            await admin.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)
        else:
            return admin


async def partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    # Describe only topics that exist: a metadata request naming a missing topic lets a broker
    # with auto-creation on create it, with its default partition count.
    present = set(await admin.list_topics())
    wanted = [name for name in names if name in present]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {
        item["topic"]: len(item["partitions"])
        for item in described
        if item.get("error_code", 0) == 0 and item["partitions"]
    }


async def create(topics: list[dict[str, Any]], bootstrap: str, timeout_s: float) -> int:
    admin = await start_admin(bootstrap, timeout_s)
    errors: dict[str, str] = {}
    try:
        names = [topic["name"] for topic in topics]
        existing = await partition_counts(admin, names)
        missing = [topic for topic in topics if topic["name"] not in existing]
        for topic in missing:
            new = NewTopic(
                name=topic["name"],
                num_partitions=topic["partitions"],
                replication_factor=topic["replication"],
                topic_configs=topic["config"],
            )
            response = await admin.create_topics([new])
            for name, code, *_ in response.topic_errors:
                # Already there: a concurrent run of this job made it; checked below like any other.
                if code not in (0, TopicAlreadyExistsError.errno):
                    errors[name] = for_code(code).__name__
        counts = await visible_counts(admin, names, time.monotonic() + VISIBLE_WITHIN_S)
    finally:
        await admin.close()
    failures = 0
    for topic in topics:
        have = counts.get(topic["name"], 0)
        line = {
            "topic": topic["name"],
            "status": "created" if topic in missing else "exists",
            "partitions": have,
            "declared": topic["partitions"],
        }
        if topic["name"] in errors:
            line["error"] = errors[topic["name"]]
        if have < topic["partitions"]:
            failures += 1
            line["status"] = "too_few_partitions" if have else "missing"
            line["fix"] = "see 'Partitions and replicas' in docs/deploy.md"
        print(json.dumps(line), file=sys.stderr if have < topic["partitions"] else sys.stdout)
    return 1 if failures else 0


async def visible_counts(
    admin: AIOKafkaAdminClient, names: list[str], deadline: float
) -> dict[str, int]:
    """Partition counts once every topic shows in the metadata (or at the deadline)."""
    while True:
        counts = await partition_counts(admin, names)
        if len(counts) == len(names) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("topics.json")
    env = dict(os.environ)
    topics = declared_topics(path, env)
    bootstrap = env["HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS"]
    return asyncio.run(create(topics, bootstrap, float(env.get("TOPICS_TIMEOUT_S", "120"))))


if __name__ == "__main__":
    sys.exit(main(sys.argv))

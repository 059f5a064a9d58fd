"""Apache Kafka for tests, the demo and the benchmarks: one KRaft node from Maven Central's jars.

The broker is the same ``kafka_2.13`` release that ``docker-compose.yml`` and the testcontainers
image run (``KAFKA_VERSION``). Maven resolves its jars into its own cache (``~/.m2``, outside the
repository) the first time, printing what it fetches; the classpath is then kept in
``~/.cache/hypeledger`` so later starts need neither Maven nor the network.

One process is broker and controller at once, its storage formatted in the run directory, every
replication factor 1, no initial rebalance delay, a bounded heap, and a minimum session timeout
low enough for the tests' 1 s consumer sessions. ``start_apache_kafka`` on a run directory that
already holds a formatted log reuses it (a restart after a kill keeps every record).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from shared.infra.broker import wait_until_answers
from shared.infra.processes import InfraError, ServerProcess, free_port, retrying_taken_ports, spawn

#: One Apache Kafka release everywhere: this broker, ``docker-compose.yml`` and the container tag.
KAFKA_VERSION = "4.1.1"
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
#: The oldest Java the broker runs on (Kafka 4 brokers need 17).
MIN_JAVA = 17
POM = Path(__file__).with_name("apache-kafka.pom.xml")
#: How long the first ``mvn`` resolution may take (about 50 jars, ~60 MB).
RESOLVE_WITHIN_S = 600.0
HEAP = "512m"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

Progress = Callable[[str], None]
_DOWNLOADED_JAR = re.compile(r"Downloaded from \S+: \S+/([^/\s]+\.jar)\b")


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def cache_dir() -> Path:
    """Where the resolved classpath is kept (``HYPELEDGER_KAFKA_CACHE`` overrides)."""
    override = os.environ.get("HYPELEDGER_KAFKA_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "hypeledger"
    return base / f"kafka-{KAFKA_VERSION}"


def java_binary() -> str | None:
    """``$JAVA_HOME/bin/java`` or ``java`` on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@cache
def java_version(java: str) -> int | None:
    """The feature version of ``java`` (17 for ``17.0.15``), or None if it cannot be read."""
    try:
        out = subprocess.run(  # noqa: S603 - a java binary found on this machine
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def _cached_classpath() -> str | None:
    path = cache_dir() / "classpath.txt"
    try:
        classpath = path.read_text().strip()
    except OSError:
        return None
    jars = classpath.split(os.pathsep)
    if not classpath or not all(Path(jar).is_file() for jar in jars):
        return None
    return classpath


def why_not_available() -> str | None:
    """None when the local Apache Kafka can run here, else the reason (for the Tansu fallback)."""
    java = java_binary()
    if java is None:
        return "no java on the PATH (and no JAVA_HOME)"
    version = java_version(java)
    if version is None or version < MIN_JAVA:
        return f"{java} is Java {version}, Apache Kafka {KAFKA_VERSION} needs {MIN_JAVA}+"
    if _cached_classpath() is None and shutil.which("mvn") is None:
        return "no mvn to fetch the broker's jars, and none cached in " + str(cache_dir())
    return None


def classpath(progress: Progress = _stderr) -> str:
    """The broker's classpath, resolving the jars with Maven the first time (one process at once)."""
    found = _cached_classpath()
    if found is not None:
        return found
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(f"Apache Kafka {KAFKA_VERSION}: no jars in {cache_dir()} and no mvn")
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run waits for the first one's download
        found = _cached_classpath()
        if found is not None:
            return found
        _resolve(mvn, directory, progress)
        found = _cached_classpath()
    if found is None:
        raise InfraError(f"Maven wrote no usable classpath to {directory / 'classpath.txt'}")
    return found


def _resolve(mvn: str, directory: Path, progress: Progress) -> None:
    progress(
        f"Apache Kafka {KAFKA_VERSION}: fetching the broker's jars from Maven Central into "
        "~/.m2 (first run only)"
    )
    started = time.monotonic()
    output = directory / "classpath.txt.part"
    argv = [
        mvn, "-B", "-f", str(POM), "dependency:build-classpath",
        f"-Dkafka.version={KAFKA_VERSION}", f"-Dmdep.outputFile={output}",
    ]  # fmt: skip
    lines: list[str] = []
    fetched = 0
    with subprocess.Popen(  # noqa: S603 - argv built here from a fixed pom
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=directory
    ) as mvn_process:
        assert mvn_process.stdout is not None  # noqa: S101 - PIPE above
        for line in mvn_process.stdout:
            lines.append(line.rstrip())
            downloaded = _DOWNLOADED_JAR.search(line)
            if downloaded:
                fetched += 1
                progress(f"  [{fetched:>3}] {downloaded.group(1)}")
        try:
            code = mvn_process.wait(timeout=RESOLVE_WITHIN_S)
        except subprocess.TimeoutExpired:
            mvn_process.kill()
            raise InfraError(
                f"mvn did not resolve Apache Kafka within {RESOLVE_WITHIN_S} s"
            ) from None
    if code != 0:
        detail = "\n".join(lines[-25:])
        raise InfraError(f"mvn could not resolve Apache Kafka {KAFKA_VERSION}:\n{detail}")
    output.replace(directory / "classpath.txt")
    progress(
        f"Apache Kafka {KAFKA_VERSION}: {fetched} jars fetched in {time.monotonic() - started:.1f} s"
    )


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """Where a local node keeps its files and listens: enough to restart it on the same log."""

    run_dir: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "kafka-data"

    @property
    def properties(self) -> Path:
        return self.run_dir / "kafka.properties"

    LOG_NAME: ClassVar[str] = "kafka.log"

    @property
    def log_path(self) -> Path:
        return self.run_dir / self.LOG_NAME

    @classmethod
    def fresh(cls, run_dir: Path) -> KafkaNode:
        port = free_port()
        controller = free_port()
        while controller == port:
            controller = free_port()
        return cls(run_dir, port, controller)


def server_properties(node: KafkaNode) -> str:
    """A single KRaft node for tests and benchmarks on one machine."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{node.controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(node.data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # the tests' consumers use 3 s sessions; Kafka's default floor is 6 s
        "group.min.session.timeout.ms": "500",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "2",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _java_argv(java: str, class_path: str, main: str, *args: str) -> list[str]:
    return [
        java,
        f"-Xmx{HEAP}",
        "-Xms64m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp",
        class_path,
        main,
        *args,
    ]


def _cluster_id() -> str:
    """A random cluster id as Kafka writes them; like Kafka's own, never one starting with "-"
    (the storage tool would read it as an option)."""
    while True:
        cluster = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


def _format(java: str, class_path: str, node: KafkaNode) -> None:
    """Format the node's storage once; a directory already formatted is kept as it is."""
    if (node.data_dir / "meta.properties").is_file():
        return
    argv = _java_argv(
        java, class_path, STORAGE_TOOL,
        "format", "--cluster-id", _cluster_id(), "--config", str(node.properties),
        "--ignore-formatted",
    )  # fmt: skip
    done = subprocess.run(  # noqa: S603 - argv built here
        argv, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise InfraError(f"formatting Kafka's storage failed:\n{done.stdout}{done.stderr}")


async def start_apache_kafka(
    run_dir: Path,
    *,
    timeout_s: float = 60.0,
    node: KafkaNode | None = None,
    on_spawn: Callable[[ServerProcess], None] = lambda _server: None,
    progress: Progress = _stderr,
) -> KafkaNode:
    """Start one KRaft node and wait until it answers a metadata request.

    Pass the ``node`` of an earlier start (same directory, same ports) to restart it on its log.
    ``on_spawn`` gets the server as soon as it is started, before it answers.
    """
    import asyncio  # noqa: PLC0415 - the rest of the module is synchronous

    java = java_binary()
    reason = why_not_available()
    if java is None or reason is not None:
        raise InfraError(f"cannot run Apache Kafka here: {reason}")
    class_path = await asyncio.to_thread(classpath, progress)

    async def start(node: KafkaNode, track: Callable[[ServerProcess], None]) -> KafkaNode:
        node.run_dir.mkdir(parents=True, exist_ok=True)
        node.properties.write_text(server_properties(node))
        await asyncio.to_thread(_format, java, class_path, node)  # once: a format is kept
        argv = _java_argv(java, class_path, MAIN_CLASS, str(node.properties))
        server, _ = spawn("kafka", argv, log_path=node.log_path, cwd=node.run_dir)
        track(server)
        await wait_until_answers(node.bootstrap, timeout_s=timeout_s, server=server)
        return node

    if node is not None:  # a restart keeps its ports: its clients know them
        return await start(node, on_spawn)
    return await retrying_taken_ports(
        lambda track: start(KafkaNode.fresh(run_dir), track),
        log_path=run_dir / KafkaNode.LOG_NAME,
        on_spawn=on_spawn,
        on_retry=lambda: progress("Apache Kafka: a port was taken before it listened; new ports"),
    )


def main() -> None:
    """``python -m shared.infra.apache_kafka``: fetch the jars now, with progress (make does)."""
    reason = why_not_available()
    if reason is not None:
        _stderr(f"Apache Kafka {KAFKA_VERSION} cannot run here ({reason}): Tansu will stand in")
        return
    classpath()
    _stderr(f"Apache Kafka {KAFKA_VERSION}: jars ready ({cache_dir()})")


if __name__ == "__main__":
    main()

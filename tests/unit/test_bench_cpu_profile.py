"""``bench ingress --cpu-profile``: a process under ``bench.cpu_profiled`` counts CPU from its
SIGUSR1 to its SIGUSR2, and ``bench.profiles`` splits it by library."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.profiles import cpu_summary, library_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("path", "library"),
    [
        ("/work/main/services/ledger/consumer.py", "hypeledger"),
        ("/x/.venv/lib/python3.11/site-packages/aiokafka/conn.py", "Kafka client (aiokafka)"),
        (
            "/x/.venv/lib/python3.11/site-packages/asyncpg/connection.py",
            "Postgres driver (asyncpg)",
        ),
        ("/usr/lib/python3.11/asyncio/base_events.py", "event loop (asyncio)"),
        ("/usr/lib/python3.11/json/decoder.py", "Python and other libraries"),
    ],
)
def test_a_function_is_counted_in_its_library(path: str, library: str) -> None:
    assert library_of(path) == library


class Console:
    """``python -m bench.cpu_profiled OUT code:interact``: a profiled interpreter fed on stdin."""

    def __init__(self, out: Path) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", "bench.cpu_profiled", str(out), "code:interact"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        )

    def run(self, statement: str, marker: str) -> None:
        """Run ``statement``, then print ``marker`` and wait for it: the statement has run, and
        so has any signal handler the console met while it waited for input."""
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        # The blank line ends a compound statement, as at a terminal.
        self.child.stdin.write(f"{statement}\n\nprint({marker!r})\n".encode())
        self.child.stdin.flush()
        for line in self.child.stdout:
            if marker.encode() in line:
                return
        raise AssertionError(f"the console ended before printing {marker}")

    def signal(self, number: int) -> None:
        self.child.send_signal(number)

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()
        self.child.wait(timeout=30)


def test_counts_the_cpu_between_the_two_signals_only(tmp_path: Path) -> None:
    out = tmp_path / "console.pstat"
    console = Console(out)
    try:
        console.run("def before(): return sum(i * i for i in range(300_000))", "defined")
        console.run("before()", "before-ran")
        console.signal(signal.SIGUSR1)
        console.run("def during(): return sorted(range(300_000), key=lambda i: -i)[0]", "cleared")
        console.run("during()", "during-ran")
        console.signal(signal.SIGUSR2)
        console.run("pass", "written")
    finally:
        console.close()

    cpu_s, by_library, by_function = cpu_summary(out)
    functions = {name.split(" (")[0] for name in by_function}
    assert "during" in functions
    assert "before" not in functions
    assert cpu_s > 0
    assert by_library["Python and other libraries"] > 0  # the console's own code

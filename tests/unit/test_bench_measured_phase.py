"""The end-to-end bench counts CPU over a load process's measured phase only
(``bench.ingress_bench.run_json``): what the process does before it prints ``measuring`` is not
charged to its requests, and a process that never starts measuring fails the run loudly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.ingress_bench import batch_cycle, jit_cpu_seconds, jit_share, run_json

LOAD = textwrap.dedent(
    """
    import json, os, sys, time

    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    print("a log line before the clock starts", flush=True)
    burn(float(sys.argv[1]))  # set-up: imports, prepared requests
    if len(sys.argv) > 3:  # a server's set-up to wait for
        while not os.path.exists(sys.argv[3]):
            time.sleep(0.01)
    if sys.argv[2] == "measure":
        print("measuring", flush=True)
    started = time.process_time()
    burn(0.05)
    print(json.dumps({"answered": 10, "seconds": 1.0, "cpu_s": time.process_time() - started}))
    """
)


def test_set_up_before_the_measuring_line_is_not_charged_to_the_requests() -> None:
    result = run_json([sys.executable, "-c", LOAD, "0.4", "measure"], dict(os.environ), {})
    # 0.05 s of CPU over 10 requests: about 5 ms each; the 0.4 s of set-up would add 40 ms.
    assert 4.0 <= result["cpu_ms_per_request"]["client"] < 20.0
    assert result["jit_ms_per_request"] == {}
    assert result["measured_s"] > 0
    assert "cpu_s" not in result


SERVER = textwrap.dedent(
    """
    import sys, time
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    open(sys.argv[1], "w").close()
    time.sleep(60)
    """
)


def test_a_server_is_charged_only_what_it_spends_after_the_measuring_line(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "server-set-up"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ready)])
    try:
        load = [sys.executable, "-c", LOAD, "0", "measure", str(ready)]
        result = run_json(load, dict(os.environ), {"server": server.pid})
    finally:
        server.kill()
        server.wait()
    # Its 0.3 s of set-up would be 30 ms a request; asleep meanwhile, it spends about nothing.
    assert result["cpu_ms_per_request"]["server"] < 5.0


def test_a_load_process_that_never_starts_measuring_fails_the_run() -> None:
    with pytest.raises(RuntimeError, match="failed"):
        run_json([sys.executable, "-c", LOAD, "0", "skip"], dict(os.environ), {})


COMPILER = textwrap.dedent(
    """
    import ctypes, sys, threading, time

    def compile_something():
        # what HotSpot calls its optimising compiler's thread (the kernel keeps 15 characters)
        ctypes.CDLL(None).prctl(15, b"C2 CompilerThread0", 0, 0, 0)
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        open(sys.argv[1], "w").close()
        time.sleep(60)

    threading.Thread(target=compile_something, daemon=True).start()
    time.sleep(60)
    """
)


def test_only_threads_named_as_jit_compilers_count_as_jit(tmp_path: Path) -> None:
    done = tmp_path / "compiled"
    jvm = subprocess.Popen([sys.executable, "-c", COMPILER, str(done)])
    try:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done.exists()
        assert jit_cpu_seconds(jvm.pid) >= 0.25
    finally:
        jvm.kill()
        jvm.wait()
    assert jit_cpu_seconds(os.getpid()) == 0.0


def test_the_jit_share_is_the_compilers_cpu_over_the_measured_phase() -> None:
    assert jit_share({"answered": 1000, "measured_s": 5.0, "jit_s": {}}) == 0.0
    # 0.2 s of compiling in 5 s: 4 % of a CPU, whether or not anything was answered
    assert jit_share({"answered": 1000, "measured_s": 5.0, "jit_s": {"broker": 0.2}}) == 0.04
    assert jit_share({"answered": 0, "measured_s": 5.0, "jit_s": {"broker": 0.2}}) == 0.04


def test_counters_are_counted_over_the_measured_phase_and_read_as_the_ledgers_batches() -> None:
    reads = iter([{"batch_size_count": 100.0, "batch_size_sum": 150.0, "apply_seconds_sum": 2.0},
                  {"batch_size_count": 300.0, "batch_size_sum": 950.0, "apply_seconds_sum": 3.0}])  # fmt: skip
    load = [sys.executable, "-c", LOAD, "0", "measure"]

    result = run_json(load, dict(os.environ), {}, lambda: next(reads))

    assert result["counted"] == {
        "batch_size_count": 200.0,
        "batch_size_sum": 800.0,
        "apply_seconds_sum": 1.0,
    }
    # 200 batches of 800 commands in 2 s, 1 s spent applying them, 0.4 s of ledger CPU (4 ms for
    # each of 100 answered requests)
    result |= {"mode": "500/s", "measured_s": 2.0, "cpu_ms_per_request": {"ledger": 4.0}}
    result["answered"] = 100
    assert batch_cycle(result) == (
        "500/s: 100.0 batches/s of 4.00 commands, 5.00 ms each to decide and commit"
        " (0.50 of the time), ledger CPU 2.00 ms per batch"
    )


def test_a_run_without_batches_has_no_batch_line() -> None:
    assert batch_cycle({"mode": "500/s", "measured_s": 2.0, "counted": {}}) is None


def test_a_failed_read_of_the_counters_leaves_the_run_without_counts() -> None:
    reads = iter([{}, {"batch_size_count": 300.0, "batch_size_sum": 950.0}])
    load = [sys.executable, "-c", LOAD, "0", "measure"]

    result = run_json(load, dict(os.environ), {}, lambda: next(reads))

    assert "counted" not in result
    assert batch_cycle({**result, "mode": "500/s"}) is None


def test_with_several_ledgers_the_time_in_batches_is_each_ledgers_share() -> None:
    run = {
        "mode": "500/s",
        "measured_s": 2.0,
        "answered": 100,
        "cpu_ms_per_request": {"ledger": 2.0, "ledger2": 2.0, "ingress": 1.0},
        "counted": {"batch_size_count": 200.0, "batch_size_sum": 800.0, "apply_seconds_sum": 2.0},
    }

    assert "(0.50 of the time of each ledger)" in (batch_cycle(run) or "")

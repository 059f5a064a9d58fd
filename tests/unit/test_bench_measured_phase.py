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

from bench.ingress_bench import jit_cpu_seconds, jit_share, run_json

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

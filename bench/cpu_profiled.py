"""Run a program under yappi's CPU clock, for ``bench ingress --cpu-profile``.

    python -m bench.cpu_profiled OUT.pstat package.module:function [ARGS...]

``function`` runs with ``sys.argv`` set to ``[its name, *ARGS]`` (``services.cli.main:main
ledger`` is ``hypeledger ledger``). yappi counts each function's thread CPU time, not wall
time: a process that sleeps in ``epoll`` or is preempted right after a socket write (both of
which py-spy counts as time at that line) adds nothing. Every thread is profiled.

* SIGUSR1 clears what was counted so far (the bench sends it as a run's measured phase starts,
  at the load generator's ``measuring`` line: start-up and warm-up are left out);
* SIGUSR2 writes what was counted since to ``OUT.pstat`` (pstats format, read by ``python -m
  bench.profiles``) and goes on counting.

The profiler costs CPU itself, several times the profiled code's own on a path of many small
calls, so a profiled run's CPU and latency figures are not comparable with an unprofiled run's,
and the shares lean towards code that makes many calls (the event loop, protocol encoders).
Time outside any Python frame is not counted (the bench reports the share of each process's CPU
its profile counted).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from types import FrameType

import yappi


def _write(out: str) -> None:
    partial = f"{out}.partial"
    yappi.get_func_stats().save(partial, type="pstat")
    os.replace(partial, out)  # the bench waits for the file: it appears whole


def main() -> None:
    if len(sys.argv) < 3 or ":" not in sys.argv[2]:
        sys.exit(__doc__)
    out, entry, *args = sys.argv[1:]
    module_name, _, function_name = entry.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)

    def clear(signum: int, frame: FrameType | None) -> None:
        yappi.clear_stats()

    def write(signum: int, frame: FrameType | None) -> None:
        try:
            _write(out)
        except Exception as exc:  # noqa: BLE001 - the service runs on; the bench sees no file
            print(f"bench.cpu_profiled: could not write {out}: {exc!r}", file=sys.stderr)

    signal.signal(signal.SIGUSR1, clear)
    signal.signal(signal.SIGUSR2, write)
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    sys.argv = [function_name, *args]
    function()


if __name__ == "__main__":
    main()

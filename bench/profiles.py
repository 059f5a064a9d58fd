"""Summarise the bench's profiles: where each process's time goes.

    python -m bench.profiles FOLDER [--top 30]

* py-spy's collapsed stacks (``bench ingress --profile``, ``*.txt``, wall-clock samples): the
  share of samples in which each function is on the stack (inclusive) and at its top (self),
  grouped by ``function (file)`` so that line numbers do not split a function.
* yappi's CPU profiles (``bench ingress --cpu-profile``, ``*.pstat``, CPU time): the share of
  the process's profiled CPU spent in each library's own code (hypeledger, the Kafka client,
  the Postgres driver, the event loop, ...), then the functions with the most CPU of their own.
"""

from __future__ import annotations

import argparse
import pstats
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(frame) for frame in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    return total, inclusive, own


#: Where a function's file lies -> the part of the process it is counted in (first match wins).
LIBRARIES = (
    ("/services/", "hypeledger"),
    ("/shared/", "hypeledger"),
    ("/bench/", "hypeledger"),
    ("/aiokafka/", "Kafka client (aiokafka)"),
    ("/asyncpg/", "Postgres driver (asyncpg)"),
    ("/asyncio/", "event loop (asyncio)"),
    ("/selectors.py", "event loop (asyncio)"),
    ("/uvicorn/", "HTTP server (uvicorn)"),
    ("/httptools/", "HTTP server (uvicorn)"),
    ("/pydantic", "pydantic"),
    ("/structlog/", "logging"),
    ("/logging/", "logging"),
    ("/prometheus_client/", "metrics"),
    ("/opentelemetry/", "tracing"),
)


def library_of(path: str) -> str:
    """The part of the process a function of file ``path`` belongs to."""
    for marker, library in LIBRARIES:
        if marker in path:
            return library
    return "Python and other libraries"


def cpu_summary(path: Path) -> tuple[float, Counter[str], Counter[str]]:
    """A ``.pstat`` file's CPU seconds in all, by library (own time), and by function."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    by_library: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for (file, _, function), (_, _, own_s, _, _) in stats.items():
        by_library[library_of(file)] += own_s
        by_function[frame_name(f"{function} ({file})")] += own_s
    return sum(by_library.values()), by_library, by_function


def print_shares(heading: str, counts: Counter[str], total: float, top: int) -> None:
    print(f"\n{heading}")
    for name, count in counts.most_common(top):
        print(f"{100 * count / total:6.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    for path in sorted(Path(args.folder).glob("*.txt")):
        total, inclusive, own = summarise(path)
        if total:
            print(f"\n## {path.name}: {total} samples")
            print_shares("self %  function", own, total, args.top)
            print_shares("incl %  function", inclusive, total, args.top)
    for path in sorted(Path(args.folder).glob("*.pstat")):
        cpu_s, by_library, by_function = cpu_summary(path)
        if cpu_s:
            print(f"\n## {path.name}: {cpu_s:.3f} CPU seconds (profiled)")
            print_shares("   %  library (own time)", by_library, cpu_s, len(by_library))
            print_shares("   %  function (own time)", by_function, cpu_s, args.top)


if __name__ == "__main__":
    main()

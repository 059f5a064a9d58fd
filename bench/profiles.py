"""Summarise py-spy's collapsed stacks (``bench ingress --profile``): where each process's time goes.

    python -m bench.profiles FOLDER [--top 30]

For each file: the share of samples in which each function is on the stack (inclusive) and at its
top (self), grouped by ``function (file)`` so that line numbers do not split a function.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    for path in sorted(Path(args.folder).glob("*.txt")):
        total, inclusive, own = summarise(path)
        if not total:
            continue
        print(f"\n## {path.name}: {total} samples")
        print("\nself %  function")
        for name, count in own.most_common(args.top):
            print(f"{100 * count / total:6.1f}  {name}")
        print("\nincl %  function")
        for name, count in inclusive.most_common(args.top):
            print(f"{100 * count / total:6.1f}  {name}")


if __name__ == "__main__":
    main()

"""The cycle collector's tuning: for a whole service from start-up, or for one block."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from shared.runtime import GC_THRESHOLDS, fewer_collections


def test_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    # In a child interpreter: the collector's settings are process-wide.
    script = (
        "import gc\n"
        "from shared.runtime import collect_garbage_less_often\n"
        "before = gc.get_freeze_count()\n"
        "collect_garbage_less_often()\n"
        "print(before, gc.get_freeze_count(), *gc.get_threshold())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    before, frozen, *thresholds = (int(field) for field in result.stdout.split())
    assert before == 0
    assert frozen > 1000  # the imports' objects are out of every collection
    assert tuple(thresholds) == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # the default young threshold


def test_a_block_collects_its_young_generation_less_often_and_the_thresholds_come_back() -> None:
    before = gc.get_threshold()
    inside: list[tuple[int, ...]] = []

    def failing_chunk() -> None:
        with fewer_collections():
            inside.append(gc.get_threshold())
            raise RuntimeError("a failed chunk")

    with pytest.raises(RuntimeError):
        failing_chunk()

    assert inside == [(max(GC_THRESHOLDS[0], before[0]), *before[1:])]
    assert gc.get_threshold() == before

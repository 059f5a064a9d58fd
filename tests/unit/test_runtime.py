"""``collect_garbage_less_often``: what the ledger and the ingress apply at start-up."""

from __future__ import annotations

import subprocess
import sys

from shared.runtime import GC_THRESHOLDS


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

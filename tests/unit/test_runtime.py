"""Start-up of the long-running services: the collector's settings (``shared.runtime``) and the
phases timed from the process's own start (``shared.startup``)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time

import pytest

from shared.runtime import GC_THRESHOLDS, fewer_collections, run_service
from shared.startup import Phases, process_age_s


def _in_child(*lines: str) -> list[str]:
    """What a child interpreter running ``lines`` prints, split into words (the collector's
    settings and a process's age are process-wide)."""
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.split()


def test_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    printed = _in_child(
        "import gc",
        "from shared.runtime import collect_garbage_less_often",
        "before = gc.get_freeze_count()",
        "collect_garbage_less_often()",
        "print(before, gc.get_freeze_count(), *gc.get_threshold())",
    )

    before, frozen, *thresholds = (int(field) for field in printed)
    assert before == 0
    assert frozen > 1000  # the imports' objects are out of every collection
    assert tuple(thresholds) == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # the default young threshold


def test_the_collector_is_off_inside_collector_paused_and_on_again_after_it() -> None:
    printed = _in_child(
        "import gc",
        "from shared.runtime import collector_paused",
        "with collector_paused():",
        "    inside = gc.isenabled()",
        "print(inside, gc.isenabled())",
    )

    assert printed == ["False", "True"]


def test_a_collector_that_was_off_stays_off_after_collector_paused() -> None:
    printed = _in_child(
        "import gc",
        "from shared.runtime import collector_paused",
        "gc.disable()",
        "with collector_paused():",
        "    pass",
        "print(gc.isenabled())",
    )

    assert printed == ["False"]


def test_a_new_process_knows_its_age_from_before_its_imports() -> None:
    printed = _in_child(
        "import time",
        "time.sleep(0.3)",
        "from shared.startup import process_age_s",
        "print(process_age_s())",
    )

    assert 0.3 <= float(printed[0]) < 30


def test_each_phase_is_the_time_since_the_previous_one_and_the_first_is_the_process() -> None:
    before = process_age_s()
    assert before is not None  # Linux: read from /proc
    phases = Phases()

    time.sleep(0.05)
    phases.phase("first_s")
    time.sleep(0.1)
    phases.phase("second_s")

    assert list(phases.durations) == ["process_s", "first_s", "second_s"]
    assert phases.durations["process_s"] >= before - 0.001  # rounded to the millisecond
    assert 0.05 <= phases.durations["first_s"] < phases.durations["second_s"]
    # Both are rounded to the millisecond, and 109.42 + 0.15 is 109.57000000000001 in floats.
    assert phases.since_start_s() >= phases.durations["process_s"] + 0.15 - 0.001


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


def test_a_service_loop_lets_a_write_to_a_closed_connection_pass_as_asyncio_does() -> None:
    """aiokafka's group coordinator writes to a broker connection that may have just closed (the
    broker went away). asyncio's loop ignores such a write (and logs it); uvloop raises
    ``RuntimeError``, which ended the coordinator's routine for good and the ledger with it when
    the broker was killed under load (the soak test). A service's loop must be asyncio's."""

    async def write_after_close() -> str:
        async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.abort()
        await asyncio.sleep(0)
        try:
            writer.transport.write(b"x")
        except RuntimeError as exc:
            return f"raised: {exc}"
        finally:
            server.close()
        return "ignored"

    assert run_service(write_after_close()) == "ignored"

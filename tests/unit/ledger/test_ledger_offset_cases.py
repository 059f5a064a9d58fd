"""A stored offset is checked against the log it should continue: past its end, before its start."""

from __future__ import annotations

from services.ledger.offsets import OffsetCase, outside_log


def test_a_stored_offset_between_the_log_start_and_end_fits() -> None:
    assert outside_log(5, 0, 5) is None
    assert outside_log(3, 3, 10) is None


def test_a_stored_offset_past_the_log_end_is_ahead() -> None:
    assert outside_log(100, 0, 0) is OffsetCase.AHEAD


def test_a_stored_offset_before_the_log_start_is_behind() -> None:
    assert outside_log(2, 7, 9) is OffsetCase.BEHIND


def test_nothing_stored_means_from_offset_zero() -> None:
    assert outside_log(None, 0, 4) is None
    assert outside_log(None, 1, 4) is OffsetCase.BEHIND


def test_without_exact_end_offsets_only_the_start_is_checked() -> None:
    assert outside_log(100, 0, 0, exact_end=False) is None
    assert outside_log(0, 1, 1, exact_end=False) is OffsetCase.BEHIND

"""Metrics and logs by convention: process and platform series in every service's registry, no
``_created`` series, counts as counters, and every library's log lines in the service's format."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.ingress.metrics import IngressMetrics
from services.ledger.metrics import LedgerMetrics
from services.operator_api.metrics import ApiMetrics
from services.reconciler.metrics import ReconcilerMetrics
from shared.http_server import server_config
from shared.logs import configure_logging, get_logger
from shared.settings import HttpServerLimits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the root logger and structlog as they were (capsys's stream closes after a test)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def ingress() -> CollectorRegistry:
    metrics = IngressMetrics()
    metrics.observe("bet", 200, 0.01)
    return metrics.registry


def ledger() -> CollectorRegistry:
    return LedgerMetrics().registry


def operator_api() -> CollectorRegistry:
    return ApiMetrics().registry


def reconciler() -> CollectorRegistry:
    metrics = ReconcilerMetrics()
    metrics.outcomes.labels("matched").inc()
    return metrics.registry


REGISTRIES: dict[str, Callable[[], CollectorRegistry]] = {
    "ingress": ingress,
    "ledger": ledger,
    "operator_api": operator_api,
    "reconciler": reconciler,
}


def exposed(registry: CollectorRegistry) -> dict[str, str]:
    """Family name -> type, as a Prometheus server parses the scrape."""
    text = generate_latest(registry).decode()
    return {family.name: family.type for family in text_string_to_metric_families(text)}


@pytest.mark.parametrize("build", REGISTRIES.values(), ids=REGISTRIES.keys())
def test_every_service_exports_the_process_and_python_series(
    build: Callable[[], CollectorRegistry],
) -> None:
    families = exposed(build())

    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= set(families)
    assert "python_gc_objects_collected" in families


@pytest.mark.parametrize("build", REGISTRIES.values(), ids=REGISTRIES.keys())
def test_no_service_exports_created_series(build: Callable[[], CollectorRegistry]) -> None:
    text = generate_latest(build()).decode()

    assert "_created" not in text


def test_unmatched_and_forged_replies_are_counters_read_from_the_link() -> None:
    metrics = IngressMetrics()
    count = [0, 0]
    metrics.count_link_replies(lambda: count[0], lambda: count[1])
    count[:] = [3, 2]

    text = generate_latest(metrics.registry).decode()

    assert exposed(metrics.registry)["hypeledger_ingress_unmatched_replies"] == "counter"
    assert exposed(metrics.registry)["hypeledger_ingress_forged_replies"] == "counter"
    assert "hypeledger_ingress_unmatched_replies_total 3.0" in text
    assert "hypeledger_ingress_forged_replies_total 2.0" in text


@pytest.mark.parametrize("build", REGISTRIES.values(), ids=REGISTRIES.keys())
def test_no_gauge_is_named_like_a_count(build: Callable[[], CollectorRegistry]) -> None:
    gauges = [name for name, kind in exposed(build()).items() if kind == "gauge"]

    assert [name for name in gauges if name.endswith(("_total", "_count", "_replies"))] == []


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_library_log_lines_are_written_as_json_like_our_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")

    get_logger("ledger").warning("ledger.test.line", partition=3)
    logging.getLogger("aiokafka.consumer.group_coordinator").warning("rejoining %s", "group-a")
    logging.getLogger("uvicorn.error").error("server error")
    logging.getLogger("asyncio").warning("slow callback")
    lines = json_lines(capsys.readouterr().err)

    assert [line["event"] for line in lines] == [
        "ledger.test.line",
        "rejoining group-a",
        "server error",
        "slow callback",
    ]
    assert [line.get("logger") for line in lines[1:]] == [
        "aiokafka.consumer.group_coordinator",
        "uvicorn.error",
        "asyncio",
    ]
    assert all({"level", "timestamp"} <= set(line) for line in lines)


def test_a_line_with_integer_keys_or_huge_integers_is_written_and_never_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The ledger logs ``stored={partition: offset}`` on every assignment: a renderer that
    refused integer keys raised inside the rebalance callback and no partition was ever
    applied."""
    configure_logging("INFO", "json")

    get_logger("ledger").info("ledger.partitions.assigned", stored={0: 5, 3: 9})
    get_logger("ledger").info("ledger.test.huge", value=2**70)
    first, second = json_lines(capsys.readouterr().err)

    assert first["stored"] == {"0": 5, "3": 9}
    assert second["value"] == 2**70


def broker_gone() -> None:
    raise RuntimeError("broker gone")


def test_a_library_traceback_stays_inside_its_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")

    try:
        broker_gone()
    except RuntimeError:
        logging.getLogger("aiokafka").exception("fetch failed")
    (line,) = json_lines(capsys.readouterr().err)

    assert line["event"] == "fetch failed"
    assert "RuntimeError: broker gone" in str(line["exception"])


def test_library_lines_carry_the_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")

    with structlog.contextvars.bound_contextvars(correlation_id="c-1"):
        logging.getLogger("aiokafka").warning("retrying")
    (line,) = json_lines(capsys.readouterr().err)

    assert line["correlation_id"] == "c-1"


def test_configuring_twice_writes_each_library_line_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    configure_logging("INFO", "json")

    logging.getLogger("aiokafka").warning("once")

    assert len(json_lines(capsys.readouterr().err)) == 1


def test_a_uvicorn_server_built_as_the_services_build_it_logs_through_structlog(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn  # noqa: PLC0415

    configure_logging("INFO", "json")
    uvicorn.Config(lambda *_: None, log_config=None, log_level="warning").configure_logging()

    logging.getLogger("uvicorn.error").warning("shutting down")
    logging.getLogger("uvicorn.error").info("quiet below warning")
    lines = json_lines(capsys.readouterr().err)

    assert [(line["event"], line["logger"]) for line in lines] == [
        ("shutting down", "uvicorn.error")
    ]


def uvicorn_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in ROOT.joinpath("services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "uvicorn"
                and node.func.attr in {"run", "Config"}
            ):
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_every_uvicorn_server_leaves_its_logs_to_structlog() -> None:
    # every server is built by shared.http_server.server_config, none by uvicorn directly
    direct = [where for where, _ in uvicorn_calls()]
    config = server_config(object(), HttpServerLimits(), host="127.0.0.1", port=0)

    assert direct == []
    assert config.log_config is None


def test_asyncio_debug_lines_use_the_same_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_exception_handler({"message": "task exception was never retrieved"})

    asyncio.run(main())
    (line,) = json_lines(capsys.readouterr().err)

    assert line["logger"] == "asyncio"
    assert line["event"] == "task exception was never retrieved"


def test_uvicorn_lines_go_through_structlog_even_after_uvicorn_installed_its_own_handlers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn  # noqa: PLC0415

    uvicorn.Config(lambda *_: None).configure_logging()  # uvicorn's defaults: its own handler
    configure_logging("INFO", "json")

    logging.getLogger("uvicorn.error").warning("shutting down")
    lines = json_lines(capsys.readouterr().err)

    assert [(line["event"], line["logger"]) for line in lines] == [
        ("shutting down", "uvicorn.error")
    ]

"""Links in README.md and docs/ name files that exist, and the contract names tests that exist."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
# Top-level folders whose paths, written in backticks, must name something that exists.
REPO_DIRS = ("docs/", "services/", "shared/", "tests/", "deploy/", "bench/", ".ci/")

MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
TEST_NAME = re.compile(r"`(test_\w+)`")
PLACEHOLDER = re.compile(r"[*{}<>$]|\.\.\.|NNNN")


def _relative(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def _prose(doc: Path) -> str:
    """The document without its fenced code blocks (commands and examples, not references)."""
    return FENCE.sub("", doc.read_text())


def _link_targets(text: str) -> list[str]:
    targets = []
    for target in MARKDOWN_LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def _path_spans(text: str) -> list[str]:
    """Backticked repository paths (``services/x.py``, ``docs/y.md``, ``y.md``), tests included."""
    spans = []
    for span in CODE_SPAN.findall(text):
        if " " in span or PLACEHOLDER.search(span):
            continue
        path = span.split("::", 1)[0]
        if path.startswith(REPO_DIRS) or re.fullmatch(r"[\w.-]+\.md", path):
            spans.append(span)
    return spans


def _exists(doc: Path, target: str) -> bool:
    return (doc.parent / target).exists() or (ROOT / target).exists()


def _defines_test(path: Path, name: str) -> bool:
    return re.search(rf"^\s*(async )?def {re.escape(name)}\(", path.read_text(), re.M) is not None


@cache
def _test_names() -> frozenset[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^\s*(?:async )?def (test_\w+)\(", path.read_text(), re.M))
    return frozenset(names)


@pytest.mark.parametrize("doc", DOCS, ids=_relative)
def test_every_markdown_link_names_an_existing_file(doc: Path) -> None:
    broken = [target for target in _link_targets(_prose(doc)) if not _exists(doc, target)]

    assert broken == []


@pytest.mark.parametrize("doc", DOCS, ids=_relative)
def test_every_backticked_repository_path_exists(doc: Path) -> None:
    broken = []
    for span in _path_spans(_prose(doc)):
        path, _, test = span.partition("::")
        missing = not _exists(doc, path.rstrip("/"))
        if missing or (test and not _defines_test(ROOT / path, test)):
            broken.append(span)

    assert broken == []


def test_every_test_the_behaviour_contract_names_exists() -> None:
    named = set(TEST_NAME.findall((ROOT / "docs" / "wallet-semantics.md").read_text()))

    missing = sorted(named - _test_names())

    assert named, "the contract names the tests that hold it"
    assert missing == []


def test_the_link_check_notices_a_missing_file(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text("See [gone](gone.md), `services/nothing_here.py` and `docs/ledger.md`.\n")

    links = [t for t in _link_targets(doc.read_text()) if not _exists(doc, t)]
    paths = [s for s in _path_spans(doc.read_text()) if not _exists(doc, s)]

    assert links == ["gone.md"]
    assert paths == ["services/nothing_here.py"]

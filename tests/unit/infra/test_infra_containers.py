"""The container path's seams that can be checked without a Docker engine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.infra.containers import docker_engine_answers


def test_docker_probe_says_no_when_no_engine_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    assert docker_engine_answers() is False


def test_container_modules_import_without_deprecation_warnings() -> None:
    modules = "testcontainers.community.postgres, testcontainers.core.container"

    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", f"import {modules}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr

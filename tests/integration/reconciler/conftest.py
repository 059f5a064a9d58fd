"""The reconciler's integration fixtures: the whole money path on a database of its own."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

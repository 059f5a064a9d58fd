"""The caller's ``Idempotency-Key``: one key, one request.

The ledger already answers a repeated operator command with its stored reply, byte for byte. What
it cannot see is the rest of the HTTP request (the endpoint, the reason): the API therefore records
a fingerprint of each keyed request, and a key reused for a different request is refused with
``duplicate-transaction-mismatch`` (409) before anything is published.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HEADER = "Idempotency-Key"


def fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    """Equal for requests that mean the same thing: same method, path and JSON body values."""
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()

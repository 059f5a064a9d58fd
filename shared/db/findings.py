"""The one way a reconciliation finding changes status, for the reconciler (a run resolves or
reopens findings) and the operator API (an operator acknowledges, ignores or resolves one): the
finding's status and version move, and the change is recorded in
``reconciliation_finding_changes``, in one statement."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

#: Each finding is locked first (in id order) and its status read as locked, so the change
#: records the status it really had even when another change committed meanwhile; a finding
#: already in ``status`` is left alone.
SET_STATUS = """
WITH previous AS (
    SELECT finding_id, status
    FROM reconciliation_findings
    WHERE finding_id = ANY($1::bigint[])
      AND status <> $2
    ORDER BY finding_id
    FOR UPDATE
),
changed AS (
    UPDATE reconciliation_findings f
    SET status = $2,
        version = f.version + 1,
        status_changed_by = $3,
        status_changed_at = now(),
        status_reason = $4
    FROM previous
    WHERE f.finding_id = previous.finding_id
    RETURNING f.finding_id, f.version, previous.status AS from_status, f.status AS to_status
)
INSERT INTO reconciliation_finding_changes
    (finding_id, version, from_status, to_status, changed_by, reason)
SELECT finding_id, version, from_status, to_status, $3, $4
FROM changed
RETURNING finding_id
"""


async def set_status(
    conn: asyncpg.Connection, ids: Sequence[int], status: str, by: str, reason: str | None
) -> list[int]:
    """Move the findings ``ids`` to ``status`` (``by`` whom, why); the ids that changed."""
    if not ids:
        return []
    rows = await conn.fetch(SET_STATUS, list(ids), status, by, reason)
    return [row[0] for row in rows]

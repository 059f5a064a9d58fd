"""One reconciliation run: choose the sessions, check them chunk by chunk, finish.

A run is created with its sessions frozen (ledger activity in its window, plus the sessions
Hypetech lists as active, plus those that failed in the last run). Each chunk of sessions is
committed with its findings in one transaction, so a reconciler killed mid-run resumes the same
run with the sessions still pending, and the same difference is never stored twice (findings
are keyed by a dedupe key). The grace period is measured against the run's own ``window_to``,
so a resumed run classifies exactly as the original would have.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.reconciler.matcher import match_session, open_bet_difference
from services.reconciler.metrics import ReconcilerMetrics
from services.reconciler.provider import active_session_ids, session_rows
from services.reconciler.publisher import FindingPublisher
from services.reconciler.rows import LedgerRow, ProviderRow
from services.reconciler.settings import ReconcilerSettings
from services.reconciler.settling import RoundSettler
from services.reconciler.store import (
    RUN_LOCK,
    AnotherRunActive,
    ReconcilerStore,
    Run,
    RunReport,
    SessionOutcome,
)
from shared.contracts.reconciliation import RowClass
from shared.hypetech import HypetechClient, HypetechError
from shared.logs import get_logger
from shared.runtime import fewer_collections

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Decisions committed late (a batch's ``now()`` is its start) are still caught by the next run.
MIN_OVERLAP = timedelta(seconds=60)


#: Told ``(sessions checked, sessions in the run)`` as a run goes (the CLI's progress bar).
Progress = Callable[[int, int | None], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunRequest:
    trigger: str = "manual"
    session: str | None = None
    since: datetime | None = None


class Reconciler:
    def __init__(
        self,
        settings: ReconcilerSettings,
        *,
        pool: asyncpg.Pool,
        store: ReconcilerStore,
        client: HypetechClient,
        metrics: ReconcilerMetrics,
        publisher: FindingPublisher | None = None,
        settler: RoundSettler | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._store = store
        self._client = client
        self._metrics = metrics
        self._publisher = publisher
        self._settler = settler
        self._clock = clock
        self._grace = timedelta(seconds=settings.grace_period_s)
        self._fetching = asyncio.Semaphore(settings.concurrency)
        self._log = get_logger("reconciler")

    async def run_once(self, request: RunRequest, progress: Progress | None = None) -> RunReport:
        """Finish the run a killed reconciler left, or else start and finish a new one."""
        started = time.perf_counter()
        async with self._pool.acquire() as lock:
            if not await self._store.try_lock(lock):
                raise AnotherRunActive("another reconciler is running")
            try:
                run = await self._store.resume_running()
                if run is None:
                    run = await self._start(request)
                else:
                    self._log.info("reconciler.run.resumed", run_id=run.run_id, times=run.resumed)
                with fewer_collections():
                    await self._check_sessions(run, progress)
                await self._settle()  # also what a killed run stored and never sent
                await self._publish()
                report = await self._store.finish_run(run)
            finally:
                await lock.execute("SELECT pg_advisory_unlock($1)", RUN_LOCK)
        self._metrics.runs.labels(report.trigger).inc()
        self._metrics.run_seconds.observe(time.perf_counter() - started)
        self._metrics.last_run_finished.set(time.time())
        self._log.info("reconciler.run.finished", **report.as_json())
        return report

    async def _start(self, request: RunRequest) -> Run:
        window_to = self._clock()
        advances = request.session is None and request.since is None
        if request.since is not None:
            window_from = request.since
        else:
            watermark = await self._store.watermark()
            window_from = EPOCH if watermark is None else watermark - max(self._grace, MIN_OVERLAP)
        if request.session is not None:
            sessions: list[str] = [request.session]
        else:
            sessions = await self._store.sessions_to_check(window_from, window_to)
            sessions += await self._active_at_provider()
        run = await self._store.start_run(
            trigger=request.trigger,
            session_filter=request.session,
            window_from=window_from,
            window_to=window_to,
            advances_watermark=advances,
            sessions=sessions,
        )
        self._log.info("reconciler.run.started", run_id=run.run_id, sessions=len(set(sessions)))
        return run

    async def _active_at_provider(self) -> list[str]:
        try:
            return await active_session_ids(self._client, self._settings.page_size)
        except HypetechError as exc:
            self._metrics.errors.labels("active_sessions").inc()
            self._log.warning("reconciler.active_sessions.failed", error=str(exc))
            return []

    async def _check_sessions(self, run: Run, progress: Progress | None = None) -> None:
        """Chunk after chunk; Hypetech's rows of the next chunk are read while this one is
        matched and committed."""
        pending = await self._store.pending_sessions(run.run_id, None)
        size = self._settings.chunk_size
        chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
        done = 0
        if progress is not None:
            progress(done, len(pending))
        if not chunks:
            return
        reading = asyncio.create_task(self._fetch_chunk(chunks[0]))
        try:
            for number, chunk in enumerate(chunks):
                fetched = await reading
                if number + 1 < len(chunks):
                    reading = asyncio.create_task(self._fetch_chunk(chunks[number + 1]))
                ledger = await self._store.ledger_rows(chunk)
                outcomes = [
                    self._outcome(run, session, rows, ledger.get(session, []))
                    for session, rows in zip(chunk, fetched, strict=True)
                ]
                await self._store.commit_sessions(run, outcomes)
                await self._settle()
                self._count(outcomes)
                done += len(chunk)
                if progress is not None:
                    progress(done, len(pending))
                await self._publish()
        finally:
            reading.cancel()

    async def _fetch_chunk(self, chunk: list[str]) -> list[list[ProviderRow] | HypetechError]:
        return await asyncio.gather(*(self._fetch(s) for s in chunk))

    async def _fetch(self, session_id: str) -> list[ProviderRow] | HypetechError:
        async with self._fetching:
            try:
                return await session_rows(self._client, session_id, self._settings.page_size)
            except HypetechError as exc:
                return exc

    def _outcome(
        self,
        run: Run,
        session_id: str,
        provider: list[ProviderRow] | HypetechError,
        ledger: Sequence[LedgerRow],
    ) -> SessionOutcome:
        if isinstance(provider, HypetechError):
            self._log.warning(
                "reconciler.session.failed", session_id=session_id, error=str(provider)
            )
            return SessionOutcome(session_id, 0, 0, Counter(), (), error=str(provider) or "error")
        from services.reconciler.rows import LedgerRow  # noqa: PLC0415 - typing only

        rows = [row for row in ledger if isinstance(row, LedgerRow)]
        result = match_session(provider, rows, now=run.window_to, grace=self._grace)
        if self._settler is not None:
            return SessionOutcome(
                session_id,
                len(provider),
                len(rows),
                result.totals,
                result.differences,
                settlements=result.settlements,
            )
        # Settling is off: the operator reads the same bets as findings instead.
        unsettled = [
            open_bet_difference(bet, provider, "nothing won it (settling is off)")
            for settlement in result.settlements
            for bet in settlement.bets
        ]
        totals = result.totals + Counter(
            {RowClass.OPEN_BET_ON_FINISHED_ROUND.value: len(unsettled)}
        )
        return SessionOutcome(
            session_id, len(provider), len(rows), totals, (*result.differences, *unsettled)
        )

    def _count(self, outcomes: Sequence[SessionOutcome]) -> None:
        for o in outcomes:
            self._metrics.sessions.labels("failed" if o.error else "done").inc()
            self._metrics.rows.labels("provider").inc(o.provider_rows)
            self._metrics.rows.labels("ledger").inc(o.ledger_rows)
            for row_class, n in o.totals.items():
                self._metrics.outcomes.labels(row_class).inc(n)
            for diff in o.differences:
                self._metrics.findings.labels(diff.row_class.value).inc()

    async def _settle(self) -> None:
        if self._settler is None:
            return
        try:
            await self._settler.send_unsent()
        except Exception:  # noqa: BLE001 - the settlements stay unsent and go out next time
            self._metrics.errors.labels("settle_round").inc()
            self._log.exception("reconciler.settle.failed")

    async def _publish(self) -> None:
        if self._publisher is None:
            return
        try:
            await self._publisher.flush()
        except Exception:  # noqa: BLE001 - the findings stay unpublished and go out next time
            self._metrics.errors.labels("publish").inc()
            self._log.exception("reconciler.publish.failed")

"""The simulator for the reconciler benchmark, in a process of its own, bulk-seeded.

python -m bench.reconcile_simulator --port 8090 --sessions 10000 --per-session 100
"""

from __future__ import annotations

import argparse
import contextlib
import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import uvicorn
from starlette.applications import Starlette

from bench.reconcile_rows import bench_sessions
from services.simulator.app import create_app
from services.simulator.bulk import seed_finished_sessions
from services.simulator.settings import SimulatorSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--per-session", type=int, required=True)
    parser.add_argument("--token", default="simulator-token")
    args = parser.parse_args()
    app = create_app(SimulatorSettings(port=args.port, api_token=args.token, session_minutes=600))
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        async with inner(application):
            # sessions played earlier and expired since: found through the ledger's activity
            at = datetime.now(UTC) - timedelta(minutes=30)
            seed_finished_sessions(
                app.state.simulator,
                bench_sessions(args.sessions, args.per_session),
                at=at,
                lifetime=timedelta(minutes=10),
            )
            # a million long-lived rows: keep the cyclic collector from walking them again and
            # again (its pauses are what a client would time out on)
            gc.collect()
            gc.freeze()
            yield

    app.router.lifespan_context = lifespan
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()

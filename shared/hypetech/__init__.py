"""Hypetech's REST API as the operator calls it: an async client, its typed responses and errors."""

from shared.hypetech.client import HypetechClient
from shared.hypetech.errors import HypetechApiError, HypetechError, HypetechUnavailable
from shared.hypetech.models import (
    ActiveSession,
    CreateSessionRequest,
    CreateSessionResponse,
    FreeBetRequest,
    FreeBetResponse,
    Game,
    Pagination,
    SessionTransaction,
)

__all__ = [
    "ActiveSession",
    "CreateSessionRequest",
    "CreateSessionResponse",
    "FreeBetRequest",
    "FreeBetResponse",
    "Game",
    "HypetechApiError",
    "HypetechClient",
    "HypetechError",
    "HypetechUnavailable",
    "Pagination",
    "SessionTransaction",
]

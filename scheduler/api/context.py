"""What every request handler needs: settings, sessions, the publisher, the result channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from scheduler.api.hosts import ApiHosts
from scheduler.api.keycache import KeyCache
from scheduler.api.limits import SyncGate
from scheduler.api.targets import Targets
from scheduler.api.users import Verifier
from scheduler.broker.publish import Publisher
from scheduler.broker.results import ResultChannel
from scheduler.config import Settings


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    publisher: Publisher
    results: ResultChannel
    sync_gate: SyncGate
    verifier: Verifier
    keys: KeyCache
    hosts: ApiHosts
    targets: Targets
    fast: Any = None  # FastPath on PostgreSQL + Redis with the process's own publisher


async def get_context(request: Request) -> Context:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop
    # (and a wait behind busy threads) on every request for one attribute read.
    ctx: Context = request.app.state.ctx
    return ctx

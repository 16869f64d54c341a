"""Campaign, renew, step down; the fencing epoch.

The database decides who holds the lease. Locally, a leader trusts its lease
only until ``renew_started + ttl * SAFETY`` on its monotonic clock: the
database computed the expiry from a moment *after* the renewal was sent, so
this node stops dispatching before the lease can expire, even if it is paused
(CLOCK_MONOTONIC keeps counting through SIGSTOP) or cut off.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from scheduler import metrics
from scheduler.logs import first_line, get_logger
from scheduler.store import leases
from scheduler.store.db import transaction

log = get_logger(__name__)

SAFETY = 0.75


class LeaseKeeper:
    def __init__(self, sessions: sessionmaker[Session], node: str, ttl: float) -> None:
        self.sessions = sessions
        self.node = node
        self.ttl = ttl
        self.epoch: int | None = None
        self.deadline = 0.0
        self.holder: str | None = None
        self.expires_at: datetime | None = None
        self._monotonic = time.monotonic

    @property
    def leading(self) -> bool:
        return self.epoch is not None and self._monotonic() < self.deadline

    def tick(self) -> bool:
        """Renew if leading, else campaign. Returns whether this node leads."""
        started = self._monotonic()
        try:
            with transaction(self.sessions) as session:
                view = None
                if self.epoch is not None:
                    view = leases.try_renew(session, self.node, self.epoch, self.ttl)
                if view is None:
                    view = leases.campaign(session, self.node, self.ttl)
        except Exception as exc:
            log.warning("lease.error", node=self.node, error=first_line(exc))
            if self.epoch is not None and not self.leading:
                self._lose("renewal failed in time")
            return self.leading
        self.holder, self.expires_at = view.holder, view.expires_at
        metrics.EPOCH.set(view.epoch)
        if view.held:
            if view.epoch != self.epoch:
                log.info("lease.acquired", node=self.node, epoch=view.epoch)
            self.epoch = view.epoch
            self.deadline = started + self.ttl * SAFETY
            if view.previous:
                self._end_sessions_of(view.previous)
        elif self.epoch is not None:
            self._lose(f"held by {view.holder}")
        metrics.IS_LEADER.set(1 if self.leading else 0)
        return self.leading

    def _end_sessions_of(self, previous: str) -> None:
        try:
            with transaction(self.sessions) as session:
                ended = leases.end_sessions_of(session, previous)
            if ended:
                log.warning("lease.ended_previous_sessions", node=self.node, previous=previous,
                            sessions=ended)
        except Exception as exc:  # e.g. no permission to signal: fencing still holds
            log.warning("lease.end_sessions_failed", previous=previous, error=first_line(exc))

    def lose(self, reason: str, epoch: int | None = None) -> None:
        """Give up leadership; with ``epoch``, only if that is still the one held (a
        stale FencedOut must not clear a lease the lease thread has just re-acquired)."""
        if self.epoch is not None and (epoch is None or epoch == self.epoch):
            self._lose(reason)

    def _lose(self, reason: str) -> None:
        log.warning("lease.lost", node=self.node, epoch=self.epoch, reason=reason)
        self.epoch = None
        self.deadline = 0.0
        metrics.IS_LEADER.set(0)

    def step_down(self) -> None:
        if self.epoch is None:
            return
        try:
            with transaction(self.sessions) as session:
                leases.step_down(session, self.node, self.epoch)
            log.info("lease.released", node=self.node, epoch=self.epoch)
        except Exception as exc:
            log.warning("lease.release_failed", error=first_line(exc))
        self.epoch = None
        metrics.IS_LEADER.set(0)

"""Retry policies: whether a failed run gets another attempt, and when. Pure.

Tocsin's own (Appwrite runs a failed execution once). A function or a schedule may
carry a policy (``retry``, absent: no retries, Appwrite's behaviour). Each attempt is
its own execution row, linked to the first by ``retryOf`` and numbered by ``attempt``;
the next one is written as a ``scheduled`` row in the transaction that records the
failure (``store.retries``), so it exists exactly once.

A run that failed with a policy and gets no further attempt (its attempts or its age
used up, or a failure its policy does not retry) is a **dead letter**. Synchronous
runs are never retried (their caller has the answer and retries as it likes), nor
are cancelled runs or runs that never started.

Backoff before attempt ``n + 1`` after attempt ``n`` failed::

    min(maxBackoff, initialBackoff * multiplier ** (n - 1)) * (1 - jitter * r)

with ``r`` uniform in [0, 1): jitter only ever shortens a wait, so ``maxBackoff``
holds. ``maxAge`` (seconds from the first attempt's creation; 0: none) stops retries
whose next attempt would start later than that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Failure(StrEnum):
    """Why an attempt failed, as a policy's ``retryOn`` names it."""

    ERROR = "error"  # the function raised, crashed, or could not be loaded
    TIMEOUT = "timeout"  # cut off at its timeout
    LOST = "lost"  # its worker was lost (killed, crashed): reaped, or a late outcome
    STATUS = "status5xx"  # it answered with a status of 500 or more


def failure_of(outcome: Any) -> Failure:
    """How a failed outcome failed (``timed_out`` and ``responded``, as the runners
    report them: ``tasks.runner.outcome.Outcome``)."""
    if outcome.timed_out:
        return Failure.TIMEOUT
    return Failure.STATUS if outcome.responded else Failure.ERROR


MAX_ATTEMPTS = 100
MAX_BACKOFF = 7 * 24 * 3600  # seconds: a week
MAX_AGE = 30 * 24 * 3600  # seconds: thirty days
MAX_MULTIPLIER = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # attempts in all, the first included
    initial_backoff: float = 10.0  # seconds before the second attempt
    multiplier: float = 2.0
    max_backoff: float = 3600.0
    jitter: float = 0.0  # a fraction in [0, 1]
    max_age: float = 0.0  # seconds; 0: no limit
    retry_on: frozenset[Failure] = field(default_factory=lambda: frozenset(Failure))


class RetryPolicyError(ValueError):
    """A policy document that is not valid; the message says what is allowed."""


_NUMBERS: tuple[tuple[str, str, float, float], ...] = (
    # (API name, attribute, lowest, highest)
    ("initialBackoff", "initial_backoff", 0, MAX_BACKOFF),
    ("multiplier", "multiplier", 1, MAX_MULTIPLIER),
    ("maxBackoff", "max_backoff", 0, MAX_BACKOFF),
    ("jitter", "jitter", 0, 1),
    ("maxAge", "max_age", 0, MAX_AGE),
)
FIELDS = ("maxAttempts", *(n[0] for n in _NUMBERS), "retryOn")
RULE = ("`retry` must be null (no retries) or an object with any of: maxAttempts (1-"
        f"{MAX_ATTEMPTS}), initialBackoff (0-{MAX_BACKOFF} s), multiplier (1-"
        f"{MAX_MULTIPLIER:g}), maxBackoff (0-{MAX_BACKOFF} s), jitter (0-1), maxAge "
        f"(0-{MAX_AGE} s, 0: none), retryOn (a list of: "
        f"{', '.join(f.value for f in Failure)})")


def _number(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value))


def parse(doc: Any) -> RetryPolicy | None:
    """A policy from its API document (None for null); ``RetryPolicyError`` says what
    is wrong and what is allowed."""
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise RetryPolicyError(RULE)
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise RetryPolicyError(f"Unknown field {unknown[0]!r}: {RULE}")
    values: dict[str, Any] = {}
    if "maxAttempts" in doc:
        n = doc["maxAttempts"]
        if not _number(n) or n != int(n) or not 1 <= n <= MAX_ATTEMPTS:
            raise RetryPolicyError(f"maxAttempts must be a whole number from 1 to "
                                   f"{MAX_ATTEMPTS} (attempts in all, the first included)")
        values["max_attempts"] = int(n)
    for name, attribute, low, high in _NUMBERS:
        if name in doc:
            v = doc[name]
            if not _number(v) or not low <= v <= high:
                raise RetryPolicyError(f"{name} must be a number from {low:g} to {high:g}")
            values[attribute] = float(v)
    if "retryOn" in doc:
        kinds = doc["retryOn"]
        allowed = {f.value for f in Failure}
        if not isinstance(kinds, list) or not all(
                isinstance(k, str) and k in allowed for k in kinds):
            raise RetryPolicyError(f"retryOn must be a list of: {', '.join(sorted(allowed))}")
        values["retry_on"] = frozenset(Failure(k) for k in kinds)
    policy = RetryPolicy(**values)
    if policy.max_backoff < policy.initial_backoff:
        raise RetryPolicyError("maxBackoff must not be less than initialBackoff")
    return policy


def to_doc(policy: RetryPolicy | None) -> dict[str, Any] | None:
    """The API document of a policy, every field present (None: no policy)."""
    if policy is None:
        return None
    return {"maxAttempts": policy.max_attempts, "initialBackoff": policy.initial_backoff,
            "multiplier": policy.multiplier, "maxBackoff": policy.max_backoff,
            "jitter": policy.jitter, "maxAge": policy.max_age,
            "retryOn": sorted(f.value for f in policy.retry_on)}


def backoff(policy: RetryPolicy, attempt: int, r: float) -> float:
    """Seconds to wait after attempt ``attempt`` (1-based) failed; ``r`` in [0, 1)."""
    # multiplier <= 10 and attempt <= 100: the power stays far inside a float's range
    exponent = min(max(0, attempt - 1), MAX_ATTEMPTS)
    base = min(policy.max_backoff, policy.initial_backoff * policy.multiplier ** exponent)
    return base * (1 - policy.jitter * min(max(r, 0.0), 1.0))


@dataclass(frozen=True)
class Decision:
    """What follows a failed attempt: another at ``retry_at``, or none (``dead``: the
    run is a dead letter, with ``reason``)."""

    retry_at: datetime | None
    dead: bool
    reason: str = ""


NO_POLICY = Decision(None, False)


def decide(policy: RetryPolicy | None, *, attempt: int, failure: Failure, sync: bool,
           first_created: datetime, now: datetime, r: float) -> Decision:
    """Whether attempt ``attempt`` (failed with ``failure`` at ``now``) gets another."""
    if policy is None or sync:
        return NO_POLICY
    if failure not in policy.retry_on:
        return Decision(None, True, f"its failure ({failure.value}) is not retried "
                                    f"(retryOn: {', '.join(sorted(policy.retry_on))})")
    if attempt >= policy.max_attempts:
        return Decision(None, True, f"attempt {attempt} of {policy.max_attempts} failed")
    at = now + timedelta(seconds=backoff(policy, attempt, r))
    if policy.max_age and (at - first_created).total_seconds() > policy.max_age:
        return Decision(None, True, f"a further attempt would start after maxAge "
                                    f"({policy.max_age:g} s)")
    return Decision(at, False)

"""Retry policies (``scheduler.rules.retries``): parsing with clear errors, backoff,
and the decision after a failed attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules import retries
from scheduler.rules.retries import Failure, RetryPolicy, RetryPolicyError

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_null_is_no_policy_and_an_empty_object_takes_the_defaults():
    assert retries.parse(None) is None
    assert retries.parse({}) == RetryPolicy()
    assert retries.to_doc(retries.parse({})) == {
        "maxAttempts": 3, "initialBackoff": 10.0, "multiplier": 2.0, "maxBackoff": 3600.0,
        "jitter": 0.0, "maxAge": 0.0, "retryOn": ["error", "lost", "status5xx", "timeout"]}


@pytest.mark.parametrize(("doc", "says"), [
    ([], "must be null"),
    ({"attempts": 3}, "Unknown field 'attempts'"),
    ({"maxAttempts": 0}, "maxAttempts must be a whole number from 1 to 100"),
    ({"maxAttempts": 2.5}, "whole number"),
    ({"maxAttempts": True}, "whole number"),
    ({"maxAttempts": 101}, "from 1 to 100"),
    ({"initialBackoff": -1}, "initialBackoff must be a number from 0 to 604800"),
    ({"initialBackoff": float("nan")}, "initialBackoff must be a number"),
    ({"multiplier": 0.5}, "multiplier must be a number from 1 to 10"),
    ({"jitter": 1.5}, "jitter must be a number from 0 to 1"),
    ({"maxAge": "1h"}, "maxAge must be a number"),
    ({"retryOn": ["error", "oom"]}, "retryOn must be a list of: error, lost, status5xx"),
    ({"retryOn": "error"}, "retryOn must be a list"),
    ({"initialBackoff": 60, "maxBackoff": 10}, "maxBackoff must not be less"),
])
def test_a_bad_policy_says_what_is_wrong_and_what_is_allowed(doc, says):
    with pytest.raises(RetryPolicyError) as caught:
        retries.parse(doc)
    assert says in str(caught.value)


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens():
    p = RetryPolicy(initial_backoff=10, multiplier=2, max_backoff=60)
    assert [retries.backoff(p, n, 0.0) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    jittery = RetryPolicy(initial_backoff=10, multiplier=2, max_backoff=60, jitter=0.5)
    assert retries.backoff(jittery, 1, 0.999) == pytest.approx(5.005)


@given(attempt=st.integers(1, 100), r=st.floats(0, 1, exclude_max=True),
       initial=st.floats(0, 3600), multiplier=st.floats(1, 10), jitter=st.floats(0, 1),
       cap=st.floats(3600, retries.MAX_BACKOFF))
def test_backoff_stays_between_zero_and_the_cap(attempt, r, initial, multiplier, jitter, cap):
    p = RetryPolicy(initial_backoff=initial, multiplier=multiplier, max_backoff=cap,
                    jitter=jitter)
    wait = retries.backoff(p, attempt, r)
    assert 0 <= wait <= cap
    assert wait >= min(cap, initial) * (1 - jitter) - 1e-9


def _decide(policy, attempt=1, failure=Failure.ERROR, sync=False, age=0.0, r=0.0):
    return retries.decide(policy, attempt=attempt, failure=failure, sync=sync,
                          first_created=T0, now=T0 + timedelta(seconds=age), r=r)


def test_no_policy_and_synchronous_runs_are_never_retried_nor_dead():
    assert _decide(None) == retries.NO_POLICY
    assert _decide(RetryPolicy(), sync=True) == retries.NO_POLICY


def test_each_attempt_until_the_last_then_a_dead_letter():
    p = RetryPolicy(max_attempts=3, initial_backoff=5, multiplier=3)
    first, second, third = (_decide(p, attempt=n) for n in (1, 2, 3))
    assert first.retry_at == T0 + timedelta(seconds=5) and not first.dead
    assert second.retry_at == T0 + timedelta(seconds=15)
    assert third.retry_at is None and third.dead
    assert third.reason == "attempt 3 of 3 failed"


def test_a_failure_the_policy_does_not_retry_is_a_dead_letter_at_once():
    p = RetryPolicy(retry_on=frozenset({Failure.TIMEOUT}))
    got = _decide(p, failure=Failure.STATUS)
    assert got.dead and got.retry_at is None and "status5xx" in got.reason
    assert _decide(p, failure=Failure.TIMEOUT).retry_at is not None


def test_max_age_stops_a_retry_that_would_start_too_late():
    p = RetryPolicy(max_attempts=10, initial_backoff=60, max_age=100)
    assert _decide(p, age=30).retry_at == T0 + timedelta(seconds=90)
    late = _decide(p, age=50)
    assert late.dead and "maxAge (100 s)" in late.reason


@given(attempt=st.integers(1, 100), max_attempts=st.integers(1, 100),
       failure=st.sampled_from(list(Failure)), age=st.floats(0, 10**6))
def test_every_decision_is_exactly_one_of_retry_or_dead(attempt, max_attempts, failure, age):
    p = RetryPolicy(max_attempts=max_attempts, max_age=3600)
    got = _decide(p, attempt=attempt, failure=failure, age=age)
    assert (got.retry_at is not None) != got.dead
    if got.retry_at is not None:
        assert attempt < max_attempts and got.retry_at >= T0 + timedelta(seconds=age)


@pytest.mark.parametrize(("timed_out", "responded", "kind"), [
    (True, False, Failure.TIMEOUT), (False, True, Failure.STATUS),
    (False, False, Failure.ERROR)])
def test_an_outcome_names_its_failure(timed_out, responded, kind):
    outcome = SimpleNamespace(timed_out=timed_out, responded=responded)
    assert retries.failure_of(outcome) is kind

"""The fair hand-over rule (``rules.admission.admit``): bounds never exceeded, order
kept, and nothing held back that the bounds allow."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules.admission import admit, room

FUNCTIONS = ["a", "b", "c"]


def test_room_is_what_is_left_of_a_limit() -> None:
    assert room(3, 5) == 2 and room(7, 5) == 0 and room(100, None) is None


def test_a_function_at_its_limit_is_passed_by_the_others() -> None:
    candidates = [("1", "a"), ("2", "a"), ("3", "b"), ("4", "a"), ("5", "c")]
    assert admit(candidates, 10, {"a": 1}) == ["1", "3", "5"]
    assert admit(candidates, 2, {}) == ["1", "2"]
    assert admit(candidates, 0, {}) == []


@given(st.lists(st.sampled_from(FUNCTIONS), max_size=40), st.integers(0, 50),
       st.dictionaries(st.sampled_from(FUNCTIONS), st.one_of(st.none(), st.integers(0, 5))))
def test_bounds_hold_order_is_kept_and_nothing_allowed_is_left(
        functions: list[str], window: int, limits: dict[str, int | None]) -> None:
    candidates = [(str(i), f) for i, f in enumerate(functions)]
    chosen = admit(candidates, window, limits)
    assert len(chosen) <= window
    assert chosen == sorted(chosen, key=int)  # oldest first, as given
    of = dict(candidates)
    for function, limit in limits.items():
        if limit is not None:
            assert sum(of[c] == function for c in chosen) <= limit
    if len(chosen) < window:  # the window is not full: every skipped run's function is
        for execution_id, function in candidates:  # at its limit
            if execution_id not in chosen:
                assert limits.get(function) is not None
                assert sum(of[c] == function for c in chosen) == limits[function]

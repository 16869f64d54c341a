"""The API's error types are named once (``scheduler/api/errors.py``): a route that
spells ``"general_bad_request"`` itself, or pairs a status with a type of its own,
fails here with the file and line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from scheduler.api import errors

ROOT = Path(__file__).resolve().parents[2]
# Every type the API's Kinds name, and any "general_*" (Appwrite's family of them).
KNOWN = {kind.type for kind in vars(errors).values() if isinstance(kind, errors.Kind)}
GENERAL = re.compile(r"^general_[a-z_]+$")


def spelled_types(source: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and (node.value in KNOWN or GENERAL.match(node.value))]


def test_the_scan_sees_a_type_spelled_in_place() -> None:
    assert spelled_types('raise ApiError(400, "general_bad_request", "x")') == [1]
    assert spelled_types('raise ApiError(401, "project_key_expired", "x")') == [1]
    assert spelled_types('raise ApiError(errors.BAD_REQUEST, "general text")') == []


@pytest.mark.parametrize("path", sorted(
    p for p in (ROOT / "scheduler" / "api").rglob("*.py") if p.name != "errors.py"),
    ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_route_or_middleware_spells_an_error_type(path: Path) -> None:
    lines = spelled_types(path.read_text())
    assert not lines, f"{path.name} spells Appwrite error types on lines {lines}: " \
                      "name a Kind in scheduler/api/errors.py"


def test_an_api_error_carries_its_kind_or_an_explicit_status() -> None:
    err = errors.ApiError(errors.BAD_REQUEST, "nope")
    assert (err.status, err.type, err.message) == (400, "general_bad_request", "nope")
    assert errors.ApiError(errors.UNKNOWN, "teapot", status=418).status == 418
    assert errors.envelope(err)["type"] == "general_bad_request"

"""Event names, patterns and their variants, in Appwrite's grammar. Pure.

A name alternates resource types and ids and may end with an action:
``functions.report.executions.6a1f.update`` is type ``functions``, id ``report``,
type ``executions``, id ``6a1f``, action ``update``; ``orders.o9.paid`` is type,
id, action. Segments at odd positions are ids.

Like Appwrite, one change is published under every variant of its name: each id
may be replaced by ``*``, and every shorter prefix that ends on an id is published
too (``functions.*.executions.*``, ``functions.*``, …). A subscription pattern matches
when it *equals* one of the variants, so matching is a set lookup (an index on the
patterns), never a scan of every function.
"""

from __future__ import annotations

import itertools
import re

from scheduler.rules.errors import EventNameError

MAX_LENGTH = 256
MAX_IDS = 6  # 2 * 2**6 variants at most: a name longer in ids is refused
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
RULE = ("dot-separated segments of letters, digits, '_' and '-' (at most "
        f"{MAX_LENGTH} characters, at most {MAX_IDS} ids), '*' standing for one id: "
        "types and ids alternate, e.g. functions.*.executions.*.update")


def _segments(text: object, what: str, wildcards: bool) -> list[str]:
    if not isinstance(text, str) or not text:
        raise EventNameError(f"Invalid {what} {text!r}: it must be {RULE}")
    if len(text) > MAX_LENGTH:
        raise EventNameError(f"Invalid {what} '{text[:40]}…': longer than {MAX_LENGTH} "
                             "characters")
    parts = text.split(".")
    for index, part in enumerate(parts):
        if part == "*" and wildcards:
            if index % 2 == 0:
                raise EventNameError(
                    f"Invalid {what} '{text}': '*' stands for an id, and segment "
                    f"{index + 1} is a type (types and ids alternate: "
                    "functions.*.executions.*)")
        elif not _SEGMENT.match(part):
            raise EventNameError(f"Invalid {what} '{text}': segment {index + 1} "
                                 f"({part!r}) is not allowed; {what}s are {RULE}")
    if len(parts) // 2 > MAX_IDS:
        raise EventNameError(f"Invalid {what} '{text}': more than {MAX_IDS} ids")
    return parts


def check_name(name: object) -> str:
    """An event as published: no wildcards."""
    _segments(name, "event name", wildcards=False)
    assert isinstance(name, str)
    return name


def check_pattern(pattern: object) -> str:
    """A function's subscription: ``*`` may stand for any id."""
    _segments(pattern, "event pattern", wildcards=True)
    assert isinstance(pattern, str)
    return pattern


# Appwrite's actions that may carry one attribute after them: ``users.u1.update.prefs``
# is type, id, action, attribute (Appwrite's ``Event::parseEventPattern``), not a type
# ``update`` with an id ``prefs``.
ACTIONS = frozenset({"create", "update", "delete"})


def _attribute_split(parts: list[str]) -> int | None:
    """Where the action is when the name ends with an action and one attribute."""
    at = len(parts) - 2
    if len(parts) >= 4 and at % 2 == 0 and parts[at] in ACTIONS:
        return at
    return None


def variants(name: str) -> list[str]:
    """Every name this event is published under, the most specific first, as Appwrite's
    ``Event::generateEvents`` makes them: each id may be ``*``; the name without its
    attribute (``users.u1.update.prefs`` is also ``users.u1.update``); every prefix
    that ends on an id."""
    parts = check_name(name).split(".")
    action = _attribute_split(parts)
    if action is None:
        return _variants(parts)
    ids = list(range(1, action, 2))
    full = [".".join("*" if i in wild else parts[i] for i in range(len(parts)))
            for wild in _masks(ids)]
    return list(dict.fromkeys([*full, *_variants(parts[:-1])]))


def _masks(ids: list[int]) -> list[set[int]]:
    return [{i for i, on in zip(ids, mask, strict=True) if on}
            for mask in itertools.product((False, True), repeat=len(ids))]


def _variants(parts: list[str]) -> list[str]:
    ids = [i for i in range(1, len(parts), 2)]
    ends = [len(parts)] + [i + 1 for i in reversed(ids) if i + 1 < len(parts)]
    out: list[str] = []
    seen: set[str] = set()
    for end in ends:
        own = [i for i in ids if i < end]
        for mask in itertools.product((False, True), repeat=len(own)):
            wild = {i for i, on in zip(own, mask, strict=True) if on}
            variant = ".".join("*" if i in wild else parts[i] for i in range(end))
            if variant not in seen:
                seen.add(variant)
                out.append(variant)
    return out


def most_specific(names: list[str]) -> str:
    """The name to show (``x-appwrite-event``): the longest without a wildcard."""
    concrete = [n for n in names if "*" not in n.split(".")]
    return max(concrete or names, key=lambda n: (len(n.split(".")), len(n)))


def user_of(name: str) -> str:
    """The user an event names (``users.[userId]…``), or ""."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "users" and parts[1] != "*" else ""

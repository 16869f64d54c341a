"""Runtime specifications: the CPU and memory a function's runner gets. Pure.

Appwrite's slugs and figures (``runtimeSpecification`` on a function). A node offers
(``enabled``) the ones whose CPUs it has; the runner enforces memory as an
address-space limit and CPUs as an affinity to that many cores (see tasks/runner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scheduler.rules.errors import InvalidInput


@dataclass(frozen=True)
class Spec:
    slug: str
    cpus: float
    memory: int  # MB

    @property
    def cores(self) -> int:
        """Cores the runner may run on: a fraction of one is still one core (and runs
        at lower priority, see the runner)."""
        return max(1, math.floor(self.cpus))


SPECS: tuple[Spec, ...] = tuple(Spec(f"s-{c:g}vcpu-{m if m < 1024 else m // 1024}"
                                     f"{'mb' if m < 1024 else 'gb'}", c, m) for c, m in (
    (0.5, 512), (1, 512), (1, 1024), (2, 2048), (2, 4096), (4, 4096), (4, 8192),
    (8, 4096), (8, 8192),
))
DEFAULT = "s-1vcpu-512mb"
_BY_SLUG = {s.slug: s for s in SPECS}


def cores_for(available: list[int], cores: int, turn: int) -> list[int]:
    """The ``cores`` of ``available`` a runner is pinned to, taken in turn from ``turn``:
    runners spread over a host's cores, rather than all sharing its first (two busy
    runners then waited for one core while the other idled)."""
    if not available:
        return []
    ordered = sorted(available)
    start = turn % len(ordered)
    return sorted(ordered[(start + i) % len(ordered)] for i in range(min(cores, len(ordered))))


def enabled(spec: Spec, cpu_count: int) -> bool:
    return spec.cpus <= cpu_count


def get(slug: str) -> Spec:
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise InvalidInput(f"Unknown runtime specification '{slug}'") from None


def choose(slug: str, cpu_count: int, param: str = "runtimeSpecification") -> Spec:
    """The spec a function asks for, if this node offers it; else a 400 naming the ones
    it does."""
    spec = _BY_SLUG.get(slug)
    if spec is None or not enabled(spec, cpu_count):
        offered = ", ".join(s.slug for s in SPECS if enabled(s, cpu_count))
        raise InvalidInput(f"Invalid `{param}` param: Specification must be one of: {offered}")
    return spec

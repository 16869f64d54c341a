"""A real load generator for the API benches: ``hey`` (Debian's package), installed by
the bench itself when missing, driven for a fixed time and its report parsed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    codes: dict[int, int]


def ensure_hey() -> str:
    found = shutil.which("hey")
    if found:
        return found
    for args in (["apt-get", "install", "-y", "-q", "hey"], ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "hey"]):
        subprocess.run(args, capture_output=True, check=False)
        found = shutil.which("hey")
        if found:
            return found
    raise SystemExit("the API bench needs `hey` (Debian: apt-get install hey)")


def hey(url: str, seconds: float, clients: int, method: str = "GET",
        headers: dict[str, str] | None = None, body: object | None = None,
        rate: float | None = None) -> Load:
    """``rate``: requests a second per client (hey's -q); unlimited by default."""
    args = [ensure_hey(), "-z", f"{seconds:g}s", "-c", str(clients), "-m", method]
    if rate:
        args += ["-q", f"{rate:g}"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if body is not None:
        args += ["-T", "application/json", "-d", json.dumps(body)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    return parse(out)


def parse(report: str) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))  # type: ignore[union-attr]
    pct = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", report)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", report)}
    return Load(sum(codes.values()), rps, pct.get(50, float("nan")), pct.get(99, float("nan")),
                codes)

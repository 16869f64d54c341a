"""Backfill: live dispatch lag while a 10,000-fire backfill runs, beside the same load
without it (20 one-shots/s + 200 minutely crons, a consumer popping the queue)."""

from __future__ import annotations

from typing import Any

from bench import common, lag


def run(seconds: int = 60, fires: int = 10_000) -> dict[str, Any]:
    without = lag.run(seconds=seconds, backfill=0)["result"]
    during = lag.run(seconds=seconds, backfill=fires)["result"]
    rows = [[name, r["fires"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["missing"],
             r["backfill_created"] or "-", r["backfill_s"] or "-"]
            for name, r in (("without a backfill", without),
                            (f"during a {fires:,}-fire backfill", during))]
    table = common.print_table(
        f"Live dispatch lag over {seconds} s, with and without a backfill",
        ["run", "live fires", "p50 ms", "p99 ms", "max ms", "missing", "backfilled",
         "backfill s"], rows)
    return {"without": without, "during": during, "table": table}

"""`python -m bench [scenario ...] [--burst-n 10000 100000] [--quick]`

Scenarios: burst catchup lag failover api isolation events domains backfill memory soak
throughput fairness.

Runs Tocsin and its peers on this machine against the local PostgreSQL and Redis, prints
Markdown tables, and writes bench/results/<scenario>.json with the machine description."""

from __future__ import annotations

import argparse
import json

from bench import common

SCENARIOS = ("burst", "catchup", "lag", "failover", "api", "isolation", "events", "domains",
             "backfill", "memory", "soak", "throughput", "fairness")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("scenarios", nargs="*", metavar="scenario",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--burst-n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--peers", nargs="*", default=["redbeat", "apscheduler"],
                        choices=["redbeat", "apscheduler"])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke run of every scenario")
    args = parser.parse_args()
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {SCENARIOS}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    machine = common.machine()
    print("machine:", json.dumps(machine), "\n")
    for name in args.scenarios:
        if name == "burst":
            from bench import burst

            out = burst.run([1000] if args.quick else args.burst_n, args.peers)
        elif name == "catchup":
            from bench import catchup

            out = catchup.run(1000 if args.quick else 100_000)
        elif name == "lag":
            from bench import lag

            out = lag.run(seconds=20 if args.quick else 150)
        elif name == "failover":
            from bench import failover

            out = failover.run(kills=1 if args.quick else 3)
        elif name == "fairness":
            from bench import fairness

            out = fairness.run(*((300, 0.05) if args.quick else (3000, 0.1)))
        elif name == "throughput":
            from bench import throughput

            out = throughput.run(*((300, 1000) if args.quick else (2000, 10_000)))
        elif name == "api":
            from bench import api

            out = api.run(seconds=5 if args.quick else 20)
        elif name == "isolation":
            from bench import isolation

            out = isolation.run(*((30, 5) if args.quick else (300, 40)))
        elif name == "events":
            from bench import events

            out = events.run(*((3, 20) if args.quick else (10, 200)))
        elif name == "domains":
            from bench import domains

            out = domains.run(*((3, 4) if args.quick else (15, 8)))
        elif name == "backfill":
            from bench import backfill

            out = backfill.run(*((20, 1000) if args.quick else (60, 10_000)))
        elif name == "soak":
            from bench import soak

            out = soak.run(seconds=60 if args.quick else 600, every=10 if args.quick else 30)
        else:
            from bench import memory

            out = memory.run((0, 1000) if args.quick else (0, 100_000, 1_000_000),
                             (0, 1000) if args.quick else (0, 100_000))
        path = common.save(name, {"machine": machine, **out})
        print(f"(saved {path.relative_to(common.ROOT)})\n")


if __name__ == "__main__":
    main()

"""`make bench`: run every `bench/bench_*.py` module's `run()` and print one table.

Each module exposes `run() -> list[Result]`. Numbers come from one run on this machine and are reported
against their targets as ratios (value / target for "at most" targets, target / value for "at least");
a ratio <= 1.0 meets the target. Benchmarks never run inside `make test`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

from bench.common import Result


def main(argv: list[str]) -> int:
    only = set(argv)
    import bench

    rows: list[tuple[str, Result]] = []
    for mod_info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if not mod_info.name.startswith("bench_"):
            continue
        short = mod_info.name.removeprefix("bench_")
        if only and short not in only:
            continue
        module = importlib.import_module(f"bench.{mod_info.name}")
        started = time.perf_counter()
        print(f"running {short} ...", file=sys.stderr, flush=True)
        for result in module.run():
            rows.append((short, result))
        print(f"  {short} took {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    print("| bench | metric | value | target | ratio |")
    print("|---|---|---|---|---|")
    for short, r in rows:
        print(f"| {short} | {r.name} | {r.value_text()} | {r.target_text()} | {r.ratio_text()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

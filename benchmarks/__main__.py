"""Run every benchmark (`benchmarks/bench_*.py`) in turn, or the ones named.

Usage: `python -m benchmarks [--quick] [NAME ...]`, NAME being e.g. `store` for bench_store.
Each benchmark prints its own table; the exit status is non-zero when any missed a target.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks


def _names() -> list[str]:
    found = (m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    return sorted(n.removeprefix("bench_") for n in found if n.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (all: {', '.join(_names())})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    failed = []
    for name in args.names or _names():
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"\n## {name}\n", flush=True)
        started = time.perf_counter()
        status = module.main(["--quick"] if args.quick else [])
        print(f"\n({name}: {time.perf_counter() - started:.0f} s)", flush=True)
        if status:
            failed.append(name)
    if failed:
        print(f"\nMissed targets: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

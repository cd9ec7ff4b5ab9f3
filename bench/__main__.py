"""`python -m bench [--quick] [--only NAME ...]`: measure Labdeck, print a
Markdown table, and keep it in bench/results/latest.md (full runs only) with
the raw numbers in bench/results/<date>.json (git-ignored)."""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import time
import traceback

import bench  # noqa: F401  (pins the bench's prefix and network before Django loads)
from bench.common import RESULTS, Options, Row, as_dict, cleanup, load, machine, render

BENCHMARKS = ["time_to_shell", "echo", "throughput", "memory", "noisy", "capacity", "checker", "classroom", "many",
              "faults"]
ALIASES = {"tts": "time_to_shell", "shell": "time_to_shell", "mem": "memory"}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only this benchmark (repeatable, or comma-separated): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for developing the bench")
    args = parser.parse_args(argv)
    only = [ALIASES.get(n, n) for item in args.only for n in item.split(",") if n]
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = [n for n in BENCHMARKS if n in only] if only else BENCHMARKS
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    opts = Options(quick=args.quick)
    full = not args.quick and args.names == BENCHMARKS
    host = machine()
    removed = cleanup()
    if removed:
        print(f"removed {removed} leftover bench sandbox(es)")
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict = {}
    failed = False
    load_before = load()
    try:
        for name in args.names:
            print(f"== {name}", flush=True)
            t0 = time.monotonic()
            try:
                result = importlib.import_module(f"bench.{name}").run(opts)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                traceback.print_exc()
                failed = True
                rows.append(Row(name, f"error: {exc.__class__.__name__}: {str(exc)[:120]}", "", False))
                continue
            rows += result.rows
            notes += result.notes
            raw[name] = result.raw
            print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        cleanup()
    notes.append(f"Host activity: {load_before} at the start; {load()} at the end "
                 f"(other sandboxes and tests on this host skew the tails).")

    title = "Labdeck benchmarks" + ("" if full else " (partial: " + ("quick, " if args.quick else "")
                                    + ", ".join(args.names) + ")")
    table = render(rows, host, notes, title)
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = json.dumps({"machine": host, "quick": args.quick, "benchmarks": args.names,
                       "rows": as_dict(rows), "notes": notes, "raw": raw}, indent=1, default=str)
    for path in (RESULTS / f"{stamp}.json", RESULTS / "latest.json"):
        path.write_text(dump)
    if full:
        (RESULTS / "latest.md").write_text(table)
        print(f"written to {RESULTS / 'latest.md'}")
    else:
        print(f"partial run: {RESULTS / 'latest.md'} left as it was; raw numbers in {RESULTS / (stamp + '.json')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

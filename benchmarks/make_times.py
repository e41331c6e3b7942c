"""Wall times of ``make book`` and ``make test`` on this machine, kept in ``benchmarks/make_times.json``.

    python benchmarks/make_times.py                  # time both targets (long: the full book), store them
    python benchmarks/make_times.py --write-results  # ... and rewrite their section of RESULTS.md
    python benchmarks/make_times.py --table-only --write-results   # the section from the stored JSON only

The JSON keeps, per target, the seconds, the exit status, the date, the machine and the git commit; the
table marks a time taken on another commit than the current one as such.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import time
from pathlib import Path

from results import commit, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
STORE = Path(__file__).with_name("make_times.json")


def table(store: dict) -> str:
    now = commit()
    lines = ["| target | wall time | exit status | date | commit | machine |", "| --- | --- | --- | --- | --- | --- |"]
    for target in ("book", "test"):
        r = store.get(target)
        if r is None:
            lines.append(f"| `make {target}` | not yet measured | | | | |")
            continue
        stale = "" if r["commit"] == now else " (not yet measured on this commit)"
        lines.append(f"| `make {target}` | {r['seconds'] / 60:.1f} min | {r['status']} | {r['date']} | "
                     f"{r['commit']}{stale} | {r['machine']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["test", "book"], choices=["test", "book"])
    parser.add_argument("--table-only", action="store_true", help="do not run make; only print/write the table")
    parser.add_argument("--write-results", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    if not args.table_only:
        for target in args.targets:
            start = time.perf_counter()
            status = subprocess.run(["make", target], cwd=ROOT).returncode
            store[target] = {"seconds": time.perf_counter() - start, "status": status, "commit": commit(),
                             "date": datetime.date.today().isoformat(), "machine": machine()}
            tmp = STORE.with_suffix(".tmp")
            tmp.write_text(json.dumps(store, indent=1) + "\n")
            tmp.replace(STORE)
    text = table(store)
    print(text)
    if args.write_results:
        write_section("make-times", "`make book` / `make test` wall times", text)


if __name__ == "__main__":
    main()

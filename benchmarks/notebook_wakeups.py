"""The chapter tests' ten-minute stall (issue 27), reproduced outside the suite, before and after its cure.

    OMP_NUM_THREADS=1 python benchmarks/notebook_wakeups.py --kernels 60 --timeout 15 [--write-results]

Starts ``--kernels`` kernels in a row through nbclient (as ``tests/test_chapters_sd.py`` and nbmake do),
each running a small notebook of progress bars, ``ipywidgets.interact`` cells and widgets, first with the
notebook client as installed, then with ``tests/conftest.py``'s ``recheck_after_raw_sends``. A cell that
takes its whole ``--timeout`` and passes is a stall: its execute reply was in the client's socket and was
found only by pyzmq's final ``poll(0)`` at the timeout (a send of nbclient's own, an Output widget
update, had drained the socket's wake-up). The chapter tests' timeout is 600 s; here it is shortened.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from results import write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
CELLS = ["from tqdm.auto import tqdm\nimport time, ipywidgets as w\nfrom ipywidgets import interact",
         "for _ in tqdm(range(300)): sum(range(3000))",
         "interact(lambda k=2: print(k), k=(1, 5))",
         "for _ in tqdm(range(100), desc='b'): time.sleep(0.002)",
         "w.IntSlider(3)",
         "import sys\nfor i in range(200): sys.stderr.write(f'\\r{i}')"] * 3
WIDGET_CELLS = [i for i, c in enumerate(CELLS) if c.startswith("interact")]
NOTE = ("\n\nA stalled cell waits its whole timeout, then passes: 600 s in `tests/test_chapters_sd.py` and under "
        "nbmake, the ten minutes of issue 27. Every stalled cell was an `interact` cell, whose output goes to an "
        "Output widget: "
        "nbclient then sends on the shell socket while it waits there, and jupyter_client's raw send drains the "
        "wake-up of a reply already in the socket (jupyter/jupyter_client#1059). `tests/conftest.py` makes the "
        "asyncio socket look again after such a send; `make test` applies it to every notebook client.")


def run(kernels: int, timeout: int) -> dict:
    """Stalled cells (kernel, cell, seconds), the slowest cell, the wall time."""
    stalls, slowest, wall = [], 0.0, time.monotonic()
    for k in range(kernels):
        start = {}

        def started(cell, cell_index):
            start[cell_index] = time.monotonic()

        def executed(cell, cell_index, execute_reply):
            nonlocal slowest
            seconds = time.monotonic() - start[cell_index]
            slowest = max(slowest, seconds)
            if seconds > 0.9 * timeout:
                stalls.append((k, cell_index, round(seconds, 1)))

        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
        NotebookClient(nb, timeout=timeout, kernel_name="python3", on_cell_start=started,
                       on_cell_executed=executed).execute()
    return {"stalls": stalls, "slowest": slowest, "wall": time.monotonic() - wall}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=60)
    parser.add_argument("--timeout", type=int, default=15, help="seconds a cell may take (the chapter tests: 600)")
    parser.add_argument("--write-results", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    from conftest import recheck_after_raw_sends

    rows = [("notebook client as installed", run(args.kernels, args.timeout))]
    recheck_after_raw_sends()
    rows.append(("with recheck_after_raw_sends (tests/conftest.py)", run(args.kernels, args.timeout)))
    widget_cells = args.kernels * len(WIDGET_CELLS)
    lines = ["| client | kernels | interact cells | stalled cells (each took the whole timeout) | slowest cell "
             "| wall time |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in rows:
        lines.append(f"| {name} | {args.kernels} | {widget_cells} | {len(r['stalls'])} | {r['slowest']:.1f} s "
                     f"(timeout {args.timeout} s) | {r['wall']:.0f} s |")
    text = "\n".join(lines) + NOTE
    print(text)
    for name, r in rows:
        print(f"{name}: stalled (kernel, cell, seconds): {r['stalls']}")
    if args.write_results:
        write_section("notebook-wakeups", "Chapter-test stall: missed wake-ups of the notebook client", text)


if __name__ == "__main__":
    main()

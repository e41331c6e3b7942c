"""Write a benchmark's latest table into ``benchmarks/RESULTS.md`` (``--write-results`` of every script).

Each benchmark owns one section of the file, between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
writing replaces that section only, with the table, the command, the date, the machine (CPU model,
cores, threads, torch version, GPU if used) and the git commit, so a change can be compared against it.
"""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine(device=None) -> str:
    """One line: CPU model, cores, torch threads, torch version (and the GPU when ``device`` is CUDA)."""
    line = (f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}")
    if device is not None and torch.device(device).type == "cuda":
        line += f", GPU {torch.cuda.get_device_name(device)}"
    return line


def commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" (with uncommitted changes)" if dirty else "")


def command() -> str:
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ)
    args = " ".join(a for a in sys.argv[1:] if a != "--write-results")
    return f"{env + ' ' if env else ''}python benchmarks/{Path(sys.argv[0]).name} {args}".strip()


def write_section(name: str, title: str, body: str, device=None, path: Path = RESULTS) -> None:
    """Replace section ``name`` of RESULTS.md (appended if new) with ``body`` and where it was measured."""
    section = (f"<!-- {name}:start -->\n## {title}\n\n"
               f"- command: `{command()}`\n- date: {datetime.date.today().isoformat()}\n"
               f"- machine: {machine(device)}\n- commit: {commit()}\n\n{body.strip()}\n<!-- {name}:end -->")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"wrote section {name!r} of {path}")

"""The evaluation's files: what a run writes (``frames.csv``, ``videos.csv``, ``table.md``, ``summary.json``,
``sweep.csv``, ``sweep.md``) and the committed numbers read back for the book."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..runtime import atomic_paths
from .run import Results
from .tables import record, report, sweep_summary, sweep_table


def _csv_text(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_texts(out: Path, texts: dict[str, str]) -> Path:
    """Write every file of ``texts`` into ``out``; they appear together or not at all."""
    out = Path(out)
    names = list(texts)
    with atomic_paths(*(out / name for name in names)) as tmps:
        for tmp, name in zip(tmps, names):
            with open(tmp, "w", newline="") as fh:
                fh.write(texts[name])
    return out


def write(results: Results, out: str | os.PathLike, command: str = "") -> Path:
    """Write ``frames.csv``, ``videos.csv``, ``table.md`` and ``summary.json`` into ``out`` (moved into place together)."""
    settings = {k: v for k, v in results.settings.items() if k != "videos"}
    rec = record(results.videos, results.frames, settings, command)
    return _write_texts(Path(out), {"frames.csv": _csv_text(results.frames), "videos.csv": _csv_text(results.videos),
                                    "table.md": report(rec), "summary.json": json.dumps(rec, indent=2) + "\n"})


def write_sweep(rows: list[dict], out: str | os.PathLike) -> Path:
    """Write ``sweep.csv`` (one row per video) and ``sweep.md`` into ``out`` (moved into place together)."""
    return _write_texts(Path(out), {"sweep.csv": _csv_text(rows), "sweep.md": sweep_table(rows)})


def read_videos(folder: str | os.PathLike) -> list[dict]:
    """``videos.csv`` of a finished run, numbers as floats."""
    with open(Path(folder) / "videos.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for k, v in row.items():
            if k not in ("category", "prompt", "method", "noise"):
                row[k] = float(v) if v not in ("", "nan") else float("nan")
        row["story"], row["seed"] = int(row["story"]), int(row["seed"])
    return rows


COMMITTED = Path(__file__).parents[1] / "data" / "evaluation"


def committed(folder: str | os.PathLike | None = None) -> dict:
    """The committed results, for the book to quote instead of typing numbers.

    ``folder``: a run's output folder, or the name of one under ``direct2v/data`` (``"dsf-study"``); default
    ``direct2v/data/evaluation``, the committed full run.
    Returns ``{"command", "settings", "noise": {noise: {method: {...}}}, "scope": {noise: {scope: {method:
    {...}}}}, "by_kind": {noise: {kind: {method: {column: mean, "paired": ...}}}}, "sweep": [...]}``
    (``scope``: the groups of ``SCOPES``, the global-change stories apart from the rest); a method's entry holds ``label``, ``videos``, ``clip_per_frame``,
    ``event_per_frame``, every metric of ``SUMMARY_METRICS`` as ``{"mean", "low", "high"}`` (raw, as in
    videos.csv: narrative accuracy as a fraction) and ``paired[reference][column]``. E.g.
    ``committed()["noise"]["warm_start"]["rvm"]["narrative_all"]["mean"]``. ``sweep`` is
    :func:`sweep_summary` of the folder's ``sweep.csv`` (empty without one). Files written before the
    noise setting existed read as ``warm_start``.
    """
    folder = Path(folder) if folder is not None else COMMITTED
    if not (folder / "summary.json").exists() and (COMMITTED.parent / folder / "summary.json").exists():
        folder = COMMITTED.parent / folder
    rec = json.loads((folder / "summary.json").read_text())
    rows = []
    if (folder / "sweep.csv").exists():
        with open(folder / "sweep.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    return committed_from(rec, rows)


def committed_from(rec: dict, sweep_rows: list[dict] = ()) -> dict:
    """:func:`committed`'s form of a :func:`record` (what ``summary.json`` holds) and the sweep's rows."""
    def flat(summary):
        return {m: {**{k: v for k, v in entry.items() if k != "metrics"}, **entry["metrics"]} for m, entry in summary.items()}

    by_noise = rec.get("by_noise") or {"warm_start": rec["summary"]}
    return {"command": rec.get("command", ""), "settings": rec["settings"],
            "noise": {n: flat(summary) for n, summary in by_noise.items()},
            "scope": {n: {sc: flat(summary) for sc, summary in scopes.items()}
                      for n, scopes in rec.get("by_scope", {}).items()},
            "by_kind": rec.get("by_kind", {}), "sweep": sweep_summary(list(sweep_rows))}

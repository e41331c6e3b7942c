"""The evaluation's summaries and tables: Table 1's layout with intervals, paired differences, per story kind,
per group of kinds (``SCOPES``) and the DSF sweep's table."""
from __future__ import annotations

import math

import numpy as np

from ..metrics import avg_dist, cluster_bootstrap_ci, paired_cluster_bootstrap_ci
from .design import DSF_QUANTILE, KINDS, METHODS, NOISE_LABELS, REFERENCES, SCOPES


# ------------------------------------------------------------------ summaries
SUMMARY_METRICS = [  # (column of videos.csv, label, scale, digits, higher is better)
    ("clip_avg", "Avg. CLIP (frame prompts)", 1, 2, True),
    ("avg_dist", "Avg. Dist. (the paper's: on per-frame means)", 1, 2, False),
    ("clip_user_avg", "Avg. CLIP (user prompt)", 1, 2, True),
    ("narrative_all", "Narrative: all attributes right (%)", 100, 1, True),
    ("narrative_count", "Narrative: object count right (%)", 100, 1, True),
    ("narrative_color", "Narrative: colours right (%)", 100, 1, True),
    ("narrative_shape", "Narrative: shapes right (%)", 100, 1, True),
    ("narrative_size", "Narrative: sizes right (%)", 100, 1, True),
    ("narrative_column_within_1", "Narrative: column within 1 (%)", 100, 1, True),
    ("narrative_row", "Narrative: rows right (%)", 100, 1, True),
    ("narrative_background", "Narrative: background right (%)", 100, 1, True),
    ("event_accuracy", "Appearing / disappearing / recoloured object right (%)", 100, 1, True),
    ("background_change", "Background change (x100)", 100, 2, False),
    ("identity_consistency", "Identity consistency: pattern kept (%)", 100, 1, True),
    ("decoration_consistency", "Decoration consistency: IoU (%)", 100, 1, True),
    ("clip_temp", "CLIP-Temp (x100)", 100, 2, True),
    ("warp_error", "Warping error (x100)", 100, 2, False),
    ("seconds", "Seconds per video", 1, 2, False),
]
PAIRED_METRICS = ["clip_avg", "avg_dist", "narrative_all", "event_accuracy", "background_change",
                  "identity_consistency", "decoration_consistency", "clip_temp", "warp_error"]
KIND_METRICS = ["clip_avg", "narrative_all", "identity_consistency", "decoration_consistency"]
FRAME_METRICS = ("avg_dist",)
"""Columns computed from the per-frame scores of a set of videos rather than averaged per video."""
_SPEC = {col: (label, scale, digits, higher) for col, label, scale, digits, higher in SUMMARY_METRICS}


def _noise_of(row: dict) -> str:
    return row.get("noise") or "warm_start"   # files written before the noise column: the warm start


def _number(x) -> float:
    return float("nan") if x in ("", None) else float(x)


def _nanmean(values) -> float:
    x = np.array([_number(v) for v in values], dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _frame_scores(frames: list[dict], num_frames: int) -> dict:
    """``{(story, seed, method): per-frame CLIP scores (F,)}`` of one noise setting's frame rows."""
    out = {}
    for r in frames:
        out.setdefault((int(r["story"]), int(r["seed"]), r["method"]), np.full(num_frames, np.nan))[int(r["frame"]) - 1] = \
            _number(r["clip_frame"])
    return out


def _paired_avg_dist(rows: np.ndarray) -> float:
    """Avg. Dist. of the first half of each row's frames minus that of the second half (two methods' scores)."""
    f = rows.shape[1] // 2
    return avg_dist(rows[:, :f]) - avg_dist(rows[:, f:])


def summarize(videos: list[dict], frames: list[dict], settings: dict, noise: str | None = None,
              columns=None, references=REFERENCES) -> dict:
    """Per method, under one noise setting (default: the run's first): the mean per-frame CLIP score, each
    summary metric (``columns``, default all of ``SUMMARY_METRICS``) with a 95 % interval of a cluster
    bootstrap over stories (every seed of a drawn story kept: :func:`~direct2v.metrics.cluster_bootstrap_ci`),
    per frame the share of videos whose appearing, disappearing or recoloured object is right, and
    ``paired``: per reference method (``references``), the mean paired difference of every column of
    ``PAIRED_METRICS`` (also in ``columns``) (this method minus the reference, on the same story, seed and
    noise), with a cluster bootstrap interval over stories. Avg. Dist. is the paper's: on the per-frame
    mean scores of the videos (its interval and its paired difference resample stories the same way)."""
    noise = noise or settings.get("noises", ["warm_start"])[0]
    videos = [v for v in videos if _noise_of(v) == noise]
    frames = [r for r in frames if _noise_of(r) == noise]
    columns = [c for c, *_ in SUMMARY_METRICS] if columns is None else list(columns)
    scores = _frame_scores(frames, settings["frames"])
    out = {}
    for method in settings["methods"]:
        vids = [v for v in videos if v["method"] == method]
        if not vids:   # the peer under independent noise
            continue
        stories = [int(v["story"]) for v in vids]
        rows = [r for r in frames if r["method"] == method]
        per_frame = [_nanmean(r["clip_frame"] for r in rows if int(r["frame"]) == f)
                     for f in range(1, settings["frames"] + 1)]
        event_per_frame = [_nanmean(r.get("event_right") for r in rows if int(r["frame"]) == f)
                           for f in range(1, settings["frames"] + 1)]
        metrics = {}
        for col in columns:
            if col in FRAME_METRICS:
                values = np.array([scores[int(v["story"]), int(v["seed"]), method] for v in vids])
                est, lo, hi = cluster_bootstrap_ci(values, stories, statistic=avg_dist)
            else:
                est, lo, hi = cluster_bootstrap_ci([_number(v.get(col)) for v in vids], stories)
            metrics[col] = {"mean": est, "low": lo, "high": hi}
        paired = {}
        for ref in references:
            base = {(v["story"], v["seed"]): v for v in videos if v["method"] == ref}
            if ref == method or not base:
                continue
            units = [v for v in vids if (v["story"], v["seed"]) in base]
            clusters = [int(v["story"]) for v in units]
            paired[ref] = {}
            for col in (c for c in PAIRED_METRICS if c in columns):
                if col in FRAME_METRICS:
                    both = np.array([np.concatenate([scores[int(v["story"]), int(v["seed"]), method],
                                                     scores[int(v["story"]), int(v["seed"]), ref]]) for v in units])
                    est, lo, hi = cluster_bootstrap_ci(both, clusters, statistic=_paired_avg_dist)
                else:
                    est, lo, hi = paired_cluster_bootstrap_ci(
                        [_number(v.get(col)) for v in units], [_number(base[v["story"], v["seed"]].get(col)) for v in units],
                        clusters)
                paired[ref][col] = {"mean": est, "low": lo, "high": hi, "units": len(units),
                                    "stories": len(set(clusters))}
        out[method] = {"label": METHODS[method][0], "videos": len(vids), "stories": len(set(stories)),
                       "clip_per_frame": per_frame, "event_per_frame": event_per_frame, "metrics": metrics,
                       "paired": paired}
    return out


def _subset(rows: list[dict], kinds) -> list[dict]:
    return [r for r in rows if r["category"] in kinds]


def scope_kinds(videos: list[dict]) -> dict:
    """``{scope: [kinds]}`` of ``SCOPES`` among the kinds present in ``videos`` (empty scopes dropped)."""
    present = list(dict.fromkeys(v["category"] for v in videos))
    named = {k for kinds in SCOPES.values() if kinds for k in kinds}
    out = {scope: [k for k in present if (k in kinds if kinds else k not in named)] for scope, kinds in SCOPES.items()}
    return {scope: kinds for scope, kinds in out.items() if kinds}


def by_kind(videos: list[dict], settings: dict, noise: str | None = None, frames: list[dict] | None = None) -> dict:
    """``{kind: {method: {column: mean, "videos": n, "paired": {column: {mean, low, high}}}}}`` of
    ``KIND_METRICS`` under one noise setting, for the story kinds of the run (in ``STORIES`` order); ``paired``:
    the difference to self-attention with a cluster bootstrap interval over the kind's stories (few stories:
    wide intervals)."""
    noise = noise or settings.get("noises", ["warm_start"])[0]
    kinds = list(dict.fromkeys(v["category"] for v in videos if _noise_of(v) == noise))
    kinds.sort(key=lambda k: KINDS.index(k) if k in KINDS else len(KINDS))
    out = {}
    for kind in kinds:
        summary = summarize(_subset(videos, [kind]), _subset(frames or [], [kind]), settings, noise,
                            columns=KIND_METRICS, references=("self",))
        out[kind] = {m: {"videos": e["videos"], **{c: e["metrics"][c]["mean"] for c in KIND_METRICS},
                         "paired": {c: {k: v for k, v in d.items() if k in ("mean", "low", "high")}
                                    for c, d in e["paired"].get("self", {}).items()}}
                     for m, e in summary.items()}
    return out


def by_scope(videos: list[dict], frames: list[dict], settings: dict, noise: str | None = None) -> dict:
    """:func:`summarize` (``KIND_METRICS`` and Avg. Dist.) of each group of ``SCOPES``: the global-change stories
    (day to night) apart from the rest, so that no headline mixes them."""
    return {scope: summarize(_subset(videos, kinds), _subset(frames, kinds), settings, noise,
                             columns=KIND_METRICS + ["avg_dist"])
            for scope, kinds in scope_kinds(videos).items()}


def record(videos: list[dict], frames: list[dict], settings: dict, command: str = "") -> dict:
    """What ``summary.json`` holds: the command, the settings, ``summary`` (the first noise setting, as
    before there were several) and ``by_noise`` / ``by_scope`` / ``by_kind`` (keyed by noise setting)."""
    noises = settings.get("noises", ["warm_start"])
    by_noise = {n: summarize(videos, frames, settings, n) for n in noises}
    return {"command": command, "settings": settings, "summary": by_noise[noises[0]], "by_noise": by_noise,
            "by_scope": {n: by_scope(videos, frames, settings, n) for n in noises},
            "by_kind": {n: by_kind(videos, settings, n, frames) for n in noises}}


def _fmt(x: float, digits: int) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _cell(s: dict, scale: float, digits: int, sign: bool = False) -> str:
    mean = _fmt(s["mean"] * scale, digits)
    if sign and mean != "n/a" and not mean.startswith("-"):
        mean = "+" + mean
    return f"{mean} [{_fmt(s['low'] * scale, digits)}, {_fmt(s['high'] * scale, digits)}]"


def markdown_table(summary: dict, settings: dict) -> str:
    """Table 1's layout (a column per method, a row per frame, Avg., Avg. Dist.) and the other metrics."""
    methods = list(summary)
    head = "| | " + " | ".join(summary[m]["label"] for m in methods) + " |"
    rule = "| --- |" + " --- |" * len(methods)
    lines = [head, rule]
    for f in range(settings["frames"]):
        lines.append(f"| Frame {f + 1} | " + " | ".join(_fmt(summary[m]["clip_per_frame"][f], 2) for m in methods) + " |")
    for col, label, scale, digits, higher in SUMMARY_METRICS:
        if not all(col in summary[m]["metrics"] for m in methods):   # a file written before the metric
            continue
        cells = [_cell(summary[m]["metrics"][col], scale, digits) for m in methods]
        arrow = "↑" if higher else "↓"
        lines.append(f"| {label} {arrow} | " + " | ".join(cells) + " |")
    n = summary[methods[0]]["videos"]
    clustered = "stories" in summary[methods[0]]
    how = ("95 % interval of a cluster bootstrap over stories, every seed of a drawn story kept" if clustered
           else "bootstrap 95 % interval over videos")
    layers = settings.get("layers")
    note = (f"\n\nCLIP scores: 100 x max(cos, 0) with the shapes world's miniature CLIP, each frame against its own "
            f"frame prompt (the paper prints the cosine: 0.31 there is 31 here). Means over {n} videos per method "
            f"({len(settings['stories'])} stories x {len(settings['seeds'])} seeds), [{how}]. "
            + ("Avg. Dist. is the paper's: (1/F) sum over f of |m_1 - m_f| on the per-frame means m_f above. "
               if clustered else "")
            + (f"Frame interaction on the self-attention of {', '.join(layers)} (the authors' released code maps the "
               "analogue in SD 1.5, up_blocks.2-3); RVM, all layers: every self-attention layer; T2V-Z, 1 prompt: "
               "diffusers' Text2Video-Zero, every frame from the first frame prompt. " if layers else "")
            + f"{settings['frames']} frames, {settings['steps']} PNDM steps (the paper: 100), guidance "
            f"{settings['guidance']}, DSF quantile {settings['dsf_quantile']}, device {settings['device']}.")
    return "\n".join(lines) + note


def paired_table(summary: dict, reference: str) -> str:
    """Every other method minus ``reference`` on the same videos: mean [95 % interval, stories resampled]."""
    methods = [m for m in summary if reference in summary[m].get("paired", {})]
    if not methods:
        return ""
    lines = ["| | " + " | ".join(summary[m]["label"] for m in methods) + " |",
             "| --- |" + " --- |" * len(methods)]
    for col in (c for c in PAIRED_METRICS if c in summary[methods[0]]["paired"][reference]):
        label, scale, digits, higher = _SPEC[col]
        cells = [_cell(summary[m]["paired"][reference][col], scale, digits, sign=True) for m in methods]
        lines.append(f"| {label} {'↑' if higher else '↓'} | " + " | ".join(cells) + " |")
    first = next(iter(summary[methods[0]]["paired"][reference].values()))
    units, stories = first["units"], first.get("stories")
    how = (f"[95 % interval of a cluster bootstrap over the {stories} stories, every seed of a drawn story kept]"
           if stories else "[paired bootstrap 95 % interval, units resampled]")
    return "\n".join(lines) + (f"\n\nDifference to {METHODS[reference][0]} ({reference}) on the same story, seed and "
                               f"noise: mean over {units} (story, seed) units {how}. An interval that excludes 0 is a "
                               "difference the run can see.")


def event_table(summary: dict, settings: dict) -> str:
    """Per frame, the share of videos whose appearing, disappearing or recoloured object is right."""
    methods = [m for m in summary if np.isfinite(summary[m].get("event_per_frame", [np.nan])).any()]
    if not methods:
        return ""
    lines = ["| | " + " | ".join(summary[m]["label"] for m in methods) + " |",
             "| --- |" + " --- |" * len(methods)]
    for f in range(settings["frames"]):
        lines.append(f"| Frame {f + 1} | " + " | ".join(_fmt(100 * summary[m]["event_per_frame"][f], 1)
                                                         for m in methods) + " |")
    return "\n".join(lines) + ("\n\nPer frame, % of the videos (stories where an object appears, disappears or "
                               "changes colour) in which that object is shown as the storyboard says: present with "
                               "the right colour, or absent.")


def kind_tables(kinds: dict) -> str:
    """One table per ``KIND_METRICS`` column: a row per story kind, a column per method."""
    methods = list(dict.fromkeys(m for k in kinds.values() for m in k))
    if not methods:
        return ""
    parts = []
    for col in KIND_METRICS:
        label, scale, digits, higher = _SPEC[col]
        lines = [f"**{label}** {'↑' if higher else '↓'}", "",
                 "| Story kind | " + " | ".join(METHODS[m][0] for m in methods) + " |",
                 "| --- |" + " --- |" * len(methods)]
        for kind, row in kinds.items():
            n = max(r["videos"] for r in row.values())
            lines.append(f"| {kind} ({n}) | " + " | ".join(_fmt(row[m][col] * scale, digits) if m in row else ""
                                                          for m in methods) + " |")
        parts.append("\n".join(lines))
        paired = [m for m in methods if any(row.get(m, {}).get("paired", {}).get(col) for row in kinds.values())]
        if paired:
            lines = [f"*{label}: difference to Self-attn*", "",
                     "| Story kind | " + " | ".join(METHODS[m][0] for m in paired) + " |",
                     "| --- |" + " --- |" * len(paired)]
            for kind, row in kinds.items():
                lines.append(f"| {kind} | " + " | ".join(_cell(row[m]["paired"][col], scale, digits, sign=True)
                                                        if row.get(m, {}).get("paired", {}).get(col) else ""
                                                        for m in paired) + " |")
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n\nMeans per story kind (videos per method in brackets); differences to "
                                  "self-attention on the same story, seed and noise [95 % interval of a cluster "
                                  "bootstrap over the kind's stories: with three to six stories, a wide one].")


def report(rec: dict) -> str:
    """``table.md``: per noise setting, Table 1 with the other metrics, the paired differences to
    ``REFERENCES``, the changing objects per frame, and the tables per story kind."""
    settings = rec["settings"]
    by_noise = rec.get("by_noise") or {"warm_start": rec["summary"]}
    parts = [f"Command: `{rec['command']}`"] if rec.get("command") else []
    for noise, summary in by_noise.items():
        if not summary:
            continue
        parts.append(f"## Noise `{noise}`: {NOISE_LABELS.get(noise, noise)}")
        parts.append(markdown_table(summary, settings))
        for ref in REFERENCES:
            if table := paired_table(summary, ref):
                parts += [f"### Paired difference to {METHODS[ref][0]}", table]
        for scope, scoped in rec.get("by_scope", {}).get(noise, {}).items():
            if table := paired_table(scoped, "self"):
                kinds = ", ".join(scope_kinds([{"category": k} for k, _ in settings["stories"]])[scope])
                parts += [f"### {scope.capitalize()} stories ({kinds}): difference to Self-attn", table]
        if table := event_table(summary, settings):
            parts += ["### The object that appears, disappears or changes colour, per frame", table]
        if table := kind_tables(rec.get("by_kind", {}).get(noise, {})):
            parts += ["### Per story kind", table]
    return "\n\n".join(parts) + "\n"


SWEEP_METRICS = ["identity_consistency", "decoration_consistency", "background_change", "narrative_all",
                 "event_accuracy", "clip_avg"]


def sweep_summary(rows: list[dict]) -> list[dict]:
    """Mean of ``SWEEP_METRICS`` per (noise, dsf_quantile, mapping_start), with the number of videos."""
    out = {}
    for r in rows:
        key = (r["noise"], float(r["dsf_quantile"]), int(float(r["mapping_start"])))
        out.setdefault(key, []).append(r)
    table = []
    for (noise, q, start), group in out.items():
        entry = dict(noise=noise, dsf_quantile=q, mapping_start=start,
                     mapping_start_fraction=float(group[0]["mapping_start_fraction"]), videos=len(group))
        for col in SWEEP_METRICS:
            entry[col] = _nanmean(r.get(col) for r in group)
        table.append(entry)
    return table


def sweep_table(rows: list[dict]) -> str:
    """``sweep.md``: consistency against narrative accuracy and CLIP score, per noise setting and config."""
    summary = sweep_summary(rows)
    head = ("| Noise | DSF quantile | Mapping start (step, % of steps) | " +
            " | ".join(f"{_SPEC[c][0]} {'↑' if _SPEC[c][3] else '↓'}" for c in SWEEP_METRICS) + " | Videos |")
    lines = [head, "| --- | --- | --- |" + " --- |" * (len(SWEEP_METRICS) + 1)]
    for e in summary:
        cells = [_fmt(e[c] * _SPEC[c][1], _SPEC[c][2]) for c in SWEEP_METRICS]
        lines.append(f"| {e['noise']} | {e['dsf_quantile']:g} | {e['mapping_start']} "
                     f"({100 * e['mapping_start_fraction']:g} %) | " + " | ".join(cells) + f" | {e['videos']} |")
    steps = {int(float(r["steps"])) for r in rows}
    return "\n".join(lines) + (f"\n\nRVM + DSF on stories {sorted({int(r['story']) for r in rows})}, means over "
                               f"videos; {'/'.join(map(str, sorted(steps)))} steps. A quantile of 0 is RVM alone. "
                               "Every quantile at the paper's mapping start, every start at quantile "
                               f"{DSF_QUANTILE}.\n")

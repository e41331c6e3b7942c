"""The evaluation's result in sentences and against the paper, written from the committed numbers."""
from __future__ import annotations

import math

from .design import METHODS, MIN_STORIES
from .records import committed
from .tables import _SPEC, _cell, scope_kinds


PAPER_TABLE1 = {  # DirecT2V, Table 1: average CLIP similarity (a CLIP the paper does not name) and Avg. Dist.
    "cross_frame": {"clip": 0.2930, "avg_dist": 0.0272},
    "sparse_causal": {"clip": 0.3001, "avg_dist": 0.0235},
    "rvm": {"clip": 0.3087, "avg_dist": 0.0057},
    "rvm_dsf": {"clip": 0.3113, "avg_dist": 0.0067},
}
FINDING_METRICS = [  # (column, what it says, scale, unit)
    ("identity_consistency", "objects keeping their unnamed pattern between adjacent frames", 100, " points"),
    ("decoration_consistency", "backgrounds keeping their decorations (intersection over union)", 100, " points"),
    ("narrative_all", "frames showing everything their prompt says", 100, " points"),
    ("clip_avg", "CLIP score of each frame against its own prompt", 1, ""),
]


def _difference(d: dict, scale: float, unit: str) -> str:
    mean, low, high = (scale * d[k] for k in ("mean", "low", "high"))
    if d.get("stories", MIN_STORIES) < MIN_STORIES:
        return f"too few stories to tell ({mean:+.1f}{unit} on {d['stories']})"
    span = f"95% interval {low:+.1f} to {high:+.1f}"
    if low > 0:
        return f"higher by {mean:.1f}{unit} ({span})"
    if high < 0:
        return f"lower by {-mean:.1f}{unit} ({span})"
    return f"no measurable difference ({mean:+.1f}{unit}, {span}: the interval includes 0)"


def findings(results: dict | None = None, noise: str = "warm_start", reference: str = "self",
             scope: str | None = None) -> str:
    """The evaluation's result, in sentences written from the committed numbers (:func:`committed`).

    Per group of story kinds (``SCOPES``: the global-change stories, day to night, apart from the rest; or only
    ``scope``; ``scope="all"``: every story together, as the run's main table), for each method the paired
    difference to ``reference`` (same story, seed and noise) on the consistency metrics of world version 2,
    narrative accuracy and the CLIP frame score, each with its 95 % interval (a cluster bootstrap over
    stories); a difference is called higher or lower only when its interval excludes 0.
    """
    results = committed() if results is None else results
    scopes = results.get("scope", {}).get(noise) or {}
    if scope == "all" or not scopes:
        groups = {"all": results["noise"][noise]}
    else:
        groups = {scope: scopes[scope]} if scope else scopes
    kinds = scope_kinds([{"category": k} for k, _ in results["settings"]["stories"]])
    lines = []
    for name, table in groups.items():
        if len(groups) > 1 or name != "all":
            lines.append(f"**{name.capitalize()}** ({', '.join(kinds.get(name, []))}):")
        label = {m: table[m].get("label", m) for m in table}
        for method in (m for m in ("cross_frame", "sparse_causal", "random", "rvm", "rvm_dsf", "rvm_all", "t2vz_peer")
                       if m in table):
            paired = table[method].get("paired", {}).get(reference)
            if not paired:
                continue
            first = paired[FINDING_METRICS[0][0]]
            units = (f"{first['stories']} stories, {first['units']} story x seed pairs" if "stories" in first
                     else f"{first['units']} story x seed pairs")
            parts = [f"{what}: {_difference(paired[col], scale, unit)}" for col, what, scale, unit in FINDING_METRICS
                     if col in paired and math.isfinite(paired[col]["mean"])]
            lines.append(f"* **{label[method]}** against {label[reference]} ({units}): " + "; ".join(parts) + ".")
    return "\n".join(lines)


PAPER_CLAIMS = [  # (claim, where the paper makes it, method, reference, column, sign the paper predicts)
    ("RVM follows the frame prompts better than T2V-Z's attention", "Table 1, average CLIP score",
     "rvm", "cross_frame", "clip_avg", +1),
    ("RVM + DSF follows the frame prompts better than T2V-Z's attention", "Table 1, average CLIP score",
     "rvm_dsf", "cross_frame", "clip_avg", +1),
    ("RVM drifts less from frame 1 than T2V-Z's attention", "Table 1, Avg. Dist.", "rvm", "cross_frame",
     "avg_dist", -1),
    ("T2V-Z's attention is faithful to the first prompt only", "section 4.2 on Table 1, Avg. Dist.",
     "cross_frame", "self", "avg_dist", +1),
    ("TAV's attention is faithful to the first prompt only", "section 4.2 on Table 1, Avg. Dist.",
     "sparse_causal", "self", "avg_dist", +1),
    ("Without frame interaction adjacent frames are discontinuous; RVM keeps what no prompt fixes",
     "section 3.3", "rvm", "self", "identity_consistency", +1),
    ("One user prompt for every frame does not tell the story that frame prompts tell",
     "Figs. 2 and 5 (T2V-Z with the user prompt)", "t2vz_peer", "cross_frame", "narrative_all", -1),
]
"""The paper's claims that the table can test: each a paired difference whose sign the paper predicts."""


def paper_claims(results: dict | None = None, noise: str = "warm_start") -> str:
    """A markdown table: each of ``PAPER_CLAIMS``, per group of ``SCOPES`` (global-change stories apart from the
    rest), with the measured paired difference [95 % interval, stories resampled] and a verdict: "reproduced"
    (the interval excludes 0 on the paper's side), "reversed" (it excludes 0 on the other side), "not
    measurable" (it includes 0), or "too few stories" (fewer than ``MIN_STORIES``). Rows whose methods the run
    lacks are left out."""
    results = committed() if results is None else results
    groups = results.get("scope", {}).get(noise) or {"all": results["noise"][noise]}
    lines = ["| claim (where the paper makes it) | stories | measured difference [95 % interval] | verdict |",
             "| --- | --- | --- | --- |"]
    for claim, where, method, reference, col, sign in PAPER_CLAIMS:
        for scope, table in groups.items():
            d = table.get(method, {}).get("paired", {}).get(reference, {}).get(col)
            if not d or not math.isfinite(d["mean"]):
                continue
            label, scale, digits, _ = _SPEC[col]
            low, high = sign * d["low"], sign * d["high"]
            verdict = ("too few stories" if d.get("stories", MIN_STORIES) < MIN_STORIES else
                       "reproduced" if low > 0 else "reversed" if high < 0 else "not measurable")
            lines.append(f"| {claim} ({where}): {METHODS[method][0]} minus {METHODS[reference][0]}, {label} | "
                         f"{scope} ({d.get('stories', d['units'])}) | {_cell(d, scale, digits, sign=True)} | {verdict} |")
    return "\n".join(lines)


def paper_comparison(results: dict | None = None, noise: str = "warm_start") -> str:
    """A markdown table: the paper's Table 1 beside the miniature's CLIP score and Avg. Dist. (with intervals)."""
    results = committed() if results is None else results
    table = results["noise"][noise]
    rows = ["| attention | paper: CLIP | paper: Avg. Dist. | miniature: CLIP (0-100) | miniature: Avg. Dist. |",
            "| --- | --- | --- | --- | --- |"]
    for method, paper in PAPER_TABLE1.items():
        ours = table.get(method)
        if ours is None:
            cells = ["not run", "not run"]
        else:
            cells = [f"{ours[c]['mean']:.2f} [{ours[c]['low']:.2f}, {ours[c]['high']:.2f}]" for c in ("clip_avg", "avg_dist")]
        rows.append(f"| {METHODS[method][0]} | {paper['clip']:.4f} | {paper['avg_dist']:.4f} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)

"""Replicate DirecT2V's Table 1 in the shapes world, with the metrics the paper lacks.

    python -m direct2v.evaluate [--quick] [--out DIR] [--steps 50] [--frames 8] [--seeds 0,1,2]
                                [--methods self,cross_frame,...] [--device auto]

A fixed set of shapes-world stories (``STORIES``: motion, appearance, growth, colour change,
day to night, two objects) goes through the storyboard director, then through the pipeline once
per seed with every frame-interaction method of the paper's comparison (``METHODS``): per-frame
self-attention, Text2Video-Zero's cross-frame attention (frame 1), Tune-A-Video's sparse-causal
attention (frame 1 and the previous frame), random value mapping, RVM, RVM + DSF; and the
single-prompt Text2Video-Zero peer (diffusers' ``TextToVideoZeroPipeline`` on the same weights).

The peer gets one prompt for every frame: the storyboard's *first frame caption*, not the user's
prompt. The miniature model was trained on canonical captions only; the user's story prompt
("a red ball moves from left to right") holds words it never saw in training, so the peer would be
judged on a prompt it cannot read. The first caption is what a single-prompt method could best be
given, and matches the paper's point: T2V-Z with one prompt keeps showing that prompt.

Every method starts from the same noise for the same (story, seed) and uses the pipeline's defaults
otherwise (Text2Video-Zero's warm start, PNDM, mapping from 4 % of the steps, motion dynamics off as
in the paper's section 4.1), so differences between methods are paired. Guidance is the miniature's
own 3.0, not the paper's 12.0 (see ``GUIDANCE``).

Per video: the CLIP score (0-100) of every frame against its own frame prompt and against the user
prompt, Avg. Dist., CLIP-Temp, warping error, narrative accuracy, background change (consistency of
unspecified details) and seconds; see :mod:`direct2v.metrics`. Written to ``--out``:
``frames.csv`` (story x seed x method x frame), ``videos.csv`` (story x seed x method),
``table.md`` (Table 1's layout plus the other metrics, bootstrap 95 % intervals over videos) and
``summary.json`` (the command, the settings and the same numbers).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import (CLIPScorer, NARRATIVE_KEYS, as_video, avg_dist, background_change, bootstrap_ci,
                      clip_temp, judge_video, narrative_accuracy, warping_error)
from .shapes.model import GUIDANCE as SHAPES_GUIDANCE

# (category, user prompt); every one is directed by the StoryboardDirector
STORIES: list[tuple[str, str]] = [
    ("move", "a red ball moves from left to right"),
    ("move", "a blue square slides from the right to the left"),
    ("move", "a small yellow triangle moves from the top left to the bottom right"),
    ("move", "a red ball falls"),
    ("move", "a green square rises on grass"),
    ("move", "a purple ball bounces at night"),
    ("appear later", "a green ball at the left, later a red square appears at the right"),
    ("appear later", "a purple square at the right, later an orange ball appears at the left"),
    ("appear later", "a yellow square at the top left, later a blue ball appears at the bottom right"),
    ("appear later", "a red square at the left and a green ball at the right, later the ball disappears"),
    ("grow", "a small red square grows"),
    ("grow", "a large blue ball shrinks"),
    ("grow", "a medium green triangle grows at night"),
    ("colour change", "a yellow ball turns red"),
    ("colour change", "a blue square turns green in the desert"),
    ("colour change", "an orange triangle turns purple at night"),
    ("day to night", "day turns to dusk and night while a red ball stays in the center"),
    ("day to night", "day turns to night while a yellow triangle stays at the left"),
    ("day to night", "a blue ball moves from left to right while day turns to night"),
    ("two objects", "a red ball falls while a blue square rises"),
    ("two objects", "a red ball moves from left to right and a yellow square grows"),
    ("two objects", "a blue square at the left and a red ball at the right, then the ball turns yellow"),
    ("two objects", "an orange ball moves from right to left in the desert, later a green square appears"),
]
QUICK_STORIES = (0, 6, 18)   # move, appear later, day to night

DSF_QUANTILE = 0.05
GUIDANCE = SHAPES_GUIDANCE
"""Classifier-free guidance of the runs. The paper uses 12.0 with Stable Diffusion; the shapes miniature at 12.0
paints wrong, over-saturated colours (a red ball comes out yellow or blue), so it is evaluated at the scale its
own quality bars were measured at (``direct2v.shapes.model.GUIDANCE``)."""
METHODS: dict[str, tuple[str, dict | None]] = {  # name -> (label, pipeline arguments; None: the peer)
    "self": ("Self-attn", dict(attention="self")),
    "cross_frame": ("T2V-Z attn", dict(attention="cross_frame")),
    "sparse_causal": ("TAV attn", dict(attention="sparse_causal")),
    "random": ("Random VM", dict(attention="random")),
    "rvm": ("RVM", dict(attention="rvm")),
    "rvm_dsf": ("RVM+DSF", dict(attention="rvm", dsf_quantile=DSF_QUANTILE)),
    "t2vz_peer": ("T2V-Z, 1 prompt", None),
}
QUICK = dict(steps=20, frames=4, seeds=(0,), methods=("self", "cross_frame", "rvm"))
FULL = dict(steps=50, frames=8, seeds=(0, 1, 2), methods=tuple(METHODS))
NARRATIVE_COLUMNS = [f"narrative_{k}" for k in NARRATIVE_KEYS]


@dataclass
class Results:
    """What a run produced: one dict per frame and per video, and the settings."""

    frames: list[dict]
    videos: list[dict]
    settings: dict

    def summary(self) -> dict:
        return summarize(self.videos, self.frames, self.settings)

    def table(self) -> str:
        return markdown_table(self.summary(), self.settings)


def video_seed(story: int, seed: int) -> int:
    """The generator seed of (story, seed): the same for every method, so comparisons are paired."""
    return 1000 * seed + story


def generate(pipe, peer, method: str, script, seed: int, steps: int, guidance: float) -> np.ndarray:
    """One video (F, H, W, 3) uint8 of ``script`` by ``method``; same noise for every method."""
    import torch

    from .pipeline import warm_start_steps

    args = METHODS[method][1]
    if args is not None:
        out = pipe(script.frames, num_inference_steps=steps, guidance_scale=guidance, seed=seed,
                   output_type="np", **args)
        return as_video(out.frames)
    t0, t1 = warm_start_steps(steps)
    out = peer(script.frames[0], video_length=len(script.frames), num_inference_steps=steps,
               guidance_scale=guidance, t0=t0, t1=t1, motion_field_strength_x=0, motion_field_strength_y=0,
               output_type="np", generator=torch.Generator("cpu").manual_seed(seed))
    return as_video(np.asarray(out.images))


def measure(video: np.ndarray, script, scorer: CLIPScorer) -> tuple[list[dict], dict]:
    """Per-frame and per-video metrics of one generated video of ``script``."""
    images = scorer.embed_images(video)
    per_frame = CLIPScorer.scores_from_embeddings(images, scorer.embed_texts(script.frames))
    per_user = CLIPScorer.scores_from_embeddings(images, scorer.embed_texts([script.prompt]))
    verdicts = judge_video(video, script.scenes)
    frames = []
    for f, verdict in enumerate(verdicts):
        row = {"frame": f + 1, "frame_prompt": script.frames[f], "clip_frame": float(per_frame[f]),
               "clip_user": float(per_user[f])}
        row.update({f"narrative_{k}": ("" if verdict[k] is None else int(bool(verdict[k]))) for k in NARRATIVE_KEYS})
        frames.append(row)
    accuracy = narrative_accuracy(verdicts=verdicts)
    video_row = {"clip_avg": float(per_frame.mean()), "clip_user_avg": float(per_user.mean()),
                 "avg_dist": avg_dist(per_frame) if len(video) > 1 else float("nan"),
                 "clip_temp": float(clip_temp(images).mean()) if len(video) > 1 else float("nan"),
                 "warp_error": warping_error(video) if len(video) > 1 else float("nan"),
                 "background_change": background_change(video, script.scenes) if len(video) > 1 else float("nan")}
    video_row.update({f"narrative_{k}": v for k, v in accuracy.items()})
    return frames, video_row


def run(pipe=None, scorer=None, stories=None, seeds=(0,), methods=("self", "rvm"), steps: int = 50,
        frames: int = 8, guidance: float = GUIDANCE, device=None, progress: bool = True,
        keep_videos: bool = False) -> Results:
    """Generate and measure every (story, seed, method); see the module docstring.

    ``stories``: indices into ``STORIES`` (None: all) or (category, prompt) pairs. ``pipe``/``scorer``:
    a loaded ``DirecT2VPipeline`` and :class:`~direct2v.metrics.CLIPScorer` (None: the shapes model's).
    ``keep_videos``: also return the videos (``settings["videos"][(story, seed, method)]``).
    """
    from tqdm.auto import tqdm

    from .director import StoryboardDirector
    from .pipeline import load_pipeline, text2video_zero_peer

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r} is not allowed; use names from {list(METHODS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps={steps!r} is not allowed; use an integer >= 2 (the warm start needs 2)")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames={frames!r} is not allowed; use an integer >= 2 (Avg. Dist. compares frames)")
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds={seeds!r} is not allowed; use a non-empty list of integers >= 0")
    chosen = list(range(len(STORIES))) if stories is None else list(stories)
    for i in chosen:
        if isinstance(i, int) and not 0 <= i < len(STORIES):
            raise ValueError(f"story index {i} is not allowed; use 0 to {len(STORIES) - 1}")
    stories = [(i, STORIES[i]) if isinstance(i, int) else (None, tuple(i)) for i in chosen]
    director = StoryboardDirector()
    scripts = [director.direct(prompt, num_frames=frames) for _, (_, prompt) in stories]  # fails early
    if pipe is None:
        pipe = load_pipeline("shapes", device=device)
    pipe.set_progress_bar_config(disable=True)
    peer = text2video_zero_peer(pipe) if "t2vz_peer" in methods else None
    if peer is not None:
        peer.set_progress_bar_config(disable=True)
    if scorer is None:
        scorer = CLIPScorer.from_pretrained("shapes", device=device)
    frame_rows, video_rows, videos = [], [], {}
    jobs = [(k, s, m) for k in range(len(stories)) for s in seeds for m in methods]
    for k, seed, method in tqdm(jobs, desc="videos", disable=not progress):
        (index, (category, prompt)), script = stories[k], scripts[k]
        story_id = index if index is not None else k
        start = time.perf_counter()
        video = generate(pipe, peer, method, script, video_seed(story_id, seed), steps, guidance)
        seconds = time.perf_counter() - start
        per_frame, per_video = measure(video, script, scorer)
        key = dict(story=story_id, category=category, prompt=prompt, seed=seed, method=method)
        frame_rows += [{**key, **row} for row in per_frame]
        video_rows.append({**key, **per_video, "seconds": seconds})
        if keep_videos:
            videos[(story_id, seed, method)] = video
    settings = dict(steps=steps, frames=frames, guidance=guidance, seeds=list(seeds), methods=list(methods),
                    stories=[s for _, s in stories], dsf_quantile=DSF_QUANTILE, device=str(pipe.device))
    if keep_videos:
        settings["videos"] = videos
    return Results(frame_rows, video_rows, settings)


# ------------------------------------------------------------------ summaries
SUMMARY_METRICS = [  # (column of videos.csv, label, scale, digits, higher is better)
    ("clip_avg", "Avg. CLIP (frame prompts)", 1, 2, True),
    ("avg_dist", "Avg. Dist.", 1, 2, False),
    ("clip_user_avg", "Avg. CLIP (user prompt)", 1, 2, True),
    ("narrative_all", "Narrative: all attributes right (%)", 100, 1, True),
    ("narrative_count", "Narrative: object count right (%)", 100, 1, True),
    ("narrative_color", "Narrative: colours right (%)", 100, 1, True),
    ("narrative_shape", "Narrative: shapes right (%)", 100, 1, True),
    ("narrative_size", "Narrative: sizes right (%)", 100, 1, True),
    ("narrative_column_within_1", "Narrative: column within 1 (%)", 100, 1, True),
    ("narrative_row", "Narrative: rows right (%)", 100, 1, True),
    ("narrative_background", "Narrative: background right (%)", 100, 1, True),
    ("background_change", "Background change (x100)", 100, 2, False),
    ("clip_temp", "CLIP-Temp (x100)", 100, 2, True),
    ("warp_error", "Warping error (x100)", 100, 2, False),
    ("seconds", "Seconds per video", 1, 2, False),
]


def summarize(videos: list[dict], frames: list[dict], settings: dict) -> dict:
    """Per method: mean per-frame CLIP score, and each summary metric with a bootstrap 95 % interval over videos."""
    out = {}
    for method in settings["methods"]:
        vids = [v for v in videos if v["method"] == method]
        rows = [r for r in frames if r["method"] == method]
        per_frame = [float(np.mean([r["clip_frame"] for r in rows if r["frame"] == f]))
                     for f in range(1, settings["frames"] + 1)]
        metrics = {}
        for col, *_ in SUMMARY_METRICS:
            est, lo, hi = bootstrap_ci([float(v[col]) for v in vids], seed=0)
            metrics[col] = {"mean": est, "low": lo, "high": hi}
        out[method] = {"label": METHODS[method][0], "videos": len(vids), "clip_per_frame": per_frame,
                       "metrics": metrics}
    return out


def _fmt(x: float, digits: int) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def markdown_table(summary: dict, settings: dict) -> str:
    """Table 1's layout (a column per method, a row per frame, Avg., Avg. Dist.) and the other metrics."""
    methods = list(summary)
    head = "| | " + " | ".join(summary[m]["label"] for m in methods) + " |"
    rule = "| --- |" + " --- |" * len(methods)
    lines = [head, rule]
    for f in range(settings["frames"]):
        lines.append(f"| Frame {f + 1} | " + " | ".join(_fmt(summary[m]["clip_per_frame"][f], 2) for m in methods) + " |")
    for col, label, scale, digits, higher in SUMMARY_METRICS:
        cells = []
        for m in methods:
            s = summary[m]["metrics"][col]
            cells.append(f"{_fmt(s['mean'] * scale, digits)} [{_fmt(s['low'] * scale, digits)}, "
                         f"{_fmt(s['high'] * scale, digits)}]")
        arrow = "↑" if higher else "↓"
        lines.append(f"| {label} {arrow} | " + " | ".join(cells) + " |")
    n = summary[methods[0]]["videos"]
    note = (f"\n\nCLIP scores: 100 x max(cos, 0) with the shapes world's miniature CLIP, each frame against its own "
            f"frame prompt (the paper prints the cosine: 0.31 there is 31 here). Means over {n} videos per method "
            f"({len(settings['stories'])} stories x {len(settings['seeds'])} seeds), [bootstrap 95 % interval over "
            f"videos]. {settings['frames']} frames, {settings['steps']} PNDM steps, guidance {settings['guidance']}, "
            f"DSF quantile {settings['dsf_quantile']}, device {settings['device']}.")
    return "\n".join(lines) + note


# ------------------------------------------------------------------ files and command line
def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write(results: Results, out: str | os.PathLike, command: str = "") -> Path:
    """Write ``frames.csv``, ``videos.csv``, ``table.md`` and ``summary.json`` into ``out`` (each moved into place)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in results.settings.items() if k != "videos"}
    summary = summarize(results.videos, results.frames, settings)
    table = markdown_table(summary, settings)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        tmp = Path(tmp)
        _write_csv(tmp / "frames.csv", results.frames)
        _write_csv(tmp / "videos.csv", results.videos)
        (tmp / "table.md").write_text(f"Command: `{command}`\n\n{table}\n" if command else table + "\n")
        (tmp / "summary.json").write_text(json.dumps({"command": command, "settings": settings,
                                                      "summary": summary}, indent=2) + "\n")
        for name in ("frames.csv", "videos.csv", "table.md", "summary.json"):
            os.replace(tmp / name, out / name)
    return out


def read_videos(folder: str | os.PathLike) -> list[dict]:
    """``videos.csv`` of a finished run, numbers as floats."""
    with open(Path(folder) / "videos.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for k, v in row.items():
            if k not in ("category", "prompt", "method"):
                row[k] = float(v) if v not in ("", "nan") else float("nan")
        row["story"], row["seed"] = int(row["story"]), int(row["seed"])
    return rows


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def main(argv=None) -> Results:
    parser = argparse.ArgumentParser(prog="python -m direct2v.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"CI size: stories {QUICK_STORIES}, {QUICK['frames']} frames, {QUICK['steps']} steps, "
                             f"seed 0, methods {','.join(QUICK['methods'])}")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: direct2v/data/evaluation, or evaluation-quick with --quick)")
    parser.add_argument("--steps", type=int, default=None, help=f"PNDM steps (default {FULL['steps']}; paper 100)")
    parser.add_argument("--frames", type=int, default=None, help=f"frames per video (default {FULL['frames']})")
    parser.add_argument("--seeds", type=_ints, default=None, help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--methods", default=None, help=f"comma-separated, from {','.join(METHODS)}")
    parser.add_argument("--stories", type=_ints, default=None, help=f"comma-separated indices 0-{len(STORIES) - 1}")
    parser.add_argument("--guidance", type=float, default=GUIDANCE,
                        help=f"classifier-free guidance (default {GUIDANCE}; the paper's 12.0 over-saturates the miniature)")
    parser.add_argument("--model", default="shapes", help="pipeline folder or hub id (default: the shapes model)")
    parser.add_argument("--clip", default="shapes", help="CLIP folder or hub id (default: the miniature CLIP)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    steps = args.steps if args.steps is not None else size["steps"]
    frames = args.frames if args.frames is not None else size["frames"]
    seeds = args.seeds if args.seeds is not None else size["seeds"]
    methods = tuple(args.methods.split(",")) if args.methods else size["methods"]
    stories = args.stories if args.stories is not None else (QUICK_STORIES if args.quick else None)
    out = args.out or (Path("evaluation-quick") if args.quick else Path(__file__).parent / "data" / "evaluation")
    try:
        from .pipeline import load_pipeline
        from .runtime import pick_device

        device = pick_device(args.device)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"--methods {','.join(unknown)} is not allowed; use names from {','.join(METHODS)}")
        pipe = load_pipeline(args.model, device=device)
        scorer = CLIPScorer.from_pretrained(args.clip, device=device)
        results = run(pipe, scorer, stories, seeds, methods, steps, frames, args.guidance, device)
    except ValueError as err:
        parser.error(str(err))
    command = "python -m direct2v.evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write(results, out, command.strip())
    print(results.table())
    print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()

"""Replicate DirecT2V's Table 1 in the shapes world, with the metrics the paper lacks.

    python -m direct2v.evaluate [--quick] [--out DIR] [--steps 50] [--frames 8] [--seeds 0,1,2]
                                [--methods self,cross_frame,...] [--noise warm_start,independent] [--batch 8]
                                [--dsf-study [--sweep-quantiles 0,0.05,...] [--sweep-starts 0,0.02,...]]
                                [--device auto]

A fixed set of shapes-world stories (``STORIES``: motion, appearance, growth, colour change,
day to night, two objects) goes through the storyboard director, then through the pipeline once
per seed with every frame-interaction method of the paper's comparison (``METHODS``): per-frame
self-attention, Text2Video-Zero's cross-frame attention (frame 1), Tune-A-Video's sparse-causal
attention (frame 1 and the previous frame), random value mapping, RVM, RVM + DSF, each on the
authors' layers (:func:`authors_layers`, ``MAPPED_LEVELS``: the two highest-resolution decoder levels, as the
released code maps SD 1.5's ``up_blocks.2-3``); RVM on every self-attention layer (the ablation row ``rvm_all``); and
the single-prompt Text2Video-Zero peer (diffusers' ``TextToVideoZeroPipeline`` on the same weights,
the paper's Figs. 2 and 5). Videos of one (noise, method) go through the UNet ``--batch`` at a time
(:meth:`~direct2v.pipeline.DirecT2VPipeline.videos`; frames of different videos never interact).

The peer gets one prompt for every frame: the storyboard's *first frame caption*, not the user's
prompt. The miniature model was trained on canonical captions only; the user's story prompt
("a red ball moves from left to right") holds words it never saw in training, so the peer would be
judged on a prompt it cannot read. The first caption is what a single-prompt method could best be
given, and matches the paper's point: T2V-Z with one prompt keeps showing that prompt.

Every method starts from the same noise for the same (story, seed) and uses the pipeline's defaults
otherwise (PNDM, mapping from 4 % of the steps, motion dynamics off as in the paper's section 4.1),
so differences between methods are paired. Two noise settings (``NOISES``, ``--noise``): the paper's
Text2Video-Zero warm start (every frame starts from frame 1's latent, re-noised), and independent
noise per frame, where nothing but the attention ties the frames together. The single-prompt peer
has no independent-noise form and runs under the warm start only. Guidance is the miniature's own
1.5, not the paper's 12.0 (see ``GUIDANCE``).

Per video: the CLIP score (0-100) of every frame against its own frame prompt and against the user
prompt, Avg. Dist., CLIP-Temp, warping error, narrative accuracy, background change, identity and
decoration consistency (the unnamed pattern and decorations of the shapes world, version 2), the
share of frames where an object that appears, disappears or changes colour is shown as the
storyboard says, and seconds; see :mod:`direct2v.metrics`. Written to ``--out``:
``frames.csv`` (story x seed x noise x method x frame; per storyboard object ``obj<k>``: the colour
it should show or ``absent``, the colour seen, and whether they agree), ``videos.csv`` (story x seed
x noise x method), ``table.md`` and ``summary.json`` (the command, the settings and the numbers):
per noise setting, Table 1's layout plus the other metrics with 95 % intervals of a cluster
bootstrap over stories (every seed of a drawn story kept: seeds of one story are not independent),
Avg. Dist. as the paper computes it (on the per-frame means), every method's paired difference to
per-frame self-attention and to cross-frame attention (the same story, seed and noise), the same
differences for the global-change stories (day to night) apart from the rest (``SCOPES``), and a
table per story kind.
:func:`committed` reads the committed numbers back for the book.

``--dsf-study`` asks where DSF should matter: RVM against RVM + DSF on the stories in which an
object appears, disappears or changes colour (``DSF_STORIES``), then a sweep of the DSF quantile
and of the step where value mapping starts on ``SWEEP_STORIES`` (``sweep.csv``, ``sweep.md``).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import (CLIPScorer, NARRATIVE_KEYS, as_video, avg_dist, background_change, clip_temp,
                      cluster_bootstrap_ci, decoration_consistency, identity_consistency, narrative_accuracy,
                      paired_cluster_bootstrap_ci, video_avg_dist, warping_error)
from .runtime import atomic_paths
from .attention import authors_layers
from .settings import PAPER_INTERACTION
from .miniature.model import GUIDANCE as SHAPES_GUIDANCE

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

DSF_QUANTILE = PAPER_INTERACTION["dsf_quantile"]
GUIDANCE = SHAPES_GUIDANCE
"""Classifier-free guidance of the runs. The paper uses 12.0 with Stable Diffusion; the shapes miniature at 12.0
paints wrong, over-saturated colours (a red ball comes out yellow or blue), so it is evaluated at the scale its
own quality bars were measured at (``direct2v.miniature.model.GUIDANCE``)."""
AUTHORS = "authors"
"""``attention_layers`` of a row in ``METHODS`` that :func:`generate_batch` replaces by :func:`authors_layers`."""
METHODS: dict[str, tuple[str, dict | None]] = {  # name -> (label, pipeline arguments; None: the peer)
    "self": ("Self-attn", dict(attention="self")),
    "cross_frame": ("T2V-Z attn", dict(attention="cross_frame", attention_layers=AUTHORS)),
    "sparse_causal": ("TAV attn", dict(attention="sparse_causal", attention_layers=AUTHORS)),
    "random": ("Random VM", dict(attention="random", attention_layers=AUTHORS)),
    "rvm": ("RVM", dict(attention="rvm", attention_layers=AUTHORS)),
    "rvm_dsf": ("RVM+DSF", dict(attention="rvm", dsf_quantile=DSF_QUANTILE, attention_layers=AUTHORS)),
    "rvm_all": ("RVM, all layers", dict(attention="rvm")),
    "t2vz_peer": ("T2V-Z, 1 prompt", None),
}
"""The rows of the table. Every row but ``rvm_all`` (the ablation: every self-attention layer, as the paper's
text reads) and the peer (diffusers' Text2Video-Zero, which swaps every attention layer) maps the authors' layers
(:func:`authors_layers`)."""
QUICK = dict(steps=20, frames=4, seeds=(0,), methods=("self", "cross_frame", "rvm"))
FULL = dict(steps=50, frames=8, seeds=(0, 1, 2), methods=tuple(METHODS))
"""The full table: 50 PNDM steps (the paper: 100, with value mapping on the last 96; here 48 of 50), 8 frames,
seeds 0-2, every row, both noise settings."""
BATCH = 8
"""Videos per UNet call (:meth:`direct2v.pipeline.DirecT2VPipeline.videos`): frames of different videos never
interact, so this changes the speed only (the videos agree with one-at-a-time generation to float rounding)."""
GLOBAL_KINDS = ("day to night",)
"""Story kinds whose change is global (the whole scene's light changes); each headline is reported for these
apart from the rest, where one object moves, appears, grows or changes colour and the scene stays."""
SCOPES = {"global change": GLOBAL_KINDS, "local change": None}
MIN_STORIES = 3
"""Fewest stories for a verdict: with fewer clusters a bootstrap has too few distinct resamples to describe the
uncertainty (two stories give at most three), so the sentences and the claims table say "too few stories"."""
"""The two groups of story kinds of the headline (None: every kind not in another group)."""


NOISES = ("warm_start", "independent")
"""Initial-noise settings (``pipe(noise=...)``): the paper's Text2Video-Zero warm start, and independent
noise per frame, where only the attention ties the frames together."""
NOISE_LABELS = {"warm_start": "the paper's warm start, every frame from frame 1's latent",
                "independent": "independent noise per frame"}
REFERENCES = ("self", "cross_frame")
"""Every method's paired difference is taken to these: no frame interaction, and Text2Video-Zero's."""
KINDS = tuple(dict.fromkeys(c for c, _ in STORIES))
CHANGES = ("appear", "disappear", "color")
"""Storyboard events that make an object's presence or colour change within a story."""
DSF_STORIES = (6, 7, 8, 9, 13, 14, 15, 21, 22)
"""The stories in which an object appears, disappears or changes colour (where DSF should matter)."""
SWEEP_STORIES = (6, 9, 13, 21)   # appears, disappears, turns colour, turns colour beside another object
SWEEP_QUANTILES = (0.0, 0.05, 0.1, 0.2, 0.4)
SWEEP_STARTS = (0.0, 0.02, 0.04, 0.1, 0.2)
"""Mapping starts of the sweep, as fractions of the steps (the paper: 4 of 100)."""
DEFAULT_START = PAPER_INTERACTION["mapping_fraction"]   # the pipeline's default mapping start: the paper's 4 of 100


@dataclass
class Results:
    """What a run produced: one dict per frame and per video, and the settings."""

    frames: list[dict]
    videos: list[dict]
    settings: dict

    def summary(self, noise: str | None = None) -> dict:
        """Per method, under ``noise`` (default: the first noise setting of the run)."""
        return summarize(self.videos, self.frames, self.settings, noise)

    def table(self) -> str:
        settings = {k: v for k, v in self.settings.items() if k != "videos"}
        return report(record(self.videos, self.frames, settings))


def video_seed(story: int, seed: int) -> int:
    """The generator seed of (story, seed): the same for every method, so comparisons are paired."""
    return 1000 * seed + story


def generate(pipe, peer, method: str, script, seed: int, steps: int, guidance: float,
             noise: str = "warm_start", **overrides) -> np.ndarray:
    """One video (F, H, W, 3) uint8 of ``script`` by ``method``; same noise for every method.

    ``noise``: the pipeline's initial noise (``NOISES``); ``overrides``: pipeline arguments that replace
    the method's (the sweep's ``dsf_quantile``, ``mapping_start``).
    """
    return generate_batch(pipe, peer, method, [script], [seed], steps, guidance, noise, **overrides)[0]


def generate_batch(pipe, peer, method: str, scripts, seeds, steps: int, guidance: float,
                   noise: str = "warm_start", **overrides) -> list[np.ndarray]:
    """:func:`generate` for several (script, seed) pairs, their frames in one UNet batch (the pipeline's
    :meth:`~direct2v.pipeline.DirecT2VPipeline.videos`); the peer renders them one by one."""
    import torch

    from .pipeline import warm_start_steps

    args = METHODS[method][1]
    if args is not None:
        if args.get("attention_layers") == AUTHORS:
            args = {**args, "attention_layers": authors_layers(pipe.unet)}
        out = pipe.videos([s.frames for s in scripts], list(seeds), num_inference_steps=steps, guidance_scale=guidance,
                          output_type="np", noise=noise, **{**args, **overrides})
        return [as_video(v) for v in out]
    if noise != "warm_start" or overrides:
        raise ValueError(f"method='t2vz_peer' runs with noise='warm_start' and no overrides only, not noise={noise!r}")
    t0, t1 = warm_start_steps(steps)
    return [as_video(np.asarray(peer(script.frames[0], video_length=len(script.frames), num_inference_steps=steps,
                                     guidance_scale=guidance, t0=t0, t1=t1, motion_field_strength_x=0,
                                     motion_field_strength_y=0, output_type="np",
                                     generator=torch.Generator("cpu").manual_seed(seed)).images))
            for script, seed in zip(scripts, seeds)]


def story_tracks(script) -> list[dict]:
    """The storyboard's objects of ``script`` and, per frame, the colour each should show (None: absent).

    Each: ``name`` ("red square", its first colour), ``shape``, ``changes`` (it appears, disappears or
    changes colour: ``CHANGES``) and ``slots`` (per frame, its index in ``script.scenes[f].objects``, or None).
    The storyboard lists a frame's visible objects in track order, so each is found by its shape.
    """
    from .director import StoryboardDirector

    tracks = StoryboardDirector().plan(script.prompt)[0]
    out = [dict(name=f"{t.color} {t.shape}", shape=t.shape, color=t.color, slots=[],
                changes=any(e.kind in CHANGES for e in t.events),
                recolours=any(e.kind == "color" for e in t.events)) for t in tracks]
    for f, scene in enumerate(script.scenes):
        objs, i = scene.objects, 0
        for track in out:
            here = i < len(objs) and objs[i].shape == track["shape"] and \
                (track["recolours"] or objs[i].color == track["color"])
            track["slots"].append(i if here else None)
            i += here
        if i != len(objs):
            raise ValueError(f"frame {f + 1} of {script.prompt!r} holds objects the storyboard's tracks do not explain")
    return out


def object_verdicts(detection, scene, tracks, f: int) -> list[tuple[str, str]]:
    """Per track: (colour it should show or "absent", colour seen or "absent") in frame ``f``.

    A present object is the detection :func:`~direct2v.world.detect.match` pairs with it, when it has
    the track's shape; an absent one is seen when a detection left unpaired has its shape.
    """
    from .world.detect import match

    paired = match(detection, scene)
    unpaired = [d for d in detection.objects if all(d is not p for p in paired)]
    out = []
    for track in tracks:
        slot = track["slots"][f]
        if slot is not None:
            expected, d = scene.objects[slot].color, paired[slot]
            seen = d.color if d is not None and d.shape == track["shape"] else "absent"
        else:
            expected = "absent"
            seen = next((d.color for d in unpaired if d.shape == track["shape"]), "absent")
        out.append((expected, seen))
    return out


def measure(video: np.ndarray, script, scorer: CLIPScorer) -> tuple[list[dict], dict]:
    """Per-frame and per-video metrics of one generated video of ``script``."""
    from .world.detect import detect, judge

    images = scorer.embed_images(video)
    per_frame = CLIPScorer.scores_from_embeddings(images, scorer.embed_texts(script.frames))
    per_user = CLIPScorer.scores_from_embeddings(images, scorer.embed_texts([script.prompt]))
    detections = [detect(frame) for frame in video]
    verdicts = [judge(d, scene) for d, scene in zip(detections, script.scenes)]
    tracks = story_tracks(script)
    frames, events = [], []
    for f, verdict in enumerate(verdicts):
        row = {"frame": f + 1, "frame_prompt": script.frames[f], "clip_frame": float(per_frame[f]),
               "clip_user": float(per_user[f])}
        row.update({f"narrative_{k}": ("" if verdict[k] is None else int(bool(verdict[k]))) for k in NARRATIVE_KEYS})
        right = []
        for k, (track, (expected, seen)) in enumerate(zip(tracks, object_verdicts(detections[f], script.scenes[f],
                                                                                 tracks, f)), 1):
            row.update({f"obj{k}": track["name"], f"obj{k}_expected": expected, f"obj{k}_seen": seen,
                        f"obj{k}_right": int(expected == seen)})
            if track["changes"]:
                right.append(expected == seen)
        row["event_right"] = float(np.mean(right)) if right else ""
        events += [float(np.mean(right))] if right else []
        frames.append(row)
    accuracy = narrative_accuracy(verdicts=verdicts)
    several = len(video) > 1
    video_row = {"clip_avg": float(per_frame.mean()), "clip_user_avg": float(per_user.mean()),
                 "video_avg_dist": video_avg_dist(per_frame) if several else float("nan"),
                 "clip_temp": float(clip_temp(images).mean()) if several else float("nan"),
                 "warp_error": warping_error(video) if several else float("nan"),
                 "background_change": background_change(video, script.scenes) if several else float("nan"),
                 "identity_consistency": identity_consistency(video, script.scenes, detections) if several else float("nan"),
                 "decoration_consistency": decoration_consistency(video, script.scenes, detections)
                 if several else float("nan"),
                 "event_accuracy": float(np.mean(events)) if events else float("nan")}
    video_row.update({f"narrative_{k}": v for k, v in accuracy.items()})
    return frames, video_row


def _check(methods, steps, frames, seeds, noises, stories):
    """Validate a run's settings before any heavy work; return the chosen stories as (index, (kind, prompt))."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r} is not allowed; use names from {list(METHODS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps={steps!r} is not allowed; use an integer >= 2 (the warm start needs 2)")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames={frames!r} is not allowed; use an integer >= 2 (Avg. Dist. compares frames)")
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds={seeds!r} is not allowed; use a non-empty list of integers >= 0")
    if isinstance(noises, str) or not noises or any(n not in NOISES for n in noises):
        raise ValueError(f"noises={noises!r} is not allowed; use a non-empty list of names from {list(NOISES)}")
    chosen = list(range(len(STORIES))) if stories is None else list(stories)
    for i in chosen:
        if isinstance(i, int) and not 0 <= i < len(STORIES):
            raise ValueError(f"story index {i} is not allowed; use 0 to {len(STORIES) - 1}")
    return [(i, STORIES[i]) if isinstance(i, int) else (None, tuple(i)) for i in chosen]


def _load(pipe, scorer, device):
    from .pipeline import load_pipeline

    if pipe is None:
        pipe = load_pipeline("shapes", device=device)
    pipe.set_progress_bar_config(disable=True)
    if scorer is None:
        scorer = CLIPScorer.from_pretrained("shapes", device=device)
    return pipe, scorer


def run(pipe=None, scorer=None, stories=None, seeds=(0,), methods=("self", "rvm"), steps: int = 50,
        frames: int = 8, guidance: float = GUIDANCE, device=None, progress: bool = True,
        keep_videos: bool = False, noises=("warm_start",), batch: int = BATCH) -> Results:
    """Generate and measure every (story, seed, noise, method); see the module docstring.

    ``stories``: indices into ``STORIES`` (None: all) or (category, prompt) pairs. ``pipe``/``scorer``:
    a loaded ``DirecT2VPipeline`` and :class:`~direct2v.metrics.CLIPScorer` (None: the shapes model's).
    ``noises``: initial-noise settings from ``NOISES`` (the peer runs under ``warm_start`` only).
    ``batch``: videos per UNet call (one (noise, method) at a time; the speed only). ``seconds`` of a
    video is its share of its batch's time. ``keep_videos``: also return the videos
    (``settings["videos"][(story, seed, method, noise)]``).
    """
    from .settings import check_int

    check_int("batch", batch, 1)
    from tqdm.auto import tqdm

    from .director import StoryboardDirector
    from .pipeline import text2video_zero_peer

    stories = _check(methods, steps, frames, seeds, noises, stories)
    director = StoryboardDirector()
    scripts = [director.direct(prompt, num_frames=frames) for _, (_, prompt) in stories]  # fails early
    pipe, scorer = _load(pipe, scorer, device)
    peer = text2video_zero_peer(pipe) if "t2vz_peer" in methods and "warm_start" in noises else None
    if peer is not None:
        peer.set_progress_bar_config(disable=True)
    frame_rows, video_rows, videos = {}, {}, {}
    units = [(k, s) for k in range(len(stories)) for s in seeds]
    chunks = [(n, m, units[i:i + batch]) for n in noises for m in methods if not (m == "t2vz_peer" and n != "warm_start")
              for i in range(0, len(units), batch)]
    bar = tqdm(total=sum(len(c) for *_, c in chunks), desc="videos", disable=not progress)
    for noise, method, chunk in chunks:
        ids = [stories[k][0] if stories[k][0] is not None else k for k, _ in chunk]
        start = time.perf_counter()
        made = generate_batch(pipe, peer, method, [scripts[k] for k, _ in chunk],
                              [video_seed(i, seed) for i, (_, seed) in zip(ids, chunk)], steps, guidance, noise)
        seconds = (time.perf_counter() - start) / len(chunk)
        for story_id, (k, seed), video in zip(ids, chunk, made):
            category, prompt = stories[k][1]
            per_frame, per_video = measure(video, scripts[k], scorer)
            key = dict(story=story_id, category=category, prompt=prompt, seed=seed, method=method, noise=noise)
            order = (k, seed, noise, method)
            frame_rows[order] = [{**key, **row} for row in per_frame]
            video_rows[order] = {**key, **per_video, "seconds": seconds}
            if keep_videos:
                videos[(story_id, seed, method, noise)] = video
        bar.update(len(chunk))
    bar.close()
    rank = {**{n: i for i, n in enumerate(noises)}, **{m: i for i, m in enumerate(methods)}}
    order = sorted(video_rows, key=lambda o: (o[0], o[1], rank[o[2]], rank[o[3]]))   # story, seed, noise, method
    frame_rows = [r for o in order for r in frame_rows[o]]
    video_rows = [video_rows[o] for o in order]
    settings = dict(steps=steps, frames=frames, guidance=guidance, seeds=list(seeds), methods=list(methods),
                    noises=list(noises), stories=[s for _, s in stories], dsf_quantile=DSF_QUANTILE,
                    layers=list(authors_layers(pipe.unet)), batch=batch, device=str(pipe.device))
    if keep_videos:
        settings["videos"] = videos
    return Results(frame_rows, video_rows, settings)


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


# ------------------------------------------------------------------ DSF study: where should DSF matter?
def sweep_configs(quantiles=SWEEP_QUANTILES, starts=SWEEP_STARTS, steps: int = 50) -> list[tuple[float, int, float]]:
    """(dsf_quantile, mapping_start in steps, its fraction) of the sweep: every quantile at the paper's
    start (4 % of the steps), every start at the default quantile; repeats (equal steps) dropped."""
    configs = [(float(q), DEFAULT_START) for q in quantiles] + [(DSF_QUANTILE, float(s)) for s in starts]
    out, seen = [], set()
    for q, frac in configs:
        key = (q, round(frac * steps))
        if key not in seen:
            seen.add(key)
            out.append((q, key[1], frac))
    return out


def sweep(pipe=None, scorer=None, stories=SWEEP_STORIES, seeds=(0,), quantiles=SWEEP_QUANTILES,
          starts=SWEEP_STARTS, steps: int = 50, frames: int = 8, guidance: float = GUIDANCE, device=None,
          noises=("warm_start",), progress: bool = True) -> list[dict]:
    """RVM + DSF on ``stories`` for every :func:`sweep_configs` entry: one row per (story, seed, noise,
    config) with the video metrics of :func:`measure`. The noise of a (story, seed) is the same in every
    config, so the configs' differences are paired."""
    from tqdm.auto import tqdm

    from .director import StoryboardDirector

    chosen = _check(("rvm_dsf",), steps, frames, seeds, noises, stories)
    quantiles, starts = _fractions(quantiles, "quantiles"), _fractions(starts, "starts")
    director = StoryboardDirector()
    scripts = [director.direct(prompt, num_frames=frames) for _, (_, prompt) in chosen]
    pipe, scorer = _load(pipe, scorer, device)
    configs = sweep_configs(quantiles, starts, steps)
    jobs = [(k, s, n, c) for k in range(len(chosen)) for s in seeds for n in noises for c in configs]
    rows = []
    for k, seed, noise, (q, start_step, frac) in tqdm(jobs, desc="sweep", disable=not progress):
        (index, (category, prompt)), script = chosen[k], scripts[k]
        story_id = index if index is not None else k
        begin = time.perf_counter()
        video = generate(pipe, None, "rvm_dsf", script, video_seed(story_id, seed), steps, guidance, noise,
                         dsf_quantile=q, mapping_start=start_step)
        seconds = time.perf_counter() - begin
        _, per_video = measure(video, script, scorer)
        rows.append(dict(story=story_id, category=category, prompt=prompt, seed=seed, noise=noise,
                         dsf_quantile=q, mapping_start=start_step, mapping_start_fraction=frac, steps=steps,
                         **per_video, seconds=seconds))
    return rows


def _fractions(values, name: str) -> tuple[float, ...]:
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in values):
        raise ValueError(f"{name}={values!r} is not allowed; use a non-empty list of numbers in [0, 1]")
    return values


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


# ------------------------------------------------------------------ files and command line
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


COMMITTED = Path(__file__).parent / "data" / "evaluation"


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


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _noises(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [n for n in names if n not in NOISES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; use a comma-separated list from {','.join(NOISES)}")
    return names


def _unit_floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        values = ()
    if not values or not all(0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; use comma-separated numbers in [0, 1], "
                                         "e.g. 0,0.05,0.1")
    return values


def main(argv=None) -> Results:
    parser = argparse.ArgumentParser(prog="python -m direct2v.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"CI size: stories {QUICK_STORIES}, {QUICK['frames']} frames, {QUICK['steps']} steps, "
                             f"seed 0, methods {','.join(QUICK['methods'])}")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: direct2v/data/evaluation, or evaluation-quick with --quick; "
                             "direct2v/data/dsf-study or dsf-study-quick with --dsf-study)")
    parser.add_argument("--steps", type=int, default=None, help=f"PNDM steps (default {FULL['steps']}; paper 100)")
    parser.add_argument("--frames", type=int, default=None, help=f"frames per video (default {FULL['frames']})")
    parser.add_argument("--seeds", type=_ints, default=None, help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--methods", default=None, help=f"comma-separated, from {','.join(METHODS)}")
    parser.add_argument("--stories", type=_ints, default=None, help=f"comma-separated indices 0-{len(STORIES) - 1}")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"videos per UNet call (default {BATCH}; the speed only, not the videos)")
    parser.add_argument("--noise", type=_noises, default=NOISES,
                        help=f"comma-separated initial-noise settings (default {','.join(NOISES)})")
    parser.add_argument("--dsf-study", action="store_true",
                        help=f"RVM against RVM+DSF on stories {','.join(map(str, DSF_STORIES))} (an object appears, "
                             f"disappears or changes colour), then the DSF sweep on stories "
                             f"{','.join(map(str, SWEEP_STORIES))} (sweep.csv, sweep.md)")
    parser.add_argument("--sweep-stories", type=_ints, default=None,
                        help=f"stories of the sweep (default {','.join(map(str, SWEEP_STORIES))})")
    parser.add_argument("--sweep-quantiles", type=_unit_floats, default=SWEEP_QUANTILES,
                        help=f"DSF quantiles of the sweep (default {','.join(map(str, SWEEP_QUANTILES))})")
    parser.add_argument("--sweep-starts", type=_unit_floats, default=SWEEP_STARTS,
                        help="mapping starts of the sweep, fractions of the steps "
                             f"(default {','.join(map(str, SWEEP_STARTS))})")
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
    study = "dsf-study" if args.dsf_study else "evaluation"
    default_methods = ("rvm", "rvm_dsf") if args.dsf_study else size["methods"]
    methods = tuple(args.methods.split(",")) if args.methods else default_methods
    if args.stories is not None:
        stories = args.stories
    elif args.dsf_study:
        stories = DSF_STORIES[:2] if args.quick else DSF_STORIES
    else:
        stories = QUICK_STORIES if args.quick else None
    sweep_stories = args.sweep_stories if args.sweep_stories is not None else \
        (SWEEP_STORIES[:1] if args.quick else SWEEP_STORIES)
    out = args.out or (Path(f"{study}-quick") if args.quick else Path(__file__).parent / "data" / study)
    try:
        from .pipeline import load_pipeline
        from .runtime import pick_device

        device = pick_device(args.device)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"--methods {','.join(unknown)} is not allowed; use names from {','.join(METHODS)}")
        _check(methods, steps, frames, seeds, args.noise, stories)
        if args.batch < 1:
            raise ValueError(f"--batch {args.batch} is not allowed; use an integer >= 1")
        if args.dsf_study:
            _check(("rvm_dsf",), steps, frames, seeds, args.noise, sweep_stories)
        pipe = load_pipeline(args.model, device=device)
        scorer = CLIPScorer.from_pretrained(args.clip, device=device)
        results = run(pipe, scorer, stories, seeds, methods, steps, frames, args.guidance, device,
                      noises=args.noise, batch=args.batch)
        rows = sweep(pipe, scorer, sweep_stories, seeds, args.sweep_quantiles, args.sweep_starts, steps, frames,
                     args.guidance, device, args.noise) if args.dsf_study else None
    except ValueError as err:
        parser.error(str(err))
    command = "python -m direct2v.evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write(results, out, command.strip())
    print(results.table())
    if rows is not None:
        write_sweep(rows, out)
        print(sweep_table(rows))
    print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()

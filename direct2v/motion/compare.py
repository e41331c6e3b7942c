"""Does the tuned model move things? Few-shot tuning versus its baseline versus zero-shot DirecT2V.

    python -m direct2v.motion.compare --recurrent DIR_OR_FILE --sparse-causal DIR_OR_FILE --out table.md

Every method gets the same user prompt, e.g. "a medium purple triangle moves from far left to far
right, night background", on held-out clips (:func:`direct2v.motion.data.heldout_clips`: seen
objects and backgrounds, a new object, a new background, both new):

- ``recurrent`` (CS236 report): the one prompt on every frame, recurrent causal attention, tuned
  weights; with each initial-noise strategy of section 3.3 (``independent``, ``shared``,
  ``autoregressive``, variance kept at 1), and autoregressive noise as the report writes it
  (``autoregressive_unnormalised``: its variance falls towards 1/3, :mod:`direct2v.noise`).
- ``sparse_causal``: Tune-A-Video's attention with its tuned weights, the same one prompt.
- ``untuned``: the pretrained model with the one prompt and cross-frame attention to frame 1 (what
  the recurrent model is before its first step).
- ``direct2v``: zero-shot DirecT2V: the storyboard director's per-frame prompts, RVM, the
  pipeline's defaults (warm start), no tuning.

Metrics per video, averaged per method and condition: **motion** (the detector finds the object of
the prompt's colour in each frame and its column is within one of the storyboard's: fraction of
frames), **monotone** (fraction of adjacent frame pairs whose detected centre moves the right way
by more than 1 px), **video ok** (every frame within one column), **object kept** / **background
kept** (the prompt's colour and shape / background detected, fraction of frames), **per-frame
correct** (narrative accuracy ``all``: every attribute of the storyboard's frame right), CLIP-Temp
(x100) and warping error (:mod:`direct2v.metrics`).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tqdm.auto import tqdm

from ..metrics import CLIPScorer, narrative_accuracy, warping_error
from ..noise import sample_noise
from ..runtime import atomic_path, pick_device
from ..settings import model_settings
from ..video import as_frames
from ..world.detect import detect
from ..world.world import COLUMNS
from .data import CONDITIONS, MOTIONS, MotionClip, heldout_clips
from .train import WEIGHTS, load_motion

GUIDANCE = model_settings("shapes")["guidance_scale"]
"""Classifier-free guidance of the comparison: the miniature's own (its ``direct2v.json``)."""

METRICS = ("motion", "monotone", "video_ok", "object_kept", "background_kept", "per_frame_correct", "clip_temp",
           "warping_error")
HEADERS = {"motion": "motion (col ±1)", "monotone": "monotone", "video_ok": "video ok", "object_kept": "object kept",
           "background_kept": "background kept", "per_frame_correct": "per-frame correct",
           "clip_temp": "CLIP-Temp", "warping_error": "warping error"}
NOISES = ("independent", "shared", "autoregressive", "autoregressive_unnormalised")
"""Initial noise of the tuned models: :mod:`direct2v.noise`'s samplers (variance kept at 1), and the report's
autoregressive formula without the rescaling (the same draws, only not rescaled)."""


def generate(pipe, clip: MotionClip, method: str, weights=None, noise: str = "independent", noise_weight: float = 0.5,
             steps: int = 25, guidance_scale: float = GUIDANCE, seed: int = 0) -> np.ndarray:
    """One video (F, 64, 64, 3) uint8 for ``clip``'s prompt by ``method``; see the module docstring.

    ``weights``: :class:`~direct2v.motion.train.MotionWeights` for ``recurrent`` and ``sparse_causal``.
    """
    num_frames = len(clip.scenes)
    common = dict(num_inference_steps=steps, guidance_scale=guidance_scale, output_type="np",
                  generator=torch.Generator("cpu").manual_seed(seed))
    if method == "direct2v":
        frames = pipe(clip.frame_captions, attention="rvm", **common).frames
    elif method == "untuned":
        frames = pipe(clip.prompt, num_frames=num_frames, attention="cross_frame", noise=noise,
                      noise_weight=noise_weight, **common).frames
    elif method in ("recurrent", "sparse_causal"):
        if weights is None or weights.method != method:
            raise ValueError(f"method={method!r} needs its tuned weights, got {weights!r}")
        if noise not in NOISES:
            raise ValueError(f"noise={noise!r} is not allowed for tuned models; use one of {NOISES}")
        latents = None
        if noise == "autoregressive_unnormalised":   # the report's formula: pass the latents ourselves
            shape = (pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size)
            latents = sample_noise("autoregressive", num_frames, shape, noise_weight, common["generator"],
                                   normalize=False) * pipe.scheduler.init_noise_sigma
            noise = "autoregressive"
        with weights.applied(pipe.unet, num_frames) as attention:
            frames = pipe(clip.prompt, num_frames=num_frames, attention=attention, noise=noise,
                          noise_weight=noise_weight, latents=latents, **common).frames
    else:
        raise ValueError(f"method={method!r} is not allowed; use 'recurrent', 'sparse_causal', 'untuned' or 'direct2v'")
    return as_frames(frames)


def _target(detection, clip: MotionClip):
    objs = [o for o in detection.objects if o.color == clip.color]
    return max(objs, key=lambda o: o.area) if objs else None


def motion_scores(video: np.ndarray, clip: MotionClip) -> dict[str, float]:
    """Detector-based scores of one video against its clip's storyboard (module docstring)."""
    index = {c: i for i, c in enumerate(COLUMNS)}
    dets = [detect(frame) for frame in video]
    targets = [_target(d, clip) for d in dets]
    truths = [s.objects[0] for s in clip.scenes]
    within = [t is not None and abs(index[t.column] - index[s.column]) <= 1 for t, s in zip(targets, truths)]
    moves = []
    for a, b, sa, sb in zip(targets, targets[1:], truths, truths[1:]):
        want = np.sign(sb.center[0] - sa.center[0])
        moves.append(a is not None and b is not None and (want == 0 or want * (b.cx - a.cx) > 1.0))
    return {
        "motion": float(np.mean(within)),
        "monotone": float(np.mean(moves)) if moves else float("nan"),
        "video_ok": float(all(within)),
        "object_kept": float(np.mean([t is not None and t.shape == clip.shape for t in targets])),
        "background_kept": float(np.mean([d.background == clip.background for d in dets])),
    }


def score_video(video: np.ndarray, clip: MotionClip, scorer=None) -> dict[str, float]:
    """All metrics of one video; ``scorer``: a :class:`direct2v.metrics.CLIPScorer` (CLIP-Temp skipped if None)."""
    out = motion_scores(video, clip)
    out["per_frame_correct"] = narrative_accuracy(video, clip.scenes)["all"]
    out["clip_temp"] = 100 * scorer.clip_temp(video) if scorer is not None else float("nan")
    out["warping_error"] = warping_error(video)
    return out


def evaluate(pipe, clips, runs: dict, steps: int = 25, guidance_scale: float = GUIDANCE, seed: int = 0,
             scorer=None, progress: bool = True, keep_videos: bool = False, noise_weight: float = 0.5):
    """Score every run on every clip. ``runs``: name -> (method, weights, noise). Returns (rows, videos).

    ``rows``: one dict per (run, clip) with the clip's condition and the metrics of :func:`score_video`.
    """
    rows, videos = [], {}
    bar = tqdm(total=len(runs) * len(clips), desc="evaluate", disable=not progress, dynamic_ncols=True)
    for name, (method, weights, noise) in runs.items():
        for i, clip in enumerate(clips):
            video = generate(pipe, clip, method, weights, noise, noise_weight, steps, guidance_scale, seed + i)
            rows.append({"run": name, "clip": i, "condition": clip.condition, "prompt": clip.prompt,
                         **score_video(video, clip, scorer)})
            if keep_videos:
                videos[(name, i)] = video
            bar.update()
    bar.close()
    return rows, videos


def summarize(rows, conditions=CONDITIONS) -> dict:
    """Mean of every metric per run and condition (and ``all``): ``{run: {condition: {metric: value}}}``."""
    out = {}
    for run in dict.fromkeys(r["run"] for r in rows):
        out[run] = {}
        for condition in (*conditions, "all"):
            sel = [r for r in rows if r["run"] == run and (condition == "all" or r["condition"] == condition)]
            if sel:
                out[run][condition] = {m: float(np.nanmean([r[m] for r in sel])) for m in METRICS}
                out[run][condition]["videos"] = len(sel)
    return out


def markdown_table(summary: dict, condition: str = "all", metrics=METRICS) -> str:
    """One markdown table: a row per run, a column per metric, for ``condition``."""
    head = "| run | videos | " + " | ".join(HEADERS[m] for m in metrics) + " |"
    rule = "| --- | ---: | " + " | ".join("---:" for _ in metrics) + " |"
    lines = [head, rule]
    for run, by in summary.items():
        if condition in by:
            s = by[condition]
            cells = [f"{s[m]:.1f}" if m == "clip_temp" else f"{s[m]:.4f}" if m == "warping_error" else f"{s[m]:.2f}"
                     for m in metrics]
            lines.append(f"| {run} | {s['videos']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def generalisation_table(summary: dict, metrics=("motion", "object_kept", "background_kept")) -> str:
    """Rows: runs; columns: each metric under each condition (the report's generalisation question)."""
    conds = [c for c in CONDITIONS if any(c in by for by in summary.values())]
    head = "| run | " + " | ".join(f"{HEADERS[m]}: {c}" for m in metrics for c in conds) + " |"
    lines = [head, "| --- | " + " | ".join("---:" for _ in metrics for _ in conds) + " |"]
    for run, by in summary.items():
        lines.append(f"| {run} | " + " | ".join(f"{by[c][m]:.2f}" if c in by else "" for m in metrics for c in conds) + " |")
    return "\n".join(lines)


def _weights(path, method):
    path = Path(path)
    weights = load_motion(path / "motion.safetensors" if path.is_dir() else path)
    if weights.method != method:
        raise ValueError(f"{path} holds {weights.method!r} weights, not {method!r}")
    return weights


def main(argv=None) -> None:
    from ..pipeline import load_pipeline  # the pipeline (diffusers' pipelines, transformers): when the command runs

    parser = argparse.ArgumentParser(prog="python -m direct2v.motion.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recurrent", default=str(WEIGHTS / "recurrent.safetensors"), help="tuned weights: file or train --out folder")
    parser.add_argument("--sparse-causal", default=str(WEIGHTS / "sparse_causal.safetensors"))
    parser.add_argument("--out", type=Path, default=Path("motion_evaluation.md"), help="markdown table (a .json beside it)")
    parser.add_argument("--per-condition", type=int, default=3, help="held-out clips per condition")
    parser.add_argument("--motion", choices=sorted(MOTIONS), default="left_to_right")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (PNDM)")
    parser.add_argument("--guidance", type=float, default=GUIDANCE)
    parser.add_argument("--noise-weight", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    if args.per_condition < 1 or args.frames < 2 or args.steps < 1:
        parser.error("--per-condition and --steps must be >= 1, --frames >= 2")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    began = time.time()
    recurrent, sparse = _weights(args.recurrent, "recurrent"), _weights(args.sparse_causal, "sparse_causal")
    pipe = load_pipeline("shapes", device=device)
    pipe.set_progress_bar_config(disable=True)
    scorer = CLIPScorer.from_pretrained("shapes", device=device)
    clips = heldout_clips(args.per_condition, args.frames, args.motion)
    runs = {
        "recurrent, independent noise": ("recurrent", recurrent, "independent"),
        "recurrent, shared noise": ("recurrent", recurrent, "shared"),
        "recurrent, autoregressive noise": ("recurrent", recurrent, "autoregressive"),
        "recurrent, autoregressive noise, report's variance": ("recurrent", recurrent, "autoregressive_unnormalised"),
        "sparse-causal (Tune-A-Video)": ("sparse_causal", sparse, "independent"),
        "untuned, cross-frame": ("untuned", None, "independent"),
        "zero-shot DirecT2V (RVM)": ("direct2v", None, "independent"),
    }
    rows, _ = evaluate(pipe, clips, runs, args.steps, args.guidance, args.seed, scorer, noise_weight=args.noise_weight)
    summary = summarize(rows)
    command = "python -m direct2v.motion.compare " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    text = [f"# Few-shot motion: evaluation\n",
            f"Command: `{command.strip()}`  ",
            f"{len(clips)} held-out clips ({args.per_condition} per condition), {args.frames} frames, "
            f"{args.steps} PNDM steps, guidance {args.guidance}, noise weight {args.noise_weight}, "
            f"{time.time() - began:.0f} s on {device} ({torch.get_num_threads()} threads).\n",
            "Tuned: " + "; ".join(f"{w.method}: {w.config['steps']} steps, lr {w.config['lr']}, {w.config['videos']} videos"
                                  for w in (recurrent, sparse)) + ".\n",
            "## All held-out clips\n", markdown_table(summary, "all"), ""]
    for condition in CONDITIONS:
        text += [f"## {condition}\n", markdown_table(summary, condition), ""]
    text += ["## Generalisation (report section 4.3)\n", generalisation_table(summary), ""]
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text("\n".join(text))
    with atomic_path(args.out.with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps({"summary": summary, "rows": rows,
                                         "args": {k: str(v) for k, v in vars(args).items()}}, indent=1) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()

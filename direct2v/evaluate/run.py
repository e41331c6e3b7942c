"""Generation and measurement: every (story, seed, noise, method) through the pipeline, then the metrics."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attention import authors_layers
from ..director import StoryboardDirector
from ..metrics import (CLIPScorer, NARRATIVE_KEYS, as_video, background_change, clip_temp, decoration_consistency,
                       identity_consistency, narrative_accuracy, video_avg_dist, warping_error)
from ..runtime import atomic_path
from ..settings import check_int, warm_start_steps
from ..world.detect import detect, judge, match
from .design import AUTHORS, BATCH, CHANGES, DSF_QUANTILE, GUIDANCE, METHODS, NOISES, STORIES
from .tables import record, report, summarize


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
    from ..pipeline import load_pipeline  # here: the tables and the committed numbers need no pipeline (transformers)

    if pipe is None:
        pipe = load_pipeline("shapes", device=device)
    pipe.set_progress_bar_config(disable=True)
    if scorer is None:
        scorer = CLIPScorer.from_pretrained("shapes", device=device)
    return pipe, scorer


def _resume_folder(resume, settings: dict) -> Path:
    """The folder of :func:`run`'s kept batches, with the run's settings in ``settings.json`` (checked)."""
    folder = Path(resume)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "settings.json"
    mine = json.loads(json.dumps(settings))  # as JSON keeps it (tuples become lists)
    if file.exists():
        theirs = json.loads(file.read_text())
        if theirs != mine:
            changed = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))
            raise ValueError(f"resume={str(folder)!r} holds a run with other settings ({', '.join(changed)}); "
                             "use an empty folder or the same settings")
    else:
        with atomic_path(file) as tmp:
            Path(tmp).write_text(json.dumps(mine, indent=1))
    return folder


def run(pipe=None, scorer=None, stories=None, seeds=(0,), methods=("self", "rvm"), steps: int = 50,
        frames: int = 8, guidance: float = GUIDANCE, device=None, progress: bool = True,
        keep_videos: bool = False, noises=("warm_start",), batch: int = BATCH, resume=None) -> Results:
    """Generate and measure every (story, seed, noise, method); see the module docstring.

    ``stories``: indices into ``STORIES`` (None: all) or (category, prompt) pairs. ``pipe``/``scorer``:
    a loaded ``DirecT2VPipeline`` and :class:`~direct2v.metrics.CLIPScorer` (None: the shapes model's).
    ``noises``: initial-noise settings from ``NOISES`` (the peer runs under ``warm_start`` only).
    ``batch``: videos per UNet call (one (noise, method) at a time; the speed only). ``seconds`` of a
    video is its share of its batch's time. ``keep_videos``: also return the videos
    (``settings["videos"][(story, seed, method, noise)]``). ``resume``: a folder that keeps each batch's
    measurements as soon as they are made (``chunk-*.json``, written atomically, beside the run's settings); a run
    given the same folder and the same settings measures only what is not there yet, so an interrupted run (the
    full table takes hours on a CPU) goes on where it stopped. Different settings in that folder: ``ValueError``.
    """
    from ..pipeline import text2video_zero_peer  # as in _load

    check_int("batch", batch, 1)
    if resume is not None and keep_videos:
        raise ValueError("resume= keeps measurements, not videos; use keep_videos=False with resume=")
    stories = _check(methods, steps, frames, seeds, noises, stories)
    director = StoryboardDirector()
    scripts = [director.direct(prompt, num_frames=frames) for _, (_, prompt) in stories]  # fails early
    pipe, scorer = _load(pipe, scorer, device)
    settings = dict(steps=steps, frames=frames, guidance=guidance, seeds=list(seeds), methods=list(methods),
                    noises=list(noises), stories=[s for _, s in stories], dsf_quantile=DSF_QUANTILE,
                    layers=list(authors_layers(pipe.unet)), batch=batch, device=str(pipe.device),
                    dtype=str(pipe.unet.dtype).removeprefix("torch."))
    chunks_folder = None if resume is None else _resume_folder(resume, settings)
    peer = text2video_zero_peer(pipe) if "t2vz_peer" in methods and "warm_start" in noises else None
    if peer is not None:
        peer.set_progress_bar_config(disable=True)
    frame_rows, video_rows, videos = {}, {}, {}
    units = [(k, s) for k in range(len(stories)) for s in seeds]
    chunks = [(n, m, units[i:i + batch]) for n in noises for m in methods if not (m == "t2vz_peer" and n != "warm_start")
              for i in range(0, len(units), batch)]
    bar = tqdm(total=sum(len(c) for *_, c in chunks), desc="videos", disable=not progress)
    for c, (noise, method, chunk) in enumerate(chunks):
        kept = None if chunks_folder is None else chunks_folder / f"chunk-{c:04d}.json"
        if kept is not None and kept.exists():
            for row in json.loads(kept.read_text()):
                order = (row["k"], row["seed"], noise, method)
                frame_rows[order], video_rows[order] = row["frames"], row["video"]
            bar.update(len(chunk))
            continue
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
        if kept is not None:
            with atomic_path(kept) as tmp:
                Path(tmp).write_text(json.dumps([{"k": k, "seed": seed, "frames": frame_rows[(k, seed, noise, method)],
                                                  "video": video_rows[(k, seed, noise, method)]} for k, seed in chunk]))
        bar.update(len(chunk))
    bar.close()
    rank = {**{n: i for i, n in enumerate(noises)}, **{m: i for i, m in enumerate(methods)}}
    order = sorted(video_rows, key=lambda o: (o[0], o[1], rank[o[2]], rank[o[3]]))   # story, seed, noise, method
    frame_rows = [r for o in order for r in frame_rows[o]]
    video_rows = [video_rows[o] for o in order]
    if keep_videos:
        settings["videos"] = videos
    return Results(frame_rows, video_rows, settings)

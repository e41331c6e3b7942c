"""Does the miniature show the problem DirecT2V solves, and the property its fix relies on?

Three measurements on the shipped model (``shapes_world.md``, "Version 2"), each reported in the
model card by ``python -m direct2v.shapes.quality``:

* :func:`appearance_transfer`: in Stable Diffusion, self-attention keys and values carry
  appearance while queries carry layout; that is why value mapping (Eq. 4) can make frame f look
  like frame r without moving its objects. Measured here: a caption sampled with seed A, and the
  same caption with seed B while B's self-attention reads A's keys and values (Text2Video-Zero's
  cross-frame attention with A as frame 1). Does B's object take A's pattern, at B's own place,
  without ghost fragments of A elsewhere? Reported for each UNet level mapped alone, and all.
* :func:`correspondence`: for an object that moved two or more columns between the reference
  frame r and frame f, the fraction of the object's query tokens in f whose most attended key in
  r lies on the same object (the query-key chapter's figure, counted), per level.
* :func:`stage`: stories generated with plain per-frame self-attention (the paper's starting
  point, section 3.3), under the paper's warm start and with independent noise per frame: do
  objects keep their unnamed pattern and backgrounds their decorations? Next to ground truth.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..metrics import decoration_consistency, identity_consistency
from ..settings import frame_interaction
from ..video import as_frames
from .captions import caption
from .detect import N_OBJECT_LABELS, OBJECT_DISTANCE, classify_pixels, detect
from .render import render_story
from .world import COLUMNS, PATTERN_SIZES, Obj, Scene, random_scene

LEVELS = ("down_blocks.0", "down_blocks.1", "down_blocks.2", "mid_block", "up_blocks.0", "up_blocks.1",
          "up_blocks.2")
"""The miniature UNet's self-attention levels (16, 8, 4, 4, 4, 8 and 16 tokens a side)."""

STAGE_PROMPTS = (
    "a large red ball moves from left to right, night background",
    "a medium blue square grows, day background",
    "a large green triangle falls, desert background",
    "a medium yellow circle turns purple, grass background",
    "a large orange square moves from right to left, dusk background",
    "a medium purple box rises and a large red ball stays, day background",
)
"""Stories whose objects are medium or large, so that their patterns show, one per background."""


def _noise(pipe, seed: int) -> torch.Tensor:
    shape = (1, pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size)
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))


def _mapping(attention: str, steps: int):
    """The frame interaction of two frames, mapping from step 0."""
    return frame_interaction(2, steps, attention=attention, mapping_start=0)


def _frames(pipe, prompts, latents, interaction, layers, steps, guidance) -> np.ndarray:
    """Frames of ``prompts`` from independent ``latents`` under ``interaction`` (see :func:`_mapping`)."""
    out = pipe(list(prompts), interaction=interaction, attention_layers=layers, noise="independent", latents=latents,
               num_inference_steps=steps, guidance_scale=guidance, output_type="np")
    return as_frames(out.frames)


def _patterned_scenes(n: int, seed: int) -> list[Scene]:
    rng = np.random.default_rng(seed)
    scenes = []
    while len(scenes) < n:
        scene = random_scene(rng, n_objects=1)
        if scene.objects[0].size in PATTERN_SIZES:
            scenes.append(scene)
    return scenes


def appearance_transfer(pipe, n: int = 30, steps: int = 25, guidance: float | None = None, seed: int = 7,
                        levels=(None,) + LEVELS) -> dict:
    """Per level mapped (``None``: every self-attention layer): how often B takes A's pattern.

    Returns ``{level: {"transfer", "own", "kept", "unnamed", "place", "fragments", "n"}}``: the
    fraction of B's objects (mapped onto A) whose pattern is A's; the same fraction for B sampled
    alone (the chance that two seeds agree anyway); the fractions of mapped Bs whose object keeps
    the pattern B has alone, and whose object has no pattern the detector can name (neither A's nor
    B's: the two superposed); the fraction of mapped Bs whose object stays at B's own column and
    row; the fraction of mapped Bs with an extra (ghost) object. Only pairs where A's and B's
    objects were both detected with a named pattern count.
    """
    guidance = pipe.defaults["guidance_scale"] if guidance is None else guidance
    out = {}
    scenes = _patterned_scenes(n, seed)
    alone = {}
    for level in tqdm(levels, desc="appearance transfer"):
        hits, own, kept, unnamed, place, ghosts, count = [], [], [], [], [], [], 0
        for i, scene in enumerate(scenes):
            text = caption(scene)
            latents = torch.cat([_noise(pipe, seed * 1000 + 2 * i), _noise(pipe, seed * 1000 + 2 * i + 1)])
            if i not in alone:
                frames = _frames(pipe, [text, text], latents, _mapping("self", steps), None, steps, guidance)
                alone[i] = [detect(f) for f in frames]
            a, b_alone = alone[i]
            layers = None if level is None else [level]
            b = detect(_frames(pipe, [text, text], latents, _mapping("cross_frame", steps), layers,
                               steps, guidance)[1])
            if len(a.objects) != 1 or len(b_alone.objects) != 1 or not b.objects or a.objects[0].pattern is None \
                    or b_alone.objects[0].pattern is None:
                continue
            count += 1
            target = a.objects[0]
            mine = min(b.objects, key=lambda o: (o.cx - b_alone.objects[0].cx) ** 2 + (o.cy - b_alone.objects[0].cy) ** 2)
            hits.append(mine.pattern == target.pattern)
            own.append(b_alone.objects[0].pattern == target.pattern)
            kept.append(mine.pattern == b_alone.objects[0].pattern)
            unnamed.append(mine.pattern is None)
            place.append((mine.column, mine.row) == (b_alone.objects[0].column, b_alone.objects[0].row))
            ghosts.append(len(b.objects) > 1)
        rates = {"transfer": hits, "own": own, "kept": kept, "unnamed": unnamed, "place": place, "fragments": ghosts}
        out["all" if level is None else level] = {
            **{key: float(np.mean(v)) if v else float("nan") for key, v in rates.items()}, "n": count}
    return out


def _object_mask(frame: np.ndarray, cells: int) -> np.ndarray:
    """Fraction of each of ``cells x cells`` token cells covered by object pixels."""
    label, dist = classify_pixels(frame)
    mask = ((label < N_OBJECT_LABELS) & (dist < OBJECT_DISTANCE)).astype(np.float32)
    k = mask.shape[0] // cells
    return mask.reshape(cells, k, cells, k).mean(axis=(1, 3))


def correspondence(pipe, n: int = 16, steps: int = 25, guidance: float | None = None, seed: int = 11,
                   at: float = 0.5) -> dict:
    """Per level: the fraction of object query tokens of frame f whose most attended key in the
    reference frame r lies on the object there (cross-frame attention f -> r at every layer).

    A medium or large object moves three columns between r and f (same colour, shape, size,
    background); the attention is read at the step ``at`` of the way through denoising. Also
    returns the chance rate (object share of r's tokens) for comparison.
    """
    from ..attention import capture

    guidance = pipe.defaults["guidance_scale"] if guidance is None else guidance
    columns = list(COLUMNS)
    hits: dict[str, list] = {}
    chance: dict[str, list] = {}
    step = int(at * steps)
    for i, scene in enumerate(tqdm(_patterned_scenes(n, seed), desc="correspondence")):
        obj = scene.objects[0]
        c = columns.index(obj.column)
        moved = Obj(obj.color, obj.shape, obj.size, columns[c + 3 if c + 3 < len(columns) else c - 3], obj.row)
        prompts = [caption(scene), caption(Scene((moved,), scene.background))]
        latents = torch.cat([_noise(pipe, seed * 1000 + 2 * i), _noise(pipe, seed * 1000 + 2 * i + 1)])
        interaction = _mapping("cross_frame", steps)
        with capture(interaction, steps=[step], frames=[1]) as records:
            frames = _frames(pipe, prompts, latents, interaction, None, steps, guidance)
        for record in records:
            level = ".".join(record.layer.split(".")[:2]) if record.layer.startswith(("down", "up")) else "mid_block"
            tokens = record.probs.shape[0]
            cells = int(round(tokens ** 0.5))
            query, key = _object_mask(frames[1], cells).ravel(), _object_mask(frames[0], cells).ravel()
            on = np.flatnonzero(query >= 0.5)
            if not len(on) or key.max() < 0.5:
                continue
            best = record.probs[on].argmax(-1).numpy()
            hits.setdefault(level, []).extend((key[best] >= 0.25).tolist())
            chance.setdefault(level, []).append(float((key >= 0.25).mean()))
    return {level: {"rate": float(np.mean(hits[level])), "chance": float(np.mean(chance[level])),
                    "tokens": len(hits[level])} for level in LEVELS if level in hits}


def stage(pipe, steps: int = 25, guidance: float | None = None, seeds=(0, 1, 2), num_frames: int = 6) -> dict:
    """Identity and decoration consistency of stories under per-frame self-attention (the paper's
    starting point), with the warm start and with independent noise, and of ground truth."""
    from ..director import StoryboardDirector

    guidance = pipe.defaults["guidance_scale"] if guidance is None else guidance
    director = StoryboardDirector()
    scores = {name: {"identity": [], "decoration": []} for name in ("ground truth", "warm_start", "independent")}
    for prompt in tqdm(STAGE_PROMPTS, desc="stage"):
        script = director.direct(prompt, num_frames=num_frames)
        for seed in seeds:
            videos = {"ground truth": render_story(script.scenes, seed=seed)}
            for noise in ("warm_start", "independent"):
                out = pipe(script.frames, attention="self", noise=noise, num_inference_steps=steps,
                           guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(seed), output_type="np")
                videos[noise] = as_frames(out.frames)
            for name, video in videos.items():
                found = [detect(f) for f in video]   # once per frame, for both measures
                scores[name]["identity"].append(identity_consistency(video, script.scenes, found))
                scores[name]["decoration"].append(decoration_consistency(video, script.scenes, found))
    return {name: {k: float(np.nanmean(v)) for k, v in s.items()} for name, s in scores.items()}

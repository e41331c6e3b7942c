"""Does the miniature show the problem DirecT2V solves, and the property its fix relies on?

Three measurements on the shipped model (``shapes_world.md``, "Version 2"), each reported in the
model card by ``python -m direct2v.miniature.quality``:

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
* :func:`interaction_study`: the same question for every frame-interaction rule (self-attention,
  Text2Video-Zero's first-frame mapping, RVM, RVM + DSF), at chosen UNet levels and warm-start
  depths, on held-out stories of medium and large objects (``STAGE_STORIES``), per story kind:
  the pilots of the stage issue and the targets the model card reports.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attention import frame_interaction
from ..director import StoryboardDirector
from ..metrics import bootstrap_ci, decoration_consistency, identity_consistency, narrative_accuracy
from ..video import as_frames
from ..world.captions import caption
from ..world.detect import N_OBJECT_LABELS, OBJECT_DISTANCE, classify_pixels, detect, judge
from ..world.render import render_story
from ..world.world import COLUMNS, PATTERN_SIZES, Obj, Scene, random_scene

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

STAGE_STORIES = (
    ("move", "a large red ball moves from left to right, night background"),
    ("move", "a large orange square moves from right to left, dusk background"),
    ("move", "a large green triangle falls, desert background"),
    ("move", "a medium purple box rises, day background"),
    ("appear later", "a large blue square at the left, later a medium yellow ball appears at the right, day background"),
    ("appear later", "a large green ball at the right, later a large red triangle appears at the left, grass background"),
    ("appear later", "a medium orange circle at the top left, later a large purple square appears at the bottom right, "
                     "desert background"),
    ("colour change", "a medium yellow circle turns purple, grass background"),
    ("colour change", "a large blue ball turns red, day background"),
    ("colour change", "a large green square turns orange at night"),
    ("grow", "a medium blue square grows, day background"),
    ("grow", "a large red triangle shrinks, desert background"),
    ("day to night", "day turns to night while a large red ball stays in the center"),
    ("day to night", "a large yellow square stays at the right while day turns to dusk and night"),
    ("two objects", "a medium purple box rises and a large red ball stays, day background"),
    ("two objects", "a medium orange ball moves from left to right and a medium blue square grows, grass background"),
    ("two objects", "a large green square at the left and a large red ball at the right, later the ball disappears, "
                    "night background"),
    ("two objects", "a large blue triangle at the left and a large yellow ball appears later at the right, "
                    "dusk background"),
)
"""Held-out stories (none is in :data:`direct2v.evaluate.STORIES`) whose objects are medium or large, so that
their patterns show; every background and every story kind of the evaluation, each kind at least twice."""
RULES = {
    "self": dict(attention="self"),
    "cross_frame": dict(attention="cross_frame"),
    "rvm": dict(attention="rvm"),
    "rvm_dsf": dict(attention="rvm", dsf_quantile=0.05),
}
"""Frame-interaction rules of the study: per-frame self-attention (Eq. 3), Text2Video-Zero's first-frame value
mapping, RVM (Eq. 4 with r(t') = floor(t'/m) mod F) and RVM + DSF (Eqs. 5-6, phi = 0.05)."""


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


def _level_name(level) -> str:
    """``None``: "all"; a prefix: itself; several prefixes: joined by "+"."""
    return "all" if level is None else level if isinstance(level, str) else "+".join(level)


def appearance_transfer(pipe, n: int = 30, steps: int = 25, guidance: float | None = None, seed: int = 7,
                        levels=(None,) + LEVELS) -> dict:
    """Per level mapped (``None``: every self-attention layer; a tuple: those levels together): how often B
    takes A's pattern.

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
            layers = None if level is None else [level] if isinstance(level, str) else list(level)
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
        out[_level_name(level)] = {
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
    from ..attention import capture  # diffusers: imported when measured

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


def interaction_study(pipe, rules=tuple(RULES), layers=None, noise: str = "warm_start", t0: int | None = None,
                      t1: int | None = None, noise_weight: float = 0.5, seeds=(0, 1), steps: int = 25, num_frames: int = 6,
                      guidance: float | None = None, stories=STAGE_STORIES, progress: bool = True) -> list[dict]:
    """One row per (story, seed, rule): identity and decoration consistency and narrative accuracy.

    Every rule of one (story, seed) starts from the same noise, so the rules are paired. ``layers``: UNet
    level prefixes value mapping acts on (None: every self-attention layer); ``noise``, ``t0``, ``t1``: the
    pipeline's initial noise and warm-start depth (``None``: Text2Video-Zero's t0, t1 scaled to ``steps``);
    ``noise_weight``: a of the shared and autoregressive noises (:mod:`direct2v.noise`).
    Rows also carry ``kind`` (the story kind) for per-kind tables (:func:`study_table`).
    """
    unknown = [r for r in rules if r not in RULES]
    if unknown or not rules:
        raise ValueError(f"rules={list(rules)!r} is not allowed; use names from {list(RULES)}")
    guidance = pipe.defaults["guidance_scale"] if guidance is None else guidance
    director = StoryboardDirector()
    scripts = [(kind, director.direct(prompt, num_frames=num_frames)) for kind, prompt in stories]
    rows = []
    jobs = [(i, seed, rule) for i in range(len(scripts)) for seed in seeds for rule in rules]
    for i, seed, rule in tqdm(jobs, desc="interaction study", disable=not progress):
        kind, script = scripts[i]
        out = pipe(script.frames, noise=noise, t0=t0, t1=t1, noise_weight=noise_weight, attention_layers=layers,
                   num_inference_steps=steps,
                   guidance_scale=guidance, seed=1000 * seed + i, output_type="np", **RULES[rule])
        video = as_frames(out.frames)
        found = [detect(f) for f in video]
        verdicts = [judge(d, scene) for d, scene in zip(found, script.scenes)]
        rows.append(dict(kind=kind, story=i, seed=seed, rule=rule,
                         identity=identity_consistency(video, script.scenes, found),
                         decoration=decoration_consistency(video, script.scenes, found),
                         narrative=narrative_accuracy(verdicts=verdicts)["all"]))
    return rows


STUDY_MEASURES = ("identity", "decoration", "narrative")


def study_summary(rows: list[dict], reference: str = "self") -> dict:
    """Per kind (and ``"all"``, and ``"all but day to night"``), per rule and measure: the mean over stories
    (seeds averaged within a story first) with a 95% bootstrap interval that resamples whole stories, and
    the paired difference to ``reference`` with its interval."""
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    groups = {k: [k] for k in kinds}
    groups["all"] = kinds
    groups["all but day to night"] = [k for k in kinds if k != "day to night"]
    out = {}
    for group, members in groups.items():
        chosen = [r for r in rows if r["kind"] in members]
        stories = sorted({r["story"] for r in chosen})
        rules = list(dict.fromkeys(r["rule"] for r in chosen))

        def per_story(rule, measure):
            return np.array([np.nanmean([r[measure] for r in chosen if r["story"] == s and r["rule"] == rule]
                                        or [np.nan]) for s in stories])

        out[group] = {}
        for rule in rules:
            out[group][rule] = {}
            for measure in STUDY_MEASURES:
                values = per_story(rule, measure)
                entry = {"mean": bootstrap_ci(values), "values": values.tolist()}
                if rule != reference and reference in rules:
                    diff = values - per_story(reference, measure)
                    entry["diff"] = bootstrap_ci(diff)
                out[group][rule][measure] = entry
        out[group]["stories"] = len(stories)
    return out


def study_table(summary: dict, reference: str = "self") -> str:
    """Markdown: one row per (group, rule); each measure as mean [interval] and, after it, the paired
    difference to ``reference`` in points."""
    def pct(t):
        return f"{100 * t[0]:.0f}% [{100 * t[1]:.0f}, {100 * t[2]:.0f}]"

    def pts(t):
        return f"{100 * t[0]:+.0f} [{100 * t[1]:+.0f}, {100 * t[2]:+.0f}]"

    head = ["kind", "stories", "rule"] + [f"{m}" for m in STUDY_MEASURES] + [f"{m} vs {reference}" for m in STUDY_MEASURES]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for group, by_rule in summary.items():
        for rule, measures in by_rule.items():
            if rule == "stories":
                continue
            cells = [pct(measures[m]["mean"]) for m in STUDY_MEASURES]
            cells += [pts(measures[m]["diff"]) if "diff" in measures[m] else "" for m in STUDY_MEASURES]
            lines.append("| " + " | ".join([group, str(by_rule["stories"]), rule] + cells) + " |")
    return "\n".join(lines) + "\n"


CHANGING_KINDS = ("appear later", "colour change", "day to night")
"""Story kinds whose later frames differ from the first (the paper's Fig. 7: first-frame mapping against RVM)."""


def targets(summary: dict, transfer: dict | None = None, layers=("up_blocks.1", "up_blocks.2")
            ) -> list[tuple[str, str, str, bool | None]]:
    """The stage issue's targets as ``(target, measured, bar, met)`` rows, from :func:`study_summary` (warm start,
    the rules at the authors' layers, :func:`direct2v.attention.authors_layers`: the miniature's ``up_blocks.1-2``)
    and, when given, :func:`appearance_transfer` (its entry for ``layers`` mapped together).
    ``met`` is None for the paper's two ablations, which are reported, not barred."""
    everything = summary["all"]

    def mean(rule, measure, group="all"):
        return summary[group][rule][measure]["mean"]

    def fmt(t, points=False):
        return (f"{100 * t[0]:+.0f} [{100 * t[1]:+.0f}, {100 * t[2]:+.0f}] points" if points
                else f"{100 * t[0]:.0f}% [{100 * t[1]:.0f}, {100 * t[2]:.0f}]")

    rows = []
    deco, gain = mean("rvm", "decoration"), everything["rvm"]["decoration"]["diff"]
    rows.append(("decorations kept, RVM", fmt(deco), ">= 75%", deco[0] >= 0.75))
    rows.append(("decorations kept, RVM - self-attention", fmt(gain, True), ">= +20 points", gain[0] >= 0.20))
    rows.append(("pattern kept, RVM", fmt(mean("rvm", "identity")), ">= 85%", mean("rvm", "identity")[0] >= 0.85))
    rows.append(("pattern kept, self-attention", fmt(mean("self", "identity")), "<= 50%",
                 mean("self", "identity")[0] <= 0.50))
    worst = min((summary[k]["rvm"]["narrative"]["diff"] for k in summary if k not in ("all", "all but day to night")),
                key=lambda t: t[0])
    rows.append(("narrative, RVM - self-attention, worst story kind", fmt(worst, True), ">= -3 points", worst[0] >= -0.03))
    if transfer is not None and _level_name(tuple(layers)) in transfer:
        t = transfer[_level_name(tuple(layers))]
        rows.append((f"appearance transfer at {_level_name(tuple(layers))}", f"{100 * t['transfer']:.0f}% ({t['n']} pairs)",
                     ">= 70%", t["transfer"] >= 0.70))
        rows.append(("fragments", f"{100 * t['fragments']:.0f}%", "<= 5%", t["fragments"] <= 0.05))
    for kind in CHANGING_KINDS:
        if kind in summary and "cross_frame" in summary[kind]:
            rows.append((f"Fig. 7: narrative, RVM - first-frame mapping, {kind}", _difference(summary, kind, "rvm",
                                                                                            "cross_frame"), "reported", None))
    if "appear later" in summary and "rvm_dsf" in summary["appear later"]:
        rows.append(("Fig. 8: narrative, RVM+DSF - RVM, appear later", _difference(summary, "appear later", "rvm_dsf",
                                                                                 "rvm"), "reported", None))
    return rows


def _difference(summary: dict, kind: str, rule: str, other: str) -> str:
    """Paired difference of two rules' narrative accuracy in one kind, from their per-story values."""
    a, b = summary[kind][rule]["narrative"]["values"], summary[kind][other]["narrative"]["values"]
    t = bootstrap_ci(np.asarray(a) - np.asarray(b))
    return f"{100 * t[0]:+.0f} [{100 * t[1]:+.0f}, {100 * t[2]:+.0f}] points"


def targets_table(rows) -> str:
    lines = ["| target | measured | bar | met |", "| --- | --- | --- | --- |"]
    for target, measured, bar, met in rows:
        lines.append(f"| {target} | {measured} | {bar} | {'' if met is None else 'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


PILOTS = Path(__file__).resolve().parents[1] / "data" / "stage-pilots"
"""The stage issue's pilots on the shipped model: one JSON per pilot (its settings, rows and summary)."""


def pilots_table(folder=PILOTS) -> str:
    """Markdown: per pilot and rule, identity, decoration and narrative on all stories, on all but day to night,
    and on day to night, each with its paired difference to self-attention (points), from the committed pilots."""
    def cell(entry, measure):
        m = entry[measure]["mean"][0]
        d = entry[measure].get("diff")
        return f"{100 * m:.0f}%" + (f" ({100 * d[0]:+.0f} [{100 * d[1]:+.0f}, {100 * d[2]:+.0f}])" if d else "")

    lines = ["| pilot | noise | layers | rule | stories | identity | decoration | narrative |", "|" + " --- |" * 8]
    for path in sorted(Path(folder).glob("*.json")):
        record = json.loads(path.read_text())
        args = record["meta"]["args"]
        noise = args.get("noise", "warm_start") + (f" a={args['weight']}" if "weight" in args else "") + \
            (f" t0={args['t0']} t1={args['t1']}" if "t0" in args else "")
        for group in ("all but day to night", "day to night"):
            for rule, entry in record["summary"][group].items():
                if rule == "stories":
                    continue
                lines.append(f"| {record['meta']['name']} | {noise} | {args.get('layers', 'all')} | {rule} | {group} | "
                             + " | ".join(cell(entry, m) for m in STUDY_MEASURES) + " |")
    return "\n".join(lines) + "\n"


def transfer_table(folder=PILOTS / "shared-pattern") -> str:
    """Markdown: the committed appearance-transfer records (``T*.json``, :func:`appearance_transfer` of one model
    at the authors' layers and at every level): transfer, own (chance), pairs counted and captions tried."""
    lines = ["| record | model | levels mapped | transfer | own | pairs | captions |", "|" + " --- |" * 7]
    for path in sorted(Path(folder).glob("T*.json")):
        record = json.loads(path.read_text())
        for level in ("up_blocks.1+up_blocks.2", "all"):
            r = record["result"][level]
            lines.append(f"| {path.stem} | {record['model']} | {'every level' if level == 'all' else level} | "
                         f"{100 * r['transfer']:.0f}% | {100 * r['own']:.0f}% | {r['n']} | {record['captions']} |")
    return "\n".join(lines) + "\n"

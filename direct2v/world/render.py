"""Renderer of the shapes world: scenes to 64 x 64 images, stories to ground-truth videos.

Drawn at 4x (256 x 256) with PIL and area-downsampled (``Image.reduce(4)``), which gives the
anti-aliased edges the contract asks for (``shapes_world.md``, Canvas). Jitter (object colour
up to 12 per channel, side up to 15 %, anchored centres up to 2 px), the object's pattern and
the background's decorations are the world's unspecified details, drawn from the random
generator; the geometry rules (clamping, jitter cells) are those of :mod:`direct2v.world.world`.

Version 2 of the world (``shapes_world.md``, "Version 2") gives those details visual mass: a
pattern on every medium or large object (stripes, dots, checks or a ring in a lighter tint of its
colour, phase fixed to the object's box so it moves with the object), and decorations large
enough to see (clouds at least 12 px wide, 2 x 2 stars and a moon, filled dunes, grass tufts, a
sun on the dusk band).

In a consistent story (``render_story(consistent=True)``) those details are sampled once: every
frame with the same background word gets the same decorations, and each object (identified by
its index in ``Scene.objects``) keeps its colour, size and centre jitter and its pattern. That is
the ground-truth video against which cross-frame consistency (RVM, DSF) is measured.

Candidate rule of version 3 (``shapes_world.md``, "Version 3"; ``shared_pattern=True``): the objects
of one scene share one pattern (the first object's), as the repeated texture of a natural image
does. A model trained so must copy a pattern from one object to another across the image, which
only self-attention (or the coarsest convolutions) can do: the property value mapping relies on.
The random draws are the same either way, so a seed gives the same scene under both rules.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .world import (BACKGROUNDS, CANVAS, CENTER_JITTER, COLOR_JITTER, COLORS, COLUMNS,
                    DECORATIONS, EDGE_MARGIN, PATTERN_PERIOD, PATTERN_SIZES, PATTERNS, ROWS,
                    SIZE_JITTER, SUN_COLOR, TUFT_COLOR, Obj, Scene, jitter_cell, tint)

UPSAMPLE = 4
_S = CANVAS * UPSAMPLE


@dataclass(frozen=True)
class Jitter:
    """An object's random details: colour offset (per channel), side factor, centre offset, and
    its pattern (one of ``PATTERNS``, uniform; version 2)."""

    color: tuple[int, int, int]
    size: float
    dx: float
    dy: float
    pattern: str = "solid"

    @staticmethod
    def sample(rng: np.random.Generator) -> "Jitter":
        c = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
        f = rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER)
        d = rng.uniform(-CENTER_JITTER, CENTER_JITTER, size=2)
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        return Jitter((int(c[0]), int(c[1]), int(c[2])), float(f), float(d[0]), float(d[1]), pattern)


@dataclass(frozen=True)
class Drawn:
    """What the renderer actually drew for one object (ground truth for the detector).

    ``pattern`` is the pattern drawn: the object's own, or "solid" for a small object."""

    color: str
    shape: str
    cx: float
    cy: float
    side: float
    rgb: tuple[int, int, int]
    pattern: str = "solid"


def drawn(obj: Obj, jitter: Jitter) -> Drawn:
    """Apply ``jitter`` to ``obj``: the centre, side and colour the renderer will draw."""
    side = obj.side * jitter.size
    cx, cy = obj.center
    if obj.x is None:
        lo, hi = jitter_cell(COLUMNS, obj.column, obj.side)
        cx = min(max(cx + jitter.dx, lo), hi)
    if obj.y is None:
        lo, hi = jitter_cell(ROWS, obj.row, obj.side)
        cy = min(max(cy + jitter.dy, lo), hi)
    # keep the drawn box inside the canvas (only ever moves the centre towards its anchor)
    h = side / 2 + EDGE_MARGIN
    cx, cy = min(max(cx, h), CANVAS - h), min(max(cy, h), CANVAS - h)
    rgb = tuple(int(min(max(c + d, 0), 255)) for c, d in zip(COLORS[obj.color], jitter.color))
    pattern = jitter.pattern if obj.size in PATTERN_SIZES else "solid"
    return Drawn(obj.color, obj.shape, float(cx), float(cy), float(side), rgb, pattern)


# --- decorations --------------------------------------------------------------------------
def sample_decorations(background: str, rng: np.random.Generator) -> list[tuple]:
    """Draw the decorations of ``background`` (version 2) as primitives in canvas pixels.

    Primitives: ``("ellipse", x0, y0, x1, y1, rgb)``, ``("rect", x0, y0, x1, y1, rgb)``,
    ``("polygon", points, rgb)``, ``("band", y0, y1, rgb)``. Counts and sizes follow the contract:
    day 1-3 clouds at least 12 px wide; night 5-20 stars of 2 x 2 px and a moon disc of 6-10 px;
    desert 1-2 filled dunes; grass 3-8 tufts of 2-3 px; dusk a horizon band with a sun on it.
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; allowed: {', '.join(BACKGROUNDS)}")
    color = DECORATIONS[background][1]
    out: list[tuple] = []
    if background == "day":
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(6, 58), rng.uniform(6, 44)
            w, h = rng.uniform(12, 22), rng.uniform(5, 8)
            out.append(("ellipse", x - w / 2, y - h / 2, x + w / 2, y + h / 2, color))
            for _ in range(2):   # puffs on top: a soft, cloud-like outline
                px, r = x + rng.uniform(-w / 4, w / 4), rng.uniform(h / 2.5, h / 1.6)
                out.append(("ellipse", px - r, y - h / 4 - r, px + r, y - h / 4 + r, color))
    elif background == "night":
        mx, my, d = rng.uniform(8, 56), rng.uniform(6, 40), rng.uniform(6, 10)
        out.append(("ellipse", mx - d / 2, my - d / 2, mx + d / 2, my + d / 2, color))
        n = int(rng.integers(5, 21))
        for x, y in zip(rng.integers(0, CANVAS - 1, n), rng.integers(0, CANVAS - 1, n)):
            out.append(("rect", int(x), int(y), int(x) + 2, int(y) + 2, color))
    elif background == "desert":
        for _ in range(int(rng.integers(1, 3))):
            base, amp = rng.uniform(38, 56), rng.uniform(3, 8)
            freq, phase = rng.uniform(0.05, 0.12), rng.uniform(0, 2 * np.pi)
            xs = np.linspace(-2, CANVAS + 2, 25)
            top = [(float(x), float(base - amp * max(np.sin(freq * x + phase), 0.0))) for x in xs]
            out.append(("polygon", top + [(CANVAS + 2, CANVAS + 2), (-2, CANVAS + 2)], color))
    elif background == "grass":
        for _ in range(int(rng.integers(3, 9))):
            x, y, d = rng.uniform(2, 62), rng.uniform(8, 62), rng.uniform(2, 3)
            if rng.random() < 0.5:   # a flower: a round dab
                out.append(("ellipse", x - d / 2, y - d / 2, x + d / 2, y + d / 2, TUFT_COLOR))
            else:                    # a tuft: a small upward wedge
                out.append(("polygon", [(x - d / 2, y + d / 2), (x + d / 2, y + d / 2),
                                        (x, y - d / 2)], TUFT_COLOR))
    else:  # dusk
        y0, height = rng.uniform(20, 52), rng.uniform(3, 6)
        out.append(("band", y0, y0 + height, color))
        sx, r = rng.uniform(6, 58), rng.uniform(3, 4.5)
        out.append(("ellipse", sx - r, y0 - r, sx + r, y0 + r, SUN_COLOR))
    return out


def _draw_decorations(draw: ImageDraw.ImageDraw, decorations) -> None:
    u = UPSAMPLE
    for d in decorations:
        kind, rgb = d[0], d[-1]
        if kind == "ellipse":
            draw.ellipse([round(d[1] * u), round(d[2] * u), round(d[3] * u) - 1,
                          round(d[4] * u) - 1], fill=rgb)
        elif kind == "rect":
            draw.rectangle([d[1] * u, d[2] * u, d[3] * u - 1, d[4] * u - 1], fill=rgb)
        elif kind == "polygon":
            draw.polygon([(x * u, y * u) for x, y in d[1]], fill=rgb)
        elif kind == "band":
            draw.rectangle([0, round(d[1] * u), _S - 1, round(d[2] * u) - 1], fill=rgb)


def _shape_mask(shape: str, box: tuple[float, float, float, float]) -> Image.Image:
    """A 4x-resolution mask (L) of ``shape`` filling ``box`` (x0, y0, x1, y1, inclusive, 4x px)."""
    mask = Image.new("L", (_S, _S), 0)
    draw = ImageDraw.Draw(mask)
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=255)
    elif shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=255)
    else:  # triangle, apex up, base = height = side
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=255)
    return mask


def _pattern_mask(o: Drawn, box) -> np.ndarray:
    """Where the pattern's tint goes (bool, 4x px), before clipping to the shape.

    Stripes fill 3/8 of every ``PATTERN_PERIOD``, dots are discs of 3/8 of it on a grid of that
    period, checks are squares of half a period; all counted from the object's box (to the whole
    pixel), so the pattern moves with the object.
    A ring is the outline of the shape inset by a fifth of its side.
    """
    u, p = UPSAMPLE, PATTERN_PERIOD * UPSAMPLE
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[0:_S, 0:_S]
    # the phase snaps to whole canvas pixels, so that checks and stripes stay crisp after the
    # 4x downsampling (half a pixel off, a checker would average to one flat tint)
    dx, dy = xs - round(x0 / u) * u - p // 2, ys - round(y0 / u) * u - p // 2
    if o.pattern == "horizontal stripes":
        return (dy % p) < 3 * p // 8
    if o.pattern == "vertical stripes":
        return (dx % p) < 3 * p // 8
    if o.pattern == "dots":
        r = 3 * p / 16
        return ((dx + p // 2) % p - p // 2) ** 2 + ((dy + p // 2) % p - p // 2) ** 2 <= r * r
    if o.pattern == "checker":
        return ((dx // (p // 2)) + (dy // (p // 2))) % 2 == 1
    if o.pattern == "ring":
        side = x1 - x0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if o.shape == "triangle":   # inset about the centroid, two thirds of the way down
            cy = y0 + 2 * (y1 - y0) / 3

        def inset(f):
            return np.asarray(_shape_mask(o.shape, (cx + (x0 - cx) * f, cy + (y0 - cy) * f,
                                                    cx + (x1 - cx) * f, cy + (y1 - cy) * f))) > 0
        outer = 0.6 if o.shape == "triangle" else 0.7
        return inset(outer) & ~inset(outer - 3.0 * u / side)
    return np.zeros((_S, _S), bool)


def pattern_map(o: Drawn) -> np.ndarray:
    """(64, 64) float: the share of each pixel that ``o``'s pattern tint covers, as drawn.

    The detector compares a ring's expected place with what it sees (``detect.pattern_of``).
    """
    u = UPSAMPLE
    box = (round((o.cx - o.side / 2) * u), round((o.cy - o.side / 2) * u),
           round((o.cx + o.side / 2) * u) - 1, round((o.cy + o.side / 2) * u) - 1)
    inside = _pattern_mask(o, box) & (np.asarray(_shape_mask(o.shape, box)) > 0)
    return inside.reshape(CANVAS, u, CANVAS, u).mean(axis=(1, 3))


def _draw_object(img: Image.Image, o: Drawn) -> None:
    u = UPSAMPLE
    x0, y0 = round((o.cx - o.side / 2) * u), round((o.cy - o.side / 2) * u)
    x1, y1 = round((o.cx + o.side / 2) * u) - 1, round((o.cy + o.side / 2) * u) - 1
    mask = _shape_mask(o.shape, (x0, y0, x1, y1))
    img.paste(o.rgb, mask=mask)
    if o.pattern != "solid":
        pattern = _pattern_mask(o, (x0, y0, x1, y1)) & (np.asarray(mask) > 0)
        img.paste(tint(o.rgb), mask=Image.fromarray((pattern * 255).astype(np.uint8)))


def _paint(background: str, decorations, objects: Sequence[Drawn]) -> np.ndarray:
    img = Image.new("RGB", (_S, _S), BACKGROUNDS[background])
    _draw_decorations(ImageDraw.Draw(img), decorations)
    for o in objects:
        _draw_object(img, o)
    return np.asarray(img.reduce(UPSAMPLE))


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an int seed or None, "
                     f"got {type(rng).__name__}")


def _share(jitters: list[Jitter], shared_pattern: bool) -> list[Jitter]:
    """The jitters, with every pattern set to the first's when ``shared_pattern`` (version 3 candidate)."""
    if not shared_pattern or not jitters:
        return jitters
    return [replace(j, pattern=jitters[0].pattern) for j in jitters]


def render_with_truth(scene: Scene, rng: np.random.Generator | int | None = None, shared_pattern: bool = False
                      ) -> tuple[np.ndarray, list[Drawn]]:
    """Like :func:`render`, and also return what was drawn for each object (in scene order)."""
    scene.validate()
    rng = _rng(rng)
    decorations = sample_decorations(scene.background, rng)
    jitters = _share([Jitter.sample(rng) for _ in scene.objects], shared_pattern)
    objs = [drawn(o, j) for o, j in zip(scene.objects, jitters)]
    return _paint(scene.background, decorations, objs), objs


def render(scene: Scene, rng: np.random.Generator | int | None = None, shared_pattern: bool = False) -> np.ndarray:
    """Draw ``scene`` as a (64, 64, 3) uint8 image; deterministic given the seed / generator.

    Validates the scene first (``ValueError`` on a bad one). Decorations, then objects in order.
    ``shared_pattern``: the objects share the first one's pattern (the version-3 candidate rule).
    """
    return render_with_truth(scene, rng, shared_pattern)[0]


def render_story(scenes: Sequence[Scene], seed: int = 0, consistent: bool = True,
                 return_truth: bool = False, shared_pattern: bool = False):
    """Draw a story, one scene per frame, as a (F, 64, 64, 3) uint8 video.

    ``consistent=True``: decorations are sampled once per background word (so frames that share
    a background show identical decorations) and each object index keeps its jitter across
    frames. ``consistent=False``: every frame is sampled independently, as a text-to-image model
    prompted frame by frame would do. With ``return_truth`` also returns the drawn objects of
    every frame. ``shared_pattern``: the objects of a frame share one pattern (version-3 candidate).
    """
    scenes = list(scenes)
    if not scenes:
        raise ValueError("scenes must hold at least one Scene, got an empty sequence")
    for f, scene in enumerate(scenes):
        if not isinstance(scene, Scene):
            raise ValueError(f"scenes[{f}] must be a Scene, got {type(scene).__name__}")
        try:
            scene.validate()
        except ValueError as e:
            raise ValueError(f"scenes[{f}]: {e}") from None
    frames, truth = [], []
    if consistent:
        backgrounds = list(BACKGROUNDS)
        decos = {b: sample_decorations(b, np.random.default_rng([seed, 0, backgrounds.index(b)]))
                 for b in {s.background for s in scenes}}
        n = max(len(s.objects) for s in scenes)
        jitters = _share([Jitter.sample(np.random.default_rng([seed, 1, i])) for i in range(n)], shared_pattern)
        for scene in scenes:
            objs = [drawn(o, jitters[i]) for i, o in enumerate(scene.objects)]
            frames.append(_paint(scene.background, decos[scene.background], objs))
            truth.append(objs)
    else:
        for f, scene in enumerate(scenes):
            image, objs = render_with_truth(scene, np.random.default_rng([seed, 2, f]), shared_pattern)
            frames.append(image)
            truth.append(objs)
    video = np.stack(frames)
    return (video, truth) if return_truth else video

"""Renderer of the shapes world: scenes to 64 x 64 images, stories to ground-truth videos.

Drawn at 4x (256 x 256) with PIL and area-downsampled (``Image.reduce(4)``), which gives the
anti-aliased edges the contract asks for (``shapes_world.md``, Canvas). Jitter (object colour
up to 12 per channel, side up to 15 %, anchored centres up to 2 px) and the background's
decorations are the world's unspecified details, drawn from the random generator; the geometry
rules (clamping, jitter cells) are those of :mod:`direct2v.shapes.world`.

In a consistent story (``render_story(consistent=True)``) those details are sampled once: every
frame with the same background word gets the same decorations, and each object (identified by
its index in ``Scene.objects``) keeps its colour, size and centre jitter. That is the
ground-truth video against which cross-frame consistency (RVM, DSF) is measured.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .world import (BACKGROUNDS, CANVAS, CENTER_JITTER, COLOR_JITTER, COLORS, COLUMNS,
                    DECORATIONS, EDGE_MARGIN, ROWS, SIZE_JITTER, Obj, Scene, jitter_cell)

UPSAMPLE = 4
_S = CANVAS * UPSAMPLE


@dataclass(frozen=True)
class Jitter:
    """An object's random details: colour offset (per channel), side factor, centre offset."""

    color: tuple[int, int, int]
    size: float
    dx: float
    dy: float

    @staticmethod
    def sample(rng: np.random.Generator) -> "Jitter":
        c = rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
        f = rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER)
        d = rng.uniform(-CENTER_JITTER, CENTER_JITTER, size=2)
        return Jitter((int(c[0]), int(c[1]), int(c[2])), float(f), float(d[0]), float(d[1]))


@dataclass(frozen=True)
class Drawn:
    """What the renderer actually drew for one object (ground truth for the detector)."""

    color: str
    shape: str
    cx: float
    cy: float
    side: float
    rgb: tuple[int, int, int]


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
    return Drawn(obj.color, obj.shape, float(cx), float(cy), float(side), rgb)


# --- decorations --------------------------------------------------------------------------
def sample_decorations(background: str, rng: np.random.Generator) -> list[tuple]:
    """Draw the decorations of ``background`` as primitives in canvas pixels.

    Primitives: ``("ellipse", x0, y0, x1, y1)``, ``("pixel", x, y)``, ``("line", points, width)``,
    ``("band", y0, y1)``. Counts follow the contract: 0-3 clouds, 5-20 stars, 0-2 dune lines,
    0-6 grass blades, one dusk horizon band.
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; allowed: {', '.join(BACKGROUNDS)}")
    out: list[tuple] = []
    if background == "day":
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(4, 60), rng.uniform(5, 40)
            w, h = rng.uniform(10, 20), rng.uniform(4, 7)
            out.append(("ellipse", x - w / 2, y - h / 2, x + w / 2, y + h / 2))
            for _ in range(2):   # puffs on top: a soft, cloud-like outline
                px, r = x + rng.uniform(-w / 3, w / 3), rng.uniform(h / 3, h / 1.6)
                out.append(("ellipse", px - r, y - h / 4 - r, px + r, y - h / 4 + r))
    elif background == "night":
        n = int(rng.integers(5, 21))
        for x, y in zip(rng.integers(0, CANVAS, n), rng.integers(0, CANVAS, n)):
            out.append(("pixel", int(x), int(y)))
    elif background == "desert":
        for _ in range(int(rng.integers(0, 3))):
            base, amp = rng.uniform(30, 60), rng.uniform(1, 4)
            freq, phase = rng.uniform(0.05, 0.15), rng.uniform(0, 2 * np.pi)
            xs = np.linspace(-2, CANVAS + 2, 17)
            pts = [(float(x), float(base + amp * np.sin(freq * x + phase))) for x in xs]
            out.append(("line", pts, 1.0))
    elif background == "grass":
        for _ in range(int(rng.integers(0, 7))):
            x, y = rng.uniform(1, 63), rng.uniform(12, 63)
            length, lean = rng.uniform(3, 6), rng.uniform(-2, 2)
            out.append(("line", [(x, y), (x + lean, y - length)], 1.0))
    else:  # dusk
        y0 = rng.uniform(20, 56)
        out.append(("band", y0, y0 + rng.uniform(3, 6)))
    return out


def _draw_decorations(draw: ImageDraw.ImageDraw, background: str, decorations) -> None:
    rgb = DECORATIONS[background][1]
    u = UPSAMPLE
    for d in decorations:
        kind = d[0]
        if kind == "ellipse":
            draw.ellipse([round(d[1] * u), round(d[2] * u), round(d[3] * u) - 1,
                          round(d[4] * u) - 1], fill=rgb)
        elif kind == "pixel":
            draw.rectangle([d[1] * u, d[2] * u, d[1] * u + u - 1, d[2] * u + u - 1], fill=rgb)
        elif kind == "line":
            draw.line([(x * u, y * u) for x, y in d[1]], fill=rgb, width=round(d[2] * u),
                      joint="curve")
        elif kind == "band":
            draw.rectangle([0, round(d[1] * u), _S - 1, round(d[2] * u) - 1], fill=rgb)


def _draw_object(draw: ImageDraw.ImageDraw, o: Drawn) -> None:
    u = UPSAMPLE
    x0, y0 = round((o.cx - o.side / 2) * u), round((o.cy - o.side / 2) * u)
    x1, y1 = round((o.cx + o.side / 2) * u) - 1, round((o.cy + o.side / 2) * u) - 1
    if o.shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=o.rgb)
    elif o.shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=o.rgb)
    else:  # triangle, apex up, base = height = side
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=o.rgb)


def _paint(background: str, decorations, objects: Sequence[Drawn]) -> np.ndarray:
    img = Image.new("RGB", (_S, _S), BACKGROUNDS[background])
    draw = ImageDraw.Draw(img)
    _draw_decorations(draw, background, decorations)
    for o in objects:
        _draw_object(draw, o)
    return np.asarray(img.reduce(UPSAMPLE))


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an int seed or None, "
                     f"got {type(rng).__name__}")


def render_with_truth(scene: Scene, rng: np.random.Generator | int | None = None
                      ) -> tuple[np.ndarray, list[Drawn]]:
    """Like :func:`render`, and also return what was drawn for each object (in scene order)."""
    scene.validate()
    rng = _rng(rng)
    decorations = sample_decorations(scene.background, rng)
    objs = [drawn(o, Jitter.sample(rng)) for o in scene.objects]
    return _paint(scene.background, decorations, objs), objs


def render(scene: Scene, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Draw ``scene`` as a (64, 64, 3) uint8 image; deterministic given the seed / generator.

    Validates the scene first (``ValueError`` on a bad one). Decorations, then objects in order.
    """
    return render_with_truth(scene, rng)[0]


def render_story(scenes: Sequence[Scene], seed: int = 0, consistent: bool = True,
                 return_truth: bool = False):
    """Draw a story, one scene per frame, as a (F, 64, 64, 3) uint8 video.

    ``consistent=True``: decorations are sampled once per background word (so frames that share
    a background show identical decorations) and each object index keeps its jitter across
    frames. ``consistent=False``: every frame is sampled independently, as a text-to-image model
    prompted frame by frame would do. With ``return_truth`` also returns the drawn objects of
    every frame.
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
        jitters = [Jitter.sample(np.random.default_rng([seed, 1, i])) for i in range(n)]
        for scene in scenes:
            objs = [drawn(o, jitters[i]) for i, o in enumerate(scene.objects)]
            frames.append(_paint(scene.background, decos[scene.background], objs))
            truth.append(objs)
    else:
        for f, scene in enumerate(scenes):
            image, objs = render_with_truth(scene, np.random.default_rng([seed, 2, f]))
            frames.append(image)
            truth.append(objs)
    video = np.stack(frames)
    return (video, truth) if return_truth else video

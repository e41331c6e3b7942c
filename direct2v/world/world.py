"""The shapes world: palette, vocabulary, scenes and their validation (``shapes_world.md``).

The miniature Stable Diffusion that ships with direct2v is trained on this procedural world,
whose ground truth is known, so that every claim of the book (prompt following, cross-frame
consistency, the effect of RVM and DSF) can be measured by :mod:`direct2v.world.detect`.

Geometry, in pixels of the 64 x 64 canvas (a pixel ``i`` covers ``[i, i + 1)``):

* An object's *nominal side* is ``SIZES[size] * scale``; the renderer multiplies it by a size
  jitter in ``[1 - SIZE_JITTER, 1 + SIZE_JITTER]``.
* Clamping (the contract's "large objects are clamped inside the canvas"): every centre, an
  anchor or an exact ``x``/``y``, is clamped to ``[H, 64 - H]`` with
  ``H = side * (1 + SIZE_JITTER) / 2 + EDGE_MARGIN``, so that no jitter can push the object
  off the canvas. :meth:`Obj.center` is that clamped centre and validation uses it.
  A large object at "far left" is therefore centred at x = 14.3, not 8.
* Centre jitter (anchors only, up to ``CENTER_JITTER`` px) is clipped so that the drawn centre
  stays nearer to its own clamped anchor than to the clamped neighbour anchors (by
  ``CELL_MARGIN`` px), so the detector can always recover the stated column and row, even for
  a large object at "far left" (clamped to 14.3) versus "left" (17).
* Validation checks the *worst-case* boxes (largest size jitter, largest centre jitter), at
  least ``MIN_GAP`` px apart, so the renderer's jitter can never make objects overlap.

Version 3 (``shapes_world.md``, "Version 3 (open)"): one candidate rule was piloted, objects of one scene
sharing one pattern (``render(..., shared_pattern=True)``), so that copying a pattern across the image
becomes self-attention's job. It is not adopted: after 2,000 steps of fine-tuning it moved appearance
transfer by two of 22 pairs (the model card's notes 11-14 say what was measured and what to try next).
The world the shipped model is trained on is version 2.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, replace

import numpy as np

CANVAS = 64

# --- palette ------------------------------------------------------------------------------
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "orange": (250, 140, 20),
    "yellow": (245, 215, 35),
    "green": (50, 190, 70),
    "blue": (35, 85, 225),
    "purple": (145, 55, 185),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "day": (150, 205, 245),
    "night": (15, 20, 55),
    "desert": (225, 200, 150),
    "grass": (45, 105, 45),
    "dusk": (95, 70, 120),
}
# Decorations: the background's unspecified details, never named in captions.
DECORATIONS: dict[str, tuple[str, tuple[int, int, int]]] = {
    "day": ("cloud", (225, 235, 248)),
    "night": ("star", (230, 230, 200)),
    "desert": ("dune", (200, 175, 125)),
    "grass": ("blade", (35, 85, 35)),
    "dusk": ("horizon", (120, 85, 130)),
}
# Version 2 (shapes_world.md, "Version 2"): decorations with visual mass. Every colour a
# background's decorations may take; all of them count for that background in the detector.
SUN_COLOR = (150, 145, 10)      # the dusk sun, dim ochre: it and its blends with the dusk sky
                                # stay far from every object colour, tint and their blends
TUFT_COLOR = (25, 70, 25)       # grass tufts and flowers: darker than version 1's blades
DECORATION_COLORS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "day": (DECORATIONS["day"][1],),
    "night": (DECORATIONS["night"][1],),          # 2 x 2 stars and the moon
    "desert": (DECORATIONS["desert"][1],),        # filled dunes
    "grass": (DECORATIONS["grass"][1], TUFT_COLOR),
    "dusk": (DECORATIONS["dusk"][1], SUN_COLOR),  # the horizon band and the sun on it
}

# --- objects ------------------------------------------------------------------------------
# (world version 2 added what a caption leaves open: object patterns and decorations with mass)
PATTERNS = ("solid", "horizontal stripes", "vertical stripes", "dots", "checker", "ring")
"""An object's pattern (version 2), never named in a caption: the identity a story must keep."""
PATTERN_TINT = 0.45
"""Pattern pixels are the object's colour mixed this far toward white (a lighter tint)."""
PATTERN_PERIOD = 8
"""Period of stripes, dots and checks, px. The contract says about 4 px; at 4 px one period fills
one latent pixel of the miniature's VAE (4x downsampling), and after 250 fine-tuning steps the
VAE returned stripes, dots and checks as a flat lighter shade (the detector named 35% of the
patterns of its reconstructions). At 8 px, two latent pixels a period, they survive."""
PATTERN_SIZES = ("medium", "large")
"""Size classes that show their pattern; a small object is drawn solid (too small to show it)."""


def tint(rgb) -> tuple[int, int, int]:
    """The lighter tint of ``rgb`` in which an object's pattern is drawn."""
    return tuple(int(round(c + PATTERN_TINT * (255 - c))) for c in rgb)


SHAPES = ("circle", "square", "triangle")
SHAPE_SYNONYMS = {"ball": "circle", "disc": "circle", "dot": "circle", "box": "square",
                  "block": "square", "cube": "square", "pyramid": "triangle"}
SIZES = {"small": 10, "medium": 16, "large": 24}
COLUMNS = {"far left": 8, "left": 17, "center left": 25, "center": 32, "center right": 39,
           "right": 47, "far right": 56}
ROWS = {"top": 14, "middle": 32, "bottom": 50}

COLOR_JITTER = 12      # per channel, at most
SIZE_JITTER = 0.15     # relative, at most
CENTER_JITTER = 2.0    # px, at most, anchors only
EDGE_MARGIN = 0.5      # px kept free between the worst-case box and the canvas edge
CELL_MARGIN = 0.5      # px by which a jittered centre stays inside its anchor's cell
MIN_GAP = 2.0          # px between worst-case bounding boxes
MAX_OBJECTS = 3
SCALE_RANGE = (0.5, 2.5)

# --- vocabulary ---------------------------------------------------------------------------
STORY_WORDS = (
    "moves", "move", "moving", "moved", "rolls", "slides", "from", "to", "appears", "disappears",
    "later", "grows", "shrinks", "turns", "becomes", "falls", "rises", "bounces", "then",
    "while", "and", "a", "an", "the", "at", "in", "of", "with", "background", "sky", "image",
    "picture", "scene", "on", "up", "down", "back", "across", "into", "it", "its", "is",
    "still", "stays", "slowly", "quickly", "again", "bigger", "smaller", "frame",
)


def _build_vocabulary() -> list[str]:
    words: list[str] = []
    groups = (COLORS, SHAPES, SHAPE_SYNONYMS, SIZES, COLUMNS, ROWS, BACKGROUNDS, STORY_WORDS,
              (",", "."))
    for group in groups:
        for phrase in group:
            for word in phrase.split():
                if word not in words:
                    words.append(word)
    return words


VOCABULARY: list[str] = _build_vocabulary()

_PUNCTUATION = re.compile(r"([,.;:!?])")


def normalize_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words; punctuation marks become their own tokens.

    Hyphens count as spaces ("far-left" -> "far", "left"). Used by the captions parser and by
    the word-level tokenizer of the miniature model, so both see the same words.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    text = _PUNCTUATION.sub(r" \1 ", text.lower().replace("-", " "))
    return text.split()


# --- geometry helpers ---------------------------------------------------------------------
def _half_extent(side: float) -> float:
    """Clamping half-extent ``H`` of an object of nominal ``side`` (worst-case size jitter)."""
    return side * (1 + SIZE_JITTER) / 2 + EDGE_MARGIN


def _clamp(v: float, side: float) -> float:
    h = _half_extent(side)
    return float(min(max(v, h), CANVAS - h)) if 2 * h <= CANVAS else CANVAS / 2


def anchor_center(column: str, row: str, size: str, scale: float = 1.0) -> tuple[float, float]:
    """Centre (x, y) at which an object of this size is drawn at an anchor, clamped inside."""
    side = SIZES[size] * scale
    return _clamp(COLUMNS[column], side), _clamp(ROWS[row], side)


def _nearest(table: dict[str, float], v: float, side: float | None) -> str:
    values = {k: (_clamp(a, side) if side is not None else a) for k, a in table.items()}
    return min(values, key=lambda k: abs(values[k] - v))


def nearest_column(x: float, side: float | None = None) -> str:
    """Column word whose anchor is nearest to ``x``.

    With ``side`` (nominal side in px), compares with the anchors clamped for that side, which is
    how the detector reads a large object drawn at "far left" (x = 14.3) as "far left".
    """
    return _nearest(COLUMNS, x, side)


def nearest_row(y: float, side: float | None = None) -> str:
    """Row word whose anchor is nearest to ``y`` (clamped for ``side`` when given)."""
    return _nearest(ROWS, y, side)


# size-class thresholds: geometric means of neighbouring sides (12.6 px and 19.6 px), which
# separate the jittered ranges small 8.5-11.5, medium 13.6-18.4, large 20.4-27.6.
_SIZE_ORDER = sorted(SIZES, key=SIZES.get)
_SIZE_BOUNDS = [math.sqrt(SIZES[a] * SIZES[b]) for a, b in zip(_SIZE_ORDER, _SIZE_ORDER[1:])]


def size_class(side_px: float) -> str:
    """Size word for a bounding-box side in px (boundaries at 12.6 px and 19.6 px)."""
    for word, bound in zip(_SIZE_ORDER, _SIZE_BOUNDS):
        if side_px < bound:
            return word
    return _SIZE_ORDER[-1]


def jitter_cell(table: dict[str, float], word: str, side: float) -> tuple[float, float]:
    """Interval in which a jittered centre at anchor ``word`` may lie (see module docstring)."""
    values = [_clamp(a, side) for a in table.values()]
    i = list(table).index(word)
    e = values[i]
    lo, hi = e - CENTER_JITTER, e + CENTER_JITTER
    if i > 0:
        lo = max(lo, min(e, (values[i - 1] + e) / 2 + CELL_MARGIN))
    if i + 1 < len(values):
        hi = min(hi, max(e, (values[i + 1] + e) / 2 - CELL_MARGIN))
    return lo, hi


def _allowed(kind: str, value, allowed) -> str:
    return f"unknown {kind} {value!r}; allowed: {', '.join(map(str, allowed))}"


# --- data types ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Obj:
    """One object. ``column``/``row`` are anchor words; ``x``/``y`` optionally an exact centre.

    ``x``/``y`` (used by stories for continuous motion) must be nearest to the ``column``/``row``
    anchors (plain or clamped for the object's side). ``scale`` multiplies the size-class side
    (smooth growth); ``size`` must stay the size class of the nominal side (validated), which
    :meth:`with_side` keeps.
    """

    color: str
    shape: str
    size: str
    column: str
    row: str
    x: float | None = None
    y: float | None = None
    scale: float = 1.0

    @property
    def side(self) -> float:
        """Nominal side in px, ``SIZES[size] * scale`` (before the renderer's size jitter)."""
        return SIZES[self.size] * self.scale

    @property
    def center(self) -> tuple[float, float]:
        """Centre before jitter: the exact x/y or the anchor, clamped inside the canvas."""
        side = self.side
        x = COLUMNS[self.column] if self.x is None else self.x
        y = ROWS[self.row] if self.y is None else self.y
        return _clamp(x, side), _clamp(y, side)

    def bbox(self, worst_case: bool = True) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): by default the box holding every box the renderer may draw
        (largest size jitter, centre anywhere in its jitter cell); else the nominal box."""
        cx, cy = self.center
        side = self.side
        if not worst_case:
            return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
        half = side * (1 + SIZE_JITTER) / 2
        x0, x1 = (cx, cx) if self.x is not None else jitter_cell(COLUMNS, self.column, side)
        y0, y1 = (cy, cy) if self.y is not None else jitter_cell(ROWS, self.row, side)
        lo, hi = EDGE_MARGIN, CANVAS - EDGE_MARGIN   # the renderer keeps every box inside
        return max(x0 - half, lo), max(y0 - half, lo), min(x1 + half, hi), min(y1 + half, hi)

    def with_side(self, side_px: float) -> "Obj":
        """Copy with nominal side ``side_px``: ``size = size_class(side_px)``, scale to match."""
        size = size_class(side_px)
        return replace(self, size=size, scale=side_px / SIZES[size])

    def problems(self) -> list[str]:
        """What is wrong with this object on its own (empty when valid)."""
        out = []
        if self.color not in COLORS:
            out.append(_allowed("colour", self.color, COLORS))
        if self.shape not in SHAPES:
            hint = f" (the synonym {self.shape!r} means {SHAPE_SYNONYMS[self.shape]!r})" \
                if self.shape in SHAPE_SYNONYMS else ""
            out.append(_allowed("shape", self.shape, SHAPES) + hint)
        if self.size not in SIZES:
            out.append(_allowed("size", self.size, SIZES))
        if self.column not in COLUMNS:
            out.append(_allowed("column", self.column, COLUMNS))
        if self.row not in ROWS:
            out.append(_allowed("row", self.row, ROWS))
        if not (isinstance(self.scale, numbers.Real)
                and SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]):
            out.append(f"scale={self.scale!r} is outside the allowed range {SCALE_RANGE}")
        if out:
            return out
        for name, v, table, words in (("x", self.x, COLUMNS, self.column),
                                      ("y", self.y, ROWS, self.row)):
            if v is None:
                continue
            if not (isinstance(v, numbers.Real) and 0 <= v <= CANVAS):
                out.append(f"{name}={v!r} puts the centre outside the canvas [0, {CANVAS}]")
                continue
            if not _is_nearest(table, words, v, self.side):
                kind = "column" if name == "x" else "row"
                want = nearest_column(v) if name == "x" else nearest_row(v)
                out.append(f"{name}={v:g} is nearest to the {kind} {want!r}, not {words!r}")
        if size_class(self.side) != self.size:
            out.append(f"side {self.side:g} px ({self.size} x scale {self.scale:g}) is of size "
                       f"class {size_class(self.side)!r}, not {self.size!r}; use "
                       f"obj.with_side({self.side:g})")
        if self.side * (1 + SIZE_JITTER) + 2 * EDGE_MARGIN > CANVAS:
            out.append(f"side {self.side:g} px does not fit inside the {CANVAS} px canvas")
        return out


def _is_nearest(table: dict[str, float], word: str, v: float, side: float) -> bool:
    for values in (table, {k: _clamp(a, side) for k, a in table.items()}):
        best = min(abs(a - v) for a in values.values())
        if abs(values[word] - v) <= best + 1e-6:
            return True
    return False


@dataclass(frozen=True)
class Scene:
    """A background word and 1 to 3 objects (their order is their identity in stories)."""

    objects: tuple[Obj, ...]
    background: str

    def __post_init__(self):
        if not isinstance(self.objects, tuple):
            object.__setattr__(self, "objects", tuple(self.objects))

    def validate(self) -> "Scene":
        """Raise ``ValueError`` naming each problem (and the object index); return ``self``."""
        problems = []
        if self.background not in BACKGROUNDS:
            problems.append(_allowed("background", self.background, BACKGROUNDS))
        n = len(self.objects)
        if not 1 <= n <= MAX_OBJECTS:
            problems.append(f"a scene has 1 to {MAX_OBJECTS} objects, got {n}")
        ok = []
        for i, obj in enumerate(self.objects):
            if not isinstance(obj, Obj):
                problems.append(f"object {i}: expected an Obj, got {type(obj).__name__}")
                continue
            errs = obj.problems()
            problems += [f"object {i}: {e}" for e in errs]
            if not errs:
                ok.append((i, obj, obj.bbox()))
        for a in range(len(ok)):
            for b in range(a + 1, len(ok)):
                (i, oi, bi), (j, oj, bj) = ok[a], ok[b]
                gap = max(bj[0] - bi[2], bi[0] - bj[2], bj[1] - bi[3], bi[1] - bj[3])
                if gap < MIN_GAP:
                    problems.append(
                        f"objects {i} ({oi.size} {oi.shape} at {oi.row} {oi.column}) and {j} "
                        f"({oj.size} {oj.shape} at {oj.row} {oj.column}) overlap: their "
                        f"worst-case boxes are {gap:.1f} px apart, need at least {MIN_GAP:g} px")
        if problems:
            raise ValueError("invalid scene: " + "; ".join(problems))
        return self

    def is_valid(self) -> bool:
        try:
            self.validate()
        except ValueError:
            return False
        return True


# --- random scenes ------------------------------------------------------------------------
_N_WEIGHTS = (0.5, 0.3, 0.2)


def random_scene(rng: np.random.Generator, n_objects: int | None = None) -> Scene:
    """A valid random scene with 1 to 3 objects at anchors (weights 0.5 / 0.3 / 0.2).

    Objects are drawn one at a time, each resampled until it fits among the previous ones.
    """
    if n_objects is None:
        n_objects = int(rng.choice(3, p=_N_WEIGHTS)) + 1
    if not (isinstance(n_objects, (int, np.integer)) and 1 <= n_objects <= MAX_OBJECTS):
        raise ValueError(f"n_objects={n_objects!r} is not allowed; use None or 1 to {MAX_OBJECTS}")
    colors, sizes, columns, rows = list(COLORS), list(SIZES), list(COLUMNS), list(ROWS)
    background = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    while True:
        objects: list[Obj] = []
        boxes = []
        for _ in range(n_objects):
            for _attempt in range(100):
                obj = Obj(colors[int(rng.integers(6))], SHAPES[int(rng.integers(3))],
                          sizes[int(rng.integers(3))], columns[int(rng.integers(7))],
                          rows[int(rng.integers(3))])
                box = obj.bbox()
                if all(max(b[0] - box[2], box[0] - b[2], b[1] - box[3], box[1] - b[3]) >= MIN_GAP
                       for b in boxes):
                    objects.append(obj)
                    boxes.append(box)
                    break
            else:
                break
        if len(objects) == n_objects:
            return Scene(tuple(objects), background)

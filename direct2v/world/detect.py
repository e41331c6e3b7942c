"""Detector of the shapes world: the judge of every image and video the book generates.

``shapes_world.md`` (Detector): image -> background word and objects (colour, shape, size
class, column, row, centre, area), by nearest-palette pixel classification and connected
components. It is tested first (``tests/test_shapes_world.py``) against the renderer's ground
truth, because prompt following and cross-frame consistency are all measured with it.

Steps of :func:`detect`:

1. Every pixel takes the nearest of the 16 palette colours (6 object colours, 5 backgrounds,
   5 decorations). Object pixels farther than ``OBJECT_DISTANCE`` from their colour are
   dropped (blurry or off-colour pixels of generated images).
2. Background: the background word with most pixels, decoration pixels counting for their
   background, so that clouds, stars, dunes, blades and the dusk band are never objects.
3. Objects: 8-connected components of each object colour (``MIN_SEED`` px or more). A
   component touching a bigger component of another colour is that object's anti-aliased or
   blurred rim and is dropped (real objects are at least 2 px apart).
4. Coverage: each pixel within 2 px of a component is unmixed into object colour and local
   background colour (:func:`_coverage`), which measures area and centre to a fraction of a
   pixel, also on blurred images. Components with less than ``MIN_AREA`` px of coverage are
   dropped.
5. Shape, from coverage-weighted moments (:func:`_shape_of`): a triangle (apex up) is skewed
   towards its base; a square's x and y are independent, a disc's are not. These moments stay
   put under blur, where the contract's fill ratio of the bounding box (circle about 0.785,
   square 1, triangle 0.5) does not.
6. Size: the side implied by the area and the shape (circle 2 sqrt(A / pi), square sqrt(A),
   triangle sqrt(2 A)), classed by :func:`~direct2v.world.world.size_class`.
7. Column and row: nearest anchor to the centre, with anchors clamped for the detected size
   as the renderer clamps them (:func:`~direct2v.world.world.nearest_column`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import cv2
import numpy as np

from .render import Drawn, pattern_map
from .world import (BACKGROUNDS, CANVAS, COLORS, COLUMNS, DECORATION_COLORS, DECORATIONS,
                    PATTERN_PERIOD, PATTERNS, SIZES, Scene, nearest_column, nearest_row,
                    size_class, tint)

OBJECT_DISTANCE = 80.0      # max RGB distance of an object pixel to its palette colour
MIN_AREA = 20               # px of coverage; the smallest object (triangle, side 8.5) has 36
MIX_DISTANCE = 45.0         # max RGB distance of a rim pixel to the object/background mix line
MIN_SEED = 6                # px of a colour's connected component worth a closer look
TRIANGLE_SKEW = -0.28      # vertical skewness below which a component is a triangle
SQUARE_RATIO = 0.83        # E[dx^2 dy^2] / (E[dx^2] E[dy^2]) above which it is a square

_OBJ_NAMES = list(COLORS)
_BG_NAMES = list(BACKGROUNDS)
N_OBJECT_LABELS = len(_OBJ_NAMES)
"""Labels of :func:`classify_pixels` below this are object colours (pattern tints included)."""
_N_OBJ, _N_BG = N_OBJECT_LABELS, len(_BG_NAMES)
# The palette the pixels are classified against, and the label each entry stands for: object
# colours (0-5), backgrounds (6-10), each background's decorations (11-15), then the version-2
# entries folded into those labels: the pattern tint of every object colour and the half tint
# of its pattern's edges, the extra decoration colours (the dusk sun, grass tufts).
_ENTRIES = ([(rgb, k) for k, rgb in enumerate(COLORS.values())]
            + [(rgb, _N_OBJ + b) for b, rgb in enumerate(BACKGROUNDS.values())]
            + [(DECORATIONS[name][1], _N_OBJ + _N_BG + b) for b, name in enumerate(_BG_NAMES)]
            + [(tint(rgb), k) for k, rgb in enumerate(COLORS.values())]
            + [(tuple((a + b) / 2 for a, b in zip(rgb, tint(rgb))), k)   # half-tint pixels
               for k, rgb in enumerate(COLORS.values())]
            + [(rgb, _N_OBJ + _N_BG + b) for b, name in enumerate(_BG_NAMES)
               for rgb in DECORATION_COLORS[name] if rgb != DECORATIONS[name][1]])
_PALETTE = np.array([rgb for rgb, _ in _ENTRIES], dtype=np.float32)
_LABEL = np.array([label for _, label in _ENTRIES])
_IS_TINT = np.array([i >= _N_OBJ + 2 * _N_BG and label < _N_OBJ
                     for i, (_, label) in enumerate(_ENTRIES)])
_KERNEL = np.ones((3, 3), np.uint8)


@dataclass
class DetectedObject:
    color: str
    shape: str
    size: str
    column: str
    row: str
    cx: float           # centre of the bounding box, px (pixel i covers [i, i + 1))
    cy: float
    area: float         # coverage, px
    bbox: tuple[int, int, int, int]   # x0, y0, x1, y1 (exclusive) of the component, px
    side: float = 0.0   # side implied by area and shape, px
    pattern: str | None = None   # one of PATTERNS for a medium or large object, else None
    fill: float = 0.0   # coverage over its box (extent: the sum of each column's / row's largest coverage)
    aspect: float = 1.0  # width over height of that box


@dataclass
class Detection:
    background: str
    objects: list[DetectedObject] = field(default_factory=list)
    decorations: np.ndarray | None = None
    """Decoration signature (version 2): boolean (64, 64) mask of the background's decoration
    pixels, objects and their 2 px surroundings left out."""


def _as_array(image) -> np.ndarray:
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be H x W x 3 RGB, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[:2] != (CANVAS, CANVAS):
        arr = cv2.resize(arr, (CANVAS, CANVAS), interpolation=cv2.INTER_AREA)
    return arr


def _nearest_entry(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``_PALETTE`` of every pixel's nearest entry, and the distance to it."""
    flat = arr.reshape(-1, 3).astype(np.float32)
    d2 = (flat * flat).sum(1, keepdims=True) - 2 * flat @ _PALETTE.T + (_PALETTE ** 2).sum(1)
    entry = d2.argmin(1)
    dist = np.sqrt(np.maximum(d2[np.arange(len(entry)), entry], 0))
    return entry.reshape(CANVAS, CANVAS), dist.reshape(CANVAS, CANVAS)


def classify_pixels(image) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette label (0-5 objects, 6-10 backgrounds, 11-15 decorations) and distance.

    An object's pattern tint counts as its colour; every decoration colour of a background
    (version 2 adds the dusk sun and grass tufts) counts as that background's decoration.
    """
    entry, dist = _nearest_entry(_as_array(image))
    return _LABEL[entry], dist


def _coverage(arr: np.ndarray, mask: np.ndarray, obj: np.ndarray, others: np.ndarray,
              background: np.ndarray, x: int, y: int, w: int, h: int
              ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-pixel coverage (0-1) of one component in a patch around it (up to 2 px out, which
    holds the blur of generated images), the 1 px neighbourhood of the component (where the
    shape is measured: far pixels are mostly noise) and the patch origin.

    A pixel near the component is a mix of the object's colour ``obj``, its pattern tint and
    the local background (median of a ring around it); its coverage is the share of the first
    two. Pixels of other objects, and pixels farther than ``MIX_DISTANCE`` from the plane of the
    three colours (decorations, other colours), count as 0.
    """
    x0, y0 = max(x - 4, 0), max(y - 4, 0)
    x1, y1 = min(x + w + 4, CANVAS), min(y + h + 4, CANVAS)
    m = mask[y0:y1, x0:x1]
    patch = arr[y0:y1, x0:x1].astype(np.float32)
    inner = cv2.dilate(m, _KERNEL) > 0
    region = cv2.dilate(m, _KERNEL, iterations=2)
    ring = (cv2.dilate(region, _KERNEL) > 0) & (region == 0) & ~others[y0:y1, x0:x1]
    bg = np.median(patch[ring], axis=0) if ring.any() else background
    # a pixel is a mix of background, object colour and pattern tint: least-squares weights of
    # the latter two in the plane of the three colours; its coverage is their sum
    basis = np.stack([obj - bg, np.asarray(tint(obj), np.float32) - bg], 1)   # (3, 2)
    weights = np.clip((patch - bg) @ np.linalg.pinv(basis).T, 0, None)
    residual = np.linalg.norm(patch - bg - weights @ basis.T, axis=-1)
    alpha = np.clip(weights.sum(-1), 0, 1) * (residual <= MIX_DISTANCE)   # e.g. a star next to it
    alpha *= (region > 0) & ~others[y0:y1, x0:x1]
    return alpha, inner, x0, y0


def _shape_of(alpha: np.ndarray) -> tuple[str, float, float]:
    """Shape and centroid (x, y) of a coverage patch, from its weighted moments.

    A triangle (apex up) has vertical skewness about -0.57, a circle or square 0. Of the two,
    a square has independent x and y, so E[dx^2 dy^2] / (E[dx^2] E[dy^2]) = 1; a disc 2/3.
    """
    ys, xs = np.indices(alpha.shape, dtype=np.float32)
    area = max(float(alpha.sum()), 1e-6)
    mx, my = float((alpha * xs).sum()) / area, float((alpha * ys).sum()) / area
    dx2, dy = (xs - mx) ** 2, ys - my
    vx, vy = float((alpha * dx2).sum()) / area, float((alpha * dy ** 2).sum()) / area
    skew = float((alpha * dy ** 3).sum()) / area / max(vy, 1e-6) ** 1.5
    if skew < TRIANGLE_SKEW:
        shape = "triangle"
    else:
        ratio = float((alpha * dx2 * dy ** 2).sum()) / area / max(vx * vy, 1e-6)
        shape = "square" if ratio > SQUARE_RATIO else "circle"
    return shape, mx + 0.5, my + 0.5


_SIDE = {"circle": lambda a: 2 * np.sqrt(a / np.pi), "square": np.sqrt,
         "triangle": lambda a: np.sqrt(2 * a)}


def pattern_features(t: np.ndarray, region: np.ndarray, ring: np.ndarray) -> dict[str, float]:
    """Features of an object's tint map ``t`` (0: its colour, 1: its pattern tint) over ``region``.

    ``mean``: the share of tint. ``fx``, ``fy``, ``fd``: magnitude of the tint's Fourier
    coefficient at the pattern period along x, along y and along the diagonals (stripes across
    y light up ``fy``, stripes across x ``fx``, checks ``fd``, dots all three). ``ring``: the
    correlation of the tint with ``ring``, the map of where a ring of the detected shape, size
    and place would be drawn (:func:`~direct2v.world.render.pattern_map`).
    """
    ys, xs = np.nonzero(region)
    v = t[ys, xs] - t[ys, xs].mean()
    w = 2 * np.pi / PATTERN_PERIOD

    def coefficient(phase):
        return float(np.abs((v * np.exp(-1j * w * phase)).mean()))

    r = ring[ys, xs] - ring[ys, xs].mean()
    spread = float(np.sqrt((v * v).sum() * (r * r).sum()))
    return {"mean": float(t[ys, xs].mean()), "fx": coefficient(xs), "fy": coefficient(ys),
            "fd": max(coefficient(xs + ys), coefficient(xs - ys)),
            "ring": float((v * r).sum()) / spread if spread > 1e-9 else 0.0}


def pattern_of(features: dict[str, float]) -> str | None:
    """The pattern (one of ``PATTERNS``) that :func:`pattern_features` describe, or ``None``."""
    m, fx, fy, fd, ring = (features[k] for k in ("mean", "fx", "fy", "fd", "ring"))
    strongest = max(fx, fy, fd)
    if m < PATTERN_NONE and strongest < PATTERN_NONE:
        return "solid"
    if ring > RING_CORRELATION:
        return "ring"
    if strongest < PATTERN_WEAK:
        return None
    if fy >= 2 * max(fx, fd):
        return "horizontal stripes"
    if fx >= 2 * max(fy, fd):
        return "vertical stripes"
    if fd >= 2 * max(fx, fy):
        return "checker"
    if min(fx, fy) >= 0.5 * max(fx, fy):
        return "dots"
    return None


PATTERN_NONE = 0.05    # tint share and Fourier magnitude below which an object is solid
PATTERN_WEAK = 0.05    # Fourier magnitude below which no periodic pattern is read
RING_CORRELATION = 0.5   # correlation with the expected ring above which it is a ring


def _tint_map(patch: np.ndarray, obj) -> np.ndarray:
    """Where each pixel lies between the object's colour ``obj`` (0) and its pattern tint (1)."""
    obj = np.asarray(obj, np.float32)
    axis = np.asarray(tint(obj), np.float32) - obj
    return np.clip(((patch - obj) @ axis) / max(float(axis @ axis), 1e-6), 0, 1)


def _decoration_mask(label: np.ndarray, background: str, objectness: np.ndarray) -> np.ndarray:
    """The decoration signature: decoration pixels of ``background`` away from every object."""
    near = cv2.dilate(objectness.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return (label == _N_OBJ + _N_BG + _BG_NAMES.index(background)) & ~near


def detect(image) -> Detection:
    """Detect background, objects and decorations in a 64 x 64 RGB image (numpy uint8 or PIL).

    Objects are listed left to right (by centre x); a medium or large object also gets its
    pattern (version 2). See the module docstring for the method. An image of another size is
    resized (area) to 64 x 64; floats in [0, 1] are accepted.
    """
    arr = _as_array(image)
    entry, dist = _nearest_entry(arr)
    label, is_tint = _LABEL[entry], _IS_TINT[entry]
    counts = np.bincount(label.ravel(), minlength=_N_OBJ + 2 * _N_BG)
    bg_counts = counts[_N_OBJ:_N_OBJ + _N_BG] + counts[_N_OBJ + _N_BG:]
    background = _BG_NAMES[int(bg_counts.argmax())]
    bg_rgb = np.asarray(BACKGROUNDS[background], np.float32)
    objectness = (label < _N_OBJ) & (dist < OBJECT_DISTANCE)
    # candidate components of every object colour, numbered across colours; a component of
    # pattern tint alone is not an object (a pale patch of sky is not a blue object)
    ids = np.zeros(label.shape, np.int32)
    cands = []   # (colour index, pixel count, x, y, w, h)
    for k in np.flatnonzero(counts[:_N_OBJ] >= MIN_SEED):
        mask = ((label == k) & objectness).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for c in range(1, n):
            base = int(((comp == c) & ~is_tint).sum())
            if stats[c, cv2.CC_STAT_AREA] >= MIN_SEED and base >= MIN_SEED / 2:
                cands.append((int(k), int(stats[c, cv2.CC_STAT_AREA]), *map(int, stats[c, :4])))
                ids[comp == c] = len(cands)
    objects = []
    for i, (k, area_px, x, y, w, h) in enumerate(cands, start=1):
        own = ids == i
        # a rim: anti-aliased edge pixels of a bigger object that look like another colour
        touched = np.unique(ids[(cv2.dilate(own.astype(np.uint8), _KERNEL) > 0) & (ids != i)])
        if any(cands[j - 1][1] > area_px for j in touched if j > 0):
            continue
        # the object's own colour: its pixels nearest the palette colour, not its pattern's
        pixels = arr[own].astype(np.float32)
        plain = _tint_map(pixels, COLORS[_OBJ_NAMES[k]]) < 0.25
        obj = np.median(pixels[plain] if plain.any() else pixels, axis=0)
        alpha, inner, x0, y0 = _coverage(arr, own.astype(np.uint8), obj, objectness & ~own,
                                         bg_rgb, x, y, w, h)
        area = float(alpha.sum())
        if area < MIN_AREA:
            continue
        shape, cx, cy = _shape_of(np.where(inner | (alpha > 0.3), alpha, 0))
        side = float(_SIDE[shape](area))
        cx, cy = cx + x0, cy + y0 - (side / 6 if shape == "triangle" else 0.0)
        size = size_class(side)
        pattern = None
        if size != "small":
            solid = cv2.erode((alpha > 0.5).astype(np.uint8), _KERNEL) > 0
            if solid.sum() >= 9:
                patch = arr[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]].astype(np.float32)
                ring = pattern_map(Drawn(_OBJ_NAMES[k], shape, cx, cy, side, (0, 0, 0), "ring"))
                ring = ring[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]]
                pattern = pattern_of(pattern_features(_tint_map(patch, obj), solid, ring))
        box_w, box_h = max(float(alpha.max(0).sum()), 1.0), max(float(alpha.max(1).sum()), 1.0)
        objects.append(DetectedObject(
            color=_OBJ_NAMES[k], shape=shape, size=size,
            column=nearest_column(cx, SIZES[size]), row=nearest_row(cy, SIZES[size]),
            cx=cx, cy=cy, area=area, bbox=(x, y, x + w, y + h), side=side, pattern=pattern,
            fill=area / (box_w * box_h), aspect=box_w / box_h))
    objects.sort(key=lambda o: (o.cx, o.cy))
    return Detection(background, objects, _decoration_mask(label, background, objectness))


IDEAL_FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}
"""Area over bounding box of a perfect shape (``shapes_world.md``, Detector)."""
FILL_TOLERANCE = 0.14   # how far a clean shape's fill may stray from the ideal
ASPECT_TOLERANCE = 1.25  # a clean shape's box is this close to square (both ways)


def clean_shape(obj: DetectedObject) -> bool:
    """The stricter shape test: the box of the object's pixels is nearly square and filled as the
    ideal shape fills it (a tail, a concave side or a blob attached to it changes both)."""
    return abs(obj.fill - IDEAL_FILL[obj.shape]) <= FILL_TOLERANCE and \
        1 / ASPECT_TOLERANCE <= obj.aspect <= ASPECT_TOLERANCE


# --- judging ------------------------------------------------------------------------------
_ATTRS = ("color", "shape", "size", "column", "row")
_COLUMN_INDEX = {c: i for i, c in enumerate(COLUMNS)}


def _truth(truth) -> tuple[str | None, list[dict]]:
    if isinstance(truth, Scene):
        return truth.background, [{a: getattr(o, a) for a in _ATTRS} for o in truth.objects]
    if hasattr(truth, "objects") and hasattr(truth, "background"):   # captions.ParsedScene
        return truth.background, [{a: getattr(o, a) for a in _ATTRS} for o in truth.objects]
    raise ValueError(f"truth must be a Scene or a ParsedScene, got {type(truth).__name__}")


def _object_verdict(t: dict, d: DetectedObject | None) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for a in _ATTRS:
        out[a] = None if t[a] is None else (d is not None and getattr(d, a) == t[a])
    out["column_within_1"] = None if t["column"] is None else (
        d is not None and abs(_COLUMN_INDEX[d.column] - _COLUMN_INDEX[t["column"]]) <= 1)
    return out


def match(detection: Detection, truth) -> list[DetectedObject | None]:
    """The detected object matched to each truth object (``None`` when too few were detected).

    Matching maximises, over one-to-one assignments, the number of colour agreements first,
    then shape agreements, then agreements on size, column and row (lexicographic score).
    Attributes the truth leaves unstated (``None``) never count.
    """
    _, objs = _truth(truth)
    dets = detection.objects

    def score(t, d):
        return sum(w * (t[a] is not None and getattr(d, a) == t[a])
                   for a, w in (("color", 100), ("shape", 10), ("size", 1), ("column", 1),
                                ("row", 1)))

    k = min(len(objs), len(dets))
    best, best_score = None, -1
    for chosen in permutations(range(len(objs)), k):   # which truth objects get detections
        for perm in permutations(range(len(dets)), k):
            s = sum(score(objs[t], dets[d]) for t, d in zip(chosen, perm))
            if s > best_score:
                best, best_score = (chosen, perm), s
    out: list[DetectedObject | None] = [None] * len(objs)
    if best is not None:
        for t, d in zip(*best):
            out[t] = dets[d]
    return out


def judge_objects(detection: Detection, truth) -> list[dict[str, bool | None]]:
    """Per truth object: color, shape, size, column, column_within_1, row (None: unstated)."""
    _, objs = _truth(truth)
    return [_object_verdict(t, d) for t, d in zip(objs, match(detection, truth))]


def judge(detection: Detection, truth) -> dict[str, bool | None]:
    """Attribute-level verdicts of ``detection`` against ``truth`` (a Scene or ParsedScene).

    ``background``: the stated background was detected. ``count``: as many objects detected as
    stated. ``color``, ``shape``, ``size``, ``column``, ``column_within_1``, ``row``: true when
    every truth object that states the attribute has it in its matched detection (see
    :func:`match`; a truth object left without a detection fails), ``None`` when no truth object
    states it. ``all``: every non-None verdict above (``column_within_1`` excluded) is true.
    """
    background, objs = _truth(truth)
    per = judge_objects(detection, truth)
    out: dict[str, bool | None] = {
        "background": None if background is None else detection.background == background,
        "count": len(detection.objects) == len(objs),
    }
    for a in ("color", "shape", "size", "column", "column_within_1", "row"):
        stated = [p[a] for p in per if p[a] is not None]
        out[a] = all(stated) if stated else None
    out["all"] = all(v for k, v in out.items() if v is not None and k != "column_within_1")
    return out

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
   triangle sqrt(2 A)), classed by :func:`~direct2v.shapes.world.size_class`.
7. Column and row: nearest anchor to the centre, with anchors clamped for the detected size
   as the renderer clamps them (:func:`~direct2v.shapes.world.nearest_column`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations

import cv2
import numpy as np

from .world import (BACKGROUNDS, CANVAS, COLORS, COLUMNS, DECORATIONS, SIZES, Scene,
                    nearest_column, nearest_row, size_class)

OBJECT_DISTANCE = 80.0      # max RGB distance of an object pixel to its palette colour
MIN_AREA = 20               # px of coverage; the smallest object (triangle, side 8.5) has 36
MIX_DISTANCE = 45.0         # max RGB distance of a rim pixel to the object/background mix line
MIN_SEED = 6                # px of a colour's connected component worth a closer look
TRIANGLE_SKEW = -0.28      # vertical skewness below which a component is a triangle
SQUARE_RATIO = 0.83        # E[dx^2 dy^2] / (E[dx^2] E[dy^2]) above which it is a square

_OBJ_NAMES = list(COLORS)
_BG_NAMES = list(BACKGROUNDS)
_PALETTE = np.array(list(COLORS.values()) + list(BACKGROUNDS.values())
                    + [DECORATIONS[b][1] for b in _BG_NAMES], dtype=np.float32)
_N_OBJ, _N_BG = len(_OBJ_NAMES), len(_BG_NAMES)
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


@dataclass
class Detection:
    background: str
    objects: list[DetectedObject] = field(default_factory=list)


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


def classify_pixels(image) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette index (0-5 objects, 6-10 backgrounds, 11-15 decorations) and distance."""
    arr = _as_array(image).reshape(-1, 3).astype(np.float32)
    d2 = (arr * arr).sum(1, keepdims=True) - 2 * arr @ _PALETTE.T + (_PALETTE ** 2).sum(1)
    label = d2.argmin(1)
    dist = np.sqrt(np.maximum(d2[np.arange(len(label)), label], 0))
    return label.reshape(CANVAS, CANVAS), dist.reshape(CANVAS, CANVAS)


def _coverage(arr: np.ndarray, mask: np.ndarray, others: np.ndarray, background: np.ndarray,
              x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-pixel coverage (0-1) of one component in a patch around it (up to 2 px out, which
    holds the blur of generated images), the 1 px neighbourhood of the component (where the
    shape is measured: far pixels are mostly noise) and the patch origin.

    A pixel near the component is a mix of the object's colour (median of the component) and
    the local background (median of a ring around it); its coverage is the projection of its
    colour on the segment between the two. Pixels of other objects, and pixels farther than
    ``MIX_DISTANCE`` from that segment (decorations, other colours), count as 0.
    """
    x0, y0 = max(x - 4, 0), max(y - 4, 0)
    x1, y1 = min(x + w + 4, CANVAS), min(y + h + 4, CANVAS)
    m = mask[y0:y1, x0:x1]
    patch = arr[y0:y1, x0:x1].astype(np.float32)
    inner = cv2.dilate(m, _KERNEL) > 0
    region = cv2.dilate(m, _KERNEL, iterations=2)
    ring = (cv2.dilate(region, _KERNEL) > 0) & (region == 0) & ~others[y0:y1, x0:x1]
    obj = np.median(patch[m > 0], axis=0)
    bg = np.median(patch[ring], axis=0) if ring.any() else background
    axis = obj - bg
    alpha = np.clip(((patch - bg) @ axis) / max(float(axis @ axis), 1e-6), 0, 1)
    off_segment = np.linalg.norm(patch - bg - alpha[..., None] * axis, axis=-1) > MIX_DISTANCE
    alpha *= (region > 0) & ~others[y0:y1, x0:x1] & ~off_segment   # e.g. a star next to it
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


def detect(image) -> Detection:
    """Detect background and objects in a 64 x 64 RGB image (numpy uint8 or PIL).

    Objects are listed left to right (by centre x). See the module docstring for the method.
    An image of another size is resized (area) to 64 x 64; floats in [0, 1] are accepted.
    """
    arr = _as_array(image)
    label, dist = classify_pixels(arr)
    counts = np.bincount(label.ravel(), minlength=len(_PALETTE))
    bg_counts = counts[_N_OBJ:_N_OBJ + _N_BG] + counts[_N_OBJ + _N_BG:]
    background = _BG_NAMES[int(bg_counts.argmax())]
    bg_rgb = _PALETTE[_N_OBJ + _BG_NAMES.index(background)]
    objectness = (label < _N_OBJ) & (dist < OBJECT_DISTANCE)
    # candidate components of every object colour, numbered across colours
    ids = np.zeros(label.shape, np.int32)
    cands = []   # (colour index, pixel count, x, y, w, h)
    for k in np.flatnonzero(counts[:_N_OBJ] >= MIN_SEED):
        mask = ((label == k) & objectness).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for c in range(1, n):
            if stats[c, cv2.CC_STAT_AREA] >= MIN_SEED:
                cands.append((int(k), int(stats[c, cv2.CC_STAT_AREA]), *map(int, stats[c, :4])))
                ids[comp == c] = len(cands)
    objects = []
    for i, (k, area_px, x, y, w, h) in enumerate(cands, start=1):
        own = ids == i
        # a rim: anti-aliased edge pixels of a bigger object that look like another colour
        touched = np.unique(ids[(cv2.dilate(own.astype(np.uint8), _KERNEL) > 0) & (ids != i)])
        if any(cands[j - 1][1] > area_px for j in touched if j > 0):
            continue
        alpha, inner, x0, y0 = _coverage(arr, own.astype(np.uint8), objectness & ~own,
                                         bg_rgb, x, y, w, h)
        area = float(alpha.sum())
        if area < MIN_AREA:
            continue
        shape, cx, cy = _shape_of(np.where(inner | (alpha > 0.3), alpha, 0))
        side = float(_SIDE[shape](area))
        cx, cy = cx + x0, cy + y0 - (side / 6 if shape == "triangle" else 0.0)
        size = size_class(side)
        objects.append(DetectedObject(
            color=_OBJ_NAMES[k], shape=shape, size=size,
            column=nearest_column(cx, SIZES[size]), row=nearest_row(cy, SIZES[size]),
            cx=cx, cy=cy, area=area, bbox=(x, y, x + w, y + h), side=side))
    objects.sort(key=lambda o: (o.cx, o.cy))
    return Detection(background, objects)


# --- judging ------------------------------------------------------------------------------
_ATTRS = ("color", "shape", "size", "column", "row")
_COLUMN_INDEX = {c: i for i, c in enumerate(COLUMNS)}
JUDGE_KEYS = ("background", "count", "color", "shape", "size", "column", "column_within_1",
              "row", "all")


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

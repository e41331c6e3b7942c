"""Consistency of unspecified details: how much what no prompt fixes changes from frame to frame.

In the shapes world an object's pattern and the background's decorations (clouds, stars and the
moon, dunes, tufts, the dusk band and sun) are never named in a caption (``shapes_world.md``,
"Version 2"): a model prompted frame by frame samples new ones every frame, the "total
discontinuity between adjacent frames" of DirecT2V's section 3.3. Cross-frame attention, RVM and
DSF are meant to keep them. Three measures over adjacent frames:

* :func:`background_change`: pixels that are background in both frames, outside every object's
  mask dilated by ``DILATE`` px (so a moving object's rim does not count), mean absolute change
  in [0, 1] intensity. 0 for a ground-truth story; lower is more consistent.
* :func:`identity_consistency`: the same object (same storyboard identity) keeps its pattern;
  the fraction of adjacent-frame object pairs whose detected patterns agree. About 1 for a
  ground-truth story, about 1/6 (six patterns) for frames rendered independently.
* :func:`decoration_consistency`: frames with the same background word keep their decorations;
  the intersection over union of the detector's decoration masks, away from objects in both.
  About 1 for a ground-truth story, low for independent frames.

Pairs whose prompts change the background word (day -> dusk) change it by design and are left
out: from the storyboard's ``scenes`` when given, else from the detected background words.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..video import as_frames
from ..world.detect import N_OBJECT_LABELS, OBJECT_DISTANCE, classify_pixels, detect, match

DILATE = 2   # px added around every object pixel


def background_mask(frame: np.ndarray, dilate: int = DILATE) -> np.ndarray:
    """Boolean (H, W): pixels the palette classifier does not give to an object, nor within ``dilate`` px of one."""
    label, dist = classify_pixels(frame)
    objects = ((label < N_OBJECT_LABELS) & (dist < OBJECT_DISTANCE)).astype(np.uint8)
    if dilate > 0:
        objects = cv2.dilate(objects, np.ones((2 * dilate + 1,) * 2, np.uint8))
    if objects.shape != frame.shape[:2]:  # the classifier works at 64 x 64
        objects = cv2.resize(objects, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return objects == 0


def _checked(frames, scenes) -> np.ndarray:
    video = as_frames(frames)
    if len(video) < 2:
        raise ValueError(f"a video of {len(video)} frame(s) has no adjacent pairs; give at least 2 frames")
    if scenes is not None and len(scenes) != len(video):
        raise ValueError(f"{len(scenes)} scenes for {len(video)} frames; give one per frame or None")
    return video


def _backgrounds(video: np.ndarray, scenes, detections=None) -> list[str]:
    """The background word of every frame: the storyboard's, else the detector's."""
    if scenes is not None:
        return [s.background for s in scenes]
    return [d.background for d in (detections or [detect(f) for f in video])]


def background_changes(frames, scenes=None, dilate: int = DILATE) -> np.ndarray:
    """Mean absolute change of shared background pixels for every adjacent pair, shape (F - 1,).

    NaN for pairs left out: the background word changes (in ``scenes``, else as detected), or no
    pixel is background in both.
    """
    video = _checked(frames, scenes)
    words = _backgrounds(video, scenes)
    masks = [background_mask(f, dilate) for f in video]
    out = []
    for t in range(len(video) - 1):
        both = masks[t] & masks[t + 1]
        if words[t] != words[t + 1] or not both.any():
            out.append(float("nan"))
            continue
        diff = np.abs(video[t].astype(np.float32) - video[t + 1].astype(np.float32)) / 255
        out.append(float(diff.mean(-1)[both].mean()))
    return np.array(out)


def background_change(frames, scenes=None, dilate: int = DILATE) -> float:
    """Mean of :func:`background_changes` over the pairs kept (lower: unspecified details kept)."""
    return _mean(background_changes(frames, scenes, dilate))


def _detected(video: np.ndarray, detections) -> list:
    """The detector's reading of every frame: ``detections`` when the caller has them already."""
    if detections is None:
        return [detect(f) for f in video]
    if len(detections) != len(video):
        raise ValueError(f"{len(detections)} detections for {len(video)} frames; give one per frame or None")
    return list(detections)


def identity_consistencies(frames, scenes=None, detections=None) -> np.ndarray:
    """Per adjacent pair: the fraction of objects present in both frames (medium or large in
    both) whose detected pattern is the same, shape (F - 1,); NaN where no object qualifies.

    With ``scenes`` (the storyboard's ground truth), an object is followed by its index in the
    scene (so a colour change keeps its identity); without, objects are paired by colour and
    shape. A pattern the detector cannot name never agrees. ``detections``: the frames' detections
    when already computed (``detect`` of each frame), so the detector runs once per frame.
    """
    video = _checked(frames, scenes)
    detections = _detected(video, detections)
    if scenes is not None:
        tracks = [match(d, s) for d, s in zip(detections, scenes)]
    else:
        keys = sorted({(o.color, o.shape) for d in detections for o in d.objects})
        tracks = [[next((o for o in d.objects if (o.color, o.shape) == k), None) for k in keys]
                  for d in detections]
    out = []
    for a, b in zip(tracks, tracks[1:]):
        same = [x.pattern is not None and x.pattern == y.pattern for x, y in zip(a, b)
                if x is not None and y is not None and x.size != "small" and y.size != "small"]
        out.append(float(np.mean(same)) if same else float("nan"))
    return np.array(out)


def decoration_consistencies(frames, scenes=None, detections=None) -> np.ndarray:
    """Per adjacent pair: intersection over union of the two frames' decoration masks
    (:attr:`~direct2v.world.detect.Detection.decorations`), both restricted to pixels away from
    the objects of either frame, shape (F - 1,). NaN where the background word changes or
    neither frame shows a decoration there. ``detections`` as in :func:`identity_consistencies`.
    """
    video = _checked(frames, scenes)
    detections = _detected(video, detections)
    words = _backgrounds(video, scenes, detections)
    clear = [background_mask(f) for f in video]
    out = []
    for t in range(len(video) - 1):
        keep = clear[t] & clear[t + 1]
        a, b = detections[t].decorations & keep, detections[t + 1].decorations & keep
        union = int((a | b).sum())
        out.append(float((a & b).sum()) / union if words[t] == words[t + 1] and union else float("nan"))
    return np.array(out)


def _mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def identity_consistency(frames, scenes=None, detections=None) -> float:
    """Mean of :func:`identity_consistencies` (higher: objects keep their unnamed pattern)."""
    return _mean(identity_consistencies(frames, scenes, detections))


def decoration_consistency(frames, scenes=None, detections=None) -> float:
    """Mean of :func:`decoration_consistencies` (higher: the background keeps its decorations)."""
    return _mean(decoration_consistencies(frames, scenes, detections))

"""Consistency of unspecified details: how much what no prompt fixes changes from frame to frame.

In the shapes world the background's decorations (clouds, stars, dunes, blades, the dusk band) are
never named in a caption (``shapes_world.md``): a model prompted frame by frame samples new ones
every frame. Cross-frame attention, RVM and DSF are meant to keep them. Measured on the background
region: pixels that are background in both frames, outside every object's mask dilated by
``DILATE`` px (so a moving object's anti-aliased or blurred rim does not count), the mean absolute
change in [0, 1] intensity between adjacent frames. 0 for a ground-truth story
(``render_story(consistent=True)``); a story sampled frame by frame scores higher.

Pairs whose prompts change the background word (day -> dusk) change it by design: pass the
storyboard's ``scenes`` to leave those pairs out.
"""
from __future__ import annotations

import cv2
import numpy as np

from .video import as_video

DILATE = 2   # px added around every object pixel


def background_mask(frame: np.ndarray, dilate: int = DILATE) -> np.ndarray:
    """Boolean (H, W): pixels the palette classifier does not give to an object, nor within ``dilate`` px of one."""
    from ..shapes.detect import OBJECT_DISTANCE, _N_OBJ, classify_pixels

    label, dist = classify_pixels(frame)
    objects = ((label < _N_OBJ) & (dist < OBJECT_DISTANCE)).astype(np.uint8)
    if dilate > 0:
        objects = cv2.dilate(objects, np.ones((2 * dilate + 1,) * 2, np.uint8))
    if objects.shape != frame.shape[:2]:  # the classifier works at 64 x 64
        objects = cv2.resize(objects, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return objects == 0


def background_changes(frames, scenes=None, dilate: int = DILATE) -> np.ndarray:
    """Mean absolute change of shared background pixels for every adjacent pair, shape (F - 1,).

    NaN for pairs left out: the background word changes in ``scenes``, or no pixel is background in both.
    """
    video = as_video(frames)
    if len(video) < 2:
        raise ValueError(f"a video of {len(video)} frame(s) has no adjacent pairs; give at least 2 frames")
    if scenes is not None and len(scenes) != len(video):
        raise ValueError(f"{len(scenes)} scenes for {len(video)} frames; give one per frame or None")
    masks = [background_mask(f, dilate) for f in video]
    out = []
    for t in range(len(video) - 1):
        both = masks[t] & masks[t + 1]
        if (scenes is not None and scenes[t].background != scenes[t + 1].background) or not both.any():
            out.append(float("nan"))
            continue
        diff = np.abs(video[t].astype(np.float32) - video[t + 1].astype(np.float32)) / 255
        out.append(float(diff.mean(-1)[both].mean()))
    return np.array(out)


def background_change(frames, scenes=None, dilate: int = DILATE) -> float:
    """Mean of :func:`background_changes` over the pairs kept (lower: unspecified details kept)."""
    values = background_changes(frames, scenes, dilate)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

"""Narrative accuracy (shapes world): does frame f show what the storyboard says it shows?

The detector (:func:`direct2v.world.detect.detect`) reads every frame; :func:`direct2v.world.detect.judge`
compares it with the storyboard's ground-truth scene of that frame (``script.scenes``), attribute by
attribute: background, object count, colour, shape, size, column (and within one column), row, and
``all`` (every stated attribute right). The CLIP score asks "does this frame look like its prompt?"
through a learned embedding; this asks the same question of a judge that is exact in this world.
"""
from __future__ import annotations

import numpy as np

from ..video import as_frames
from ..world.detect import detect, judge

NARRATIVE_KEYS = ("background", "count", "color", "shape", "size", "column", "column_within_1", "row", "all")


def judge_video(frames, scenes) -> list[dict]:
    """The detector's verdicts (``judge``) for every frame against its ground-truth scene."""
    video = as_frames(frames)
    scenes = list(scenes)
    if len(scenes) != len(video):
        raise ValueError(f"{len(scenes)} scenes for {len(video)} frames; give one ground-truth scene per frame")
    return [judge(detect(frame), scene) for frame, scene in zip(video, scenes)]


def narrative_accuracy(frames=None, scenes=None, verdicts=None) -> dict[str, float]:
    """Fraction of frames on which each attribute is right (``NARRATIVE_KEYS``).

    Give ``frames`` and ``scenes``, or verdicts already computed by :func:`judge_video` (also the
    verdicts of many videos concatenated, to average over frames and stories). Attributes the
    truth leaves unstated (``None``) are left out of their average; NaN when never stated.
    """
    if verdicts is None:
        if frames is None or scenes is None:
            raise ValueError("give frames and scenes, or verdicts")
        verdicts = judge_video(frames, scenes)
    out = {}
    for key in NARRATIVE_KEYS:
        stated = [bool(v[key]) for v in verdicts if v.get(key) is not None]
        out[key] = float(np.mean(stated)) if stated else float("nan")
    return out

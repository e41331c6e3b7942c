"""Plots the chapters share: frame strips with the detector's verdicts, and attention overlays.

Short matplotlib helpers, so that chapters show the idea and not the plotting. Frames are anything
:func:`direct2v.video.as_frames` takes (PIL images, arrays ``(F, H, W, 3)``).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from .video import as_frames

OK, BAD = "#1a7f37", "#cf222e"
VERDICT_KEYS = ("background", "count", "color", "shape", "size", "column", "row")
SHORT = {"background": "bg", "column": "col"}


def verdict_label(verdict: dict | None) -> tuple[str, str]:
    """``(text, colour)`` for one frame's verdict of :func:`direct2v.shapes.detect.judge`:
    ``"ok"`` in green, or the failed attributes (``"x color, col"``, three per line) in red."""
    if verdict is None:
        return "", "black"
    failed = [SHORT.get(k, k) for k in VERDICT_KEYS if verdict.get(k) is False]
    lines = [", ".join(failed[i:i + 3]) for i in range(0, len(failed), 3)]  # short lines fit under a frame
    return ("ok", OK) if not failed else ("x " + "\n".join(lines), BAD)


def frame_strip(frames, captions=None, verdicts=None, title: str | None = None, axes=None, size: float = 1.6):
    """Draw the frames left to right; ``captions`` (one per frame) above, ``verdicts`` below in colour.

    ``axes``: a row of matplotlib axes to draw in (else a new figure). Returns the axes.
    """
    import matplotlib.pyplot as plt

    video = as_frames(frames)
    if axes is None:
        _, axes = plt.subplots(1, len(video), figsize=(size * len(video), size * 1.25), squeeze=False)
        axes = axes[0]
    for f, (ax, frame) in enumerate(zip(axes, video)):
        ax.imshow(frame, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        if captions is not None:
            ax.set_title(captions[f], fontsize=7, wrap=True)
        if verdicts is not None:
            text, colour = verdict_label(verdicts[f])
            ax.set_xlabel(text, fontsize=7, color=colour)
    if title:
        axes[0].set_ylabel(title, fontsize=9, rotation=0, ha="right", va="center")
    return axes


def strip_grid(videos: dict, verdicts: dict | None = None, captions=None, size: float = 1.5):
    """One :func:`frame_strip` per row: ``videos`` maps a row name (e.g. an attention mode) to frames,
    ``verdicts`` the same names to per-frame verdicts; ``captions`` go above the first row. Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(videos)
    cols = len(as_frames(videos[names[0]]))
    fig, axes = plt.subplots(len(names), cols, figsize=(size * cols + 1.5, size * 1.2 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        frame_strip(videos[name], captions if r == 0 else None, None if verdicts is None else verdicts[name],
                    title=name, axes=axes[r])
    fig.tight_layout()
    return fig


def token_grid(values) -> np.ndarray:
    """A per-token vector of a square latent (N = s * s, row-major as diffusers flattens) as an ``(s, s)`` map."""
    values = np.asarray(values, dtype=np.float32)
    side = math.isqrt(values.size)
    if side * side != values.size:
        raise ValueError(f"{values.size} tokens do not form a square latent; give N = s * s values")
    return values.reshape(side, side)


def token_at(x: float, y: float, n_tokens: int, image_size: int = 64) -> int:
    """The token index of the image point ``(x, y)`` (pixels) in a square latent of ``n_tokens`` tokens."""
    side = math.isqrt(n_tokens)
    col = min(side - 1, max(0, int(x * side / image_size)))
    row = min(side - 1, max(0, int(y * side / image_size)))
    return row * side + col


def token_center(token: int, n_tokens: int, image_size: int = 64) -> tuple[float, float]:
    """The image point ``(x, y)`` at the centre of ``token`` (inverse of :func:`token_at`)."""
    side = math.isqrt(n_tokens)
    cell = image_size / side
    return (token % side + 0.5) * cell - 0.5, (token // side + 0.5) * cell - 0.5


def overlay(ax, image, values, alpha: float = 0.55, cmap: str = "magma", title: str | None = None, **imshow):
    """Draw ``image`` with a per-token map (``values``, N = s * s) stretched over it, nearest neighbour."""
    frame = as_frames([image])[0]
    h, w = frame.shape[:2]
    ax.imshow(frame, interpolation="nearest")
    im = ax.imshow(token_grid(values), extent=(-0.5, w - 0.5, h - 0.5, -0.5), alpha=alpha, cmap=cmap,
                   interpolation="nearest", **imshow)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return im





@contextmanager
def recorded_attention(pipe, layers=None, steps=None, frames=None):
    """Attention records of the ``pipe(...)`` calls made inside the block, via :func:`direct2v.attention.capture`.

    The pipeline builds its :class:`~direct2v.attention.FrameInteraction` inside the call, so this
    watches ``pipe.unet.set_attn_processor``: when frame-interaction processors are installed it
    opens ``capture(controller, layers, steps, frames)`` on their controller, and closes it when
    they are removed. Yields the list of :class:`~direct2v.attention.AttentionRecord` filled by the calls.
    """
    from .attention import FrameInteractionProcessor, capture

    records, active = [], []
    unet = pipe.unet
    original = unet.set_attn_processor

    def close():
        while active:
            context, got = active.pop()
            context.__exit__(None, None, None)
            records.extend(got)

    def watching(processors, *args, **kwargs):
        given = list(processors.values()) if isinstance(processors, dict) else [processors]  # diffusers pops the dict
        original(processors, *args, **kwargs)
        close()
        ours = [p for p in given if isinstance(p, FrameInteractionProcessor)]
        if ours:
            context = capture(ours[0].controller, layers=layers, steps=steps, frames=frames)
            active.append((context, context.__enter__()))

    unet.set_attn_processor = watching
    try:
        yield records
    finally:
        del unet.set_attn_processor
        close()


__all__ = ["frame_strip", "overlay", "recorded_attention", "strip_grid", "token_at", "token_center", "token_grid", "verdict_label"]

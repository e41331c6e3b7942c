"""Warping error: how well frame t+1, warped back along the optical flow, reproduces frame t.

Lai et al. (2018, "Learning blind video temporal consistency"), as EvalCrafter and the CS236
report use it, with OpenCV's classical Farneback flow instead of a learned one (no weights to
download, deterministic on a CPU):

1. forward flow F (t -> t+1) and backward flow B (t+1 -> t), :func:`farneback_flow`;
2. frame t+1 warped back to t: W(x) = I_{t+1}(x + F(x)), :func:`warp_back` (bilinear ``cv2.remap``);
3. a pixel of frame t is valid when x + F(x) stays inside the frame and the flows agree,
   |F(x) + B(x + F(x))|^2 < 0.01 (|F(x)|^2 + |B(x + F(x))|^2) + 0.5 (Sundaram et al., 2010):
   pixels that leave the frame or are hidden in t+1 have no counterpart, :func:`occlusion_mask`;
4. the error: the mean absolute difference |I_t(x) - W(x)| over valid pixels and the three
   channels, with intensities in [0, 1].

Units: mean absolute error in [0, 1] intensity per valid pixel and channel (``squared=True`` gives
Lai et al.'s mean squared error instead). The absolute error is used by default because it reads
directly as "how far off, on average" and is not dominated by the few pixels where the flow of a
sharp-edged shape is wrong; the report's numbers (thousands) are unnormalised sums and cannot be
compared with either.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..video import as_frames

FB_ALPHA, FB_BETA = 0.01, 0.5   # forward-backward consistency (Sundaram et al., 2010), px^2
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=9, iterations=5, poly_n=5, poly_sigma=1.1, flags=0)


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2), (dx, dy) in px, from RGB uint8 frame ``a`` to ``b``: a(x) ~ b(x + flow(x))."""
    return cv2.calcOpticalFlowFarneback(_gray(a), _gray(b), None, **FARNEBACK)


def _sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def warp_back(frame_next: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Frame t+1 brought back to frame t along the forward flow: W(x) = I_{t+1}(x + F(x))."""
    return _sample(frame_next, flow.astype(np.float32))


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels of frame t with a trustworthy counterpart in frame t+1.

    False where x + F(x) leaves the frame (the border that slides out of view) or where the
    forward and backward flows disagree (occluded or disoccluded regions, flow failures).
    """
    h, w = forward.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    tx, ty = gx + forward[..., 0], gy + forward[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    back = _sample(backward.astype(np.float32), forward.astype(np.float32))
    gap = ((forward + back) ** 2).sum(-1)
    bound = FB_ALPHA * ((forward ** 2).sum(-1) + (back ** 2).sum(-1)) + FB_BETA
    return inside & (gap < bound)


def warping_errors(frames, squared: bool = False, return_masks: bool = False):
    """Warping error of every adjacent pair, shape (F - 1,) (NaN where no pixel is valid).

    With ``return_masks`` also the valid-pixel masks (F - 1, H, W).
    """
    video = as_frames(frames)
    if len(video) < 2:
        raise ValueError(f"a video of {len(video)} frame(s) has no adjacent pairs; give at least 2 frames")
    errors, masks = [], []
    for a, b in zip(video[:-1], video[1:]):
        fwd, bwd = farneback_flow(a, b), farneback_flow(b, a)
        mask = occlusion_mask(fwd, bwd)
        diff = a.astype(np.float32) / 255 - warp_back(b, fwd).astype(np.float32) / 255
        per_pixel = (diff ** 2 if squared else np.abs(diff)).mean(-1)
        errors.append(float(per_pixel[mask].mean()) if mask.any() else float("nan"))
        masks.append(mask)
    errors = np.array(errors)
    return (errors, np.stack(masks)) if return_masks else errors


def warping_error(frames, squared: bool = False) -> float:
    """Mean warping error over adjacent pairs (lower is more consistent); see the module docstring."""
    return float(np.nanmean(warping_errors(frames, squared=squared)))

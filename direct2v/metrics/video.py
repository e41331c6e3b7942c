"""One representation of a video for every metric: a (F, H, W, 3) uint8 array."""
from __future__ import annotations

import numpy as np


def as_video(frames, name: str = "frames") -> np.ndarray:
    """``frames`` as a (F, H, W, 3) uint8 array.

    Accepts an array (F, H, W, 3) of uint8, or of floats in [0, 1] (a pipeline's ``output_type="np"``),
    or a list of PIL images / (H, W, 3) arrays. Floats are rounded (x * 255), as the VAE's output is
    when saved as an image.
    """
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise ValueError(f"{name} is empty; give at least one frame")
        frames = np.stack([np.asarray(f.convert("RGB") if hasattr(f, "convert") else f) for f in frames])
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise ValueError(f"{name} of shape {arr.shape} is not allowed; use (F, H, W, 3) RGB frames")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
            raise ValueError(f"{name} holds floats in [{arr.min():.3g}, {arr.max():.3g}]; floats must lie in [0, 1]")
        return (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    raise ValueError(f"{name} of dtype {arr.dtype} is not allowed; use uint8 or floats in [0, 1]")

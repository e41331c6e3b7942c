"""Video export: mp4, gif and a PNG contact sheet, written atomically, and inline display in notebooks.

Frames come as a list of PIL images or an array ``(F, H, W, 3)`` (uint8, or float in [0, 1] as the
pipeline's ``output_type="np"`` gives). The shapes model draws 64x64 frames, too small to watch and
not a multiple of the 16-pixel macro blocks video encoders like, so every export first upscales
by an integer factor with nearest neighbour (``scale``, default: the smallest that makes the short
side at least 256 px): pixels stay sharp, the detector's view of a frame is unchanged.

Every file is written to a temporary name in the target folder and moved into place with
``os.replace``, so a failure midway leaves neither a half-written file nor a clobbered old one.
"""
from __future__ import annotations

import base64
import math
import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import PIL.Image
from PIL import ImageDraw, ImageFont

from .runtime import atomic_path

FORMATS = (".mp4", ".gif", ".png")
MIN_SIDE = 256
"""The default ``scale`` makes the short side of an exported frame at least this many pixels."""
MAX_SIDE = 4096
"""No exported frame side may exceed this many pixels (video encoders and memory set the limit)."""
MAX_FPS = 1000.0
"""The largest frame rate a file may declare."""


def as_frames(frames, name: str = "frames") -> np.ndarray:
    """``frames`` as a uint8 array ``(F, H, W, 3)``: the one representation of a video for export,
    plots and metrics (``direct2v.metrics.as_video`` is this function).

    Accepts a list of PIL images or ``(H, W, 3)`` arrays, or an array or tensor ``(F, H, W, 3)``,
    of uint8 or of floats in [0, 1] (a pipeline's ``output_type="np"``); floats are rounded
    (x * 255), as the VAE's output is when saved as an image. ``ValueError`` naming ``name`` for
    empty input, other shapes or dtypes, floats outside [0, 1] and mixed sizes.
    """
    if isinstance(frames, np.ndarray) or hasattr(frames, "numpy"):  # array or tensor (F, H, W, 3)
        array = np.asarray(frames.detach().cpu() if hasattr(frames, "detach") else frames)
        if array.ndim != 4 or array.shape[-1] != 3:
            raise ValueError(f"{name} of shape {array.shape} is not allowed; use (F, H, W, 3) RGB frames")
        items = list(array)
    else:
        try:
            items = list(frames)
        except TypeError:
            raise ValueError(f"{name} of type {type(frames).__name__} are not allowed; use a list of PIL "
                             "images or an array (F, H, W, 3)") from None
    if not items:
        raise ValueError(f"{name} is empty; a video needs at least one frame")
    out = []
    for i, frame in enumerate(items):
        arr = np.asarray(frame.convert("RGB")) if isinstance(frame, PIL.Image.Image) else np.asarray(frame)
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ValueError(f"frame {i} has shape {arr.shape}; use RGB frames (H, W, 3) or PIL images")
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
                raise ValueError(f"frame {i} has dtype {arr.dtype}; use uint8 or finite floats in [0, 1]")
            if arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
                raise ValueError(f"frame {i} has float values in [{arr.min():.3g}, {arr.max():.3g}]; "
                                 "floats must lie in [0, 1]")
            arr = (arr.clip(0, 1) * 255).round().astype(np.uint8)
        if out and arr.shape != out[0].shape:
            raise ValueError(f"frame {i} is {arr.shape[1]}x{arr.shape[0]} but frame 0 is "
                             f"{out[0].shape[1]}x{out[0].shape[0]}; all frames must have one size")
        out.append(arr)
    return np.stack(out)


def frames_to_tensor(frames):
    """uint8 frames ``(N, H, W, 3)`` (array or tensor) -> float32 tensor ``(N, 3, H, W)`` in [-1, 1].

    x / 127.5 - 1: what the VAE, the miniature UNet's training and the miniature CLIP take.
    The inverse is :func:`tensor_to_frames`.
    """
    import torch

    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.require(frames, requirements=("C", "W")))
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames of dtype {x.dtype} and shape {tuple(x.shape)} are not allowed; "
                         "use uint8 frames (N, H, W, 3)")
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1


def tensor_to_frames(x) -> np.ndarray:
    """Float tensor ``(N, 3, H, W)`` in [-1, 1] (a VAE's decoded images) -> uint8 frames ``(N, H, W, 3)``.

    Values are clamped to [-1, 1], then (x + 1) * 127.5 rounded: the inverse of :func:`frames_to_tensor`.
    """
    import torch

    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"x of shape {tuple(x.shape)} is not allowed; use images (N, 3, H, W)")
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def default_scale(height: int, width: int) -> int:
    """The smallest integer factor that makes the short side at least :data:`MIN_SIDE` pixels."""
    return max(1, math.ceil(MIN_SIDE / min(height, width)))


def check_scale(scale, height: int, width: int) -> int:
    """``scale`` for frames of ``height`` x ``width``, validated (None: :func:`default_scale`)."""
    if scale is None:
        return default_scale(height, width)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale={scale!r} is not allowed; use None (short side >= {MIN_SIDE} px) or an integer >= 1")
    if max(height, width) * scale > MAX_SIDE:
        raise ValueError(f"scale={scale} makes {width}x{height} frames {width * scale}x{height * scale} px; use an "
                         f"integer from 1 to {MAX_SIDE // max(height, width)} (sides up to {MAX_SIDE} px)")
    return scale


def _check_scale(scale, video: np.ndarray) -> int:
    return check_scale(scale, *video.shape[1:3])


def upscale(video: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(F, H, W, 3)`` by an integer factor (every pixel a block)."""
    return video if scale == 1 else video.repeat(scale, axis=1).repeat(scale, axis=2)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(frames, captions=None, cols: int | None = None, scale: int | None = None,
                  pad: int = 4) -> PIL.Image.Image:
    """All frames on one image, left to right then top to bottom, each with an optional caption below.

    ``captions``: None or one string per frame (wrapped to the cell width); ``cols``: frames per
    row (default: all in one row up to 8); ``scale``: nearest-neighbour factor as in :func:`save_video`.
    """
    video = as_frames(frames)
    n, h, w = video.shape[:3]
    scale = _check_scale(scale, video)
    if captions is not None:
        captions = [str(c) for c in captions]
        if len(captions) != n:
            raise ValueError(f"captions has {len(captions)} entries for {n} frames; give one per frame or None")
    if cols is None:
        cols = min(n, 8)
    if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1:
        raise ValueError(f"cols={cols!r} is not allowed; use None or an integer >= 1")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    cell_w, cell_h = w * scale, h * scale
    font_size = max(10, min(16, cell_w // 18))
    font = _font(font_size)
    chars = max(8, int(cell_w / (0.55 * font_size)))
    wrapped = [textwrap.wrap(c, chars) or [""] for c in captions] if captions else None
    text_h = (max(len(lines) for lines in wrapped) * (font_size + 2) + pad) if wrapped else 0
    sheet = PIL.Image.new("RGB", (cols * (cell_w + pad) + pad, rows * (cell_h + text_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, frame in enumerate(upscale(video, scale)):
        x = pad + (i % cols) * (cell_w + pad)
        y = pad + (i // cols) * (cell_h + text_h + pad)
        sheet.paste(PIL.Image.fromarray(frame), (x, y))
        if wrapped:
            draw.multiline_text((x, y + cell_h + 2), "\n".join(wrapped[i]), fill="black", font=font, spacing=2)
    return sheet


def check_fps(fps) -> float:
    """``fps`` as a float, validated: a number in (0, :data:`MAX_FPS`]."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise ValueError(f"fps={fps!r} is not allowed; use a number of frames per second in (0, {MAX_FPS:g}]")
    return float(fps)


def _write_mp4(video: np.ndarray, path: str, fps: float) -> None:
    import imageio.v2 as imageio

    if video.shape[1] % 2 or video.shape[2] % 2:  # yuv420p needs even sides: repeat the last row/column
        video = np.pad(video, ((0, 0), (0, video.shape[1] % 2), (0, video.shape[2] % 2), (0, 0)), mode="edge")
    writer = imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=1, quality=8,
                                ffmpeg_log_level="error")
    try:
        for frame in video:
            writer.append_data(frame)
    finally:
        writer.close()


def _write_gif(video: np.ndarray, path: str, fps: float) -> None:
    images = [PIL.Image.fromarray(f) for f in video]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, round(1000 / fps)), loop=0, disposal=1)


def save_video(frames, path: str | os.PathLike, fps: float = 4, scale: int | None = None,
               captions=None, cols: int | None = None) -> Path:
    """Write ``frames`` to ``path``: ``.mp4`` (H.264), ``.gif`` (looping) or ``.png`` (a contact sheet).

    ``fps``: frames per second (> 0; the director's R, or its lifted 2R). ``scale``: integer
    nearest-neighbour upscaling (default: short side >= 256 px). ``captions``/``cols``: for the
    ``.png`` contact sheet only (see :func:`contact_sheet`). The file is written next to ``path``
    under a temporary name and moved into place, so a failure leaves nothing half-written.
    Returns the path.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise ValueError(f"path={str(path)!r} has the extension {ext or '(none)'!r}; use one of {FORMATS}")
    fps = check_fps(fps)
    video = as_frames(frames)
    scale = _check_scale(scale, video)
    if ext != ".png" and (captions is not None or cols is not None):
        raise ValueError("captions and cols are for the .png contact sheet only")
    with atomic_path(path) as tmp:
        if ext == ".mp4":
            _write_mp4(upscale(video, scale), tmp, fps)
        elif ext == ".gif":
            _write_gif(upscale(video, scale), tmp, fps)
        else:
            contact_sheet(video, captions, cols, scale).save(tmp, format="PNG")
    return path


def video_bytes(frames, fps: float = 4, format: str = "mp4", scale: int | None = None) -> bytes:
    """The encoded bytes of ``frames`` as an mp4 or gif (through :func:`save_video` in a temporary folder)."""
    if format not in ("mp4", "gif"):
        raise ValueError(f"format={format!r} is not allowed; use 'mp4' or 'gif'")
    with tempfile.TemporaryDirectory() as folder:
        return save_video(frames, Path(folder) / f"video.{format}", fps, scale).read_bytes()


def show_video(frames, fps: float = 4, format: str = "mp4", scale: int | None = None, width: int | None = None):
    """An ``IPython.display.HTML`` that plays ``frames`` inline, the file embedded as base64.

    Embedded data survives into the rendered book and into saved notebooks (no external file).
    ``format="mp4"`` gives a looping ``<video>`` with controls; ``"gif"`` an ``<img>`` (plays
    everywhere, larger). ``width``: display width in CSS pixels (default: the file's own).
    """
    from IPython.display import HTML

    data = base64.b64encode(video_bytes(frames, fps, format, scale)).decode("ascii")
    size = f' width="{int(width)}"' if width else ""
    if format == "gif":
        return HTML(f'<img src="data:image/gif;base64,{data}"{size}/>')
    return HTML(f'<video{size} controls autoplay loop muted playsinline>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>')


__all__ = ["FORMATS", "as_frames", "frames_to_tensor", "tensor_to_frames", "check_fps", "check_scale", "contact_sheet", "default_scale", "save_video", "show_video", "upscale",
           "video_bytes"]

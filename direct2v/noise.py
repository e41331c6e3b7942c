"""Initial noise for the frames of a video, and Text2Video-Zero's motion dynamics.

Every sampler is a pure function of its arguments and a ``torch.Generator``: the same generator
state gives the same noise, on any device (numbers are drawn on the generator's device, as
diffusers' ``randn_tensor`` does, then moved).

Samplers (``num_frames`` frames of shape ``shape`` each, returned as ``(F, *shape)``):

- :func:`random_noise`: independent per frame, eps_i ~ N(0, I).
- :func:`shared_noise`: a common noise eps_s mixed into every frame (the few-shot report's
  "shared noise"), eps_i = a * eps_s + (1 - a) * eps'_i. With ``normalize=True`` (default) the
  mixture is divided by sqrt(a^2 + (1 - a)^2), so every frame has unit variance and two frames
  have correlation rho = a^2 / (a^2 + (1 - a)^2). (Equivalently eps_i = sqrt(rho) eps_s +
  sqrt(1 - rho) eps'_i.) ``normalize=False`` is the report's formula as written: its variance is
  a^2 + (1 - a)^2 < 1 for 0 < a < 1, which a diffusion sampler expecting N(0, I) does not like.
- :func:`autoregressive_noise`: each frame's noise from the previous one,
  eps_1 = eps'_1, eps_i = a * eps_(i-1) + (1 - a) * eps'_i, divided by sqrt(a^2 + (1 - a)^2)
  when ``normalize=True``, so that every frame keeps unit variance and frames k apart have
  correlation rho^k with rho = a / sqrt(a^2 + (1 - a)^2) (an AR(1) process). Unnormalised, the
  variance decays from 1 towards (1 - a) / (1 + a).

``normalize`` only rescales: the same generator gives the same draws either way.

Motion dynamics (DirecT2V appendix A, Text2Video-Zero section 3.3.1): frame k's latent is
translated by k * (strength_x, strength_y) pixels of the image, :func:`translate_latents`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor


def _check_frames_and_weight(num_frames: int, weight: float | None = None) -> None:
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames={num_frames!r} is not allowed; use an integer >= 1")
    if weight is not None and not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"weight={weight!r} is not allowed; use a number in [0, 1]")


def _randn(shape, generator, device, dtype) -> torch.Tensor:
    return randn_tensor(tuple(shape), generator=generator, device=torch.device(device or "cpu"), dtype=dtype)


def random_noise(num_frames: int, shape, generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Independent N(0, I) noise for each of ``num_frames`` frames: ``(F, *shape)``."""
    _check_frames_and_weight(num_frames)
    return _randn((num_frames, *shape), generator, device, dtype)


def shared_noise(num_frames: int, shape, weight: float = 0.5, generator: torch.Generator | None = None,
                 device=None, dtype: torch.dtype = torch.float32, normalize: bool = True) -> torch.Tensor:
    """eps_i = (a * eps_s + (1 - a) * eps'_i) / sqrt(a^2 + (1 - a)^2), a = ``weight`` (see module doc).

    Draw order: eps_s first (one frame), then eps'_1..eps'_F.
    """
    _check_frames_and_weight(num_frames, weight)
    a = float(weight)
    common = _randn((1, *shape), generator, device, torch.float32)
    own = _randn((num_frames, *shape), generator, device, torch.float32)
    eps = a * common + (1.0 - a) * own
    if normalize:
        eps = eps / math.sqrt(a * a + (1.0 - a) ** 2)
    return eps.to(dtype)


def autoregressive_noise(num_frames: int, shape, weight: float = 0.5, generator: torch.Generator | None = None,
                         device=None, dtype: torch.dtype = torch.float32, normalize: bool = True) -> torch.Tensor:
    """eps_i = (a * eps_(i-1) + (1 - a) * eps'_i) / sqrt(a^2 + (1 - a)^2), eps_1 = eps'_1 (see module doc).

    Draw order: eps'_1..eps'_F in one call.
    """
    _check_frames_and_weight(num_frames, weight)
    a = float(weight)
    own = _randn((num_frames, *shape), generator, device, torch.float32)
    scale = math.sqrt(a * a + (1.0 - a) ** 2) if normalize else 1.0
    frames = [own[0]]
    for i in range(1, num_frames):
        frames.append((a * frames[-1] + (1.0 - a) * own[i]) / scale)
    return torch.stack(frames).to(dtype)


def sample_noise(kind: str, num_frames: int, shape, weight: float = 0.5, generator: torch.Generator | None = None,
                 device=None, dtype: torch.dtype = torch.float32, normalize: bool = True) -> torch.Tensor:
    """Dispatch on ``kind``: ``"independent"`` (also ``"random"``), ``"shared"`` or ``"autoregressive"``."""
    if kind in ("independent", "random"):
        return random_noise(num_frames, shape, generator, device, dtype)
    if kind == "shared":
        return shared_noise(num_frames, shape, weight, generator, device, dtype, normalize)
    if kind == "autoregressive":
        return autoregressive_noise(num_frames, shape, weight, generator, device, dtype, normalize)
    raise ValueError(f"kind={kind!r} is not allowed; use 'independent', 'shared' or 'autoregressive'")


# ----------------------------------------------------------------------------- motion dynamics
def motion_grid(frame_ids, strength_x: float, strength_y: float, latent_size: tuple[int, int],
                image_size: tuple[int, int], device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sampling grid (F, h, w, 2) in [-1, 1] that translates frame ``k`` by ``k * strength`` image pixels.

    Text2Video-Zero builds a flow of ``strength * k`` on a hard-coded 512 x 512 pixel grid, adds it
    to the pixel coordinates, normalises by 512 and resizes bilinearly to the latent size. The
    resize of that linear ramp is exact, which gives the closed form used here, valid at any image
    size ``(H, W)``: x_j = 2 * ((j + 0.5) / w - 0.5 / W + s_x * k / W) - 1 (same for y). At
    ``image_size=(512, 512)`` it reproduces the released code exactly.
    """
    (h, w), (H, W) = latent_size, image_size
    k = torch.as_tensor(list(frame_ids), dtype=torch.float64, device=device)[:, None, None]
    xs = (torch.arange(w, dtype=torch.float64, device=device) + 0.5) / w - 0.5 / W
    ys = (torch.arange(h, dtype=torch.float64, device=device) + 0.5) / h - 0.5 / H
    gx = 2.0 * (xs[None, None, :] + strength_x * k / W) - 1.0
    gy = 2.0 * (ys[None, :, None] + strength_y * k / H) - 1.0
    gx, gy = torch.broadcast_tensors(gx, gy)
    return torch.stack([gx, gy], dim=-1).to(dtype)


def translate_latents(latents: torch.Tensor, strength_x: float, strength_y: float, frame_ids=None,
                      image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """Text2Video-Zero's motion dynamics: warp latent ``i`` (frame ``frame_ids[i]``) by a global translation.

    ``latents`` is (F, C, h, w); ``strength_*`` are in pixels of an image of ``image_size``
    (default: 8 times the latent size, Stable Diffusion's VAE factor). Nearest sampling with
    reflection at the borders, as in the released code.
    """
    frames, _, h, w = latents.shape
    frame_ids = list(range(frames)) if frame_ids is None else list(frame_ids)
    if len(frame_ids) != frames:
        raise ValueError(f"frame_ids has {len(frame_ids)} entries; latents have {frames} frames")
    if strength_x == 0 and strength_y == 0:
        return latents.clone()
    image_size = image_size or (8 * h, 8 * w)
    grid = motion_grid(frame_ids, strength_x, strength_y, (h, w), image_size, latents.device, latents.dtype)
    return F.grid_sample(latents, grid, mode="nearest", padding_mode="reflection", align_corners=False)

"""The frame-interaction controller: which frame is the reference at which denoising step (section 3.4).

The pipeline owns one :class:`FrameInteraction` and calls ``set_step(i)`` once per denoising step;
every installed attention processor asks it what to do. The schedule therefore follows denoising
steps, not the number of times a layer was called.
"""
from __future__ import annotations

import numpy as np

from ..settings import DSF_SCOPES, MODES, VALUE_MAPPING_MODES, check_choice, check_dsf, check_int


class FrameInteraction:
    """How the frames of one batch interact in self-attention, step by step.

    Args:
        mode: ``"self"`` (plain per-frame attention), ``"cross_frame"`` (Text2Video-Zero: frame 1),
            ``"sparse_causal"`` (Tune-A-Video: first and previous frame), ``"rvm"`` (rotational value
            mapping, r(t') = floor(t'/m) mod F), ``"random"`` (a seeded random reference per step,
            the paper's ablation) or ``"fixed"`` (frame ``reference``).
        num_frames: F, frames per guidance group; the batch must be a multiple of it.
        period: m of RVM (paper: 4).
        start_step: the denoising step at which mapping starts; before it every mode is plain
            self-attention, and t' = step - start_step (paper: T = 100, T' = 96, so 4).
        dsf_quantile: phi of dual-softmax filtering (Eq. 6), in [0, 1]; ``None`` or 0 turns it off.
            Only for the value-mapping modes.
        reference: the reference frame of ``mode="fixed"``.
        seed: seed of ``mode="random"``; the reference of step t' depends only on (seed, t').
        dsf_scope: ``"frame"`` (default: each frame filters its own phi least confident tokens) or
            ``"batch"`` (the quantile over all frames of a guidance group, closer to the released
            code, which pooled the whole batch).
        chunk_size: bounds the DSF confidence's score blocks to ``chunk_size x N`` values (query rows of
            the ``chunked`` method; a cap on :func:`blocked_confidence`'s blocks).
        cache_device: where :meth:`record` keeps reference keys and values (default: where they are).
    """

    def __init__(self, mode="rvm", num_frames=8, period=4, start_step=0, dsf_quantile=None, reference=0,
                 seed=0, dsf_scope="frame", chunk_size=1024, cache_device=None):
        self.mode = check_choice("mode", mode, MODES)
        self.num_frames = num_frames
        self.period = check_int("period", period, 1)
        self.start_step = check_int("start_step", start_step, 0)
        self.dsf_quantile = check_dsf(dsf_quantile, mode)  # 0.0: off
        self.reference = check_int("reference", reference, 0, self.num_frames - 1)
        self.seed = check_int("seed", seed, 0)
        self.dsf_scope = check_choice("dsf_scope", dsf_scope, DSF_SCOPES)
        self.chunk_size = check_int("chunk_size", chunk_size, 1)
        self.cache_device = cache_device
        self.step = 0
        self.cache = {}           # (layer, step) -> (K_r, V_r), each (G, heads, N, d)
        self.cache_mode = None    # None, "record" or "replay"
        self.captures = []        # the open capture() specs (see direct2v.attention.capture)

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @num_frames.setter
    def num_frames(self, value):
        self._num_frames = check_int("num_frames", value, 1)

    def set_step(self, step: int) -> None:
        """Called by the pipeline at each denoising step i (0-based)."""
        self.step = check_int("step", step, 0)

    def reference_frame(self, step: int | None = None) -> int | None:
        """r(t') at denoising ``step`` (default: the current one), 0-based; ``None`` means plain self-attention.

        ``sparse_causal`` returns its first frame (each frame also attends its predecessor).
        """
        step = self.step if step is None else step
        t = step - self.start_step  # t'
        if self.mode == "self" or t < 0:
            return None
        if self.mode in ("cross_frame", "sparse_causal"):
            return 0
        if self.mode == "fixed":
            if self.reference >= self.num_frames:
                raise ValueError(f"reference={self.reference} is not a frame of num_frames={self.num_frames}")
            return self.reference
        if self.mode == "rvm":
            return (t // self.period) % self.num_frames
        return int(np.random.default_rng([self.seed, t]).integers(self.num_frames))  # random

    def schedule(self, num_steps: int) -> list:
        """``[r(step) for step in range(num_steps)]``, for plots and tests."""
        return [self.reference_frame(i) for i in range(check_int("num_steps", num_steps, 0))]

    @property
    def capturing(self) -> bool:
        """Whether a :func:`~direct2v.attention.capture` is open on this controller."""
        return bool(self.captures)

    # long videos (section 4.3): cache the reference keys and values of a first batch, then reuse them
    def record(self) -> None:
        """From now on, store the reference keys/values of every (layer, step) that maps values."""
        if self.mode not in VALUE_MAPPING_MODES:
            raise ValueError(f"record() needs a value-mapping mode {VALUE_MAPPING_MODES}, not mode={self.mode!r}")
        self.cache.clear()
        self.cache_mode = "record"

    def replay(self) -> None:
        """From now on, map every frame onto the cached reference of its (layer, step)."""
        if not self.cache:
            raise ValueError("replay() needs a cache: call record() and run a first batch")
        self.cache_mode = "replay"

    def stop_caching(self, clear: bool = True) -> None:
        self.cache_mode = None
        if clear:
            self.cache.clear()

    def store_reference(self, layer: str, k_ref, v_ref) -> None:
        """Keep the reference keys/values of ``layer`` at the current step (while recording)."""
        device = self.cache_device or k_ref.device
        self.cache[(layer, self.step)] = (k_ref.detach().to(device), v_ref.detach().to(device))

    def cached_reference(self, layer: str, device):
        """The recorded reference keys/values of ``layer`` at the current step, on ``device`` (while replaying)."""
        if (layer, self.step) not in self.cache:
            raise ValueError(f"no cached reference for layer {layer!r} at step {self.step}; "
                             "record a batch with the same layers and steps first")
        k_ref, v_ref = self.cache[(layer, self.step)]
        return k_ref.to(device), v_ref.to(device)

    def __repr__(self):
        return (f"FrameInteraction(mode={self.mode!r}, num_frames={self.num_frames}, period={self.period}, "
                f"start_step={self.start_step}, dsf_quantile={self.dsf_quantile}, step={self.step})")


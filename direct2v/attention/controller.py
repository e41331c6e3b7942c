"""The frame-interaction controller: which frames each frame attends at which denoising step (section 3.4).

The pipeline owns one :class:`FrameInteraction` and calls ``set_step(i)`` once per denoising step. At each
step the controller makes one immutable :class:`AttentionPlan` (which frames each frame attends, where the
reference keys and values come from, the DSF settings) and every installed attention processor reads it:
the schedule follows denoising steps, not the number of times a layer was called.
:meth:`FrameInteraction.attended_frames` is the one rule for "which frames does frame f attend": the plan,
:func:`~direct2v.attention.capture` and the book's diagrams (:mod:`direct2v.viz`) all use it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..settings import (CHUNK_SIZE, INTERACTION_KEYWORDS, VALUE_MAPPING_MODES, SettingError, VideoSettings,
                        check_int, check_interaction, check_video_keywords, deprecated_alias, interaction_keywords,
                        renamed)
from .functional import sparse_causal_frames

SOURCES = ("frames", "record", "replay")
"""Where a value-mapping step takes its reference keys and values: from the frames of the batch, from them while
keeping them for later sections (``record``), or from the kept ones (``replay``; long videos, section 4.3)."""


@dataclass(frozen=True)
class AttentionPlan:
    """What every frame-interaction attention call does at one denoising step (made by :attr:`FrameInteraction.plan`).

    ``attended[f]``: the frames whose keys and values frame f attends, in the order the attention joins them
    (:meth:`FrameInteraction.attended_frames`); ``reference``: r(t') of the value-mapping modes, ``None`` when every
    frame attends itself (``"self"``, or before ``mapping_start``); ``source``: one of :data:`SOURCES`;
    ``capturing``: a :func:`~direct2v.attention.capture` is open (the processor then also records maps).
    """

    step: int
    num_frames: int
    attention: str
    reference: int | None
    attended: tuple[tuple[int, ...], ...]
    source: str
    dsf_quantile: float
    dsf_scope: str
    chunk_size: int
    capturing: bool

    @property
    def plain(self) -> bool:
        """No frame interaction at this step: every frame attends only itself (``"self"``, or before
        ``mapping_start``)."""
        return self.reference is None

    @property
    def sparse_causal(self) -> bool:
        """Frames attend the first and the previous frame (Tune-A-Video) at this step."""
        return self.attention == "sparse_causal" and self.reference is not None


class FrameInteraction:
    """How the frames of one batch interact in self-attention, step by step; arguments named as the pipeline's keywords.

    Args:
        attention: ``"self"`` (plain per-frame attention), ``"cross_frame"`` (Text2Video-Zero: frame 1),
            ``"sparse_causal"`` (Tune-A-Video: first and previous frame), ``"rvm"`` (rotational value
            mapping, r(t') = floor(t'/m) mod F), ``"random"`` (a seeded random reference per step,
            the paper's ablation) or ``"fixed"`` (frame ``reference``).
        num_frames: F, frames per guidance group; the batch must be a multiple of it.
        rvm_period: m of RVM (paper: 4).
        mapping_start: the denoising step at which mapping starts; before it every mode is plain
            self-attention, and t' = step - mapping_start (paper: T = 100, T' = 96, so 4).
        dsf_quantile: phi of dual-softmax filtering (Eq. 6), in [0, 1]; ``None`` or 0 turns it off.
            Only for the value-mapping modes.
        reference: the reference frame of ``attention="fixed"``.
        random_seed: seed of ``attention="random"``; the reference of step t' depends only on (seed, t').
        dsf_scope: ``"frame"`` (default: each frame filters its own phi least confident tokens) or
            ``"batch"`` (the quantile over all frames of a guidance group, closer to the released
            code, which pooled the whole batch).
        chunk_size: bounds the DSF confidence's score blocks to ``chunk_size x N`` values (query rows of
            the ``chunked`` method; a cap on :func:`blocked_confidence`'s blocks).
        cache_device: where :meth:`record` keeps reference keys and values (default: where they are).

    The former names ``mode``, ``period``, ``start_step`` and ``seed`` still work for one release (arguments
    and attributes), with a ``DeprecationWarning``. Every rule is :func:`direct2v.settings.check_interaction`.
    """

    OLD_NAMES = {"mode": "attention", "period": "rvm_period", "start_step": "mapping_start", "seed": "random_seed"}

    def __init__(self, attention="rvm", num_frames=8, rvm_period=4, mapping_start=0, dsf_quantile=None, reference=0,
                 random_seed=0, dsf_scope="frame", chunk_size=CHUNK_SIZE, cache_device=None, **old):
        given = dict(attention=attention, num_frames=num_frames, rvm_period=rvm_period, mapping_start=mapping_start,
                     dsf_quantile=dsf_quantile, reference=reference, random_seed=random_seed, dsf_scope=dsf_scope,
                     chunk_size=chunk_size)
        given.update(renamed("FrameInteraction", old, self.OLD_NAMES))
        checked = check_interaction(**given)
        self.attention, self._num_frames = checked.pop("attention"), checked.pop("num_frames")
        self.rvm_period, self.mapping_start = checked["rvm_period"], checked["mapping_start"]
        self.dsf_quantile, self.reference = checked["dsf_quantile"], checked["reference"]  # dsf_quantile 0.0: off
        self.random_seed, self.dsf_scope, self.chunk_size = (checked["random_seed"], checked["dsf_scope"],
                                                             checked["chunk_size"])
        self.cache_device = cache_device
        self.step = 0
        self.cache = {}           # (layer, step) -> (K_r, V_r), each (G, heads, N, d)
        self.source = "frames"    # see SOURCES
        self.captures = []        # the open capture() specs (see direct2v.attention.capture)
        self._plan = None

    mode = deprecated_alias("attention", "FrameInteraction")
    period = deprecated_alias("rvm_period", "FrameInteraction")
    start_step = deprecated_alias("mapping_start", "FrameInteraction")
    seed = deprecated_alias("random_seed", "FrameInteraction")

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @num_frames.setter
    def num_frames(self, value):
        """Set by the pipeline to the frames of each UNet batch (a long video's sections)."""
        self._num_frames = check_int("num_frames", value, 1)
        self._plan = None

    def set_step(self, step: int) -> None:
        """Called by the pipeline at each denoising step i (0-based)."""
        self.step = check_int("step", step, 0)
        self._plan = None

    def reference_frame(self, step: int | None = None) -> int | None:
        """r(t') at denoising ``step`` (default: the current one), 0-based; ``None`` means plain self-attention.

        ``sparse_causal`` returns its first frame (each frame also attends its predecessor).
        """
        step = self.step if step is None else step
        t = step - self.mapping_start  # t'
        if self.attention == "self" or t < 0:
            return None
        if self.attention in ("cross_frame", "sparse_causal"):
            return 0
        if self.attention == "fixed":
            if self.reference >= self.num_frames:
                raise ValueError(f"reference={self.reference} is not a frame of num_frames={self.num_frames}")
            return self.reference
        if self.attention == "rvm":
            return (t // self.rvm_period) % self.num_frames
        return int(np.random.default_rng([self.random_seed, t]).integers(self.num_frames))  # random

    def attended_frames(self, frame: int, step: int | None = None) -> tuple[int, ...]:
        """The frames whose keys and values ``frame`` attends at denoising ``step`` (default: the current one), in
        the order the attention joins them: itself (plain self-attention), the reference r(t') (value mapping,
        Eq. 4), or the first and the previous frame (sparse-causal; frame 0 reads itself twice, which is plain
        self-attention). The one rule of who attends whom: the processors, capture and the diagrams use it."""
        check_int("frame", frame, 0, self.num_frames - 1)
        ref = self.reference_frame(step)
        if ref is None:
            return (frame,)
        if self.attention == "sparse_causal":
            return sparse_causal_frames(frame)
        return (ref,)

    def schedule(self, num_steps: int) -> list:
        """``[r(step) for step in range(num_steps)]``, for plots and tests."""
        return [self.reference_frame(i) for i in range(check_int("num_steps", num_steps, 0))]

    @property
    def plan(self) -> AttentionPlan:
        """The :class:`AttentionPlan` of the current step, made once per step (and again if the frames, the
        reference source or the open captures change)."""
        if self._plan is None:
            self._plan = AttentionPlan(
                step=self.step, num_frames=self.num_frames, attention=self.attention,
                reference=self.reference_frame(),
                attended=tuple(self.attended_frames(f) for f in range(self.num_frames)),
                source=self.source, dsf_quantile=self.dsf_quantile, dsf_scope=self.dsf_scope,
                chunk_size=self.chunk_size, capturing=bool(self.captures))
        return self._plan

    @property
    def capturing(self) -> bool:
        """Whether a :func:`~direct2v.attention.capture` is open on this controller."""
        return bool(self.captures)

    def open_capture(self, spec: dict) -> None:
        self.captures.append(spec)
        self._plan = None

    def close_capture(self, spec: dict) -> None:
        self.captures.remove(spec)
        self._plan = None

    # long videos (section 4.3): cache the reference keys and values of a first batch, then reuse them
    def record(self) -> None:
        """From now on, store the reference keys/values of every (layer, step) that maps values."""
        if self.attention not in VALUE_MAPPING_MODES:
            raise ValueError(f"record() needs a value-mapping attention {VALUE_MAPPING_MODES}, not "
                             f"attention={self.attention!r}")
        self.cache.clear()
        self.source, self._plan = "record", None

    def replay(self) -> None:
        """From now on, map every frame onto the cached reference of its (layer, step)."""
        if not self.cache:
            raise ValueError("replay() needs a cache: call record() and run a first batch")
        self.source, self._plan = "replay", None

    def stop_caching(self, clear: bool = True) -> None:
        self.source, self._plan = "frames", None
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
        return (f"FrameInteraction(attention={self.attention!r}, num_frames={self.num_frames}, "
                f"rvm_period={self.rvm_period}, mapping_start={self.mapping_start}, "
                f"dsf_quantile={self.dsf_quantile}, step={self.step})")


def frame_interaction(num_frames: int, num_inference_steps: int, **keywords) -> FrameInteraction:
    """The :class:`FrameInteraction` that ``pipe(...)`` would build from the same keywords.

    ``keywords``: the pipeline's ``attention``, ``rvm_period``, ``mapping_start``, ``dsf_quantile``,
    ``dsf_scope`` and ``random_seed`` (the paper's values where left out). Build it first to open a
    :func:`~direct2v.attention.capture` on it, then pass it on with ``pipe(..., interaction=it)``.
    """
    return FrameInteraction(**interaction_keywords(num_frames, num_inference_steps, **keywords))


def check_video_settings(*, num_frames: int, num_inference_steps, interaction=None, **keywords) -> VideoSettings:
    """The pipeline's model-free check of one video: :func:`direct2v.settings.check_video_keywords` with the
    interaction built (a :class:`FrameInteraction` given as ``interaction=``, or made from the keywords by
    :func:`frame_interaction`), so each rule runs once."""
    if interaction is None:
        given = {k: keywords.pop(k) for k in INTERACTION_KEYWORDS if keywords.get(k) is not None}
        num_frames = check_int("num_frames", num_frames, 1)
        interaction = frame_interaction(num_frames, num_inference_steps, **given)
    elif not isinstance(interaction, FrameInteraction):
        raise SettingError("interaction", interaction, "use a direct2v.attention.FrameInteraction or None")
    return check_video_keywords(num_frames=num_frames, num_inference_steps=num_inference_steps,
                                interaction=interaction, **keywords)


__all__ = ["AttentionPlan", "FrameInteraction", "SOURCES", "check_video_settings", "frame_interaction"]

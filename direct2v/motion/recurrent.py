"""Recurrent causal attention (CS236 report, section 3.2): self-attention with a memory of past frames.

Frame f (0-based, of F) queries its own hidden states and attends the first frame together with a
memory slot that a small recurrent network writes from the frames before it::

    Q_f = W^Q z_f                                  (z_f: the tokens attn1 receives for frame f)
    h_f = tanh(W_hh h_(f-1) + W_zh z_f + b_h),     h_(-1) = 0          (f = tanh)
    m_f = z_0 + g(W_ho h_(f-1) + b_a),             g = identity
    K_f = W^K [z_0, m_f],   V_f = W^V [z_0, m_f],   out_f = softmax(Q_f K_f^T / sqrt d) V_f

Choices the report leaves open, made here:

- ``z_f`` is frame f's hidden states at the layer, token by token (the same normalised tokens
  attn1 projects), so the memory is a spatial map: token p of ``h`` remembers what lay at p in the
  earlier frames. The report's "noise residuals" of earlier frames are what these tokens carry.
- Causality: frame f's memory is ``h_(f-1)``, written from frames 0..f-1 only (the report: "updated
  with the noise residuals generated from z_1 .. z_(i-1)").
- The memory slot is written on top of the first frame's tokens (``m_f = z_0 + ...``). With the
  output weights at zero, the keys and values are then frame 0's twice, and softmax over a key set
  repeated twice equals softmax over it once: the layer *is* Text2Video-Zero's cross-frame
  attention to frame 1, exactly, so the pretrained model is untouched at step 0. (A memory of zeros
  instead would still draw softmax mass through its zero keys and change the output.)
- Initialisation: ``W_ho``, ``b_a``, ``W_hh`` and ``b_h`` start at zero, ``W_zh`` at PyTorch's
  default. The report zeroes ``W_zh`` too; but with ``W_zh = W_ho = 0`` the memory is 0, the
  gradient of ``W_ho`` is ``dL/dm h^T = 0`` and that of ``W_zh`` flows through ``W_ho = 0``: no
  recurrent weight would ever move. Zeroing only the output projection is ControlNet's zero
  convolution, which the report cites for this very purpose. (``tests/test_motion.py`` checks both.)

The processor is installed on ``attn1`` like :class:`direct2v.attention.FrameInteractionProcessor`
and uninstalled by the same :func:`direct2v.attention.uninstall_frame_interaction`, so one UNet
switches between this, Tune-A-Video's sparse-causal attention and DirecT2V's modes.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from diffusers.models.attention_processor import AttnProcessor2_0

from ..attention.processor import (finish_tokens, prepare_tokens, select_layers, self_attention_layers,
                                  swap_self_attention, uninstall_frame_interaction)


class RecurrentMemory(nn.Module):
    """The recurrence of one layer: ``h_f = tanh(W_hh h_(f-1) + W_zh z_f + b_h)``, ``m_f = z_0 + W_ho h_(f-1) + b_a``.

    ``dim``: token width C of the layer; ``hidden``: width of h (default C).
    """

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or dim
        self.w_zh = nn.Linear(dim, hidden)            # W_zh, bias b_h
        self.w_hh = nn.Linear(hidden, hidden, bias=False)  # W_hh
        self.w_ho = nn.Linear(hidden, dim)            # W_ho, bias b_a
        for p in (self.w_zh.bias, self.w_hh.weight, self.w_ho.weight, self.w_ho.bias):
            nn.init.zeros_(p)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: (G, F, N, C) tokens of G groups of F frames; returns the memory slots m_f, (G, F, N, C)."""
        dtype = z.dtype
        z = z.to(self.w_zh.weight.dtype)
        h = z.new_zeros(*z.shape[:1], *z.shape[2:3], self.w_hh.in_features)  # h_(-1) = 0, (G, N, H)
        slots = []
        for f in range(z.shape[1]):
            slots.append(z[:, 0] + self.w_ho(h))                       # m_f from frames < f
            if f + 1 < z.shape[1]:
                h = torch.tanh(self.w_hh(h) + self.w_zh(z[:, f]))      # h_f
        return torch.stack(slots, dim=1).to(dtype)


class RecurrentMotion(nn.Module):
    """The recurrent weights of every modified layer, keyed by layer name, and the frame count F.

    ``RecurrentMotion.for_unet(unet, layers=None)`` builds one :class:`RecurrentMemory` per
    self-attention layer (``layers``: name prefixes, ``None`` for all). ``num_frames`` tells the
    installed processors how the batch is grouped (G groups of F frames, guidance halves included).
    """

    def __init__(self, widths: dict[str, int], hidden_ratio: float = 1.0):
        super().__init__()
        if not widths:
            raise ValueError("widths={} is not allowed; give at least one layer")
        self.widths = dict(widths)
        self.hidden_ratio = float(hidden_ratio)
        self.cells = nn.ModuleDict({_key(name): RecurrentMemory(c, max(1, round(c * hidden_ratio)))
                                    for name, c in widths.items()})
        self.num_frames = 1

    @classmethod
    def for_unet(cls, unet, layers=None, hidden_ratio: float = 1.0) -> "RecurrentMotion":
        modules = dict(unet.named_modules())
        widths = {name: modules[name].to_q.in_features for name in select_layers(unet, layers)}
        return cls(widths, hidden_ratio)

    def cell(self, layer: str) -> RecurrentMemory:
        return self.cells[_key(layer)]

    @property
    def layers(self) -> list[str]:
        return list(self.widths)


def _key(layer: str) -> str:
    return layer.replace(".", "__")  # ModuleDict keys may not contain dots


class RecurrentCausalProcessor:
    """attn1 of one layer with recurrent causal attention (module docstring); cross-attention passes through."""

    def __init__(self, motion: RecurrentMotion, layer: str):
        self.motion = motion
        self.layer = layer
        self.plain = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        if encoder_hidden_states is not None:
            return self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if attention_mask is not None:
            raise ValueError("attention_mask is not supported by recurrent causal attention; pass None")
        residual, hidden_states, shape = prepare_tokens(attn, hidden_states, temb)
        b, n, c = hidden_states.shape
        frames = self.motion.num_frames
        if b % frames:
            raise ValueError(f"num_frames={frames} does not divide the batch of {b} in layer {self.layer!r}")
        z = hidden_states.reshape(b // frames, frames, n, c)
        memory = self.motion.cell(self.layer)(z)                          # m_f, (G, F, N, C)
        context = torch.cat([z[:, :1].expand_as(memory), memory], dim=2).reshape(b, 2 * n, c)  # [z_0, m_f]

        def heads(x):
            return x.view(b, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        q, k, v = heads(attn.to_q(hidden_states)), heads(attn.to_k(context)), heads(attn.to_v(context))
        if attn.norm_q is not None:
            q, k = attn.norm_q(q), attn.norm_k(k)
        return finish_tokens(attn, F.scaled_dot_product_attention(q, k, v), residual, shape)


def install_recurrent_attention(unet, motion: RecurrentMotion, num_frames: int | None = None) -> list[str]:
    """Put :class:`RecurrentCausalProcessor` on the self-attention layers ``motion`` has weights for.

    Installing again first restores the original processors; undo with
    :func:`direct2v.attention.uninstall_frame_interaction` (or use :func:`recurrent_attention`).
    ``motion`` is moved to the UNet's device and dtype. Returns the modified layer names.
    """
    if not isinstance(motion, RecurrentMotion):
        raise ValueError(f"motion={motion!r} is not allowed; pass a RecurrentMotion")
    if num_frames is not None:
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"num_frames={num_frames!r} is not allowed; use an integer >= 1")
        motion.num_frames = num_frames
    available = set(self_attention_layers(unet))
    missing = [name for name in motion.layers if name not in available]
    if missing:
        raise ValueError(f"motion has layers {missing} that this UNet does not have; available: {sorted(available)}")
    motion.to(device=unet.device, dtype=unet.dtype)
    swap_self_attention(unet, lambda name: RecurrentCausalProcessor(motion, name), motion.layers)
    return motion.layers


@contextmanager
def recurrent_attention(unet, motion: RecurrentMotion, num_frames: int):
    """``with recurrent_attention(pipe.unet, motion, F): pipe(prompt, num_frames=F, attention="self")``.

    The pipeline's ``attention="self"`` installs nothing, so the recurrent processors stay in charge.
    """
    install_recurrent_attention(unet, motion, num_frames)
    try:
        yield motion
    finally:
        uninstall_frame_interaction(unet)

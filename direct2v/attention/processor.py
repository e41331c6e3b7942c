"""The diffusers attention processor that carries out frame interaction, its install and its capture.

Only self-attention layers (``attn1`` of the transformer blocks) are replaced; cross-attention
(``attn2``) keeps its processor, so frame f is still conditioned on its own prompt.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0

from .controller import FrameInteraction
from .fast import value_mapping_attention, value_mapping_details
from .functional import reference_keys, sparse_causal_attention

# The authors' released code modifies the self-attention of these U-Net blocks only (the two
# highest-resolution decoder stages). The paper's text speaks of the self-attention layers of the
# U-Net in general, so the default here is every self-attention layer; pass this to follow the code.
RELEASED_CODE_LAYERS = ("up_blocks.2", "up_blocks.3")
MAPPED_LEVELS = 2
"""The one setting of the authors' layers, used by the evaluation's main rows (``direct2v.evaluate``) and the
miniature's stage (``direct2v.miniature.stage``): frame interaction acts on the self-attention of the ``MAPPED_LEVELS``
highest-resolution decoder levels that have attention (:func:`authors_layers`), as the authors' released code
maps SD 1.5's ``up_blocks.2-3`` (:data:`direct2v.attention.RELEASED_CODE_LAYERS`); in the miniature (three decoder
levels, all with attention) these are ``up_blocks.1-2``. The paper's text speaks of "the self-attention layers"
in general; the ablation row ``rvm_all`` maps every layer."""


def authors_layers(unet, levels: int = MAPPED_LEVELS) -> tuple[str, ...]:
    """The ``levels`` highest-resolution decoder levels of ``unet`` with attention, as name prefixes (the decoder
    runs from low to high resolution): SD 1.5 gives ``("up_blocks.2", "up_blocks.3")``, the miniature
    ``("up_blocks.1", "up_blocks.2")``."""
    kinds = unet.config["up_block_types"]
    with_attention = [f"up_blocks.{i}" for i, kind in enumerate(kinds) if "CrossAttn" in kind]
    if len(with_attention) < levels:
        raise ValueError(f"levels={levels} is not allowed for a UNet with {len(with_attention)} decoder levels "
                         "with attention; use fewer")
    return tuple(with_attention[-levels:])


ORIGINAL_PROCESSORS = "_direct2v_original_processors"
"""The UNet attribute where :func:`swap_self_attention` keeps the processors it replaced."""


@dataclass
class AttentionRecord:
    """What :func:`capture` keeps for one (layer, step, frame) of the last guidance group (the conditional one).

    ``probs``: head-averaged attention probabilities of the frame's queries over the keys it attended,
    ``(N, N_keys)``; ``confidence``: head-averaged DSF confidence per query ``(N,)`` and ``mask``:
    ``True`` where the mapped value was kept (both ``None`` without DSF).
    """
    layer: str
    step: int
    frame: int
    reference: int | None
    probs: torch.Tensor
    confidence: torch.Tensor | None = None
    mask: torch.Tensor | None = None


class FrameInteractionProcessor:
    """Self-attention of one layer, with the frames of the batch interacting as the step's
    :class:`~direct2v.attention.AttentionPlan` says (``controller.plan``, one per denoising step): plain
    self-attention, sparse-causal attention, or value mapping onto the plan's reference (from the batch's frames,
    kept for later sections, or the kept ones of a long video), with DSF; while a capture is open it records maps."""

    def __init__(self, controller: FrameInteraction, layer: str):
        self.controller = controller
        self.layer = layer
        self.plain = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        plan = self.controller.plan
        if encoder_hidden_states is not None or (plan.plain and not plan.capturing):
            return self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if attention_mask is not None and not plan.plain:
            raise ValueError("attention_mask is not supported while frames interact; pass None")
        residual, hidden_states, shape = prepare_tokens(attn, hidden_states, temb)
        b, n, _ = hidden_states.shape
        if b % plan.num_frames:
            raise ValueError(f"num_frames={plan.num_frames} does not divide the batch of {b} in layer {self.layer!r}")

        def heads(x):
            return x.view(b, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        q, k, v = (heads(f(hidden_states)) for f in (attn.to_q, attn.to_k, attn.to_v))
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)

        cached, details = None, None
        if plan.plain:
            out = F.scaled_dot_product_attention(q, k, v)
        elif plan.sparse_causal:
            out = sparse_causal_attention(q, k, v, plan.num_frames)
        else:
            if plan.source == "replay":  # a later section of a long video: the first section's reference
                cached = self.controller.cached_reference(self.layer, q.device)
            elif plan.source == "record":
                self.controller.store_reference(self.layer, reference_keys(k, plan.reference, plan.num_frames),
                                                reference_keys(v, plan.reference, plan.num_frames))
            # details (every frame's confidence) only while capturing
            mapping = dict(dsf_quantile=plan.dsf_quantile, dsf_scope=plan.dsf_scope, chunk_size=plan.chunk_size,
                           kv_ref=cached)
            if plan.capturing:
                out, details = value_mapping_details(q, k, v, plan.reference, plan.num_frames, **mapping)
            else:
                out = value_mapping_attention(q, k, v, plan.reference, plan.num_frames, **mapping)
        if plan.capturing:
            self._capture(plan, q, k, None if cached is None else cached[0], details)

        return finish_tokens(attn, out, residual, shape)

    def _capture(self, plan, q, k, cached_keys, details):
        """Keep an :class:`AttentionRecord` of the last (conditional) group for each open capture that asks for
        this layer, step and frame. Frame f's keys: those of ``plan.attended[f]``, or the cached reference's."""
        num_frames, group = plan.num_frames, q.shape[0] // plan.num_frames - 1
        for spec in self.controller.captures:
            if not layer_matches(self.layer, spec["layers"]) or (spec["steps"] is not None and plan.step not in spec["steps"]):
                continue
            for f in range(num_frames):
                if spec["frames"] is not None and f not in spec["frames"]:
                    continue
                i = group * num_frames + f
                if cached_keys is None:
                    keys = torch.cat([k[group * num_frames + g] for g in plan.attended[f]], dim=-2)
                else:
                    keys = cached_keys[group]
                probs = (q[i].float() @ keys.float().transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(-1).mean(0)
                record = AttentionRecord(self.layer, plan.step, f, plan.reference, probs.cpu())
                if details is not None:
                    record.confidence, record.mask = details.confidence[i].cpu(), details.mask[i].cpu()
                spec["records"].append(record)


def layer_matches(layer: str, prefixes) -> bool:
    """Whether ``layer`` is one of ``prefixes`` (name prefixes at dot boundaries; ``None``: every layer)."""
    return prefixes is None or any(layer == p or layer.startswith(p + ".") for p in prefixes)


def self_attention_layers(unet) -> list[str]:
    """Names of the U-Net's self-attention layers (``attn1`` of each transformer block)."""
    return [name[: -len(".processor")] for name in unet.attn_processors if name.endswith("attn1.processor")]


def select_layers(unet, layers=None, name: str = "layers") -> list[str]:
    """The self-attention layers of ``unet`` that ``layers`` (name prefixes, one string, or ``None`` for all)
    selects; a prefix that matches none is a ``ValueError`` naming ``name`` and the available block prefixes."""
    available = self_attention_layers(unet)
    if layers is None:
        return available
    prefixes = (layers,) if isinstance(layers, str) else tuple(layers)
    for prefix in prefixes:
        if not any(layer_matches(layer, (prefix,)) for layer in available):
            blocks = sorted({".".join(n.split(".")[:2]) if n.startswith(("down", "up")) else n.split(".")[0]
                             for n in available})
            raise ValueError(f"{name}={prefix!r} matches no self-attention layer of this UNet; available "
                             f"prefixes: {blocks} (full names: direct2v.attention.self_attention_layers(unet))")
    return [layer for layer in available if layer_matches(layer, prefixes)]


def swap_self_attention(unet, make_processor, layers=None) -> list[str]:
    """Put ``make_processor(layer_name)`` on the self-attention layers ``layers`` selects (see
    :func:`select_layers`), first restoring any processors swapped in before; the replaced ones are kept
    for :func:`uninstall_frame_interaction`. The one place that swaps processors: frame interaction and
    recurrent motion (:mod:`direct2v.motion.recurrent`) both install through it. Returns the layer names."""
    chosen = select_layers(unet, layers)
    uninstall_frame_interaction(unet)
    original = unet.attn_processors
    processors = dict(original)
    for name in chosen:
        processors[name + ".processor"] = make_processor(name)
    unet.set_attn_processor(processors)
    setattr(unet, ORIGINAL_PROCESSORS, original)
    return chosen


def install_frame_interaction(unet, controller: FrameInteraction, layers=None) -> list[str]:
    """Replace the self-attention processors of ``unet`` (a ``UNet2DConditionModel``) by frame interaction.

    ``layers``: ``None`` for every self-attention layer (the paper's description), or name prefixes
    such as :data:`RELEASED_CODE_LAYERS`. Installing again first restores the original processors.
    Returns the names of the modified layers.
    """
    if not isinstance(controller, FrameInteraction):
        raise ValueError(f"controller={controller!r} is not allowed; pass a FrameInteraction")
    return swap_self_attention(unet, lambda name: FrameInteractionProcessor(controller, name), layers)


def uninstall_frame_interaction(unet) -> None:
    """Put back the processors that were there before :func:`swap_self_attention` (no-op if none)."""
    original = getattr(unet, ORIGINAL_PROCESSORS, None)
    if original is not None:
        unet.set_attn_processor(dict(original))
        delattr(unet, ORIGINAL_PROCESSORS)


@contextmanager
def capture(controller: FrameInteraction, layers=None, steps=None, frames=None):
    """Record attention maps for the book's plots: ``with capture(ctrl, layers=..., steps=[10]) as records:``.

    ``layers``: name prefixes (``None``: all installed layers); ``steps`` and ``frames``: iterables of
    denoising steps and frame indices (``None``: all). ``records`` is a list of :class:`AttentionRecord`
    (CPU tensors) filled as the pipeline runs. Each record holds an ``N x N`` map: keep the selection small.
    """
    spec = {"layers": None if layers is None else ((layers,) if isinstance(layers, str) else tuple(layers)),
            "steps": None if steps is None else set(steps), "frames": None if frames is None else set(frames),
            "records": []}
    controller.open_capture(spec)
    try:
        yield spec["records"]
    finally:
        controller.close_capture(spec)


def prepare_tokens(attn, hidden_states, temb=None):
    """The start of diffusers' attention processors: spatial/group norm, tokens as (B, N, C).

    Returns ``(residual, tokens, original_shape)`` for :func:`finish_tokens`.
    """
    residual = hidden_states
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    shape = hidden_states.shape
    if hidden_states.ndim == 4:
        hidden_states = hidden_states.flatten(2).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    return residual, hidden_states, shape


def finish_tokens(attn, out, residual, shape):
    """The end of diffusers' attention processors: merge heads of ``out`` (B, heads, N, d), project,
    restore the original shape, add the residual and rescale."""
    b, _, n, _ = out.shape
    out = out.transpose(1, 2).reshape(b, n, -1).to(attn.to_out[0].weight.dtype)
    out = attn.to_out[1](attn.to_out[0](out))
    if len(shape) == 4:
        out = out.transpose(1, 2).reshape(shape)
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor

"""The equations of frame interaction as the paper writes them (sections 3.4 and 3.5), on plain tensors.

This module is the readable reference: one function per equation, dense (every score matrix is built
in full), for reading, for tests and for small inputs. The pipeline computes the same equations with
memory linear in tokens through :mod:`.fast`, and ``tests/test_attention_reference.py`` proves that
each fast function equals its reference here.

Every function works on ``(B, heads, N, d)`` tensors whose batch holds ``G`` groups of
``F = num_frames`` frames each, in diffusers' classifier-free-guidance layout (all
unconditional frames, then all conditional ones). Frames only ever interact inside their
own group, so the two guidance halves never mix.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from ..settings import DSF_SCOPES  # the one list of scopes


def _groups(x: torch.Tensor, num_frames: int) -> int:
    if num_frames < 1 or x.shape[0] % num_frames:
        raise ValueError(f"num_frames={num_frames} does not divide the batch of {x.shape[0]}; "
                         "the batch must hold whole groups of num_frames frames")
    return x.shape[0] // num_frames


def reference_keys(x: torch.Tensor, ref_index: int, num_frames: int) -> torch.Tensor:
    """The reference frame's slice of every group: ``(B, h, N, d) -> (G, h, N, d)`` (K_r or V_r of Eq. 4)."""
    groups = _groups(x, num_frames)
    if not 0 <= ref_index < num_frames:
        raise ValueError(f"ref_index={ref_index} is outside the frames 0..{num_frames - 1}")
    return x.view(groups, num_frames, *x.shape[1:])[:, ref_index]


def _per_frame(x_ref: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``(G, h, N, d) -> (B, h, N, d)``: group g's reference repeated for each of its frames."""
    return x_ref.repeat_interleave(num_frames, dim=0)


def scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``S = Q K^T / sqrt d`` in fp32, ``(B, h, N_q, N_k)``: the scores of Eqs. 3-5 (batch by batch)."""
    return torch.einsum("bhid,bhjd->bhij", q.float(), k.float()) * q.shape[-1] ** -0.5


def self_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention(Q_f, K_f, V_f) = Softmax(Q_f K_f^T / sqrt d) V_f (Eq. 3), batch by batch."""
    return (scores(q, k).softmax(dim=-1) @ v.float()).to(q.dtype)


def value_mapping(q: torch.Tensor, k_ref: torch.Tensor, v_ref: torch.Tensor, num_frames: int) -> torch.Tensor:
    """VM(Q_f) = Softmax(Q_f K_r^T / sqrt d) V_r (Eq. 4) for every frame f of each group.

    ``q``: ``(B, h, N, d)``; ``k_ref, v_ref``: ``(G, h, N_k, d)``, the reference frame r(t') of each
    group (:func:`reference_keys`, or a cached reference for long videos). Fast form:
    :func:`direct2v.attention.fast.mapped_attention`.
    """
    if k_ref.shape[0] != _groups(q, num_frames):
        raise ValueError(f"k_ref holds {k_ref.shape[0]} groups but the batch holds {q.shape[0] // num_frames}")
    return self_attention(q, _per_frame(k_ref, num_frames), _per_frame(v_ref, num_frames))


def dual_softmax_confidence(q: torch.Tensor, k: torch.Tensor, chunk_size=None) -> torch.Tensor:
    """Per-query dual-softmax confidence (Eq. 5), averaged over keys: shape ``(B, heads, N_q)``, fp32.

    With ``S = Q K^T / sqrt d`` (:func:`scores`): ``C = Softmax_keys(S) * Softmax_queries(S)``, the
    Hadamard product of Eq. 5 (its second factor ``Softmax(K Q^T)`` is the softmax of ``S`` over the
    queries), and the confidence of query i is ``mean_j C[i, j]``, the key half of the average A(.)
    of Eq. 6. The paper prints Eq. 5 without the ``1/sqrt d``; the package scales as Eq. 4 does, so
    the row softmax here *is* the attention of value mapping. ``q`` and ``k`` are aligned batch by
    batch (frame f against its reference). Fast forms: :func:`direct2v.attention.fast.chunked_confidence`,
    :func:`direct2v.attention.fast.blocked_confidence`.

    ``chunk_size`` is deprecated (the chunked form moved to :func:`~direct2v.attention.fast.chunked_confidence`):
    ``None`` is this dense reference; a number warns and is ignored.
    """
    if chunk_size is not None:
        warnings.warn("dual_softmax_confidence(chunk_size=...) is deprecated and ignored (this is the dense "
                      "reference); use direct2v.attention.fast.chunked_confidence(q, k, chunk_size)",
                      DeprecationWarning, stacklevel=2)
    s = scores(q, k)
    return (s.softmax(dim=-1) * s.softmax(dim=-2)).mean(dim=-1)


def filtered_queries(confidence: torch.Tensor, quantile: float, num_frames: int, scope: str = "frame"):
    """The queries DSF hands back to self-attention (Eq. 6): the least confident fraction ``quantile`` (phi).

    ``confidence`` is one value per token, ``(B, N)``. With ``scope="frame"`` every frame gives up
    its own ``round(quantile * N)`` least confident tokens; with ``scope="batch"`` the quantile is
    taken over all frames of one guidance group together (the released code pooled the whole batch,
    both guidance halves and all heads), so frames far from the reference lose more tokens.
    Ranking instead of comparing to a threshold makes ``quantile=0`` filter nothing and
    ``quantile=1`` filter everything, ties included. Returns ``(index, valid)``: ``(B, k)`` token
    indices sorted by confidence and a mask of which of them are really filtered (``k`` is the
    largest per-frame count). :func:`mapping_mask` turns them into the paper's M_f.
    """
    if scope not in DSF_SCOPES:
        raise ValueError(f"dsf_scope={scope!r} is not allowed; use one of {DSF_SCOPES}")
    if not 0 <= quantile <= 1:
        raise ValueError(f"dsf_quantile={quantile} is not allowed; use a fraction in [0, 1]")
    b, n = confidence.shape
    if scope == "frame":
        count = torch.full((b,), math.floor(quantile * n + 0.5), device=confidence.device)
    else:
        groups = _groups(confidence, num_frames)
        flat = confidence.reshape(groups, num_frames * n)
        low = flat.topk(math.floor(quantile * num_frames * n + 0.5), dim=-1, largest=False).indices
        mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, low, True)
        count = mask.view(b, n).sum(dim=-1)
    width = int(count.max())
    index = confidence.topk(width, dim=-1, largest=False).indices
    valid = torch.arange(width, device=confidence.device) < count[:, None]
    return index, valid


def mapping_mask(index: torch.Tensor, valid: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """M_f of Eq. 6 from :func:`filtered_queries`' answer: ``(B, N)``, ``False`` at the filtered queries
    (they take their own attention), ``True`` where the mapped value is kept."""
    mask = torch.ones(index.shape[0], num_tokens, dtype=torch.bool, device=index.device)
    rows = torch.arange(index.shape[0], device=index.device)[:, None].expand_as(index)
    mask[rows[valid], index[valid]] = False
    return mask


def dual_softmax_filtering(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ref_index: int | None,
                           num_frames: int, dsf_quantile: float, dsf_scope: str = "frame",
                           kv_ref=None) -> torch.Tensor:
    """VM'(Q_f) = (1 - M_f) * Attention(Q_f, K_f, V_f) + M_f * VM(Q_f) (Eq. 6) for every frame f.

    ``M_f = 1(A(C_dual) > phi)``: A averages the confidence of Eq. 5 over the keys and then over the
    heads (one decision per token, broadcast over channels), and the ``phi = dsf_quantile`` least
    confident tokens (per frame or per group, ``dsf_scope``: :func:`filtered_queries`) take their own
    self-attention. Frame f is scored against frame ``ref_index`` of its group, or against
    ``kv_ref = (K_r, V_r)``, ``(G, h, N, d)`` (a cached reference). Fast form:
    :func:`direct2v.attention.fast.value_mapping_attention`.
    """
    if kv_ref is None:
        kv_ref = (reference_keys(k, ref_index, num_frames), reference_keys(v, ref_index, num_frames))
    k_ref, v_ref = kv_ref
    confidence = dual_softmax_confidence(q, _per_frame(k_ref, num_frames)).mean(dim=1)  # A(C_dual), (B, N)
    keep = mapping_mask(*filtered_queries(confidence, dsf_quantile, num_frames, dsf_scope), q.shape[2])
    keep = keep[:, None, :, None]  # broadcast over heads and channels
    return torch.where(keep, value_mapping(q, k_ref, v_ref, num_frames), self_attention(q, k, v))


def sparse_causal_frames(frame: int) -> tuple[int, int]:
    """The frames whose keys and values frame ``frame`` reads in Tune-A-Video's sparse-causal attention:
    the first and the previous one (frame 0 reads itself twice)."""
    if frame < 0:
        raise ValueError(f"frame={frame} is not allowed; use a frame index >= 0")
    return 0, max(frame - 1, 0)


def sparse_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Tune-A-Video's sparse-causal attention: frame f attends the keys and values of the frames
    :func:`sparse_causal_frames` names, side by side. Frame 0 attends itself twice, which is plain
    self-attention.
    """
    groups = _groups(q, num_frames)
    first, previous = (list(frames) for frames in zip(*map(sparse_causal_frames, range(num_frames))))

    def both(x):
        x = x.view(groups, num_frames, *x.shape[1:])
        return torch.cat([x[:, first], x[:, previous]], dim=-2).flatten(0, 1)

    return F.scaled_dot_product_attention(q, both(k), both(v))

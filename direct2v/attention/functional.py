"""The math of frame interaction on plain tensors (paper sections 3.4 and 3.5).

Every function works on ``(B, heads, N, d)`` tensors whose batch holds ``G`` groups of
``F = num_frames`` frames each, in diffusers' classifier-free-guidance layout (all
unconditional frames, then all conditional ones). Frames only ever interact inside their
own group, so the two guidance halves never mix.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DSF_SCOPES = ("frame", "batch")
DSF_METHODS = ("auto", "lse", "chunked", "dense")


def _groups(x: torch.Tensor, num_frames: int) -> int:
    if num_frames < 1 or x.shape[0] % num_frames:
        raise ValueError(f"num_frames={num_frames} does not divide the batch of {x.shape[0]}; "
                         "the batch must hold whole groups of num_frames frames")
    return x.shape[0] // num_frames


def reference_keys(x: torch.Tensor, ref_index: int, num_frames: int) -> torch.Tensor:
    """The reference frame's slice of every group: ``(B, h, N, d) -> (G, h, N, d)``."""
    groups = _groups(x, num_frames)
    if not 0 <= ref_index < num_frames:
        raise ValueError(f"ref_index={ref_index} is outside the frames 0..{num_frames - 1}")
    return x.view(groups, num_frames, *x.shape[1:])[:, ref_index]


def mapped_attention(q: torch.Tensor, k_ref: torch.Tensor, v_ref: torch.Tensor, num_frames: int,
                     with_lse: bool = False):
    """VM(Q_f) = softmax(Q_f K_r^T / sqrt d) V_r (Eq. 4) for every frame f of each group.

    All ``F`` frames of a group share one reference, so their queries are stacked into one
    ``F*N``-token query and a single ``scaled_dot_product_attention`` call serves the group:
    no copy of the reference keys and values per frame. ``with_lse`` (CPU only) also returns
    the row log-sum-exp of the scores, which the fused confidence below reuses.
    """
    groups = _groups(q, num_frames)
    _, heads, n, d = q.shape
    # (B, h, N, d) -> (G, h, F*N, d); a view when q has diffusers' (B, N, h, d) memory layout
    qg = q.transpose(1, 2).reshape(groups, num_frames * n, heads, d).transpose(1, 2)
    if with_lse:
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(qg, k_ref, v_ref, 0.0, False)
        lse = lse.view(groups, heads, num_frames, n).transpose(1, 2).reshape(q.shape[0], heads, n)
    else:
        out, lse = F.scaled_dot_product_attention(qg, k_ref, v_ref), None
    out = out.transpose(1, 2).reshape(q.shape[0], n, heads, -1).transpose(1, 2)
    return out, lse


def dual_softmax_confidence(q: torch.Tensor, k: torch.Tensor, chunk_size: int | None = 1024) -> torch.Tensor:
    """Per-query dual-softmax confidence (Eq. 5), averaged over keys: shape ``(B, heads, N_q)``, fp32.

    With ``S = Q K^T / sqrt d``: ``C = softmax_keys(S) * softmax_queries(S)`` and the confidence of
    query i is ``mean_j C[i, j]``. ``q`` and ``k`` are aligned batch by batch (frame f against its
    reference). ``chunk_size=None`` builds the dense ``N_q x N_k`` score tensor (the obvious way,
    for tests and small inputs). Otherwise scores are formed ``chunk_size`` query rows at a time
    (rows of several frames and heads are grouped when ``N_q < chunk_size``), so the largest
    temporary holds ``chunk_size * N_k`` values: a first pass accumulates each key's
    log-sum-exp over all queries (the column softmax's normaliser), a second pass forms ``C``
    for the chunk's rows and reduces it at once.
    """
    scale = q.shape[-1] ** -0.5
    if chunk_size is None:
        s = torch.einsum("bhid,bhjd->bhij", q.float(), k.float()) * scale
        return (s.softmax(dim=-1) * s.softmax(dim=-2)).mean(dim=-1)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be a positive integer or None (dense)")
    b, h, nq, d = q.shape
    qf, kf = q.reshape(b * h, nq, d), k.reshape(b * h, -1, d)
    rows = min(nq, chunk_size)
    group = max(1, chunk_size // nq)
    blocks = [(g, i) for g in range(0, b * h, group) for i in range(0, nq, rows)]

    def scores(g, i):
        return torch.matmul(qf[g:g + group, i:i + rows].float() * scale, kf[g:g + group].float().transpose(1, 2))

    lse_col = torch.full((b * h, kf.shape[1]), -math.inf, device=q.device)
    for g, i in blocks:  # pass 1: per-key log-sum-exp over all queries
        lse_col[g:g + group] = torch.logaddexp(lse_col[g:g + group], torch.logsumexp(scores(g, i), dim=1))
    conf = torch.empty(b * h, nq, device=q.device)
    for g, i in blocks:  # pass 2: C for these rows, reduced over keys
        s = scores(g, i)
        conf[g:g + group, i:i + rows] = (s.softmax(dim=-1) * torch.exp(s - lse_col[g:g + group, None])).mean(dim=-1)
    return conf.view(b, h, nq)


def _lse_confidence(q: torch.Tensor, k_ref: torch.Tensor, lse_row: torch.Tensor, num_frames: int) -> torch.Tensor:
    """The same confidence from three fused CPU flash-attention passes, never forming any score block.

    ``mean_j softmax_j(S)_ij exp(S_ij - L^col_j) = exp(logsumexp_j(2 S_ij - L^col_j) - L^row_i) / N_k``.
    ``L^row`` comes from the value-mapping pass itself; ``L^col`` is the row log-sum-exp of the
    transposed problem (reference keys attending the frame's queries); the last log-sum-exp is an
    attention whose keys carry ``-L^col`` in one extra channel. The values are dummies (zeros).
    """
    groups = _groups(q, num_frames)
    b, h, n, d = q.shape
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    qf = q.float()
    kf = k_ref.float()[:, None].expand(groups, num_frames, h, -1, d).reshape(b, h, -1, d)
    _, lse_col = flash(kf, qf, torch.zeros(()).expand(qf.shape), 0.0, False, scale=d ** -0.5)
    q2 = torch.cat([qf * (2 * d ** -0.5), qf.new_ones(b, h, n, 1)], dim=-1)
    k2 = torch.cat([kf, -lse_col[..., None]], dim=-1)
    _, lse2 = flash(q2, k2, torch.zeros(()).expand(k2.shape), 0.0, False, scale=1.0)
    return torch.exp(lse2 - lse_row.float() - math.log(kf.shape[2]))


def filtered_queries(confidence: torch.Tensor, quantile: float, num_frames: int, scope: str = "frame"):
    """The queries DSF hands back to self-attention (Eq. 6): the least confident fraction ``quantile``.

    ``confidence`` is one value per token, ``(B, N)``. With ``scope="frame"`` every frame gives up
    its own ``round(quantile * N)`` least confident tokens; with ``scope="batch"`` the quantile is
    taken over all frames of one guidance group together (the released code pooled the whole batch,
    both guidance halves and all heads), so frames far from the reference lose more tokens.
    Ranking instead of comparing to a threshold makes ``quantile=0`` filter nothing and
    ``quantile=1`` filter everything, ties included. Returns ``(index, valid)``: ``(B, k)`` token
    indices sorted by confidence and a mask of which of them are really filtered (``k`` is the
    largest per-frame count).
    """
    if scope not in DSF_SCOPES:
        raise ValueError(f"dsf_scope={scope!r} is not allowed; use one of {DSF_SCOPES}")
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


def value_mapping_attention(q, k, v, ref_index: int | None, num_frames: int, dsf_quantile: float | None = None,
                            dsf_scope: str = "frame", chunk_size: int | None = 1024, kv_ref=None,
                            dsf_method: str = "auto", return_details: bool = False):
    """Value mapping (Eq. 4) with optional dual-softmax filtering (Eqs. 5-6) for one attention layer.

    ``q, k, v``: ``(B, heads, N, d)`` with ``B = G * num_frames``. Every frame's queries attend the
    keys and values of frame ``ref_index`` of its own group, or of ``kv_ref = (K_r, V_r)``,
    ``(G, heads, N, d)`` (long videos: a cached reference). With ``dsf_quantile = phi > 0`` the
    confidence of each query is averaged over heads (one decision per token, as the mask ``M_f``
    of Eq. 6 is broadcast over channels) and the ``phi`` least confident queries of each frame
    (``dsf_scope``) take the frame's own self-attention output, computed for those queries only.
    ``dsf_method``: ``"lse"`` fused CPU flash passes, ``"chunked"`` / ``"dense"`` see
    :func:`dual_softmax_confidence`, ``"auto"`` picks ``"lse"`` on the CPU and ``"chunked"`` elsewhere.
    With ``return_details`` also returns ``{"confidence": (B, N), "index", "valid"}``.
    """
    if dsf_method not in DSF_METHODS:
        raise ValueError(f"dsf_method={dsf_method!r} is not allowed; use one of {DSF_METHODS}")
    if kv_ref is None:
        kv_ref = (reference_keys(k, ref_index, num_frames), reference_keys(v, ref_index, num_frames))
    k_ref, v_ref = kv_ref
    if k_ref.shape[0] != _groups(q, num_frames):
        raise ValueError(f"kv_ref holds {k_ref.shape[0]} groups but the batch holds {q.shape[0] // num_frames}")
    if dsf_method == "auto":
        dsf_method = "lse" if q.device.type == "cpu" else "chunked"
    use_dsf = bool(dsf_quantile)
    out, lse_row = mapped_attention(q, k_ref, v_ref, num_frames, with_lse=use_dsf and dsf_method == "lse")
    if not use_dsf:
        return (out, {}) if return_details else out
    if dsf_method == "lse":
        conf = _lse_confidence(q, k_ref, lse_row, num_frames)
    else:
        groups, (b, h, n, d) = q.shape[0] // num_frames, q.shape
        k_each = k_ref[:, None].expand(groups, num_frames, h, -1, d).reshape(b, h, -1, d)
        conf = dual_softmax_confidence(q, k_each, None if dsf_method == "dense" else chunk_size)
    token_conf = conf.mean(dim=1)  # A(C): mean over keys (done), then over heads
    index, valid = filtered_queries(token_conf, dsf_quantile, num_frames, dsf_scope)
    if index.shape[1]:
        idx = index[:, None, :, None]
        q_low = q.gather(2, idx.expand(-1, q.shape[1], -1, q.shape[3]))
        own = F.scaled_dot_product_attention(q_low, k, v)  # Attention(Q_f, K_f, V_f), filtered queries only
        idx = idx.expand(-1, out.shape[1], -1, out.shape[3])
        own = torch.where(valid[:, None, :, None], own.to(out.dtype), out.gather(2, idx))
        out = out.scatter(2, idx, own)
    return (out, {"confidence": token_conf, "index": index, "valid": valid}) if return_details else out


def sparse_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Tune-A-Video's sparse-causal attention: frame f attends the first and the previous frame.

    Frame 0 attends itself twice, which is plain self-attention.
    """
    groups = _groups(q, num_frames)
    prev = [0] + list(range(num_frames - 1))

    def both(x):
        x = x.view(groups, num_frames, *x.shape[1:])
        return torch.cat([x[:, [0] * num_frames], x[:, prev]], dim=-2).flatten(0, 1)

    return F.scaled_dot_product_attention(q, both(k), both(v))

"""The equations of :mod:`.functional`, computed fast and with memory linear in tokens: what the pipeline runs.

Each function here equals a reference of :mod:`.functional`, and a test proves it (``R`` is
``tests/test_attention_reference.py``, ``A`` is ``tests/test_attention.py``):

- :func:`mapped_attention` is :func:`~.functional.value_mapping` (Eq. 4): one fused attention call per
  group, no copy of the reference per frame (R ``test_mapped_attention_equals_value_mapping``).
- :func:`chunked_confidence` and :func:`blocked_confidence` are :func:`~.functional.dual_softmax_confidence`
  (Eq. 5) without the ``N x N`` score matrix (A ``test_chunked_confidence_equals_dense``,
  ``test_blocked_confidence_equals_dense``, ``test_blocked_confidence_memory_is_bounded``).
- :func:`value_mapping_attention` is :func:`~.functional.dual_softmax_filtering` (Eq. 6), or
  :func:`~.functional.value_mapping` without DSF (R ``test_value_mapping_attention_equals_reference``,
  A ``test_every_dsf_method_agrees``, ``test_dsf_shortcuts_change_nothing``); :func:`value_mapping_details`
  is the same call that also returns what the filter decided (R ``test_details_are_the_reference_confidence_and_mask``).

The speed comes from stacking the queries of a group into one fused call, reusing that call's row
log-sum-exp (a private PyTorch CPU op, with a fallback where it is missing), blocking the scores so that
each block holds complete columns, base-2 exponentials, and skipping DSF where it cannot change the
output. ``benchmarks/attention.py`` measures it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .functional import _groups, dual_softmax_confidence, filtered_queries, mapping_mask, reference_keys

DSF_METHODS = ("auto", "blocked", "chunked", "dense")
# Below this many scores (all frames and heads of a layer together) "auto" builds them densely:
# 1 MiB of fp32, and one batched call beats the blocked loop's per-call overhead (the miniature's
# 8x8 and 4x4 layers, benchmarks/attention.py).
DENSE_SCORES = 1 << 18
# Score elements per block of the blocked confidence: 1 MiB of fp32, which stays in a core's cache
# between the few passes over each block and keeps the Python loop short (measured in benchmarks/attention.py).
BLOCK_ELEMENTS = 1 << 18
_LOG2E = 1.4426950408889634


def _flash_with_lse():
    """PyTorch's fused CPU attention that also returns the row log-sum-exp (private op; ``None`` if absent)."""
    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def mapped_attention(q: torch.Tensor, k_ref: torch.Tensor, v_ref: torch.Tensor, num_frames: int,
                     with_lse: bool = False):
    """VM(Q_f) = softmax(Q_f K_r^T / sqrt d) V_r (Eq. 4; reference :func:`~.functional.value_mapping`).

    All ``F`` frames of a group share one reference, so their queries are stacked into one
    ``F*N``-token query and a single ``scaled_dot_product_attention`` call serves the group:
    no copy of the reference keys and values per frame. ``with_lse`` (CPU only) also returns
    the row log-sum-exp of the scores, which :func:`blocked_confidence` reuses. Returns ``(out, lse)``.
    """
    groups = _groups(q, num_frames)
    _, heads, n, d = q.shape
    # (B, h, N, d) -> (G, h, F*N, d); a view when q has diffusers' (B, N, h, d) memory layout
    qg = q.transpose(1, 2).reshape(groups, num_frames * n, heads, d).transpose(1, 2)
    if with_lse:
        out, lse = _flash_with_lse()(qg, k_ref, v_ref, 0.0, False)
        lse = lse.view(groups, heads, num_frames, n).transpose(1, 2).reshape(q.shape[0], heads, n)
    else:
        out, lse = F.scaled_dot_product_attention(qg, k_ref, v_ref), None
    out = out.transpose(1, 2).reshape(q.shape[0], n, heads, -1).transpose(1, 2)
    return out, lse


def chunked_confidence(q: torch.Tensor, k: torch.Tensor, chunk_size: int | None = 1024) -> torch.Tensor:
    """:func:`~.functional.dual_softmax_confidence` (Eq. 5) formed ``chunk_size`` query rows at a time.

    Rows of several frames and heads are grouped when ``N_q < chunk_size``, so the largest temporary
    holds ``chunk_size * N_k`` values: a first pass accumulates each key's log-sum-exp over all
    queries (the column softmax's normaliser), a second pass forms ``C`` for the chunk's rows and
    reduces it at once. ``chunk_size=None``: the dense reference itself.
    """
    if chunk_size is None:
        return dual_softmax_confidence(q, k)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be a positive integer or None (dense)")
    scale = q.shape[-1] ** -0.5
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


def blocked_confidence(q: torch.Tensor, k_ref: torch.Tensor, num_frames: int, frames=None, lse_row=None,
                       max_elements: int | None = None) -> torch.Tensor:
    """The dual-softmax confidence (Eq. 5) of every frame against its group's reference, in one pass over ``S``.

    ``q``: ``(B, h, N, d)``, ``k_ref``: ``(G, h, N_k, d)``; frame f of group g is scored against
    ``k_ref[g]``. With ``S = Q_f K_r^T / sqrt d``, row and column log-sum-exps ``L^row_i`` and
    ``L^col_j`` (the column one over the N queries of frame f only, as in
    :func:`~.functional.dual_softmax_confidence`)::

        mean_j C_ij = (1/N_k) sum_j exp(2 S_ij - L^col_j - L^row_i)

    A block holds *all* queries of a frame against a few keys, so each key's column is complete in the
    block: its ``L^col_j`` is known at once, and one score matmul per block serves both softmaxes
    (``exp(2 S_ij - L^col_j) = E_ij^2 exp(2 m_j - L^col_j)`` with ``E = exp(S - m)``, ``m`` the column
    max, so one exponential per score). Everything runs in base 2 (``exp2`` is the fast one on the CPU).
    ``lse_row`` (``(B, h, N)``, natural log) is the row log-sum-exp of the value-mapping pass; without
    it the same pass accumulates it too. ``frames``: the frame indices to score (others get ``+inf``).
    The largest temporary holds ``min(max_elements, BLOCK_ELEMENTS)`` scores, at least ``N * 128``:
    memory linear in tokens. Returns ``(B, h, N)`` in fp32.
    """
    groups = _groups(q, num_frames)
    b, h, n, d = q.shape
    nk = k_ref.shape[2]
    frames = list(range(num_frames)) if frames is None else list(frames)
    nf, gh = len(frames), groups * h
    # (B, h, N, d) -> (G*h, F', N, d), scaled so that Q K^T gives S in base 2
    qs = q.view(groups, num_frames, h, n, d)[:, frames].transpose(1, 2).float().mul(d ** -0.5 * _LOG2E)
    qs = qs.reshape(gh, nf, n, d)
    kt = k_ref.float().reshape(gh, nk, d).transpose(1, 2)  # (G*h, d, N_k)
    budget = min(max_elements or BLOCK_ELEMENTS, BLOCK_ELEMENTS)
    bk = min(nk, max(128, budget // n))  # fewer than 128 keys make a slow matmul
    bf = min(nf, max(1, budget // (n * bk)))
    bg = min(gh, max(1, budget // (nf * n * bk))) if bf == nf else 1
    log_conf = q.new_full((gh, nf, n), -math.inf, dtype=torch.float32)
    log_row = None if lse_row is not None else torch.full_like(log_conf, -math.inf)
    for g in range(0, gh, bg):
        for f in range(0, nf, bf):
            for j in range(0, nk, bk):
                s = torch.matmul(qs[g:g + bg, f:f + bf], kt[g:g + bg, None, :, j:j + bk])  # (bg, bf, N, bk)
                if log_row is not None:  # fallback: L^row accumulated here too
                    top = s.amax(dim=-1, keepdim=True)
                    row = torch.exp2(s - top).sum(dim=-1).log2_().add_(top[..., 0])
                    torch.logaddexp2(log_row[g:g + bg, f:f + bf], row, out=log_row[g:g + bg, f:f + bf])
                m = s.amax(dim=2, keepdim=True)  # column max over the frame's queries
                e = s.sub_(m).exp2_()
                log_w = m.sub_(e.sum(dim=2, keepdim=True).log2_())  # 2 m_j - L^col_j (base 2)
                top = log_w.amax(dim=-1, keepdim=True)
                root_w = log_w.sub_(top).mul_(0.5).exp2_()  # sum_j E_ij^2 w_j = |E_i * sqrt(w)|^2
                part = torch.linalg.vector_norm(e.mul_(root_w), dim=-1).log2_().mul_(2).add_(top[..., 0, :])
                if bk == nk:  # a single key block: nothing to accumulate
                    log_conf[g:g + bg, f:f + bf] = part
                else:
                    torch.logaddexp2(log_conf[g:g + bg, f:f + bf], part, out=log_conf[g:g + bg, f:f + bf])
    if log_row is None:
        log_row = lse_row.view(groups, num_frames, h, n)[:, frames].transpose(1, 2).reshape(gh, nf, n).float() * _LOG2E
    conf = torch.exp2(log_conf - log_row) / nk
    out = q.new_full((groups, num_frames, h, n), math.inf, dtype=torch.float32)
    out[:, frames] = conf.view(groups, h, nf, n).transpose(1, 2)
    return out.view(b, h, n)


@dataclass(frozen=True)
class FilterDetails:
    """What dual-softmax filtering decided in one layer (:func:`value_mapping_details`), every frame scored.

    ``confidence``: A(C_dual) per token, ``(B, N)`` (mean over keys, then heads); ``index``, ``valid``:
    the filtered tokens as :func:`~.functional.filtered_queries` returns them.
    """
    confidence: torch.Tensor
    index: torch.Tensor
    valid: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """M_f of Eq. 6, ``(B, N)``: ``True`` where the mapped value was kept."""
        return mapping_mask(self.index, self.valid, self.confidence.shape[1])


def value_mapping_attention(q, k, v, ref_index: int | None, num_frames: int, dsf_quantile: float | None = None,
                            dsf_scope: str = "frame", chunk_size: int | None = 1024, kv_ref=None,
                            dsf_method: str = "auto", return_details: bool = False):
    """Value mapping (Eq. 4) with optional dual-softmax filtering (Eqs. 5-6) for one attention layer.

    Equals :func:`~.functional.dual_softmax_filtering` (or :func:`~.functional.value_mapping` without
    DSF). ``q, k, v``: ``(B, heads, N, d)`` with ``B = G * num_frames``. Every frame's queries attend
    the keys and values of frame ``ref_index`` of its own group, or of ``kv_ref = (K_r, V_r)``,
    ``(G, heads, N, d)`` (long videos: a cached reference). With ``dsf_quantile = phi > 0`` the
    confidence of each query is averaged over heads (one decision per token, as the mask ``M_f``
    of Eq. 6 is broadcast over channels) and the ``phi`` least confident queries of each frame
    (``dsf_scope``) take the frame's own self-attention output, computed for those queries only.
    Scores are ``Q K^T / sqrt d`` as in Eq. 4 (the paper prints Eq. 5 unscaled).
    ``dsf_method``: ``"blocked"`` (:func:`blocked_confidence`), ``"chunked"`` (:func:`chunked_confidence`,
    ``chunk_size`` query rows per block), ``"dense"`` (:func:`~.functional.dual_softmax_confidence`), or
    ``"auto"``: dense where all the layer's scores fit in ``DENSE_SCORES``, else blocked.

    DSF is skipped where it cannot change the output: ``phi = 0`` (nothing filtered), ``phi >= 1``
    (everything filtered: plain self-attention) and, with ``dsf_scope="frame"``, the reference frame
    itself (mapped onto itself, its mapped output *is* its own). Returns the layer's output
    ``(B, heads, N, d)``; :func:`value_mapping_details` also returns what the filter decided.
    ``return_details=True`` is deprecated: it returns ``(out, {"confidence", "index", "valid"})``
    as :func:`value_mapping_details` does (``{}`` without DSF).
    """
    if return_details:
        warnings.warn("value_mapping_attention(return_details=True) is deprecated; use "
                      "direct2v.attention.value_mapping_details, which returns (out, FilterDetails or None)",
                      DeprecationWarning, stacklevel=2)
        out, details = _value_mapping(q, k, v, ref_index, num_frames, dsf_quantile, dsf_scope, chunk_size,
                                      kv_ref, dsf_method, every_frame=True)
        return out, ({} if details is None else vars(details).copy())
    return _value_mapping(q, k, v, ref_index, num_frames, dsf_quantile, dsf_scope, chunk_size, kv_ref, dsf_method,
                          every_frame=False)[0]


def value_mapping_details(q, k, v, ref_index: int | None, num_frames: int, dsf_quantile: float | None = None,
                          dsf_scope: str = "frame", chunk_size: int | None = 1024, kv_ref=None,
                          dsf_method: str = "auto"):
    """:func:`value_mapping_attention` that also says what DSF decided: ``(out, details)``.

    ``details`` is a :class:`FilterDetails` with every frame scored (the reference frame too, so its
    tokens may take their own attention, which equals their mapped value), or ``None`` without DSF.
    """
    return _value_mapping(q, k, v, ref_index, num_frames, dsf_quantile, dsf_scope, chunk_size, kv_ref, dsf_method,
                          every_frame=True)


def _value_mapping(q, k, v, ref_index, num_frames, dsf_quantile, dsf_scope, chunk_size, kv_ref, dsf_method,
                   every_frame: bool):
    """The one implementation of :func:`value_mapping_attention` and :func:`value_mapping_details`:
    ``(out, FilterDetails or None)``; ``every_frame`` scores every frame (no shortcut)."""
    if dsf_method not in DSF_METHODS:
        raise ValueError(f"dsf_method={dsf_method!r} is not allowed; use one of {DSF_METHODS}")
    if dsf_quantile and dsf_quantile >= 1 and not every_frame:
        return F.scaled_dot_product_attention(q, k, v), None  # every query filtered: each frame's own attention
    own_reference = kv_ref is None
    if own_reference:
        kv_ref = (reference_keys(k, ref_index, num_frames), reference_keys(v, ref_index, num_frames))
    k_ref, v_ref = kv_ref
    if k_ref.shape[0] != _groups(q, num_frames):
        raise ValueError(f"kv_ref holds {k_ref.shape[0]} groups but the batch holds {q.shape[0] // num_frames}")
    use_dsf = bool(dsf_quantile)
    if dsf_method == "auto":
        dense = q.shape[0] * q.shape[1] * q.shape[2] * k_ref.shape[2] <= DENSE_SCORES
        dsf_method = "dense" if dense else "blocked"
    fused = use_dsf and dsf_method == "blocked" and q.device.type == "cpu" and _flash_with_lse() is not None
    out, lse_row = mapped_attention(q, k_ref, v_ref, num_frames, with_lse=fused)
    if not use_dsf:
        return out, None
    skip = own_reference and dsf_scope == "frame" and not every_frame
    frames = [f for f in range(num_frames) if not (skip and f == ref_index)]
    if not frames:
        return out, None
    if dsf_method == "blocked":
        cap = None if chunk_size is None else chunk_size * k_ref.shape[2]
        conf = blocked_confidence(q, k_ref, num_frames, frames, lse_row, cap)
    else:
        groups, (b, h, n, d) = q.shape[0] // num_frames, q.shape
        k_each = k_ref[:, None].expand(groups, num_frames, h, -1, d).reshape(b, h, -1, d)
        conf = chunked_confidence(q, k_each, None if dsf_method == "dense" else chunk_size)
    token_conf = conf.mean(dim=1)  # A(C): mean over keys (done), then over heads
    index, valid = filtered_queries(token_conf, dsf_quantile, num_frames, dsf_scope)
    if len(frames) < num_frames:  # the skipped reference frame gives up nothing
        valid = valid & (torch.arange(q.shape[0], device=q.device) % num_frames != ref_index)[:, None]
    if index.shape[1]:
        # Attention(Q_f, K_f, V_f) for the filtered queries only, written over the mapped output
        q_low = q.gather(2, index[:, None, :, None].expand(-1, q.shape[1], -1, q.shape[3]))
        own = F.scaled_dot_product_attention(q_low, k, v).transpose(1, 2)  # (B, k, h, d)
        rows = torch.arange(q.shape[0], device=q.device)[:, None].expand_as(index)
        out = out.transpose(1, 2).contiguous()  # (B, N, h, d): already so, and ours to write into
        out[rows[valid], index[valid]] = own[valid].to(out.dtype)
        out = out.transpose(1, 2)
    return out, FilterDetails(token_conf, index, valid)

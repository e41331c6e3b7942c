"""The fast attention paths (direct2v.attention.fast) equal the paper's equations as written (attention.functional)."""
import pytest
import torch
import torch.nn.functional as F

from direct2v.attention import fast, functional
from direct2v.attention import (FilterDetails, dual_softmax_confidence, dual_softmax_filtering, mapped_attention,
                                mapping_mask, reference_keys, sparse_causal_attention, sparse_causal_frames,
                                value_mapping, value_mapping_attention, value_mapping_details)

FRAMES = 3


def qkv(n, seed=0, heads=2, d=8):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2 * FRAMES, heads, n, d, generator=g) for _ in range(3))


def test_reference_equations_are_the_obvious_formulas():
    """Eqs. 3-5 on one frame pair, written out by hand with a loop over frames."""
    q, k, v = qkv(6)
    k_ref, v_ref = reference_keys(k, 1, FRAMES), reference_keys(v, 1, FRAMES)
    mapped = value_mapping(q, k_ref, v_ref, FRAMES)
    for b in range(2 * FRAMES):
        s = q[b] @ k_ref[b // FRAMES].transpose(-1, -2) / 8 ** 0.5
        torch.testing.assert_close(mapped[b], s.softmax(-1) @ v_ref[b // FRAMES], rtol=1e-5, atol=1e-6)
        conf = dual_softmax_confidence(q[b:b + 1], k_ref[b // FRAMES][None])[0]
        torch.testing.assert_close(conf, (s.softmax(-1) * s.softmax(-2)).mean(-1), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(functional.self_attention(q, k, v), F.scaled_dot_product_attention(q, k, v),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [5, 64])
@pytest.mark.parametrize("with_lse", [False, True])
def test_mapped_attention_equals_value_mapping(n, with_lse):
    q, k, v = qkv(n, seed=n)
    k_ref, v_ref = reference_keys(k, 2, FRAMES), reference_keys(v, 2, FRAMES)
    if with_lse and fast._flash_with_lse() is None:
        pytest.skip("this PyTorch build has no fused CPU attention with log-sum-exp")
    out, lse = mapped_attention(q, k_ref, v_ref, FRAMES, with_lse=with_lse)
    torch.testing.assert_close(out, value_mapping(q, k_ref, v_ref, FRAMES), rtol=1e-5, atol=1e-6)
    if with_lse:  # the row log-sum-exp that blocked_confidence reuses
        s = functional.scores(q, k_ref.repeat_interleave(FRAMES, dim=0))
        torch.testing.assert_close(lse, torch.logsumexp(s, dim=-1), rtol=1e-5, atol=1e-5)
    else:
        assert lse is None


@pytest.mark.parametrize("n", [5, 40, 130])
@pytest.mark.parametrize("scope", ["frame", "batch"])
@pytest.mark.parametrize("method", ["auto", "blocked", "chunked", "dense"])
def test_value_mapping_attention_equals_reference(n, scope, method):
    """Eq. 6 as the paper writes it (dense, every token decided by the mask M_f) vs the pipeline's path."""
    q, k, v = qkv(n, seed=n)
    for ref in (0, 2):
        cached = (reference_keys(k, ref, FRAMES), reference_keys(v, ref, FRAMES))
        for kv_ref in (None, cached):
            for phi in (0.0, 0.3, 1.0):
                expected = dual_softmax_filtering(q, k, v, ref, FRAMES, phi, scope, kv_ref=kv_ref)
                out = value_mapping_attention(q, k, v, ref, FRAMES, dsf_quantile=phi, dsf_scope=scope,
                                              chunk_size=7, kv_ref=kv_ref, dsf_method=method)
                torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
            plain = value_mapping_attention(q, k, v, ref, FRAMES, kv_ref=kv_ref, dsf_method=method)
            torch.testing.assert_close(plain, value_mapping(q, *cached, FRAMES), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scope", ["frame", "batch"])
def test_details_are_the_reference_confidence_and_mask(scope):
    q, k, v = qkv(40, seed=4)
    out, details = value_mapping_details(q, k, v, 1, FRAMES, dsf_quantile=0.3, dsf_scope=scope)
    assert isinstance(details, FilterDetails)
    confidence = dual_softmax_confidence(q, reference_keys(k, 1, FRAMES).repeat_interleave(FRAMES, dim=0)).mean(1)
    torch.testing.assert_close(details.confidence, confidence, rtol=1e-4, atol=1e-7)
    mask = mapping_mask(*functional.filtered_queries(confidence, 0.3, FRAMES, scope), 40)
    assert torch.equal(details.mask, mask)
    assert details.mask.shape == (2 * FRAMES, 40) and details.mask.dtype == torch.bool
    if scope == "frame":  # every frame gives up its own round(0.3 * 40) = 12 tokens
        assert (~details.mask).sum(dim=1).tolist() == [12] * (2 * FRAMES)
    torch.testing.assert_close(out, dual_softmax_filtering(q, k, v, 1, FRAMES, 0.3, scope), rtol=1e-5, atol=1e-6)
    assert value_mapping_details(q, k, v, 1, FRAMES)[1] is None  # no DSF, no details
    plain = value_mapping_attention(q, k, v, 1, FRAMES)
    torch.testing.assert_close(value_mapping_details(q, k, v, 1, FRAMES)[0], plain, rtol=0, atol=0)


def test_deprecated_spellings_warn_and_still_work():
    q, k, v = qkv(24, seed=2)
    with pytest.warns(DeprecationWarning, match="value_mapping_details"):
        out, old = value_mapping_attention(q, k, v, 1, FRAMES, dsf_quantile=0.3, return_details=True)
    new_out, new = value_mapping_details(q, k, v, 1, FRAMES, dsf_quantile=0.3)
    assert torch.equal(out, new_out) and set(old) == {"confidence", "index", "valid"}
    assert all(torch.equal(old[name], getattr(new, name)) for name in old)
    with pytest.warns(DeprecationWarning, match="return_details"):
        assert value_mapping_attention(q, k, v, 1, FRAMES, return_details=True)[1] == {}
    with pytest.warns(DeprecationWarning, match="chunked_confidence"):
        chunked = dual_softmax_confidence(q, k, 7)
    torch.testing.assert_close(chunked, dual_softmax_confidence(q, k), rtol=0, atol=0)


def test_sparse_causal_reads_the_first_and_the_previous_frame():
    assert [sparse_causal_frames(f) for f in range(4)] == [(0, 0), (0, 0), (0, 1), (0, 2)]
    with pytest.raises(ValueError, match="frame=-1"):
        sparse_causal_frames(-1)
    q, k, v = qkv(10, seed=5)
    out = sparse_causal_attention(q, k, v, FRAMES)
    for b in range(2 * FRAMES):
        group, f = divmod(b, FRAMES)
        read = [group * FRAMES + r for r in sparse_causal_frames(f)]
        keys, values = torch.cat([k[r] for r in read], dim=-2), torch.cat([v[r] for r in read], dim=-2)
        torch.testing.assert_close(out[b], functional.self_attention(q[b:b + 1], keys[None], values[None])[0],
                                   rtol=1e-5, atol=1e-6)
    # frame 0 reads itself twice: plain self-attention
    torch.testing.assert_close(out[::FRAMES], F.scaled_dot_product_attention(q, k, v)[::FRAMES], rtol=1e-5, atol=1e-6)


def test_bad_filter_settings_are_named():
    confidence = torch.rand(2 * FRAMES, 10)
    with pytest.raises(ValueError, match="dsf_quantile=1.5"):
        functional.filtered_queries(confidence, 1.5, FRAMES)
    with pytest.raises(ValueError, match="dsf_scope='heads'"):
        functional.filtered_queries(confidence, 0.2, FRAMES, "heads")
    q, k, v = qkv(8)
    with pytest.raises(ValueError, match="k_ref holds 1 groups"):
        value_mapping(q, k[:1], v[:1], FRAMES)
    with pytest.raises(ValueError, match="dsf_method='fused'"):
        value_mapping_attention(q, k, v, 0, FRAMES, dsf_quantile=0.2, dsf_method="fused")

"""Tests of direct2v.attention: frame interaction in self-attention (paper sections 3.4-3.5)."""
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from direct2v.attention import (RELEASED_CODE_LAYERS, FrameInteraction, FrameInteractionProcessor,
                                blocked_confidence, capture, chunked_confidence, dual_softmax_confidence,
                                install_frame_interaction, reference_keys, uninstall_frame_interaction,
                                value_mapping_attention, value_mapping_details)

try:
    from diffusers.pipelines.text_to_video_synthesis.pipeline_text_to_video_zero import CrossFrameAttnProcessor2_0
except ImportError:  # moved under pipelines.deprecated in recent diffusers
    from diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_zero import \
        CrossFrameAttnProcessor2_0

FRAMES = 3


@pytest.fixture(scope="module")
def attn():
    torch.manual_seed(0)
    return Attention(query_dim=64, heads=4, dim_head=16).eval()


def tokens(groups=2, frames=FRAMES, n=24, seed=1):
    return torch.randn(groups * frames, n, 64, generator=torch.Generator().manual_seed(seed))


def run(attn, controller, x, step=0):
    controller.set_step(step)
    with torch.no_grad():
        return FrameInteractionProcessor(controller, "layer")(attn, x)


def test_self_mode_equals_diffusers_default(attn):
    x = tokens()
    with torch.no_grad():
        expected = AttnProcessor2_0()(attn, x)
    ctrl = FrameInteraction("self", num_frames=FRAMES)
    torch.testing.assert_close(run(attn, ctrl, x), expected, rtol=0, atol=0)
    with capture(ctrl):  # capturing takes the processor's own path
        torch.testing.assert_close(run(attn, ctrl, x), expected, rtol=1e-6, atol=1e-6)
    # before start_step every mode is plain self-attention
    late = FrameInteraction("rvm", num_frames=FRAMES, mapping_start=5, dsf_quantile=0.2)
    torch.testing.assert_close(run(attn, late, x, step=4), expected, rtol=0, atol=0)
    assert not torch.allclose(run(attn, late, x, step=5), expected)


def test_cross_frame_equals_text2video_zero(attn):
    x = tokens()
    with torch.no_grad():
        expected = CrossFrameAttnProcessor2_0(batch_size=2)(attn, x)  # batch_size there = guidance groups
    out = run(attn, FrameInteraction("cross_frame", num_frames=FRAMES), x, step=7)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_rvm_with_long_period_equals_cross_frame(attn):
    x = tokens()
    rvm = FrameInteraction("rvm", num_frames=FRAMES, rvm_period=1000)
    cross = FrameInteraction("cross_frame", num_frames=FRAMES)
    for step in (0, 3, 9):
        torch.testing.assert_close(run(attn, rvm, x, step), run(attn, cross, x, step), rtol=0, atol=0)
    # with m = 1 the reference changes, and so does the output
    assert not torch.allclose(run(attn, FrameInteraction("rvm", num_frames=FRAMES, rvm_period=1), x, 1),
                              run(attn, cross, x, 1))


@pytest.mark.parametrize("scope", ["frame", "batch"])
def test_dsf_quantile_limits(attn, scope):
    x = tokens()
    for step in (0, 4, 8):
        plain_vm = run(attn, FrameInteraction("rvm", num_frames=FRAMES), x, step)
        zero = run(attn, FrameInteraction("rvm", num_frames=FRAMES, dsf_quantile=0.0, dsf_scope=scope), x, step)
        torch.testing.assert_close(zero, plain_vm, rtol=0, atol=0)
        everything = run(attn, FrameInteraction("rvm", num_frames=FRAMES, dsf_quantile=1.0, dsf_scope=scope), x, step)
        torch.testing.assert_close(everything, run(attn, FrameInteraction("self", num_frames=FRAMES), x, step),
                                   rtol=1e-5, atol=1e-6)
    some = run(attn, FrameInteraction("rvm", num_frames=FRAMES, dsf_quantile=0.3, dsf_scope=scope), x, 4)
    assert not torch.allclose(some, plain_vm)


@pytest.mark.parametrize("n,chunk", [(1, 1), (17, 5), (64, 64), (100, 7), (100, 30), (33, 1000)])
def test_chunked_confidence_equals_dense(n, chunk):
    g = torch.Generator().manual_seed(n + chunk)
    q, k = torch.randn(2, 3, n, 8, generator=g) * 2, torch.randn(2, 3, n + 3, 8, generator=g) * 2

    s = q @ k.transpose(-1, -2) / 8 ** 0.5  # the obvious way
    dense = (torch.softmax(s, dim=-1) * torch.softmax(s, dim=-2)).mean(dim=-1)
    torch.testing.assert_close(dual_softmax_confidence(q, k), dense, rtol=0, atol=1e-5)
    torch.testing.assert_close(chunked_confidence(q, k, chunk_size=chunk), dense, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n", [5, 64, 130])
def test_every_dsf_method_agrees(n):
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2 * FRAMES, 2, n, 8, generator=g) for _ in range(3))
    outs = {m: value_mapping_details(q, k, v, 1, FRAMES, dsf_quantile=0.25, dsf_method=m, chunk_size=7)
            for m in ("auto", "blocked", "chunked", "dense")}
    for m in ("auto", "blocked", "chunked"):
        torch.testing.assert_close(outs[m][1].confidence, outs["dense"][1].confidence, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(outs[m][0], outs["dense"][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n,blocked", [(64, False), (200, True)])
def test_auto_builds_small_layers_dense_and_blocks_large_ones(n, blocked, monkeypatch):
    from direct2v.attention import fast

    calls = []
    monkeypatch.setattr(fast, "blocked_confidence", lambda *a, **kw: calls.append(1) or blocked_confidence(*a, **kw))
    q, k, v = (torch.randn(2 * FRAMES, 2, n, 8) for _ in range(3))
    assert (2 * FRAMES * 2 * n * n > fast.DENSE_SCORES) == blocked
    value_mapping_attention(q, k, v, 1, FRAMES, dsf_quantile=0.25)
    assert bool(calls) == blocked


@pytest.mark.parametrize("n,scale,max_elements", [(5, 1, None), (64, 4, 64 * 32), (130, 8, 7), (300, 1, 300 * 40)])
@pytest.mark.parametrize("with_lse", [True, False])
def test_blocked_confidence_equals_dense(n, scale, max_elements, with_lse):
    g = torch.Generator().manual_seed(n)
    frames, h, d = 3, 2, 8
    q, k = torch.randn(2 * frames, h, n, d, generator=g) * scale, torch.randn(2 * frames, h, n, d, generator=g)
    k_ref = reference_keys(k, 2, frames)
    s = q @ k_ref.repeat_interleave(frames, dim=0).transpose(-1, -2) / d ** 0.5  # the obvious way
    dense = (torch.softmax(s, dim=-1) * torch.softmax(s, dim=-2)).mean(dim=-1)
    lse_row = torch.logsumexp(s, dim=-1) if with_lse else None
    conf = blocked_confidence(q, k_ref, frames, lse_row=lse_row, max_elements=max_elements)
    torch.testing.assert_close(conf, dense, rtol=1e-5, atol=1e-7)
    some = blocked_confidence(q, k_ref, frames, frames=[0, 2], lse_row=lse_row, max_elements=max_elements)
    torch.testing.assert_close(some.view(2, frames, h, n)[:, [0, 2]], dense.view(2, frames, h, n)[:, [0, 2]],
                               rtol=1e-5, atol=1e-7)
    assert torch.isinf(some.view(2, frames, h, n)[:, 1]).all()


def test_blocked_confidence_memory_is_bounded(monkeypatch):
    """The largest score block stays at BLOCK_ELEMENTS (or N x 128 when 128 keys make a larger block)."""
    import direct2v.attention.fast as fn
    largest = []
    matmul = torch.matmul
    monkeypatch.setattr(fn.torch, "matmul", lambda a, b: largest.append(matmul(a, b).numel()) or matmul(a, b))
    monkeypatch.setattr(fn, "BLOCK_ELEMENTS", 4096)
    for n in (64, 256, 1024):
        largest.clear()
        q, k = torch.randn(4, 2, n, 8), torch.randn(4, 2, n, 8)
        blocked_confidence(q, reference_keys(k, 0, 2), 2)
        assert max(largest) <= max(4096, 128 * n)


@pytest.mark.parametrize("scope", ["frame", "batch"])
def test_dsf_shortcuts_change_nothing(scope, monkeypatch):
    """Skipping the reference frame, the quantile-1 shortcut and the fallback without the private op are exact."""
    import direct2v.attention.fast as fn
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2 * FRAMES, 2, 40, 8, generator=g) for _ in range(3))
    for ref in range(FRAMES):
        full, details = value_mapping_details(q, k, v, ref, FRAMES, dsf_quantile=0.3,
                                              dsf_scope=scope)  # every frame scored, nothing skipped
        fast = value_mapping_attention(q, k, v, ref, FRAMES, dsf_quantile=0.3, dsf_scope=scope)
        torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-6)
        with monkeypatch.context() as m:
            m.setattr(fn, "_flash_with_lse", lambda: None)  # a build without the fused CPU kernel
            without = value_mapping_attention(q, k, v, ref, FRAMES, dsf_quantile=0.3, dsf_scope=scope)
            torch.testing.assert_close(without, full, rtol=1e-5, atol=1e-6)
        cached = value_mapping_attention(q, k, v, ref, FRAMES, dsf_quantile=0.3, dsf_scope=scope,
                                         kv_ref=(reference_keys(k, ref, FRAMES), reference_keys(v, ref, FRAMES)))
        torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-6)
    everything = value_mapping_attention(q, k, v, 1, FRAMES, dsf_quantile=1.0, dsf_scope=scope)
    torch.testing.assert_close(everything, F.scaled_dot_product_attention(q, k, v), rtol=0, atol=0)
    one = torch.randn(2, 2, 40, 8, generator=g)
    torch.testing.assert_close(value_mapping_attention(one, one, one, 0, 1, dsf_quantile=0.3),
                               value_mapping_attention(one, one, one, 0, 1), rtol=0, atol=0)


def test_dsf_filters_the_tokens_without_a_match():
    g = torch.Generator().manual_seed(0)
    n, d = 32, 16
    k = torch.randn(2, 1, n, d, generator=g)
    q = torch.randn(2, 1, n, d, generator=g)
    q[1, :, : n // 2] = 4 * k[0, :, : n // 2]  # frame 1: first half has a clear match in frame 0
    _, details = value_mapping_details(q, k, k, 0, 2, dsf_quantile=0.5)
    filtered = set(details.index[1].tolist())
    assert filtered == set(range(n // 2, n))


@pytest.mark.parametrize("kwargs", [dict(attention="cross_frame"), dict(attention="sparse_causal"), dict(attention="random"),
                                    dict(attention="rvm", dsf_quantile=0.3),
                                    dict(attention="rvm", dsf_quantile=0.3, dsf_scope="batch")])
def test_guidance_halves_never_mix(attn, kwargs):
    x = tokens()
    y = x.clone()
    y[:FRAMES] += torch.randn(FRAMES, *x.shape[1:])  # perturb the unconditional half only
    for step in (1, 5):
        a = run(attn, FrameInteraction(num_frames=FRAMES, **kwargs), x, step)
        b = run(attn, FrameInteraction(num_frames=FRAMES, **kwargs), y, step)
        torch.testing.assert_close(a[FRAMES:], b[FRAMES:], rtol=0, atol=1e-6)
        assert not torch.allclose(a[:FRAMES], b[:FRAMES])


def test_schedules():
    m, frames, start = 4, 5, 3
    rvm = FrameInteraction("rvm", num_frames=frames, rvm_period=m, mapping_start=start)
    sched = rvm.schedule(start + 3 * m * frames)
    assert sched[:start] == [None] * start
    assert sched[start:start + 2 * m] == [0] * m + [1] * m  # r(t') = floor(t'/m) mod F
    assert Counter(sched[start:]) == {f: 3 * m for f in range(frames)}
    rand = FrameInteraction("random", num_frames=frames, random_seed=3)
    assert rand.schedule(40) == FrameInteraction("random", num_frames=frames, random_seed=3).schedule(40)
    assert set(rand.schedule(40)) == set(range(frames))
    assert rand.schedule(40) != FrameInteraction("random", num_frames=frames, random_seed=4).schedule(40)
    assert FrameInteraction("fixed", num_frames=frames, reference=2).schedule(3) == [2, 2, 2]
    assert FrameInteraction("self", num_frames=frames).schedule(3) == [None] * 3
    assert FrameInteraction("cross_frame", num_frames=frames).schedule(3) == [0] * 3


def test_record_then_replay_reproduces_the_batch(attn):
    x = tokens()
    ctrl = FrameInteraction("rvm", num_frames=FRAMES, rvm_period=1, dsf_quantile=0.2)
    ctrl.record()
    recorded = [run(attn, ctrl, x, step) for step in range(3)]
    assert sorted(ctrl.cache) == [("layer", s) for s in range(3)]
    assert ctrl.cache[("layer", 0)][0].shape == (2, 4, 24, 16)  # (groups, heads, N, d): one frame per group
    ctrl.replay()
    for step in range(3):
        torch.testing.assert_close(run(attn, ctrl, x, step), recorded[step], rtol=0, atol=0)
    # a later batch with other frames maps onto the cached reference, not onto its own frames
    z = tokens(seed=5)
    assert not torch.allclose(run(attn, ctrl, z, 1), run(attn, FrameInteraction("rvm", num_frames=FRAMES, rvm_period=1,
                                                                               dsf_quantile=0.2), z, 1))


def test_capture_records_maps(attn):
    x = tokens()
    ctrl = FrameInteraction("rvm", num_frames=FRAMES, dsf_quantile=0.25)
    with capture(ctrl, steps=[4], frames=[2]) as records:
        for step in range(6):
            run(attn, ctrl, x, step)
    assert len(records) == 1 and not ctrl.captures
    r = records[0]
    assert (r.step, r.frame, r.reference) == (4, 2, 1)
    assert r.probs.shape == (24, 24) and r.probs.device.type == "cpu"
    torch.testing.assert_close(r.probs.sum(-1), torch.ones(24))
    assert r.mask.sum() == 24 - 6 and r.confidence.shape == (24,)


SD15 = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, act_fn="silu", norm_eps=1e-5,
            center_input_sample=False, flip_sin_to_cos=True, freq_shift=0, downsample_padding=1,
            mid_block_scale_factor=1)


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(**SD15).eval()  # Stable Diffusion 1.5's structure and sizes, random weights


def test_sd15_unet_runs_with_rvm_and_dsf_and_uninstalls(unet):
    original = dict(unet.attn_processors)
    ctrl = FrameInteraction("rvm", num_frames=2, dsf_quantile=0.1, mapping_start=0, rvm_period=1)
    names = install_frame_interaction(unet, ctrl)
    assert len(names) == 16 and all(n.endswith("attn1") for n in names)
    procs = unet.attn_processors
    assert all(isinstance(procs[n + ".processor"], FrameInteractionProcessor) for n in names)
    assert all(procs[n] is p for n, p in original.items() if "attn2" in n)  # cross-attention untouched
    x, text = torch.randn(4, 4, 16, 16), torch.randn(4, 77, 768)  # 2 frames, guidance: batch 4
    ctrl.set_step(1)
    with torch.no_grad():
        out = unet(x, 500, text).sample
    assert out.shape == x.shape and torch.isfinite(out).all()
    uninstall_frame_interaction(unet)
    assert unet.attn_processors.keys() == original.keys()
    assert all(unet.attn_processors[n] is p for n, p in original.items())


def test_install_on_layer_prefixes(unet):
    ctrl = FrameInteraction("rvm", num_frames=2)
    names = install_frame_interaction(unet, ctrl, layers=RELEASED_CODE_LAYERS)
    assert len(names) == 6 and all(n.startswith(RELEASED_CODE_LAYERS) for n in names)
    assert install_frame_interaction(unet, ctrl, layers="mid_block") == ["mid_block.attentions.0.transformer_blocks.0.attn1"]
    assert sum(isinstance(p, FrameInteractionProcessor) for p in unet.attn_processors.values()) == 1
    uninstall_frame_interaction(unet)
    with pytest.raises(ValueError, match=r"up_blocks\.0.*available prefixes.*up_blocks\.3"):
        install_frame_interaction(unet, ctrl, layers=["up_blocks.3", "up_blocks.0"])
    assert not any(isinstance(p, FrameInteractionProcessor) for p in unet.attn_processors.values())


@pytest.mark.parametrize("kwargs,name", [
    (dict(attention="rotational"), "attention"), (dict(dsf_quantile=1.5), "dsf_quantile"), (dict(dsf_quantile=-0.1), "dsf_quantile"),
    (dict(rvm_period=0), "rvm_period"), (dict(num_frames=0), "num_frames"), (dict(mapping_start=-1), "mapping_start"),
    (dict(attention="fixed", reference=8), "reference"), (dict(dsf_scope="video"), "dsf_scope"),
    (dict(chunk_size=0), "chunk_size"), (dict(attention="self", dsf_quantile=0.1), "dsf_quantile"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FrameInteraction(**{"num_frames": 8, **kwargs})


def test_batch_must_hold_whole_groups(attn):
    with pytest.raises(ValueError, match="num_frames"):
        run(attn, FrameInteraction("rvm", num_frames=4), tokens())
    with pytest.raises(ValueError, match="ref_index"):
        reference_keys(torch.zeros(6, 1, 2, 2), 3, 3)


# ----------------------------------------------------------------------------- the per-step plan and the one rule
def test_the_plan_is_immutable_and_made_once_per_step():
    import dataclasses

    ctrl = FrameInteraction("rvm", num_frames=4, rvm_period=2, dsf_quantile=0.1)
    ctrl.set_step(5)
    plan = ctrl.plan
    assert plan is ctrl.plan  # every layer of the step reads the same plan
    assert (plan.step, plan.reference, plan.source, plan.dsf_quantile) == (5, 2, "frames", 0.1)
    assert plan.attended == ((2,),) * 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.reference = 0
    ctrl.set_step(6)
    assert ctrl.plan is not plan and ctrl.plan.reference == 3 and plan.reference == 2
    ctrl.num_frames = 2
    assert ctrl.plan.attended == ((1,), (1,))  # (6 // 2) mod 2
    with capture(ctrl):
        assert ctrl.plan.capturing
    assert not ctrl.plan.capturing


def test_attended_frames_is_the_one_rule():
    causal = FrameInteraction("sparse_causal", num_frames=4, mapping_start=2)
    assert [causal.attended_frames(f, 5) for f in range(4)] == [(0, 0), (0, 0), (0, 1), (0, 2)]
    assert [causal.attended_frames(f, 1) for f in range(4)] == [(0,), (1,), (2,), (3,)]  # before mapping_start
    assert FrameInteraction("self", num_frames=4).attended_frames(3, 9) == (3,)
    assert FrameInteraction("cross_frame", num_frames=4).attended_frames(3, 9) == (0,)
    rvm = FrameInteraction("rvm", num_frames=4, rvm_period=2)
    assert [rvm.attended_frames(1, t) for t in range(10)] == [(r,) for r in rvm.schedule(10)]
    with pytest.raises(ValueError, match="frame=4"):
        rvm.attended_frames(4)


def test_capture_reads_the_keys_of_the_attended_frames(attn):
    """Sparse-causal capture: frame f's map is over the keys of attended_frames(f) (first, then previous frame)."""
    x = tokens(groups=1)
    ctrl = FrameInteraction("sparse_causal", num_frames=FRAMES)
    with capture(ctrl, steps=[0]) as records:
        out = run(attn, ctrl, x, 0)
    from direct2v.attention import sparse_causal_attention

    h = attn.heads
    q, k, v = (f(x).view(FRAMES, -1, h, 16).transpose(1, 2) for f in (attn.to_q, attn.to_k, attn.to_v))
    expected = attn.to_out[0](sparse_causal_attention(q, k, v, FRAMES).transpose(1, 2).reshape(FRAMES, -1, 64))
    torch.testing.assert_close(out, expected)
    for r in records:
        keys = torch.cat([k[g] for g in ctrl.attended_frames(r.frame, 0)], dim=-2)
        probs = (q[r.frame] @ keys.transpose(-1, -2) * 16 ** -0.5).softmax(-1).mean(0)
        torch.testing.assert_close(r.probs, probs)
    assert [r.probs.shape[1] for r in records] == [48] * FRAMES  # two frames' keys each (frame 0: itself twice)

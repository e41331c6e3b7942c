"""Few-shot motion learning (direct2v.motion): recurrent causal attention, tuning, saved weights.

The noise samplers of the report's section 3.3 (unit variance, intended correlation, the report's
unnormalised formulas) are tested in tests/test_noise.py.
"""
import copy

import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention

from direct2v.attention import FrameInteraction, FrameInteractionProcessor, install_frame_interaction
from direct2v.motion import (RecurrentCausalProcessor, RecurrentMotion, install_recurrent_attention, load_motion,
                             prepare, recurrent_attention, save_motion, tune)
from direct2v.motion import train as motion_train
from direct2v.miniature.model import unet_config

FRAMES = 3


@pytest.fixture(scope="module")
def attn():
    torch.manual_seed(0)
    return Attention(query_dim=64, heads=4, dim_head=16).eval()


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(**unet_config("tiny", cross_attention_dim=32)).eval()


def tokens(groups=2, frames=FRAMES, n=24, seed=1):
    return torch.randn(groups * frames, n, 64, generator=torch.Generator().manual_seed(seed))


def clips(videos=2, frames=FRAMES, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(videos, frames, 4, 16, 16, generator=g), torch.randn(videos, 5, 32, generator=g)


def unet_inputs(frames=FRAMES, groups=2):
    g = torch.Generator().manual_seed(3)
    return (torch.randn(groups * frames, 4, 16, 16, generator=g), torch.tensor(500),
            torch.randn(groups * frames, 5, 32, generator=g))


def recurrent_out(attn, motion, x):
    motion.num_frames = FRAMES
    with torch.no_grad():
        return RecurrentCausalProcessor(motion, "layer")(attn, x)


def test_zero_output_weights_equal_cross_frame_attention(attn):
    x = tokens()
    motion = RecurrentMotion({"layer": 64})
    cross = FrameInteraction("cross_frame", num_frames=FRAMES)
    with torch.no_grad():
        expected = FrameInteractionProcessor(cross, "layer")(attn, x)
    torch.testing.assert_close(recurrent_out(attn, motion, x), expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # a memory that is written changes frames 2.. but not frame 1
        motion.cell("layer").w_ho.weight.normal_()
    out = recurrent_out(attn, motion, x).view(2, FRAMES, 24, 64)
    expected = expected.view(2, FRAMES, 24, 64)
    torch.testing.assert_close(out[:, 0], expected[:, 0], atol=1e-5, rtol=1e-5)
    assert (out[:, 1:] - expected[:, 1:]).abs().max() > 1e-2


def test_memory_is_causal(attn):
    torch.manual_seed(2)
    motion = RecurrentMotion({"layer": 64})
    for p in motion.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = tokens(groups=1)
    y = x.clone()
    y[2] += 1.0  # change the last frame only
    a, b = recurrent_out(attn, motion, x), recurrent_out(attn, motion, y)
    torch.testing.assert_close(a[:2], b[:2])
    y = x.clone()
    y[1] += 1.0  # change the middle frame: the last frame's memory changes
    b = recurrent_out(attn, motion, y)
    torch.testing.assert_close(a[0], b[0])
    assert (a[2] - b[2]).abs().max() > 1e-3


def test_pretrained_unet_unchanged_at_step_zero(tiny_unet):
    unet = copy.deepcopy(tiny_unet)
    x, t, c = unet_inputs()
    install_frame_interaction(unet, FrameInteraction("cross_frame", num_frames=FRAMES))
    with torch.no_grad():
        expected = unet(x, t, c).sample
    motion = RecurrentMotion.for_unet(unet)
    assert len(motion.layers) == 10  # every attn1 of the tiny UNet: 3 down, 1 mid, 3 x 2 up
    with recurrent_attention(unet, motion, FRAMES), torch.no_grad():
        got = unet(x, t, c).sample
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert not any(isinstance(p, RecurrentCausalProcessor) for p in unet.attn_processors.values())


@pytest.mark.parametrize("method", ["recurrent", "sparse_causal"])
def test_gradients_reach_exactly_the_trainable_parameters(tiny_unet, method):
    unet = copy.deepcopy(tiny_unet)
    trainable, motion = prepare(unet, method, FRAMES)
    queries = {f"unet.{n}" for n, _ in unet.named_parameters() if n.endswith(("attn1.to_q.weight", "attn2.to_q.weight"))}
    assert queries and {n for n in trainable if n.startswith("unet.")} == queries
    assert any(n.startswith("recurrent.") for n in trainable) == (method == "recurrent")
    x, t, c = unet_inputs()
    unet(x, t, c).sample.square().mean().backward()
    chosen = {id(p) for p in trainable.values()}
    for name, p in unet.named_parameters():
        assert (p.grad is not None) == (id(p) in chosen), name
    for name, p in trainable.items():
        assert p.grad is not None, name
    if method == "recurrent":
        cell = motion.cell(motion.layers[0])
        assert cell.w_ho.weight.grad.abs().sum() > 0       # the zero output projection learns at once
        assert cell.w_zh.weight.grad.abs().sum() == 0      # behind W_ho = 0: nothing yet
        with torch.no_grad():
            cell.w_ho.weight.normal_(std=0.1)
        unet.zero_grad()
        unet(x, t, c).sample.square().mean().backward()
        assert cell.w_zh.weight.grad.abs().sum() > 0       # once W_ho moved, the recurrence learns


def test_report_all_zero_init_would_never_learn(attn):
    """Why W_zh is not zero (direct2v.motion.recurrent): with W_zh = W_ho = 0 no recurrent weight gets a gradient."""
    motion = RecurrentMotion({"layer": 64})
    torch.nn.init.zeros_(motion.cell("layer").w_zh.weight)
    motion.num_frames = FRAMES
    RecurrentCausalProcessor(motion, "layer")(attn, tokens()).square().mean().backward()
    cell = motion.cell("layer")
    for p in (cell.w_zh.weight, cell.w_zh.bias, cell.w_hh.weight, cell.w_ho.weight):
        assert p.grad.abs().sum() == 0
    assert cell.w_ho.bias.grad.abs().sum() > 0  # only b_a, which carries no information about the past


def fixed_loss(unet, latents, embeds, draws=4):
    """The loss on fixed timesteps and noise (the same draws before and after tuning)."""
    schedule = motion_train._default_schedule()
    with torch.no_grad():
        return sum(float(motion_train.video_diffusion_loss(unet, latents, embeds, schedule,
                                                           torch.Generator().manual_seed(123 + i), len(latents)))
                   for i in range(draws)) / draws


@pytest.mark.parametrize("method", ["recurrent", "sparse_causal"])
def test_a_few_steps_reduce_the_loss(tiny_unet, method):
    unet = copy.deepcopy(tiny_unet)
    latents, embeds = clips()
    # at step 0 the recurrent model is cross-frame attention (tested above); sparse-causal is itself
    install_frame_interaction(unet, FrameInteraction("cross_frame" if method == "recurrent" else method, num_frames=FRAMES))
    before = fixed_loss(unet, latents, embeds)
    result = tune(unet, latents, embeds, method, steps=40, lr=1e-2, warmup=4, videos_per_step=2, progress=False)
    after = fixed_loss(unet, latents, embeds)
    assert len(result.losses) == 40
    assert after < 0.97 * before, (before, after)


def test_resumed_run_ends_with_the_same_weights(tiny_unet, tmp_path, monkeypatch):
    latents, embeds = clips()
    kwargs = dict(method="recurrent", steps=6, lr=1e-3, warmup=2, videos_per_step=1, seed=4, save_every=2,
                  progress=False)
    straight = tune(copy.deepcopy(tiny_unet), latents, embeds, out=tmp_path / "a", **kwargs)

    calls = {"n": 0}
    real = motion_train.video_diffusion_loss

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(motion_train, "video_diffusion_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(copy.deepcopy(tiny_unet), latents, embeds, out=tmp_path / "b", **kwargs)
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["step"] == 2
    monkeypatch.setattr(motion_train, "video_diffusion_loss", real)
    resumed = tune(copy.deepcopy(tiny_unet), latents, embeds, out=tmp_path / "b", **kwargs)
    assert len(resumed.losses) == 6
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)
    for name, p in straight.trainable.items():
        torch.testing.assert_close(resumed.trainable[name], p, msg=name)
    with pytest.raises(ValueError, match="config"):
        tune(copy.deepcopy(tiny_unet), latents, embeds, out=tmp_path / "b", **{**kwargs, "lr": 2e-3})


@pytest.mark.parametrize("method", ["recurrent", "sparse_causal"])
def test_saved_weights_apply_and_restore(tiny_unet, tmp_path, method):
    latents, embeds = clips()
    tuned = copy.deepcopy(tiny_unet)
    result = tune(tuned, latents, embeds, method, steps=3, lr=1e-2, warmup=1, progress=False)
    path = save_motion(tmp_path / "m.safetensors", result, {"motion": "test"})
    assert path.stat().st_size < 200_000  # only the trainable parameters
    weights = load_motion(path)
    assert weights.method == method and weights.config["steps"] == 3 and weights.config["motion"] == "test"
    unet = copy.deepcopy(tiny_unet)
    before = {k: p.clone() for k, p in unet.named_parameters()}
    processors = dict(unet.attn_processors)
    x, t, c = unet_inputs()
    with torch.no_grad():
        expected = tuned(x, t, c).sample
        with weights.applied(unet, FRAMES) as attention:
            if attention != "self":
                install_frame_interaction(unet, FrameInteraction(attention, num_frames=FRAMES))
            got = unet(x, t, c).sample
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    for k, p in unet.named_parameters():
        assert torch.equal(p, before[k]), k
    if method == "recurrent":
        assert unet.attn_processors.keys() == processors.keys()
        assert not any(isinstance(p, RecurrentCausalProcessor) for p in unet.attn_processors.values())


def test_bad_arguments_fail_early(tiny_unet):
    latents, embeds = clips()
    with pytest.raises(ValueError, match="method"):
        tune(copy.deepcopy(tiny_unet), latents, embeds, "lstm", steps=1)
    with pytest.raises(ValueError, match="steps"):
        tune(copy.deepcopy(tiny_unet), latents, embeds, steps=0)
    with pytest.raises(ValueError, match="latents"):
        tune(copy.deepcopy(tiny_unet), latents[0], embeds, steps=1)
    with pytest.raises(ValueError, match="num_frames"):
        install_recurrent_attention(copy.deepcopy(tiny_unet), RecurrentMotion.for_unet(tiny_unet), num_frames=0)
    motion = RecurrentMotion({"layer": 64})
    motion.num_frames = 4
    with pytest.raises(ValueError, match="num_frames"):
        RecurrentCausalProcessor(motion, "layer")(Attention(query_dim=64, heads=4, dim_head=16), tokens())

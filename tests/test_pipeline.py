"""The DirecT2V video pipeline (direct2v.pipeline) on random-weight models, offline and on the CPU."""
import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

import direct2v
from direct2v import pipeline as P
from direct2v.attention import FrameInteractionProcessor
from direct2v.miniature import model as mini
from direct2v.settings import warm_start_steps

PROMPTS = ["a red circle at the top left, day background", "a red circle at the top center, day background",
           "a red circle at the top right, day background"]
FAST = dict(num_inference_steps=2, height=64, width=64)


@pytest.fixture(scope="module")
def sd15_folder(tmp_path_factory, save_model):
    """Stable Diffusion 1.5's UNet block structure (4 levels, 2 layers, 8 heads, cross-attention 768) with
    narrow channels, a VAE with factor 8 (64 px -> 8x8 latents) and a one-layer text encoder of width 768."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 64, 64, 64), layers_per_block=2, attention_head_dim=8,
        cross_attention_dim=768, norm_num_groups=32,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = AutoencoderKL(block_out_channels=(8, 8, 16, 16), norm_num_groups=8, latent_channels=4, sample_size=64,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
    tok = mini.build_tokenizer()
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=768, intermediate_size=256,
                                        num_hidden_layers=1, num_attention_heads=12,
                                        max_position_embeddings=mini.MAX_TOKENS, pad_token_id=tok.pad_token_id,
                                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    return save_model(tmp_path_factory.mktemp("sd15"), unet, vae, text, tok)


@pytest.fixture(scope="module")
def pipe(sd15_folder):
    p = direct2v.load_pipeline(sd15_folder, device="cpu")
    p.set_progress_bar_config(disable=True)
    return p


def noise_for(pipe, frames, seed=0):
    return torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- loading and running
def test_load_shapes_configuration_folder_runs(tiny_model):
    p = direct2v.load_pipeline(tiny_model, device="cpu")
    p.set_progress_bar_config(disable=True)
    assert isinstance(p, direct2v.DirecT2VPipeline) and p.unet.dtype == torch.float32
    out = p(PROMPTS[:2], num_inference_steps=2, seed=0, dsf_quantile=0.2)
    assert len(out.frames) == 2 and out.frames[0].size == (64, 64)  # default size: sample_size * VAE factor


def test_sd15_structure_two_steps_end_to_end(pipe):
    names = direct2v.install_frame_interaction(pipe.unet, direct2v.FrameInteraction(num_frames=3))
    direct2v.uninstall_frame_interaction(pipe.unet)
    assert any(n.startswith("up_blocks.3") for n in names) and any(n.startswith("down_blocks.0") for n in names)
    steps = []
    out = pipe(PROMPTS, seed=0, attention="rvm", dsf_quantile=0.1, mapping_start=0, output_type="np",
               return_latents=True, callback_on_step_end=lambda p, i, t, kw: steps.append((i, kw["latents"].shape[0])),
               attention_layers=direct2v.attention.RELEASED_CODE_LAYERS, **FAST)
    assert out.frames.shape == (3, 64, 64, 3) and np.isfinite(out.frames).all()
    assert out.latents.shape == (3, 4, 8, 8)
    # warm start (default): frame 1 alone, then all frames; PNDM with 2 steps has 3 timesteps
    assert steps[-1][1] == 3 and steps[0][1] == 1
    assert not any(isinstance(p, FrameInteractionProcessor) for p in pipe.unet.attn_processors.values())


@pytest.mark.parametrize("attention", ["self", "cross_frame", "sparse_causal", "random"])
def test_every_attention_mode_runs(pipe, attention):
    out = pipe(PROMPTS, seed=1, attention=attention, noise="independent", output_type="latent", **FAST)
    assert out.frames.shape == (3, 4, 8, 8) and torch.isfinite(out.frames).all()


def test_same_seed_same_frames(pipe):
    kw = dict(attention="rvm", dsf_quantile=0.2, noise="shared", output_type="np", **FAST)
    a, b = pipe(PROMPTS, seed=3, **kw).frames, pipe(PROMPTS, seed=3, **kw).frames
    assert np.array_equal(a, b)
    assert not np.array_equal(a, pipe(PROMPTS, seed=4, **kw).frames)
    g = pipe(PROMPTS, generator=torch.Generator().manual_seed(3), **kw).frames
    assert np.array_equal(a, g)


def test_single_prompt_and_num_frames(pipe):
    out = pipe(PROMPTS[0], num_frames=4, seed=0, output_type="latent", **FAST)
    assert out.frames.shape[0] == 4
    assert pipe(PROMPTS[0], seed=0, output_type="latent", **FAST).frames.shape[0] == 8  # default 8 frames


def installed(pipe):
    return sum(isinstance(p, FrameInteractionProcessor) for p in pipe.unet.attn_processors.values())


def test_attention_is_uninstalled_after_a_failure(pipe):
    seen = []

    def boom(p, i, t, kw):
        seen.append((i, installed(p)))
        if i == 1:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        pipe(PROMPTS, seed=0, noise="independent", callback_on_step_end=boom, **FAST)
    layers = len(direct2v.attention.self_attention_layers(pipe.unet))
    assert seen == [(0, layers), (1, layers)]  # installed on every layer while running
    assert installed(pipe) == 0


def test_an_interaction_object_equals_its_keywords_and_can_be_captured(pipe):
    kw = dict(seed=2, noise="independent", output_type="latent", **FAST)
    by_keywords = pipe(PROMPTS, attention="rvm", rvm_period=2, mapping_start=0, dsf_quantile=0.2, **kw).frames
    built = pipe.interaction
    assert isinstance(built, direct2v.FrameInteraction) and (built.attention, built.rvm_period, built.dsf_quantile) == \
        ("rvm", 2, 0.2)
    ctrl = direct2v.FrameInteraction("rvm", num_frames=1, rvm_period=2, mapping_start=0, dsf_quantile=0.2)
    assert torch.equal(by_keywords, pipe(PROMPTS, interaction=ctrl, **kw).frames)
    assert pipe.interaction is ctrl and ctrl.num_frames == 3  # the pipeline sets the frames per batch
    with direct2v.capture(ctrl, steps=[1], frames=[0]) as records:
        captured = pipe(PROMPTS, interaction=ctrl, **kw).frames
    torch.testing.assert_close(captured, by_keywords, atol=1e-3, rtol=1e-3)  # capture computes DSF's details
    layers = len(direct2v.attention.self_attention_layers(pipe.unet))
    assert len(records) == layers and {(r.step, r.frame, r.reference) for r in records} == {(1, 0, 0)}
    with pytest.raises(ValueError, match="given together"):
        pipe(PROMPTS, interaction=ctrl, attention="self", **kw)


def test_plain_self_attention_installs_nothing_unless_captured(pipe):
    seen = []
    pipe(PROMPTS, seed=0, attention="self", callback_on_step_end=lambda p, i, t, kw: seen.append(installed(p)), **FAST)
    assert set(seen) == {0}
    ctrl = direct2v.FrameInteraction("self", num_frames=3)
    with direct2v.capture(ctrl, steps=[0], frames=[1]) as records:
        pipe(PROMPTS, seed=0, interaction=ctrl, noise="independent", **FAST)
    assert records and all(r.reference is None for r in records) and installed(pipe) == 0


# ----------------------------------------------------------------------------- long videos (section 4.3)
def test_long_video_first_half_matches_and_batches_stay_bounded(pipe):
    prompts = [f"a red circle at the {c} left, day background" for c in ("top", "middle", "bottom")] * 2
    latents = noise_for(pipe, 6, seed=5)
    kw = dict(attention="rvm", mapping_start=0, rvm_period=1, noise="independent", output_type="latent",
              num_inference_steps=3, seed=0)
    batches = []
    hook = pipe.unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    try:
        long = pipe(prompts, latents=latents, max_batch_frames=4, **kw).frames
    finally:
        hook.remove()
    # guidance doubles the rows: floor(B/2) = 2 frames per UNet batch, three sections over every timestep
    assert batches == [4] * (3 * len(pipe.scheduler.timesteps))
    first = pipe(prompts[:2], latents=latents[:2], **kw).frames
    torch.testing.assert_close(long[:2], first)
    # later sections map onto the cached references: not the same as running them on their own
    alone = pipe(prompts[2:4], latents=latents[2:4], **kw).frames
    assert not torch.allclose(long[2:4], alone, atol=1e-4)
    assert torch.isfinite(long).all() and long.shape[0] == 6


# ----------------------------------------------------------------------------- warm start
def test_warm_start_steps_scale_and_validate():
    assert warm_start_steps(50) == (44, 47)
    assert warm_start_steps(100) == (88, 94)
    assert warm_start_steps(2) == (0, 1)
    for n in range(2, 60):
        t0, t1 = warm_start_steps(n)
        assert 0 <= t0 < t1 <= n - 1
    with pytest.raises(ValueError, match="t0=44, t1=47"):
        warm_start_steps(20, 44, 47)


def test_warm_start_frame_one_uses_its_own_negative_and_positive_embeddings(pipe):
    latents = noise_for(pipe, 3, seed=7)
    kw = dict(num_inference_steps=4, height=64, width=64, output_type="latent", seed=0, negative_prompt="night")
    seen = []

    def spy(p, i, t, values):
        seen.append((i, values["latents"].clone(), values["prompt_embeds"].clone()))
        return {}

    pipe(PROMPTS, latents=latents, noise="warm_start", t0=1, t1=2, callback_on_step_end=spy,
         callback_on_step_end_tensor_inputs=("latents", "prompt_embeds"), **kw)
    alone = []
    pipe(PROMPTS[:1], latents=latents[:1], noise="independent", attention="self",
         callback_on_step_end=lambda p, i, t, v: alone.append((i, v["latents"].clone())), **kw)
    # PNDM with 4 steps: 5 timesteps; t1=2 -> frame 1 alone for steps 0-1 (to T1), t0=1 -> step 2 (to T0)
    prefix = [s for s in seen if s[1].shape[0] == 1]
    assert [s[0] for s in prefix] == [0, 1, 2]
    for (i, x, _), (j, y) in zip(prefix, alone):
        assert i == j
        torch.testing.assert_close(x, y)
    positive, negative = pipe.encode_prompt(PROMPTS[:1], "cpu", 1, True, ["night"])
    torch.testing.assert_close(prefix[0][2], torch.cat([negative, positive]))  # not two unconditional rows


def test_warm_start_with_cross_frame_matches_text2video_zero(pipe):
    peer = P.text2video_zero_peer(pipe)
    peer.set_progress_bar_config(disable=True)
    x1 = noise_for(pipe, 1, seed=8)
    prompt, steps = PROMPTS[0], 4
    t0, t1 = warm_start_steps(steps)
    theirs = peer(prompt, video_length=3, num_inference_steps=steps, guidance_scale=7.5, latents=x1, t0=t0, t1=t1,
                  motion_field_strength_x=0, motion_field_strength_y=0, output_type="latent",
                  generator=torch.Generator().manual_seed(1)).images
    ours = pipe(prompt, num_frames=3, num_inference_steps=steps, guidance_scale=7.5,
                latents=torch.cat([x1, noise_for(pipe, 2)]), attention="cross_frame", mapping_start=0,
                noise="warm_start", output_type="latent", generator=torch.Generator().manual_seed(1)).frames
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)  # same math, same order
    assert not any(isinstance(p, FrameInteractionProcessor) for p in pipe.unet.attn_processors.values())


def test_motion_dynamics_move_the_warm_started_frames(pipe):
    kw = dict(attention="self", noise="warm_start", output_type="latent", seed=2, **FAST)
    still = pipe(PROMPTS, **kw).frames
    moving = pipe(PROMPTS, motion_field_strength_x=8.0, motion_field_strength_y=0.0, **kw).frames
    torch.testing.assert_close(moving[0], still[0])  # frame 1 is the anchor, never warped
    assert not torch.allclose(moving[1:], still[1:])


# ----------------------------------------------------------------------------- errors before any compute
BAD = [
    (dict(prompt=[]), "prompt=\\[\\]"),
    (dict(prompt="x", num_frames=0), "num_frames=0"),
    (dict(prompt=PROMPTS, num_frames=2), "num_frames=2"),
    (dict(prompt=PROMPTS, negative_prompt=["a", "b"]), "negative_prompt"),
    (dict(height=60), "height=60"),
    (dict(width=12), "width=12"),
    (dict(guidance_scale=-1.0), "guidance_scale=-1.0"),
    (dict(dsf_quantile=1.5), "dsf_quantile=1.5"),
    (dict(dsf_quantile=-0.1), "dsf_quantile=-0.1"),
    (dict(attention="spiral"), "attention='spiral'"),
    (dict(attention_layers=["up_blocks.9"]), "up_blocks.9"),
    (dict(noise="warm_start", t0=44, t1=47), "t0=44, t1=47"),
    (dict(noise="warm_start", t0=1, t1=1), "t0=1, t1=1"),
    (dict(noise="independent", t0=0, t1=1), "t0=0"),
    (dict(noise="pink"), "noise='pink'"),
    (dict(noise_weight=2.0), "noise_weight=2.0"),
    (dict(rvm_period=0), "rvm_period=0"),
    (dict(mapping_start=50), "mapping_start=50"),
    (dict(max_batch_frames=1), "max_batch_frames=1"),
    (dict(output_type="gif"), "output_type='gif'"),
    (dict(latents=torch.zeros(2, 4, 8, 8)), "latents of shape"),
    (dict(seed=0, generator=torch.Generator()), "generator and seed"),
    (dict(num_inference_steps=0), "num_inference_steps=0"),
    (dict(noise="independent", motion_field_strength_x=4.0), "motion_field_strength_x=4.0"),
    (dict(dsf_scope="galaxy"), "dsf_scope='galaxy'"),
    (dict(attention="self", dsf_quantile=0.1), "dsf_quantile=0.1"),
    (dict(attention="sparse_causal", max_batch_frames=2), "sparse_causal"),
    (dict(guidance_scale=float("inf")), "guidance_scale=inf"),
    (dict(guidance_scale=float("nan")), "guidance_scale=nan"),
    (dict(width=0), "width=0"),
    (dict(height=0), "height=0"),
    (dict(generator=0), "generator=0"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_fails_early(pipe, kwargs, message):
    kwargs = {"prompt": PROMPTS, "num_inference_steps": 20, **kwargs}
    calls = []
    hook = pipe.unet.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(ValueError, match=message):
            pipe(**kwargs)
    finally:
        hook.remove()
    assert not calls  # nothing ran


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_pipeline_refuses_missing_cuda(sd15_folder):
    with pytest.raises(ValueError, match="device='cuda'"):
        direct2v.load_pipeline(sd15_folder, device="cuda")


# ----------------------------------------------------------------------------- the story, on the trained model
@pytest.mark.skipif(not (mini.WEIGHTS / "unet").exists(), reason="the shapes model is not trained yet")
def test_story_object_appears_later_on_the_shapes_model():
    from direct2v.world.detect import detect

    pipe = direct2v.load_pipeline("shapes", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    early = "a medium red circle in the middle left, day background"
    late = "a medium red circle in the middle left and a medium blue square at the top right, day background"
    frames = [early] * 3 + [late] * 3
    ours = pipe(frames, attention="rvm", num_inference_steps=20, seed=0, output_type="np").frames

    def has_blue_square(image):
        objects = detect((np.asarray(image) * 255).round().astype(np.uint8)).objects
        return any(o.color == "blue" and o.shape == "square" for o in objects)

    seen = [has_blue_square(f) for f in ours]
    assert not any(seen[:2]) and all(seen[-2:]), seen
    peer = P.text2video_zero_peer(pipe)
    peer.set_progress_bar_config(disable=True)
    t0, t1 = warm_start_steps(20)
    single = peer(late, video_length=6, num_inference_steps=20, guidance_scale=12.0, t0=t0, t1=t1,
                  motion_field_strength_x=0, motion_field_strength_y=0, output_type="np",
                  generator=torch.Generator().manual_seed(0)).images
    peer_seen = [has_blue_square(f) for f in single]
    assert not (not any(peer_seen[:2]) and all(peer_seen[-2:])), peer_seen  # one prompt cannot tell the story


# ----------------------------------------------------------------------------- defaults: each pipeline's, a model's noise
def test_defaults_belong_to_each_pipeline(pipe):
    other = direct2v.DirecT2VPipeline(**pipe.components)  # never loaded: the paper's settings, its own copy
    other.defaults["guidance_scale"] = 2.0
    other.defaults["num_inference_steps"] = 3
    assert pipe.defaults == P.PAPER_SETTINGS == {"num_inference_steps": 100, "guidance_scale": 12.0}
    third = direct2v.DirecT2VPipeline(**pipe.components)
    assert third.defaults == P.PAPER_SETTINGS and third.defaults is not P.PAPER_SETTINGS
    pipe.defaults = P.PAPER_SETTINGS  # set from a dict: copied, the paper's stays untouched
    pipe.defaults["height"] = 8
    assert "height" not in P.PAPER_SETTINGS
    del pipe.defaults["height"]


def test_a_model_folder_may_name_its_own_noise(sd15_folder, pipe, tmp_path):
    """``direct2v.json`` may carry ``noise``: the pipeline's default when a call gives none; the caller's wins."""
    import json
    import shutil

    folder = shutil.copytree(sd15_folder, tmp_path / "model")
    (folder / P.SETTINGS_FILE).write_text(json.dumps({"noise": {"noise": "shared", "noise_weight": 0.3}}))
    own = direct2v.load_pipeline(folder, device="cpu")
    own.set_progress_bar_config(disable=True)
    assert own.defaults["noise"] == P.NoiseSpec(noise="shared", noise_weight=0.3)
    kw = dict(seed=0, output_type="latent", attention="self", **FAST)
    by_default = own(PROMPTS, **kw).frames
    assert torch.equal(by_default, pipe(PROMPTS, noise="shared", noise_weight=0.3, **kw).frames)
    assert not torch.equal(by_default, pipe(PROMPTS, **kw).frames)  # a model without its own: the warm start
    assert torch.equal(own(PROMPTS, noise="independent", **kw).frames, pipe(PROMPTS, noise="independent", **kw).frames)
    assert torch.equal(own(PROMPTS, noise_weight=0.8, **kw).frames,
                       pipe(PROMPTS, noise=P.NoiseSpec(noise="shared", noise_weight=0.8), **kw).frames)

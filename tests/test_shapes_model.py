"""The miniature Stable Diffusion: tokenizer, training script on tiny sizes, the shipped folder."""
import json

import numpy as np
import pytest
import torch

from direct2v.miniature import model as mini
from direct2v.world.captions import caption
from direct2v.world.world import VOCABULARY, random_scene


def test_tokenizer_covers_the_world_and_maps_the_rest_to_unk():
    tok = mini.build_tokenizer()
    rng = np.random.default_rng(0)
    for _ in range(200):
        ids = tok(caption(random_scene(rng))).input_ids
        assert tok.unk_token_id not in ids
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        assert len(ids) <= mini.MAX_TOKENS
    assert all(tok.unk_token_id not in tok(w).input_ids for w in VOCABULARY)
    assert tok("a zebra").input_ids[2] == tok.unk_token_id
    padded = tok(["a red circle"], padding="max_length", max_length=tok.model_max_length).input_ids[0]
    assert len(padded) == mini.MAX_TOKENS and padded[-1] == tok.pad_token_id


def test_saved_tokenizer_round_trips(tmp_path):
    from transformers import AutoTokenizer

    tok = mini.build_tokenizer()
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "a large red circle at the top left, night background"
    assert again(text).input_ids == tok(text).input_ids


def test_grounding_targets_follow_the_parser_token_by_token():
    """At the last token of each object phrase the targets are what ``parse`` says of the phrase;
    before a word is read its attribute is not asked for (the text tower is causal)."""
    from direct2v.world.captions import parse, training_caption
    from direct2v.miniature.grounding import ATTRIBUTES, IGNORE, batch_targets

    tok = mini.build_tokenizer()
    rng = np.random.default_rng(3)
    texts = [caption(s) if i % 2 else training_caption(s, rng) for i, s in enumerate(random_scene(rng) for _ in range(300))]
    ids = tok(texts, padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids
    targets = batch_targets(tok, ids)
    for row, text in enumerate(texts):
        words = tok.convert_ids_to_tokens(ids[row])
        parsed = parse(text)
        stated = (targets["color"][row] != IGNORE).tolist()
        ends = [j for j in range(1, len(words)) if stated[j - 1] and not stated[j]]
        assert len(ends) == len(parsed.objects), text
        for j, obj in zip(ends, parsed.objects):
            for attr in ("color", "shape", "size", "column", "row"):
                got = targets[attr][row, j - 1].item()
                assert (ATTRIBUTES[attr][got] if got != IGNORE else None) == getattr(obj, attr), (text, attr)
        eos = words.index(tok.eos_token)
        assert ATTRIBUTES["background"][targets["background"][row, eos]] == parsed.background
        first_column_word = next(j for j, w in enumerate(words) if w in ("left", "right", "center"))
        assert (targets["column"][row, :first_column_word] == IGNORE).all()
        assert all((targets[a][row, eos + 1:] == IGNORE).all() for a in ATTRIBUTES)


def test_grounding_heads_learn_what_the_states_carry():
    from direct2v.miniature.grounding import ATTRIBUTES, GroundingHeads, batch_targets

    tok = mini.build_tokenizer()
    rng = np.random.default_rng(4)
    ids = tok([caption(random_scene(rng)) for _ in range(64)], padding="max_length",
              max_length=tok.model_max_length, return_tensors="pt").input_ids
    targets = batch_targets(tok, ids)
    # states that are the one-hot targets themselves: a linear head can read them exactly
    states = torch.cat([torch.nn.functional.one_hot(targets[a].clamp(min=0), len(c)).float() for a, c in ATTRIBUTES.items()], -1)
    heads = GroundingHeads(states.shape[-1])
    opt = torch.optim.Adam(heads.parameters(), 0.05)
    first = heads.loss(states, targets).item()
    for _ in range(200):
        loss = heads.loss(states, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first
    assert min(heads.accuracy(states, targets).values()) == 1.0


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from direct2v.miniature import train

    out = tmp_path_factory.mktemp("tiny")
    train.main(["all", "--size", "tiny", "--steps", "3", "--batch", "4", "--save-every", "2", "--out", str(out), "--threads", "1"])
    return out


def test_training_writes_a_standard_pipeline_folder(tiny_folder):
    from diffusers import StableDiffusionPipeline

    for part in ("tokenizer", "clip", "text_encoder", "vae", "unet", "scheduler", "model_index.json", "README.md"):
        assert (tiny_folder / part).exists(), part
    log = json.loads((tiny_folder / "training_log.json").read_text())
    assert [r["part"] for r in log] == ["clip", "vae", "unet"]
    assert all(r["steps"] == 3 and np.isfinite(r["final_loss"]) for r in log)
    vae_config = json.loads((tiny_folder / "vae" / "config.json").read_text())
    assert vae_config["scaling_factor"] != 0.18215  # measured on data, not SD's constant
    pipe = StableDiffusionPipeline.from_pretrained(tiny_folder, dtype=torch.float32)
    images = pipe(["a red circle in the center, day background"], num_inference_steps=2, output_type="np",
                  generator=torch.manual_seed(0)).images
    assert images.shape == (1, 64, 64, 3) and np.isfinite(images).all()
    assert "| unet | 3 (3)" in (tiny_folder / "README.md").read_text()


def test_training_resumes_from_its_last_checkpoint(tiny_folder):
    from direct2v.miniature import train

    before = (tiny_folder / "vae" / "diffusion_pytorch_model.safetensors").read_bytes()
    train.main(["vae", "--size", "tiny", "--steps", "2", "--batch", "4", "--out", str(tiny_folder), "--threads", "1"])
    log = json.loads((tiny_folder / "training_log.json").read_text())
    assert log[-1]["part"] == "vae" and log[-1]["total_steps"] == 5
    assert (tiny_folder / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() != before


def test_resuming_restores_what_a_part_keeps_beside_the_optimizer(tiny_folder):
    from direct2v.miniature import train

    train.main(["unet", "--size", "tiny", "--steps", "2", "--batch", "4", "--out", str(tiny_folder), "--threads", "1"])
    saved = torch.load(tiny_folder / ".train" / "unet.pt", weights_only=False)
    assert saved["step"] == 5 and saved["ema"]["optimization_step"] == 5  # the EMA went on from step 3
    assert set(torch.load(tiny_folder / ".train" / "clip.pt", weights_only=False)["heads"]) == {
        f"heads.{a}.{p}" for a in ("color", "shape", "size", "column", "row", "background") for p in ("weight", "bias")}


def test_unet_trains_on_the_shared_pattern_rule_under_bf16_autocast_and_logs_both(tiny_folder):
    """The version-3 pilot's command (``unet --shared-pattern --bf16``), at tiny size: the run is logged with its rule."""
    from direct2v.miniature import train

    before = (tiny_folder / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    train.main(["unet", "--size", "tiny", "--steps", "2", "--batch", "4", "--out", str(tiny_folder), "--threads", "1",
                "--shared-pattern", "--bf16"])
    last = json.loads((tiny_folder / "training_log.json").read_text())[-1]
    assert last["part"] == "unet" and last["shared_pattern"] is True and last["bf16"] is True
    assert np.isfinite(last["final_loss"])
    assert (tiny_folder / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() != before


def test_unet_trains_only_the_named_parameters(tiny_folder):
    from diffusers import UNet2DConditionModel

    from direct2v.miniature import train

    before = UNet2DConditionModel.from_pretrained(tiny_folder / "unet").state_dict()
    train.main(["unet", "--size", "tiny", "--steps", "2", "--batch", "4", "--out", str(tiny_folder), "--threads", "1",
                "--train-only", "attn1", "--min-objects", "2", "--no-resume"])
    after = UNet2DConditionModel.from_pretrained(tiny_folder / "unet").state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all("attn1" in name for name in changed)
    last = json.loads((tiny_folder / "training_log.json").read_text())[-1]
    assert last["train_only"] == "attn1" and last["min_objects"] == 2
    with pytest.raises(SystemExit, match="matches no UNet parameter"):
        train.main(["unet", "--size", "tiny", "--steps", "1", "--batch", "2", "--out", str(tiny_folder),
                    "--train-only", "no_such_layer"])


def test_worker_batches_are_the_batch_function_run_in_other_processes():
    import argparse

    from direct2v.miniature import train

    draw = train.batch_stream(argparse.Namespace(batch=3, workers=2), [5, 0], min_objects=2)
    images, texts = draw(None)
    assert images.shape == (3, 3, 64, 64) and len(texts) == 3
    alone, alone_texts = next(iter(train.Batches([5, 0], 3, min_objects=2)))   # worker 0's stream, in this process
    assert alone_texts == texts and torch.equal(alone, images)


def test_batch_of_the_shared_pattern_rule_draws_the_same_scenes():
    from direct2v.miniature import train

    own, own_texts = train.batch(np.random.default_rng(3), 6)
    shared, shared_texts = train.batch(np.random.default_rng(3), 6, shared_pattern=True)
    assert own_texts == shared_texts and own.shape == shared.shape
    _, texts = train.batch(np.random.default_rng(3), 12, canonical=1.0, min_objects=2)
    assert all(" and " in t for t in texts)


def test_latent_weights_favour_objects_and_keep_the_mean():
    from direct2v.miniature import train
    from direct2v.world.render import render
    from direct2v.world.world import Obj, Scene
    from direct2v.video import frames_to_tensor

    scene = Scene(objects=(Obj("red", "square", "large", "center", "middle"),), background="day")
    images = frames_to_tensor(render(scene, np.random.default_rng(0))[None])
    w = train.latent_weights(images, 4)
    assert w.shape == (1, 1, 16, 16)
    assert torch.allclose(w.mean(), torch.tensor(1.0))
    # the object sits in the middle (row 1 of 3): its latent pixels weigh more than the sky's corners
    assert w[0, 0, 8, 8] > 2 * w[0, 0, 0, 0]
    assert w[0, 0, 8, 8] / w.min() == pytest.approx(1 + train.UNET_OBJECT_WEIGHT, rel=1e-4)


def test_bad_arguments_are_refused(tmp_path):
    from direct2v.miniature import train

    with pytest.raises(SystemExit):
        train.main(["unet", "--steps", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="tokenizer"):
        train.main(["clip", "--size", "tiny", "--steps", "1", "--out", str(tmp_path)])


shipped = pytest.mark.skipif(not (mini.WEIGHTS / "unet").exists(), reason="the miniature model is not trained yet")


@shipped
def test_shipped_folder_loads_both_ways_and_is_small():
    from diffusers import StableDiffusionPipeline

    import direct2v

    size = sum(p.stat().st_size for p in mini.WEIGHTS.rglob("*") if p.is_file() and ".train" not in p.parts)
    assert size <= 40 * 2**20
    plain = StableDiffusionPipeline.from_pretrained(mini.WEIGHTS, dtype=torch.float32)
    ours = direct2v.load_pipeline("shapes", device="cpu")
    prompt = "a large red circle in the center, day background"
    a = plain(prompt, num_inference_steps=3, guidance_scale=7.5, generator=torch.manual_seed(0), output_type="np").images[0]
    b = ours(prompt, num_frames=1, attention="self", noise="independent", guidance_scale=7.5, num_inference_steps=3,
             generator=torch.manual_seed(0), output_type="np").frames[0]
    assert a.shape == b.shape == (64, 64, 3)
    assert np.abs(a.astype(np.float32) - np.asarray(b, dtype=np.float32)).max() < 2e-2


@shipped
@pytest.mark.slow   # ~11 s on 2 CPU cores
def test_shipped_text_encoder_tells_the_unet_where_objects_are():
    """The first miniature CLIP failed this (probe column 42%, row 47%, position/colour change 0.13):
    its states ignored position words, so the UNet could not learn them."""
    from transformers import AutoTokenizer, CLIPTextModel

    from direct2v.miniature.grounding import probe

    tok = AutoTokenizer.from_pretrained(mini.WEIGHTS / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(mini.WEIGHTS / "text_encoder", dtype=torch.float32).eval()
    measured = probe(encoder, tok, steps=50, seed=1)
    assert measured["probe_column"] > 0.9 and measured["probe_row"] > 0.9, measured
    assert measured["position_over_colour"] > 0.5, measured


def test_the_recipe_runs_its_training_at_tiny_size_on_cpu(tiny_folder):
    from direct2v.miniature import recipe

    assert recipe.scaled(("unet", "--steps", "12000", "--save-every", "1000"), 0.0001) == \
        ["unet", "--steps", "1", "--save-every", "1"]
    before = len(json.loads((tiny_folder / "training_log.json").read_text()))
    recipe.main(["--device", "cpu", "--size", "tiny", "--steps-scale", "0.0002", "--workers", "0", "--out",
                 str(tiny_folder), "--no-measure"])
    log = json.loads((tiny_folder / "training_log.json").read_text())
    assert len(log) == before + len(recipe.RECIPE) and log[-1]["shared_pattern"] is True and log[-1]["steps"] == 2
    with pytest.raises(SystemExit):
        recipe.main(["--steps-scale", "2"])

"""Shared fixtures: a random-weight model with the shapes model's configuration (size "tiny")."""
import pytest
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel

from direct2v.shapes import model as mini


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The shapes model's configurations at size "tiny", random weights (the shipped weights may be training)."""
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    tok = mini.build_tokenizer()
    text = CLIPTextModel(mini.clip_config(tok, "tiny").text_config)
    UNet2DConditionModel(**mini.unet_config("tiny", cross_attention_dim=text.config.hidden_size)).save_pretrained(
        folder / "unet")
    AutoencoderKL(**mini.vae_config("tiny")).save_pretrained(folder / "vae")
    text.save_pretrained(folder / "text_encoder")
    tok.save_pretrained(folder / "tokenizer")
    PNDMScheduler(**mini.scheduler_config()).save_pretrained(folder / "scheduler")
    mini.write_model_index(folder)
    return str(folder)


@pytest.fixture(scope="session")
def sd_model(tmp_path_factory):
    """A tiny random pipeline with Stable Diffusion 1.5's layout (512-px images, 768-wide CLIP text)."""
    from sd_layout import build_sd_layout

    return build_sd_layout(tmp_path_factory.mktemp("sd15_layout"))

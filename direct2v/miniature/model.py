"""The miniature Stable Diffusion of the shapes world: tokenizer, CLIP, VAE, UNet and scheduler.

Every part is a standard transformers or diffusers class with a small configuration, so that the
saved folder is an ordinary Stable Diffusion pipeline folder (``model_index.json``, ``unet/``,
``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``) that
``diffusers.StableDiffusionPipeline.from_pretrained`` loads unchanged. One extra folder, ``clip/``,
holds the whole contrastive model (both towers) for CLIP-score metrics.

Sizes (shapes_world.md, issue "miniature model"): images 64x64x3, latents 16x16x4 (the VAE halves
the side twice), a UNet with self- and cross-attention transformer blocks at 16x16, 8x8 and 4x4 so that
DirecT2V's processors have layers to act on at several resolutions, as in Stable Diffusion.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..runtime import atomic_path
from ..settings import SETTINGS_FILE, SHAPES_WEIGHTS, check_settings
from ..world.world import VOCABULARY, normalize_words

WEIGHTS = SHAPES_WEIGHTS
"""The folder of the shipped pipeline (committed inside the package; its location is
:data:`direct2v.settings.SHAPES_WEIGHTS`, which the pipeline and the metrics read)."""

GUIDANCE = 1.5
"""Classifier-free guidance of the shipped model, stored with the weights in ``direct2v.json``
(:func:`write_settings`), where ``load_pipeline`` reads it.

Guidance trades the spread of what a caption leaves open for following what it says. On the
world-version-1 model, 48 fresh single-object prompts (25 steps) got every attribute right at 3, lost
colours at 5 (75%) and more at 7.5 (56%): Stable Diffusion's 7.5 and the paper's 12 over-saturate
a miniature trained on so simple a world. On the version-2 model, guidance 3 kept nearly every
object solid (21 of 22 named patterns of one caption over 24 seeds, 25 steps), guidance 1.5 drew
all but one pattern (7 of 19 solid) while single-object attributes stayed at 97-100%: the model
card's table is measured at this value.
"""

MAX_TOKENS = 48
SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "bos": "<|startoftext|>", "eos": "<|endoftext|>"}
TEXT_WIDTH = 128


def build_tokenizer():
    """A word-level tokenizer over the world's vocabulary, wrapped as a standard transformers tokenizer.

    Words outside the vocabulary map to ``<unk>``; every sequence is framed by start and end tokens
    and padded to ``MAX_TOKENS`` as CLIP's tokenizer is in Stable Diffusion.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = [SPECIAL_TOKENS[k] for k in ("pad", "unk", "bos", "eos")]
    words = sorted({w for w in VOCABULARY} | {w for phrase in VOCABULARY for w in normalize_words(phrase)})
    vocab = {tok: i for i, tok in enumerate(specials + [w for w in words if w not in specials])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk"]))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    bos, eos = SPECIAL_TOKENS["bos"], SPECIAL_TOKENS["eos"]
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=bos,
        eos_token=eos,
        unk_token=SPECIAL_TOKENS["unk"],
        pad_token=SPECIAL_TOKENS["pad"],
        model_max_length=MAX_TOKENS,
    )


def clip_config(tokenizer, size: str = "default"):
    """A small ``CLIPConfig``: a 4-layer text tower of width 128 and a 4-layer ViT on 8x8 patches."""
    from transformers import CLIPConfig

    width, layers = (TEXT_WIDTH, 4) if size == "default" else (32, 1)
    common = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers, num_attention_heads=4)
    text = dict(
        common,
        vocab_size=len(tokenizer),
        max_position_embeddings=MAX_TOKENS,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    vision = dict(common, image_size=64, patch_size=8, num_channels=3)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=width)


def vae_config(size: str = "default") -> dict:
    """``AutoencoderKL`` mapping 64x64x3 to 16x16x4 (three blocks, two downsamplings)."""
    channels = (32, 64, 64) if size == "default" else (8, 16, 16)
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=channels,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def unet_config(size: str = "default", cross_attention_dim: int = TEXT_WIDTH) -> dict:
    """``UNet2DConditionModel`` on 16x16x4 latents with attention at 16x16, 8x8 and 4x4.

    ``down_blocks.0``/``up_blocks.2`` work at 16x16, ``down_blocks.1``/``up_blocks.1`` at 8x8,
    ``down_blocks.2``, the mid block and ``up_blocks.0`` at 4x4; every one of them has a
    self-attention (``attn1``) and a cross-attention (``attn2``) layer, as Stable Diffusion's have.
    The 4x4 level is there for *where*: the UNet has no positional embedding, and a convolutional
    network learns absolute position only from the borders' zero padding, which reaches every cell
    of a 4x4 map at once. A first, two-level miniature never learned position words.
    """
    channels = (64, 128, 128) if size == "default" else (16, 32, 32)
    return dict(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * len(channels),
        up_block_types=("CrossAttnUpBlock2D",) * len(channels),
        block_out_channels=channels,
        layers_per_block=1,
        attention_head_dim=4,  # diffusers' historical name: this is the number of heads
        cross_attention_dim=cross_attention_dim,
        norm_num_groups=16 if size == "default" else 8,
    )


def scheduler_config() -> dict:
    """Stable Diffusion 1.x's noise schedule (scaled linear betas, 1000 steps) for a PNDM sampler."""
    return dict(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def write_model_index(folder: str | os.PathLike) -> None:
    """Write the ``model_index.json`` of a Stable Diffusion pipeline folder (no safety checker)."""
    from diffusers import __version__ as diffusers_version

    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers_version,
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with atomic_path(Path(folder) / "model_index.json") as tmp:
        Path(tmp).write_text(json.dumps(index, indent=2) + "\n")


def write_settings(folder: str | os.PathLike) -> None:
    """Write the model's recommended sampling settings, ``direct2v.json`` (guidance :data:`GUIDANCE`).

    :func:`direct2v.pipeline.load_pipeline` applies them as the pipeline's defaults
    (:func:`direct2v.settings.model_settings`).
    """
    settings = check_settings({"guidance_scale": GUIDANCE})
    with atomic_path(Path(folder) / SETTINGS_FILE) as tmp:
        Path(tmp).write_text(json.dumps(settings, indent=2) + "\n")


def declare_fp32(folder: str | os.PathLike) -> None:
    """Mark a transformers model folder stored in fp16 as loading in fp32 (``"dtype": "float32"``).

    transformers 5 loads a model in the ``dtype`` its ``config.json`` names; ``save_pretrained`` of an fp16
    model writes ``float16``, so plain ``StableDiffusionPipeline.from_pretrained(folder)`` would get an fp16
    text encoder next to an fp32 UNet and fail ("mat1 and mat2 must have the same dtype"). The weights stay
    fp16 on disk (size); loading casts them up.
    """
    file = Path(folder) / "config.json"
    config = json.loads(file.read_text())
    config["dtype"] = "float32"
    with atomic_path(file) as tmp:
        Path(tmp).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

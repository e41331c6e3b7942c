"""A tiny, randomly initialised pipeline with Stable Diffusion 1.5's layout, built offline.

Same block types and names as ``stable-diffusion-v1-5`` (three cross-attention levels and a plain
fourth, ``down_blocks.0-3``/``up_blocks.0-3``), cross-attention width 768 from a ``CLIPTextModel``, a
byte-level ``CLIPTokenizer`` (77 tokens), a four-block VAE (factor 8, 512-px images from 64x64 latents)
and a PNDM scheduler; only the widths are tiny. It exercises the Stable Diffusion path of every chapter
on a CPU with no network (issue 13). Nothing is downloaded: the tokenizer's vocabulary is written here.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

SD15_UNET_BLOCKS = (("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",), ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)


def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_clip_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer whose vocabulary is the 256 byte symbols (alone and word-final), no merges."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    raw = folder.parent / (folder.name + ".raw")
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (raw / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(raw / "vocab.json"), str(raw / "merges.txt"), model_max_length=77)
    tok.save_pretrained(folder)


def build_sd_layout(folder: str | Path, seed: int = 0, side: int | None = None) -> str:
    """Write the tiny SD-1.5-layout pipeline into ``folder`` (fp32 weights); return the folder as a string.

    ``side``: pixels the folder's ``direct2v.json`` recommends (``pipe.defaults``), so that chapters run
    fast on a CPU; None keeps the layout's native 512.
    """
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from direct2v.miniature import model as mini

    folder = Path(folder)
    torch.manual_seed(seed)
    down, up = SD15_UNET_BLOCKS
    UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, down_block_types=down, up_block_types=up,
        block_out_channels=(8, 8, 16, 16), layers_per_block=1, attention_head_dim=2, norm_num_groups=8,
        cross_attention_dim=768,
    ).save_pretrained(folder / "unet")
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 8, 8),
    ).save_pretrained(folder / "vae")
    write_clip_tokenizer(folder / "tokenizer")
    CLIPTextModel(CLIPTextConfig(
        vocab_size=514, hidden_size=768, intermediate_size=64, num_hidden_layers=1, num_attention_heads=12,
        max_position_embeddings=77, projection_dim=768, bos_token_id=512, eos_token_id=513, pad_token_id=513,
    )).save_pretrained(folder / "text_encoder")
    PNDMScheduler(**mini.scheduler_config()).save_pretrained(folder / "scheduler")
    mini.write_model_index(folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["tokenizer"] = ["transformers", "CLIPTokenizer"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    if side is not None:
        (folder / "direct2v.json").write_text(json.dumps({"height": side, "width": side}) + "\n")
    return str(folder)

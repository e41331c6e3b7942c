"""Measure the shipped miniature model against its quality bars and write them into the model card.

    python -m direct2v.shapes.evaluate [--single 200] [--pairs 100] [--steps 50] [--guidance 7.5]

Every sampled image is judged by the detector (``direct2v.shapes.detect``) against the scene its
prompt describes; fresh scenes come from a fixed seed, so the table is reproducible. Also measured:
VAE reconstruction PSNR on fresh images and CLIP text-to-image top-1 retrieval among 64.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..runtime import atomic_path, pick_device
from . import model as mini
from .captions import caption
from .detect import detect, judge, judge_objects
from .grounding import probe
from .render import render
from .world import random_scene

BARS = {  # (group, attribute): minimum fraction, from the quality bars
    ("single", "color"): 0.95, ("single", "shape"): 0.90, ("single", "column"): 0.70,
    ("single", "column_within_1"): 0.90, ("single", "row"): 0.90, ("single", "size"): 0.85,
    ("single", "background"): 0.98, ("pairs", "both_color_shape"): 0.70, ("pairs", "both_color_shape_column"): 0.60,
    ("vae", "psnr_db"): 30.0, ("clip", "top1_of_64"): 0.80,
}
DIAGNOSTICS = [("text", "probe_column"), ("text", "probe_row"), ("text", "position_over_colour")]
"""Measured without a bar: can the UNet be told where an object is (``direct2v.shapes.grounding.probe``)."""


def scenes(n: int, n_objects: int, seed: int):
    rng = np.random.default_rng(seed)
    return [random_scene(rng, n_objects=n_objects) for _ in range(n)]


def sample(pipe, prompts, steps, guidance, seed, batch_size):
    """Images (N, 64, 64, 3) uint8 for ``prompts``, one fixed seed per batch."""
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        g = torch.Generator("cpu").manual_seed(seed + start)
        images = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance, generator=g, output_type="np").images
        out.append((images * 255).round().astype(np.uint8))
    return np.concatenate(out)


def judge_single(images, truths):
    keys = ["color", "shape", "column", "column_within_1", "row", "size", "background"]
    hits = {k: [] for k in keys}
    for image, scene in zip(images, truths):
        verdict = judge(detect(image), scene)
        for k in keys:
            hits[k].append(bool(verdict.get(k)))
    return {k: float(np.mean(v)) for k, v in hits.items()}


def judge_pairs(images, truths):
    both, both_col = [], []
    for image, scene in zip(images, truths):
        objs = judge_objects(detect(image), scene)
        both.append(all(o["color"] and o["shape"] for o in objs))
        both_col.append(all(o["color"] and o["shape"] and o["column_within_1"] for o in objs))
    return {"both_color_shape": float(np.mean(both)), "both_color_shape_column": float(np.mean(both_col))}


@torch.no_grad()
def vae_psnr(vae, n: int, seed: int, device) -> float:
    truths = scenes(n, None, seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.stack([render(s, rng) for s in truths])).permute(0, 3, 1, 2).float() / 127.5 - 1
    recon = vae.decode(vae.encode(x.to(device)).latent_dist.mode()).sample.clamp(-1, 1).cpu()
    mse = ((recon - x) / 2).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(1 / mse)).mean())


@torch.no_grad()
def clip_retrieval(folder: Path, groups: int, seed: int, device) -> float:
    """Top-1 text-to-image retrieval: each caption must pick its own image among 64."""
    from transformers import AutoTokenizer, CLIPModel

    clip = CLIPModel.from_pretrained(folder / "clip", dtype=torch.float32).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(groups):
        truths = [random_scene(rng) for _ in range(64)]
        x = torch.from_numpy(np.stack([render(s, rng) for s in truths])).permute(0, 3, 1, 2).float() / 127.5 - 1
        ids = tokenizer([caption(s) for s in truths], padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt")
        out = clip(input_ids=ids.input_ids.to(device), attention_mask=ids.attention_mask.to(device), pixel_values=x.to(device))
        hits.append((out.logits_per_text.argmax(1).cpu() == torch.arange(64)).float().mean().item())
    return float(np.mean(hits))


def markdown(results: dict) -> str:
    rows = ["| group | measure | result | bar | met |", "| --- | --- | --- | --- | --- |"]
    for (group, key), bar in BARS.items():
        value = results.get(group, {}).get(key)
        if value is None:
            continue
        shown = f"{value:.1f} dB" if key == "psnr_db" else f"{100 * value:.1f}%"
        wanted = f">= {bar:g} dB" if key == "psnr_db" else f">= {100 * bar:.0f}%"
        rows.append(f"| {group} | {key} | {shown} | {wanted} | {'yes' if value >= bar else '**no**'} |")
    for group, key in DIAGNOSTICS:
        value = results.get(group, {}).get(key)
        if value is not None:
            shown = f"{value:.2f}" if key == "position_over_colour" else f"{100 * value:.1f}%"
            rows.append(f"| {group} | {key} | {shown} | (diagnostic) | |")
    return "\n".join(rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m direct2v.shapes.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=200, help="single-object prompts (fully specified)")
    parser.add_argument("--pairs", type=int, default=100, help="two-object prompts")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--folder", type=Path, default=mini.WEIGHTS)
    parser.add_argument("--no-card", dest="card", action="store_false", help="do not write evaluation.json and README.md")
    args = parser.parse_args(argv)
    for name in ("single", "pairs", "steps", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.guidance < 0:
        parser.error(f"--guidance must be >= 0, got {args.guidance}")
    device = pick_device(args.device)
    from diffusers import StableDiffusionPipeline

    start = time.time()
    pipe = StableDiffusionPipeline.from_pretrained(args.folder, dtype=torch.float32).to(device)
    pipe.set_progress_bar_config(disable=True)
    single = scenes(args.single, 1, args.seed)
    pairs = scenes(args.pairs, 2, args.seed + 1)
    results = {
        "single": judge_single(sample(pipe, [caption(s) for s in single], args.steps, args.guidance, args.seed, args.batch), single),
        "pairs": judge_pairs(sample(pipe, [caption(s) for s in pairs], args.steps, args.guidance, args.seed + 1, args.batch), pairs),
        "vae": {"psnr_db": vae_psnr(pipe.vae, 256, args.seed + 2, device)},
        "clip": {"top1_of_64": clip_retrieval(args.folder, 4, args.seed + 3, device)},
        "text": probe(pipe.text_encoder, pipe.tokenizer, seed=args.seed + 4),
    }
    table = markdown(results)
    command = "python -m direct2v.shapes.evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    record = {"command": command.strip(), "results": results, "markdown": table + f"\n\nSeconds: {time.time() - start:.0f} on {device}.",
              "guidance": args.guidance, "steps": args.steps}
    print(table)
    if args.card:
        with atomic_path(args.folder / "evaluation.json") as tmp:
            Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
        from .card import write_model_card
        write_model_card(args.folder)
    return record


if __name__ == "__main__":
    main()

"""bf16 autocast against fp32 for the miniature's UNet training step, side by side in one run.

    python benchmarks/training_bf16.py [--steps 40] [--batch 32] [--threads 2] [--write-results]

Two copies of the shipped UNet train on the same batches (the same VAE latents, noise and timesteps)
with the same optimizer; their steps alternate, so both see the same machine load. Printed: seconds
per step of each, their ratio, and the mean loss of each over the second half of the run (equal
loss: the faster one is the one to keep). ``direct2v.miniature.train unet --bf16`` is the bf16 form.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--write-results", action="store_true", help="replace this table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    from direct2v.miniature import model as mini
    from direct2v.miniature.train import batch, latent_weights, load_tokenizer, tokenize

    out = mini.WEIGHTS
    tokenizer = load_tokenizer(out)
    text_encoder = CLIPTextModel.from_pretrained(out / "text_encoder", dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(out / "vae", dtype=torch.float32).eval()
    schedule = DDPMScheduler(**{k: mini.scheduler_config()[k] for k in ("num_train_timesteps", "beta_start", "beta_end",
                                                                         "beta_schedule")})
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    data = []
    with torch.no_grad():
        for _ in range(args.steps):
            images, texts = batch(rng, args.batch)
            latents = vae.encode(images).latent_dist.sample(gen) * vae.config.scaling_factor
            noise = torch.randn(latents.shape, generator=gen)
            t = torch.randint(0, schedule.config.num_train_timesteps, (len(latents),), generator=gen)
            data.append((schedule.add_noise(latents, noise, t), t, text_encoder(tokenize(tokenizer, texts, "cpu")[0])[0],
                         noise, latent_weights(images, images.shape[-1] // latents.shape[-1])))
    base = UNet2DConditionModel.from_pretrained(out / "unet", dtype=torch.float32).train()
    runs = {"fp32": copy.deepcopy(base), "bf16 autocast": copy.deepcopy(base)}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=args.lr) for k, m in runs.items()}
    seconds = {k: [] for k in runs}
    losses = {k: [] for k in runs}
    for step, (noisy, t, context, noise, w) in enumerate(data):
        for name, unet in runs.items():
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name != "fp32"):
                predicted = unet(noisy, t, context).sample
            loss = (w * (predicted.float() - noise).pow(2)).mean()
            opts[name].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opts[name].step()
            if step:   # the first step of each warms up allocators and kernels
                seconds[name].append(time.perf_counter() - start)
            losses[name].append(float(loss))
    half = args.steps // 2
    fp32 = statistics.median(seconds["fp32"])
    lines = ["| form | median s / step | vs fp32 | mean loss, second half | batch | steps | threads |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in runs:
        s = statistics.median(seconds[name])
        lines.append(f"| {name} | {s:.3f} | {fp32 / s:.2f}x | {np.mean(losses[name][half:]):.5f} | {args.batch} | "
                     f"{args.steps} | {args.threads} |")
    text = "\n".join(lines)
    print(text)
    if args.write_results:
        from results import write_section
        write_section("training-bf16", "Miniature UNet training step: bf16 autocast vs fp32 (CPU)", text)


if __name__ == "__main__":
    main()

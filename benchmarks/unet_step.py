"""One denoising step of Stable Diffusion 1.5's full-width UNet: what frame interaction costs a real model.

    python benchmarks/unet_step.py                    # 8 frames with guidance at 512 px (a few minutes on 2 cores)
    python benchmarks/unet_step.py --frames 2         # quicker
    ... --write-results                               # also replace its table in benchmarks/RESULTS.md

No Stable Diffusion weights ship with this project, but time depends only on the shapes of the
computation: the UNet is built from diffusers' default configuration (SD 1.x: 320/640/1280/1280
channels, 8 heads, attention at 64x64, 32x32 and 16x16 latents of a 512 px image) with
``cross_attention_dim=768`` and random weights. ``pipeline.py --model sd15-tiny`` keeps that layout
at 1/10 of the widths, where a head has 4 channels: the attention's arithmetic shrinks with the width
but DSF's one exponential per score does not, so its ratios overstate DSF's share. Here the widths
are SD's own. The UNet takes nearly all of a step's time, so these ratios are the pipeline's at
many steps. Goal (issue #14): RVM + DSF <= 1.15x RVM.
"""
from __future__ import annotations

import argparse
import time

import torch

import direct2v
from direct2v.attention import install_frame_interaction, uninstall_frame_interaction
from direct2v.runtime import pick_device, pick_dtype

VARIANTS = {"plain self-attention": None,
            "RVM": dict(attention="rvm"),
            "RVM+DSF (phi=0.05)": dict(attention="rvm", dsf_quantile=0.05)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--write-results", action="store_true", help="replace this table in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.frames < 2 or args.repeats < 1:
        parser.error("--frames must be at least 2 and --repeats at least 1")
    from diffusers import UNet2DConditionModel

    device = pick_device(args.device)
    dtype = pick_dtype(device)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(cross_attention_dim=768, sample_size=64).to(device, dtype).eval()
    batch = 2 * args.frames  # classifier-free guidance: [unconditional; conditional]
    latents = torch.randn(batch, 4, 64, 64, device=device, dtype=dtype)
    text = torch.randn(batch, 77, 768, device=device, dtype=dtype)
    t = torch.tensor(500, device=device)

    def step(keywords):
        uninstall_frame_interaction(unet)
        if keywords is not None:
            interaction = direct2v.frame_interaction(args.frames, 50, **keywords)
            interaction.set_step(10)  # past the mapping start (the reference: frame 2 of 8)
            install_frame_interaction(unet, interaction)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            unet(latents, t, encoder_hidden_states=text)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step(None)  # warm-up
    times = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):  # interleaved, so that background load hits every variant alike
        for name, keywords in VARIANTS.items():
            times[name].append(step(keywords))
    best = {name: min(values) for name, values in times.items()}
    lines = [f"SD 1.5 UNet layout at full width (random weights, {sum(p.numel() for p in unet.parameters()) / 1e6:.0f}M "
             f"parameters), 512 px (64x64 latents), {args.frames} frames with guidance (batch {batch}), device "
             f"{device}, {dtype}, {torch.get_num_threads()} threads, best of {args.repeats}, variants interleaved\n",
             "| self-attention | s / UNet step | ratio to plain | ratio to RVM | goal |", "| --- | --- | --- | --- | --- |"]
    for name, seconds in best.items():
        goal = "<= 1.15x RVM" if "DSF" in name else ""
        lines.append(f"| {name} | {seconds:.2f} | {seconds / best['plain self-attention']:.2f}x | "
                     f"{seconds / best['RVM']:.2f}x | {goal} |")
    text = "\n".join(lines)
    print(text)
    if args.write_results:
        from results import write_section
        write_section(f"unet-step-sd15-{device.type}", f"UNet step, SD 1.5 full width ({device.type}, "
                      f"{args.frames} frames)", text, device)


if __name__ == "__main__":
    main()

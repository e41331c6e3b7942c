"""Time of the miniature model: 8 images at 50 steps with classifier-free guidance.

    python benchmarks/shapes_sampling.py [--device auto] [--images 8] [--steps 50] [--repeats 3] [--write-results]

Goal (issue "miniature model"): under 30 s on a 2-core CPU. Prints a markdown table with the
median time per batch and the share spent in the UNet, the text encoder and the VAE decoder.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-results", action="store_true", help="replace this table in benchmarks/RESULTS.md")
    args = parser.parse_args()

    from diffusers import StableDiffusionPipeline

    from direct2v.runtime import pick_device, pick_dtype
    from direct2v.miniature.model import WEIGHTS

    device = pick_device(args.device)
    pipe = StableDiffusionPipeline.from_pretrained(WEIGHTS, dtype=pick_dtype(device)).to(device)
    pipe.set_progress_bar_config(disable=True)
    spent = {"unet": 0.0, "text_encoder": 0.0, "vae.decode": 0.0}

    def timed(name, fn):
        def wrapper(*a, **k):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = fn(*a, **k)
            if device.type == "cuda":
                torch.cuda.synchronize()
            spent[name] += time.perf_counter() - start
            return out
        return wrapper

    pipe.unet.forward = timed("unet", pipe.unet.forward)
    pipe.text_encoder.forward = timed("text_encoder", pipe.text_encoder.forward)
    pipe.vae.decode = timed("vae.decode", pipe.vae.decode)
    prompts = ["a large red circle at the top left and a small blue square at the bottom right, night background"] * args.images
    pipe(prompts[:1], num_inference_steps=2, guidance_scale=args.guidance)  # warm-up
    spent = dict.fromkeys(spent, 0.0)
    times = []
    for i in range(args.repeats):
        start = time.perf_counter()
        pipe(prompts, num_inference_steps=args.steps, guidance_scale=args.guidance, generator=torch.manual_seed(i))
        times.append(time.perf_counter() - start)
    total = sum(times)
    text = "\n".join([
        "| device | threads | images | steps | guidance | median seconds | goal | unet | text encoder | vae decode |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {device} | {torch.get_num_threads()} | {args.images} | {args.steps} | {args.guidance} | "
        f"{statistics.median(times):.2f} | < 30 s on 2 cores | {100 * spent['unet'] / total:.0f}% | "
        f"{100 * spent['text_encoder'] / total:.0f}% | {100 * spent['vae.decode'] / total:.0f}% |"])
    print(text)
    if args.write_results:
        from results import write_section
        write_section(f"shapes-sampling-{device.type}", f"Miniature model sampling ({device.type})", text, device)


if __name__ == "__main__":
    main()

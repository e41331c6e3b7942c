"""Time per video: DirecT2V (RVM, RVM + DSF) against diffusers' Text2Video-Zero on the same components.

    OMP_NUM_THREADS=1 python benchmarks/pipeline.py --quick    # < 2 minutes on a CPU
    python benchmarks/pipeline.py --frames 8 --steps 50        # the shapes model at book size
    python benchmarks/pipeline.py --model sd15-tiny --steps 10       # SD 1.5's layout, tiny widths, 512 px
    python benchmarks/pipeline.py --model stable-diffusion-v1-5/stable-diffusion-v1-5 --device cuda
    ... --write-results                                        # also replace its table in benchmarks/RESULTS.md

Both pipelines run the same schedule: Text2Video-Zero's warm start (t0/t1 scaled to the number
of steps by ``direct2v.pipeline.warm_start_steps``), the same frames, steps, guidance and sampler,
no motion. DirecT2V's attention acts on every self-attention layer, as the peer's does. Goals on
the ratios (DirecT2V / peer): RVM <= 1.10x, RVM + DSF <= 1.5x; and (issue #14) RVM + DSF <= 1.15x RVM.

On a CPU the clock is the process's CPU time (``time.process_time``): with one thread it equals
the wall time of an idle machine and does not count the time other jobs take the cores from
us. On a GPU it is wall time after ``torch.cuda.synchronize``.

``--model shapes`` uses the trained miniature model; before it is trained, a random-weight model
with the same configuration (timings only depend on the shapes of the computation). ``--model
sd15-tiny``: random weights in Stable Diffusion 1.5's layout (four UNet levels, attention at 64x64,
32x32 and 16x16 latents of a 512 px image, a VAE with three downsamplings) at 1/10 of its widths.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import direct2v
from direct2v.pipeline import text2video_zero_peer, warm_start_steps
from direct2v.miniature import model as mini

PROMPTS = ["a medium red circle in the middle left, day background",
           "a medium red circle in the middle center, day background",
           "a medium red circle in the middle right, day background"]


def random_shapes_folder(folder: Path) -> Path:
    """The shapes model's configuration with random weights (for timings before training)."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tok = mini.build_tokenizer()
    text = CLIPTextModel(mini.clip_config(tok).text_config)
    UNet2DConditionModel(**mini.unet_config(cross_attention_dim=text.config.hidden_size)).save_pretrained(folder / "unet")
    AutoencoderKL(**mini.vae_config()).save_pretrained(folder / "vae")
    text.save_pretrained(folder / "text_encoder")
    tok.save_pretrained(folder / "tokenizer")
    PNDMScheduler(**mini.scheduler_config()).save_pretrained(folder / "scheduler")
    mini.write_model_index(folder)
    return folder


def random_sd15_layout_folder(folder: Path) -> Path:
    """Stable Diffusion 1.5's UNet and VAE layout at 512 px with tiny widths, random weights."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    random_shapes_folder(folder)  # tokenizer, text encoder, scheduler, model index
    torch.manual_seed(0)
    width = CLIPTextModel.from_pretrained(folder / "text_encoder").config.hidden_size
    UNet2DConditionModel(sample_size=64, block_out_channels=(32, 64, 128, 128), attention_head_dim=8,
                         cross_attention_dim=width, norm_num_groups=16).save_pretrained(folder / "unet")
    AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                  block_out_channels=(16, 32, 64, 64), latent_channels=4, norm_num_groups=16,
                  sample_size=512).save_pretrained(folder / "vae")
    PNDMScheduler(**mini.scheduler_config()).save_pretrained(folder / "scheduler")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--device", default=None)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dsf", type=float, default=0.05, help="DSF quantile phi")
    parser.add_argument("--quick", action="store_true", help="4 frames, 10 steps, 2 repeats")
    parser.add_argument("--write-results", action="store_true", help="replace this table in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.steps, args.repeats = 4, 10, 2

    with tempfile.TemporaryDirectory() as tmp:
        name, note = args.model, ""
        if name == "shapes" and not (mini.WEIGHTS / "unet").exists():
            name, note = random_shapes_folder(Path(tmp)), " (untrained: random weights, shapes configuration)"
        elif name == "sd15-tiny":
            name, note = random_sd15_layout_folder(Path(tmp)), " (random weights, SD 1.5 layout at 512 px, 1/10 widths)"
        pipe = direct2v.load_pipeline(name, device=args.device)
        pipe.set_progress_bar_config(disable=True)
        peer = text2video_zero_peer(pipe)
        t0, t1 = warm_start_steps(args.steps)
        prompts = (PROMPTS * args.frames)[: args.frames]
        common = dict(num_inference_steps=args.steps, guidance_scale=12.0, output_type="np")

        def seed():
            return torch.Generator("cpu").manual_seed(0)

        runs = {
            "Text2Video-Zero (peer)": lambda: peer(prompts[0], video_length=args.frames, t0=t0, t1=t1,
                                                   motion_field_strength_x=0, motion_field_strength_y=0,
                                                   generator=seed(), **common),
            "DirecT2V RVM": lambda: pipe(prompts, attention="rvm", generator=seed(), **common),
            f"DirecT2V RVM+DSF (phi={args.dsf})": lambda: pipe(prompts, attention="rvm", dsf_quantile=args.dsf,
                                                               generator=seed(), **common),
        }
        for run in runs.values():  # warm-up
            run()
        cuda = pipe.device.type == "cuda"
        clock = time.perf_counter if cuda else time.process_time
        times = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved, so that background load hits every variant alike
            for key, run in runs.items():
                if cuda:
                    torch.cuda.synchronize()
                start = clock()
                run()
                if cuda:
                    torch.cuda.synchronize()
                times[key].append(clock() - start)

    lines = [f"model {args.model}{note}, device {pipe.device}, {args.frames} frames, {args.steps} steps "
             f"(PNDM, warm start t0={t0}, t1={t1}), {torch.get_num_threads()} CPU threads, "
             f"{'wall' if cuda else 'CPU'} time, median of {args.repeats}, variants interleaved\n",
             "| pipeline | s / video | ratio to peer | ratio to RVM | goal |", "| --- | --- | --- | --- | --- |"]
    base = statistics.median(times["Text2Video-Zero (peer)"])
    rvm = statistics.median(times["DirecT2V RVM"])
    goals = ["", "<= 1.10x peer", "<= 1.5x peer, <= 1.15x RVM"]
    for (key, values), goal in zip(times.items(), goals):
        t = statistics.median(values)
        lines.append(f"| {key} | {t:.3f} | {t / base:.2f}x | {t / rvm:.2f}x | {goal} |")
    text = "\n".join(lines)
    print(text)
    if args.write_results:
        from results import write_section
        tag = "shapes" if args.model == "shapes" else args.model.replace("/", "-")
        write_section(f"pipeline-{tag}-{pipe.device.type}{'-quick' if args.quick else ''}",
                      f"Pipeline, {tag} ({pipe.device.type}, {args.frames} frames, {args.steps} steps)", text,
                      pipe.device)


if __name__ == "__main__":
    main()

"""Time per video of the evaluation (``python -m direct2v.evaluate``): one video per UNet call (before) against
several videos per UNet call (after, ``DirecT2VPipeline.videos``), generation and measurement together.

    OMP_NUM_THREADS=2 python benchmarks/evaluation.py               # 8 stories, 25 steps, RVM, batch 8
    OMP_NUM_THREADS=2 python benchmarks/evaluation.py --steps 50 --method rvm_dsf --batch 4
    OMP_NUM_THREADS=1 python benchmarks/evaluation.py --sides precision    # fp32 against bf16, both batched

``--sides precision`` compares the batched evaluation in float32 (before) with the pipeline in bfloat16 (after,
``python -m direct2v.evaluate --dtype bfloat16``): CPUs with AMX or avx512_bf16 run the UNet's convolutions and
matrix products about twice as fast in bf16. bf16 changes the videos slightly, so the table adds how far the
per-video measures move (mean absolute difference of narrative accuracy, pattern identity and decoration IoU in
points, over the same stories and seeds).

Both sides make the same videos (the same stories, seeds, noise and method; the test
``test_a_video_made_in_a_batch_equals_the_video_made_alone`` checks they agree) and measure them with
:func:`direct2v.evaluate.measure`; the sides alternate, ``--repeats`` times, and the median counts. The
clock is the process's CPU time (``time.process_time``, summed over threads): it does not count the
time other jobs take the cores from us; wall time is printed beside it. The last lines estimate the
full table (``direct2v.evaluate.FULL``) from the per-video times (the single-prompt peer, diffusers'
pipeline, runs one video at a time).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from direct2v import evaluate as E
from direct2v.attention import authors_layers
from direct2v.director import StoryboardDirector
from direct2v.evaluate.run import _load
from direct2v.metrics import as_video
from direct2v.pipeline import load_pipeline


def clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=8, help="how many stories (the first N of STORIES)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--method", default="rvm", choices=[m for m, (_, a) in E.METHODS.items() if a is not None])
    parser.add_argument("--noise", default="warm_start", choices=E.NOISES)
    parser.add_argument("--batch", type=int, default=E.BATCH, help="videos per UNet call after")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sides", choices=("batch", "precision"), default="batch",
                        help="batch: one video per UNet call against --batch; precision: float32 against bfloat16")
    args = parser.parse_args(argv)
    pipe, scorer = _load(None, None, "cpu")
    half = load_pipeline("shapes", device="cpu", dtype=torch.bfloat16) if args.sides == "precision" else None
    if half is not None:
        half.set_progress_bar_config(disable=True)
    director = StoryboardDirector()
    scripts = [director.direct(p, num_frames=args.frames) for _, p in E.STORIES[:args.stories]]
    seeds = [E.video_seed(i, 0) for i in range(len(scripts))]
    method = dict(E.METHODS[args.method][1])
    if method.get("attention_layers") == E.AUTHORS:
        method["attention_layers"] = authors_layers(pipe.unet)
    run = dict(num_inference_steps=args.steps, guidance_scale=E.GUIDANCE, output_type="np", noise=args.noise, **method)

    measured = {"before": [], "after": []}

    def one_by_one(name):
        measured[name] = [E.measure(as_video(pipe(script.frames, seed=seed, **run).frames), script, scorer)[1]
                          for script, seed in zip(scripts, seeds)]

    def batched(name, model):
        measured[name] = []
        for i in range(0, len(scripts), args.batch):
            part = scripts[i:i + args.batch]
            for script, video in zip(part, model.videos([s.frames for s in part], seeds[i:i + args.batch], **run)):
                measured[name].append(E.measure(as_video(video), script, scorer)[1])

    if args.sides == "batch":
        sides = {"before": lambda: one_by_one("before"), "after": lambda: batched("after", pipe)}
    else:
        sides = {"before": lambda: batched("before", pipe), "after": lambda: batched("after", half)}
    times = {"before": [], "after": []}
    for _ in range(args.repeats):
        for name, fn in sides.items():
            cpu, wall = clock()
            fn()
            cpu2, wall2 = clock()
            times[name].append(((cpu2 - cpu) / len(scripts), (wall2 - wall) / len(scripts)))
    med = {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for k, v in times.items()}
    print(f"{len(scripts)} stories x 1 seed, method {args.method}, noise {args.noise}, {args.frames} frames, "
          f"{args.steps} PNDM steps, guidance {E.GUIDANCE}, {torch.get_num_threads()} torch threads, "
          f"median of {args.repeats}\n")
    labels = {"before": (1, "float32"), "after": (args.batch, "float32")} if args.sides == "batch" else \
        {"before": (args.batch, "float32"), "after": (args.batch, "bfloat16")}
    print("| evaluation | videos per UNet call | precision | CPU s / video | wall s / video | ratio (CPU) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (batch, precision) in labels.items():
        print(f"| {name} | {batch} | {precision} | {med[name][0]:.2f} | {med[name][1]:.2f} | "
              f"{med['before'][0] / med[name][0]:.2f}x |")
    if args.sides == "precision":
        print("\n| measure (per video) | before | after | mean absolute difference (points) |")
        print("| --- | --- | --- | --- |")
        for key in ("narrative_all", "identity_consistency", "decoration_consistency"):
            a, b = ([row[key] for row in measured[n]] for n in ("before", "after"))
            pairs = [(x, y) for x, y in zip(a, b) if x == x and y == y]  # both defined (not NaN)
            print(f"| {key} | {100 * statistics.mean(x for x, _ in pairs):.1f}% | "
                  f"{100 * statistics.mean(y for _, y in pairs):.1f}% | "
                  f"{100 * statistics.mean(abs(x - y) for x, y in pairs):.1f} |")
    full = E.FULL
    units = len(E.STORIES) * len(full["seeds"])
    per_unit = sum(1 for n in E.NOISES for m in full["methods"] if not (m == "t2vz_peer" and n != "warm_start"))
    peer = units
    batched = units * per_unit - peer
    scale = full["steps"] / args.steps
    for name in ("before", "after"):
        cpu = (batched * med[name][0] + peer * med["before"][0]) * scale
        wall = (batched * med[name][1] + peer * med["before"][1]) * scale
        print(f"\nfull table ({units * per_unit} videos, {full['steps']} steps), {name}: about {cpu / 60:.0f} CPU min"
              f" ({cpu / 60 / torch.get_num_threads():.0f} min on {torch.get_num_threads()} idle cores), "
              f"{wall / 60:.0f} min wall at this run's load")


if __name__ == "__main__":
    main()

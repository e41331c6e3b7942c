"""The miniature's chosen training as one command, sized for a CUDA GPU (the stage issue's recipe).

    python -m direct2v.miniature.recipe [--device cuda] [--out DIR] [--steps-scale 1.0] [--no-measure]

Runs every step of :data:`RECIPE` through :func:`direct2v.miniature.train.main` (which resumes from the
weights in ``DIR``, default the shipped folder), then ``python -m direct2v.miniature.quality --stage`` on
the result, which rewrites the model card. ``--steps-scale`` shrinks the step counts (tests run it on a
CPU with a tiny model). The recipe is the current candidate (world version 3, objects of one scene share
their pattern: see the model card's notes); sized for about 8 minutes of an H100 from an estimate, not
yet measured on one.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import model as mini
from . import quality, train

RECIPE = (
    ("unet", "--shared-pattern", "--min-objects", "2", "--train-only", "attn1", "--steps", "12000", "--batch", "64",
     "--lr", "3e-4", "--bf16", "--workers", "12", "--save-every", "1000",
     "--note", "recipe: version-3 candidate (objects of one scene share their pattern), self-attention only"),
)
"""``direct2v.miniature.train`` argument lists, run in order."""


def scaled(args: tuple[str, ...], scale: float) -> list[str]:
    """``args`` with ``--steps`` and ``--save-every`` multiplied by ``scale`` (at least 1 each)."""
    out = list(args)
    for flag in ("--steps", "--save-every"):
        if flag in out:
            i = out.index(flag) + 1
            out[i] = str(max(1, round(int(out[i]) * scale)))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m direct2v.miniature.recipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ...")
    parser.add_argument("--out", type=Path, default=mini.WEIGHTS)
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every step count (tests: tiny)")
    parser.add_argument("--size", choices=("default", "tiny"), default="default", help="tiny: for tests")
    parser.add_argument("--workers", type=int, default=None, help="override the recipe's rendering processes")
    parser.add_argument("--no-measure", dest="measure", action="store_false", help="skip the quality measurement")
    args = parser.parse_args(argv)
    if not 0 < args.steps_scale <= 1:
        parser.error(f"--steps-scale must be in (0, 1], got {args.steps_scale}")
    start = time.time()
    for step in RECIPE:
        argv = scaled(step, args.steps_scale) + ["--device", args.device, "--out", str(args.out), "--size", args.size]
        if args.workers is not None:
            argv += ["--workers", str(args.workers)]
        train.main(argv)
    print(f"recipe trained in {time.time() - start:.0f} s")
    if args.measure:
        quality.main(["--device", args.device, "--folder", str(args.out), "--steps", "25", "--stage"])


if __name__ == "__main__":
    main()

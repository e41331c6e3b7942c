"""Replicate DirecT2V's Table 1 in the shapes world, with the metrics the paper lacks.

``python -m direct2v.evaluate``: the command (see :mod:`direct2v.evaluate`).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from ..metrics import CLIPScorer
from ..runtime import pick_device
from .design import (BATCH, DSF_STORIES, FULL, GUIDANCE, METHODS, NOISES, QUICK, QUICK_STORIES, STORIES,
                     SWEEP_QUANTILES, SWEEP_STARTS, SWEEP_STORIES)
from .records import COMMITTED, write, write_sweep
from .run import Results, _check, run
from .study import sweep
from .tables import sweep_table


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _noises(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [n for n in names if n not in NOISES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; use a comma-separated list from {','.join(NOISES)}")
    return names


def _unit_floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        values = ()
    if not values or not all(0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; use comma-separated numbers in [0, 1], "
                                         "e.g. 0,0.05,0.1")
    return values


def main(argv=None) -> Results:
    parser = argparse.ArgumentParser(prog="python -m direct2v.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"CI size: stories {QUICK_STORIES}, {QUICK['frames']} frames, {QUICK['steps']} steps, "
                             f"seed 0, methods {','.join(QUICK['methods'])}")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: direct2v/data/evaluation, or evaluation-quick with --quick; "
                             "direct2v/data/dsf-study or dsf-study-quick with --dsf-study)")
    parser.add_argument("--steps", type=int, default=None, help=f"PNDM steps (default {FULL['steps']}; paper 100)")
    parser.add_argument("--frames", type=int, default=None, help=f"frames per video (default {FULL['frames']})")
    parser.add_argument("--seeds", type=_ints, default=None, help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--methods", default=None, help=f"comma-separated, from {','.join(METHODS)}")
    parser.add_argument("--stories", type=_ints, default=None, help=f"comma-separated indices 0-{len(STORIES) - 1}")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"videos per UNet call (default {BATCH}; the speed only, not the videos)")
    parser.add_argument("--noise", type=_noises, default=NOISES,
                        help=f"comma-separated initial-noise settings (default {','.join(NOISES)})")
    parser.add_argument("--dsf-study", action="store_true",
                        help=f"RVM against RVM+DSF on stories {','.join(map(str, DSF_STORIES))} (an object appears, "
                             f"disappears or changes colour), then the DSF sweep on stories "
                             f"{','.join(map(str, SWEEP_STORIES))} (sweep.csv, sweep.md)")
    parser.add_argument("--sweep-stories", type=_ints, default=None,
                        help=f"stories of the sweep (default {','.join(map(str, SWEEP_STORIES))})")
    parser.add_argument("--sweep-quantiles", type=_unit_floats, default=SWEEP_QUANTILES,
                        help=f"DSF quantiles of the sweep (default {','.join(map(str, SWEEP_QUANTILES))})")
    parser.add_argument("--sweep-starts", type=_unit_floats, default=SWEEP_STARTS,
                        help="mapping starts of the sweep, fractions of the steps "
                             f"(default {','.join(map(str, SWEEP_STARTS))})")
    parser.add_argument("--guidance", type=float, default=GUIDANCE,
                        help=f"classifier-free guidance (default {GUIDANCE}; the paper's 12.0 over-saturates the miniature)")
    parser.add_argument("--model", default="shapes", help="pipeline folder or hub id (default: the shapes model)")
    parser.add_argument("--clip", default="shapes", help="CLIP folder or hub id (default: the miniature CLIP)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", type=Path, default=None, metavar="FOLDER",
                        help="keep each batch's measurements in FOLDER as they are made, and skip those already "
                             "there (same settings): an interrupted run goes on where it stopped")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                        help="the pipeline's precision (default: float32 on a CPU, float16 on a GPU); bfloat16 runs "
                             "about twice as fast on CPUs with AMX or avx512_bf16 and changes the videos slightly "
                             "(benchmarks/evaluation.py --sides precision)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    steps = args.steps if args.steps is not None else size["steps"]
    frames = args.frames if args.frames is not None else size["frames"]
    seeds = args.seeds if args.seeds is not None else size["seeds"]
    study = "dsf-study" if args.dsf_study else "evaluation"
    default_methods = ("rvm", "rvm_dsf") if args.dsf_study else size["methods"]
    methods = tuple(args.methods.split(",")) if args.methods else default_methods
    if args.stories is not None:
        stories = args.stories
    elif args.dsf_study:
        stories = DSF_STORIES[:2] if args.quick else DSF_STORIES
    else:
        stories = QUICK_STORIES if args.quick else None
    sweep_stories = args.sweep_stories if args.sweep_stories is not None else \
        (SWEEP_STORIES[:1] if args.quick else SWEEP_STORIES)
    out = args.out or (Path(f"{study}-quick") if args.quick else COMMITTED.parent / study)
    try:
        from ..pipeline import load_pipeline  # here: --help and bad flags answer before the pipeline loads

        device = pick_device(args.device)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"--methods {','.join(unknown)} is not allowed; use names from {','.join(METHODS)}")
        _check(methods, steps, frames, seeds, args.noise, stories)
        if args.batch < 1:
            raise ValueError(f"--batch {args.batch} is not allowed; use an integer >= 1")
        if args.dsf_study:
            _check(("rvm_dsf",), steps, frames, seeds, args.noise, sweep_stories)
        pipe = load_pipeline(args.model, device=device, dtype=getattr(torch, args.dtype) if args.dtype else None)
        scorer = CLIPScorer.from_pretrained(args.clip, device=device)
        results = run(pipe, scorer, stories, seeds, methods, steps, frames, args.guidance, device,
                      noises=args.noise, batch=args.batch, resume=args.resume)
        rows = sweep(pipe, scorer, sweep_stories, seeds, args.sweep_quantiles, args.sweep_starts, steps, frames,
                     args.guidance, device, args.noise) if args.dsf_study else None
    except ValueError as err:
        parser.error(str(err))
    command = "python -m direct2v.evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    write(results, out, command.strip())
    print(results.table())
    if rows is not None:
        write_sweep(rows, out)
        print(sweep_table(rows))
    print(f"\nwritten to {out}")
    return results

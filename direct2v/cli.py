"""The ``direct2v`` command: one prompt in, a video, its frame script and a contact sheet out.

    direct2v "a red ball rolls from left to right and a blue square appears later" --frames 8 --fps 4 -o ball.mp4

runs offline on a CPU with the embedded shapes model and the storyboard director, and writes
``ball.mp4``, ``ball.json`` (the director's :class:`~direct2v.director.Script`: frame prompts,
fps, conversation) and ``ball.png`` (the frames with their prompts). With a GPU and network,
``--model stable-diffusion-v1-5/stable-diffusion-v1-5 --director openai --steps 100`` follows the paper (GPT-4 director,
Stable Diffusion 1.5, T = 100, guidance 12.0).

Exit codes: 0 done; 2 bad arguments or a director error (for example words outside the
storyboard's grammar; the message says what it understands); 1 a failure while loading the model,
generating or writing; 130 interrupted. User errors print one message, no traceback
(``--traceback`` shows it). The OpenAI key is read from ``OPENAI_API_KEY`` only, never printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .shapes.model import GUIDANCE as SHAPES_GUIDANCE
from .video import FORMATS

DIRECTORS = ("storyboard", "openai", "local")
ATTENTION = ("self", "cross_frame", "sparse_causal", "rvm", "random")
NOISE = ("warm_start", "independent", "shared", "autoregressive")
PAPER_GUIDANCE = 12.0  # the default for models without recommended settings (pipeline.PAPER_SETTINGS)


class UsageError(ValueError):
    """A bad combination of arguments, found before any heavy work."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="direct2v", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Zero-shot text-to-video with an LLM frame director (DirecT2V, arXiv 2305.14330).",
        epilog="Exit codes: 0 done, 2 bad arguments or director error, 1 runtime failure, 130 interrupted. "
               "The openai director reads its key from OPENAI_API_KEY (a local server: OPENAI_API_KEY=none).")
    p.add_argument("prompt", help="what the video shows, in one sentence")
    p.add_argument("-o", "--output", default="video.mp4",
                   help=f"the video ({', '.join(FORMATS)}); the script goes to <stem>.json, the contact sheet to <stem>.png")
    p.add_argument("--frames", type=int, default=8, help="F, frames asked of the director")
    p.add_argument("--fps", type=float, default=4.0, help="R, frames per second of the story and the video")
    p.add_argument("--lift", type=int, default=0, help="frame-rate lifting rounds: each doubles frames and fps")
    g = p.add_argument_group("director")
    g.add_argument("--director", choices=DIRECTORS, default="storyboard",
                   help="storyboard: offline, shapes world only; openai: any OpenAI-compatible server; "
                        "local: a chat model through transformers")
    g.add_argument("--llm-model", default=None,
                   help="the chat model (openai default gpt-4o-mini; local default SmolLM2-135M-Instruct)")
    g.add_argument("--base-url", default=None, help="OpenAI-compatible server, e.g. http://localhost:11434/v1")
    g = p.add_argument_group("generator")
    g.add_argument("--model", default="shapes", help="'shapes' (embedded) or a Stable Diffusion hub id or folder, e.g. stable-diffusion-v1-5/stable-diffusion-v1-5")
    g.add_argument("--attention", choices=ATTENTION, default="rvm", help="frame interaction in self-attention")
    g.add_argument("--dsf-quantile", type=float, default=0.05, help="phi of dual-softmax filtering; 0 turns it off")
    g.add_argument("--rvm-period", type=int, default=4, help="m of rotational value mapping")
    g.add_argument("--mapping-start", type=int, default=None, help="step where value mapping starts (default 4%%)")
    g.add_argument("--steps", type=int, default=50, help="denoising steps T (paper: 100)")
    g.add_argument("--guidance", type=float, default=None,
                   help=f"classifier-free guidance (default: the model's recommended scale, {SHAPES_GUIDANCE} for "
                        f"shapes; the paper's {PAPER_GUIDANCE} for models that recommend none)")
    g.add_argument("--noise", choices=NOISE, default="warm_start", help="initial noise of the frames")
    g.add_argument("--motion", type=float, nargs=2, default=(0.0, 0.0), metavar=("DX", "DY"),
                   help="motion dynamics: image pixels per frame (warm_start noise only)")
    g.add_argument("--max-batch-frames", type=int, default=None, help="B; longer videos cache a first section")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA when present)")
    g = p.add_argument_group("output")
    g.add_argument("--scale", type=int, default=None, help="nearest-neighbour upscaling (default: short side >= 256 px)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no frame list")
    g.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    return p


def check_args(args) -> None:
    """Everything that can be checked before the director or the model runs."""
    out = Path(args.output)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--output {args.output!r}: use a file ending in one of {', '.join(FORMATS)}")
    if out.exists() and out.is_dir():
        raise UsageError(f"--output {args.output!r} is a folder; give a file name such as {out / 'video.mp4'}")
    if not args.prompt.strip():
        raise UsageError("the prompt is empty; describe the video in one sentence")
    for name, low in (("frames", 1), ("steps", 1), ("rvm_period", 1), ("lift", 0), ("seed", 0)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)}: use an integer >= {low}")
    if not args.fps > 0 or args.fps == float("inf"):
        raise UsageError(f"--fps {args.fps}: use a positive number")
    if not 0.0 <= args.dsf_quantile <= 1.0:
        raise UsageError(f"--dsf-quantile {args.dsf_quantile}: use a number in [0, 1] (0: off, paper-like: 0.05)")
    if args.dsf_quantile > 0 and args.attention in ("self", "sparse_causal"):
        raise UsageError(f"--dsf-quantile {args.dsf_quantile} needs a value-mapping attention (cross_frame, rvm, "
                         f"random), not --attention {args.attention}; add --dsf-quantile 0")
    if args.guidance is not None and args.guidance < 0:
        raise UsageError(f"--guidance {args.guidance}: use a number >= 0")
    if any(args.motion) and args.noise != "warm_start":
        raise UsageError(f"--motion acts in the warm start only; use --noise warm_start (not {args.noise})")
    model = args.model
    looks_like_path = model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1
    if model != "shapes" and looks_like_path and not Path(model).expanduser().exists():
        raise UsageError(f"--model {model!r}: no such folder; give 'shapes', a Stable Diffusion folder or a hub id")
    if args.scale is not None and args.scale < 1:
        raise UsageError(f"--scale {args.scale}: use an integer >= 1")
    if args.frames * 2 ** args.lift > 1024:
        raise UsageError(f"--frames {args.frames} lifted {args.lift} times gives more than 1024 frames")


def make_director(args):
    from . import director as d

    target = "shapes" if args.model == "shapes" else None
    if args.director == "storyboard":
        if args.llm_model or args.base_url:
            raise UsageError("--llm-model and --base-url are for --director openai or local, not storyboard")
        return d.StoryboardDirector()
    if args.director == "openai":
        return d.OpenAIDirector(args.llm_model or "gpt-4o-mini", base_url=args.base_url, target=target)
    if args.base_url:
        raise UsageError("--base-url is for --director openai; --director local runs the model in this process")
    return d.TransformersDirector(args.llm_model, target=target)


def run(args) -> int:
    from .runtime import pick_device

    check_args(args)
    device = pick_device(args.device)  # ValueError when CUDA is asked for and absent
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))

    director = make_director(args)
    script = director.direct(args.prompt, num_frames=args.frames, fps=args.fps)
    for _ in range(args.lift):
        script = director.lift(script)
    if not args.quiet:
        print(script)

    from .pipeline import load_pipeline

    say(f"loading model {args.model!r} on {device} ...")
    try:
        pipe = load_pipeline(args.model, device=device)
    except (OSError, ValueError, ImportError) as err:  # missing folder, no network, not a pipeline
        raise RuntimeError(f"could not load the model {args.model!r}: {err}") from err
    pipe.set_progress_bar_config(disable=args.quiet, desc="denoising")
    video = pipe(script.frames, num_inference_steps=args.steps, guidance_scale=args.guidance,  # None: pipe.defaults
                 attention=args.attention, rvm_period=args.rvm_period, mapping_start=args.mapping_start,
                 dsf_quantile=args.dsf_quantile or None, noise=args.noise,
                 motion_field_strength_x=args.motion[0], motion_field_strength_y=args.motion[1],
                 max_batch_frames=args.max_batch_frames, seed=args.seed)

    from .video import save_video

    out = Path(args.output)
    sheet, script_path = out.with_suffix(".png"), out.with_suffix(".json")
    written = []
    if out.suffix.lower() != ".png":
        written.append(save_video(video.frames, out, fps=script.fps, scale=args.scale))
    written.append(save_video(video.frames, sheet, fps=script.fps, scale=args.scale, captions=script.frames))
    written.append(script.save(script_path))
    print(f"wrote {', '.join(str(p) for p in written)} ({script.num_frames} frames at {script.fps:g} fps)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``direct2v`` console script; returns the exit code (see the module doc)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed by argparse
        return int(exit_.code or 0)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("direct2v: interrupted", file=sys.stderr)
        return 130
    except ValueError as err:  # UsageError, DirectorError, the pipeline's argument checks
        if args.traceback:
            raise
        kind = "director error" if type(err).__name__.endswith("DirectorError") else "error"
        print(f"direct2v: {kind}: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a clean message instead of a traceback
        if args.traceback:
            raise
        print(f"direct2v: failed: {type(err).__name__}: {err}\n(run again with --traceback for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

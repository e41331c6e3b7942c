"""The ``direct2v`` command: one prompt in, a video, its frame script and a contact sheet out.

    direct2v "a red ball rolls from left to right and a blue square appears later" --frames 8 --fps 4 -o ball.mp4

runs offline on a CPU with the embedded shapes model and the storyboard director, and writes
``ball.mp4``, ``ball.json`` (the director's :class:`~direct2v.director.Script`: frame prompts,
fps, conversation) and ``ball.png`` (the frames with their prompts). With a GPU and network,
``--model stable-diffusion-v1-5/stable-diffusion-v1-5 --director openai --steps 100`` follows the paper (GPT-4 director,
Stable Diffusion 1.5, T = 100, guidance 12.0).

Every argument is checked before the director or the model runs: numbers (finite, in range),
the device, the output files (writable; an existing one is replaced only with ``--force``). The
files of a run appear together or not at all, and never over a file that appeared while the run
worked (another run's), unless ``--force``. Exit codes: 0 done; 2 bad arguments or a director
error (for example words outside the storyboard's grammar; the message says what it understands);
1 a failure while loading the model, generating or writing; 130 interrupted (Ctrl-C), 143
terminated (SIGTERM), either leaving nothing behind. User errors print one message, no traceback
(``--traceback`` shows it, with the same exit code). The OpenAI key is read from ``OPENAI_API_KEY``
only; neither it nor credentials in ``--base-url`` are printed, logged or written.
This module imports nothing heavy at import time, so that an early Ctrl-C is handled too.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from . import __version__
from .settings import (ATTENTION_MODES, KNOBS, NOISE_KINDS, PAPER_INTERACTION, PAPER_SETTINGS, SettingError,
                       check_video_keywords, model_folder, model_settings)

DIRECTORS = ("storyboard", "openai", "local")
DEFAULT_TIMEOUT = 60.0
SPLIT_FLAGS = {"motion": ("motion_field_strength_x", "motion_field_strength_y"), "frames": ("num_frames",)}
"""Flags whose one value sets other settings: ``--motion DX DY`` (two) and ``--frames`` (the director's F, lifted).
Every other generator flag's destination is its setting's one name (:data:`direct2v.settings.KNOBS`)."""


class UsageError(ValueError):
    """A bad combination of arguments, found before any heavy work."""


class Stopped(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM, raised wherever the run is, so that temporary files are removed.

    Not a KeyboardInterrupt: CPython kills a process with SIGINT at exit when a KeyboardInterrupt
    went through embedded code (as some extension imports run), even when it was handled."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Says each default once: not for a flag whose help already says it, nor for switches and unset values."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return action.help
        return super()._get_help_string(action)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def build_parser() -> argparse.ArgumentParser:
    from .video import FORMATS

    p = argparse.ArgumentParser(
        prog="direct2v", formatter_class=HelpFormatter,
        description="Zero-shot text-to-video with an LLM frame director (DirecT2V, arXiv 2305.14330).",
        epilog="Exit codes: 0 done, 2 bad arguments or director error, 1 runtime failure, 130 interrupted "
               "(Ctrl-C), 143 terminated (SIGTERM). The openai director reads its key from OPENAI_API_KEY "
               "(a local server: OPENAI_API_KEY=none).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("prompt", help="what the video shows, in one sentence")
    p.add_argument("-o", "--output", default="video.mp4",
                   help=f"the video ({', '.join(FORMATS)}); the script goes to <stem>.json, the contact sheet to <stem>.png")
    p.add_argument("--force", action="store_true", help="replace output files that already exist")
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
    g.add_argument("--timeout", type=float, default=None,
                   help=f"seconds to wait for each answer of the openai director (default {DEFAULT_TIMEOUT:g})")
    g.add_argument("--no-cache", action="store_true",
                   help="ask the LLM even when the reply cache ($DIRECT2V_CACHE) holds an answer, and store nothing")
    g = p.add_argument_group("generator")
    g.add_argument("--model", default="shapes", help="'shapes' (embedded) or a Stable Diffusion hub id or folder, e.g. stable-diffusion-v1-5/stable-diffusion-v1-5")
    # each generator flag's dest is its setting's one name (direct2v.settings.KNOBS): video_keywords() reads them
    g.add_argument("--attention", choices=ATTENTION_MODES, default=PAPER_INTERACTION["attention"],
                   help="frame interaction in self-attention")
    g.add_argument("--dsf-quantile", type=float, default=PAPER_INTERACTION["dsf_quantile"],
                   help="phi of dual-softmax filtering; 0 turns it off")
    g.add_argument("--rvm-period", type=int, default=PAPER_INTERACTION["rvm_period"], help="m of rotational value mapping")
    g.add_argument("--mapping-start", type=int, default=None, help="step where value mapping starts (default 4%%)")
    g.add_argument("--steps", dest="num_inference_steps", type=int, default=50, help="denoising steps T (paper: 100)")
    g.add_argument("--guidance", dest="guidance_scale", type=float, default=None,
                   help=f"classifier-free guidance (default: the model's recommended scale, "
                        f"{model_settings('shapes')['guidance_scale']} for "
                        f"shapes; the paper's {PAPER_SETTINGS['guidance_scale']} for models that recommend none)")
    g.add_argument("--noise", choices=NOISE_KINDS, default=None,
                   help="initial noise of the frames (default: the model's own, else warm_start)")
    g.add_argument("--motion", type=float, nargs=2, default=None, metavar=("DX", "DY"),
                   help="motion dynamics: image pixels per frame (warm_start noise only; default 0 0)")
    g.add_argument("--max-batch-frames", type=int, default=None, help="B; longer videos cache a first section")
    g.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: CUDA when present)")
    g = p.add_argument_group("output")
    g.add_argument("--scale", type=int, default=None, help="nearest-neighbour upscaling (default: short side >= 256 px)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no frame list")
    g.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    flags = {setting: a.option_strings[-1] for a in p._actions if a.option_strings
             for setting in (a.dest, *SPLIT_FLAGS.get(a.dest, ()))}
    p.set_defaults(flags=flags)  # the flag of each setting, for messages
    return p


def outputs(args) -> list[Path]:
    """The files a run writes: the video (unless it is the .png), the contact sheet, the script."""
    out = Path(args.output)
    sheet = out if out.suffix.lower() == ".png" else out.with_suffix(".png")
    return ([] if out == sheet else [out]) + [sheet, out.with_suffix(".json")]


def check_writable(path: Path, force: bool) -> None:
    """UsageError unless ``path`` can be written (its folder exists or can be made, and takes new files)."""
    if path.is_dir():
        raise UsageError(f"--output: {path} is a folder; give a file name such as {path / 'video.mp4'}")
    if path.exists() and not force:
        return  # reported with the others by check_outputs
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"--output: cannot write {path}: {folder} is a file, not a folder")
    try:  # the honest test of "can I create files here" (permissions, read-only or special file systems)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".direct2v-probe."):
            pass
    except OSError as err:
        raise UsageError(f"--output: cannot write {path}: {folder} does not take new files "
                         f"({err.strerror or type(err).__name__})") from None


def check_outputs(args) -> list[Path]:
    """The output files, checked: writable, and none replaced without ``--force``."""
    from .video import FORMATS

    out = Path(args.output)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--output {args.output!r}: use a file ending in one of {', '.join(FORMATS)}")
    paths = outputs(args)
    for path in paths:
        check_writable(path, args.force)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not args.force:
        raise UsageError(f"this run writes {', '.join(map(str, paths))}; {', '.join(existing)} already "
                         "exist(s): choose another --output or add --force to replace them")
    return paths


def frame_size(model: str) -> tuple[int, int] | None:
    """(height, width) of the frames a model folder draws, from its configs; None for a hub id."""
    folder = Path(model_folder(model)).expanduser()
    try:
        import json

        unet = json.loads((Path(folder) / "unet" / "config.json").read_text())
        vae = json.loads((Path(folder) / "vae" / "config.json").read_text())
        side = unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (side, side) if isinstance(side, int) else tuple(side)


def check_args(args) -> list[Path]:
    """Everything that can be checked before the director or the model runs; returns the output files."""
    from .director.base import MAX_FRAMES
    from .video import check_fps, check_scale

    if not args.prompt.strip():
        raise UsageError("the prompt is empty; describe the video in one sentence")
    for name, low, high in (("frames", 1, MAX_FRAMES), ("num_inference_steps", 1, 10_000),
                            ("lift", 0, int(math.log2(MAX_FRAMES)))):
        value = getattr(args, name)
        if value < low or (high is not None and value > high):
            raise UsageError(f"{args.flags[name]} {value}: use an integer from {low} to {high}")
    frames = args.frames * 2 ** args.lift
    if frames > MAX_FRAMES:
        raise UsageError(f"--frames {args.frames} lifted {args.lift} times gives {frames} frames; "
                         f"the most is {MAX_FRAMES}")
    try:
        check_fps(args.fps * 2 ** args.lift)
    except ValueError as err:
        raise UsageError(f"--fps {args.fps} (lifted {args.lift} times: {args.fps * 2 ** args.lift:g}): "
                         f"{str(err).split('; ')[-1]}") from None
    check_video(args, frames)
    if args.timeout is not None and not 0 < args.timeout < math.inf:
        raise UsageError(f"--timeout {args.timeout}: use a positive number of seconds")
    model = args.model
    looks_like_path = model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1
    if model != "shapes" and looks_like_path and not Path(model).expanduser().exists():
        raise UsageError(f"--model {model!r}: no such folder; give 'shapes', a Stable Diffusion folder or a hub id")
    size = frame_size(model)
    if args.scale is not None and args.scale < 1:
        raise UsageError(f"--scale {args.scale}: use an integer >= 1")
    if size is not None:
        try:
            check_scale(args.scale, *size)
        except ValueError as err:
            raise UsageError(f"--scale {args.scale}: {err}") from None
    return check_outputs(args)


def video_keywords(args) -> dict:
    """The generator's settings as the pipeline's keywords (the one dict the command checks and passes to
    ``pipe(...)``): every flag whose destination is a setting's name, ``--motion`` split in two."""
    keywords = {name: value for name, value in vars(args).items() if name in KNOBS}
    if args.motion is not None:
        keywords.update(zip(SPLIT_FLAGS["motion"], args.motion))
    return keywords


def check_video(args, num_frames: int):
    """The generator's settings, checked by the same rules as the pipeline's
    (:func:`direct2v.settings.check_video_keywords`, nothing built), any broken rule reported by its flag."""
    try:
        return check_video_keywords(num_frames=num_frames, **video_keywords(args))
    except SettingError as err:
        flag = args.flags.get(err.name, err.name)
        value = " ".join(map(str, args.motion)) if flag == "--motion" else err.value
        raise UsageError(f"{flag} {value}: {err.allowed or err}") from None


def make_director(args):
    from . import director as d

    target = "shapes" if args.model == "shapes" else None
    cache = False if args.no_cache else None
    if args.director != "openai" and args.timeout is not None:
        raise UsageError(f"--timeout is for --director openai, not {args.director}")
    if args.director == "storyboard":
        if args.llm_model or args.base_url:
            raise UsageError("--llm-model and --base-url are for --director openai or local, not storyboard")
        return d.StoryboardDirector()
    if args.director == "openai":
        return d.OpenAIDirector(args.llm_model or "gpt-4o-mini", base_url=args.base_url, target=target, cache=cache,
                                timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout)
    if args.base_url:
        raise UsageError("--base-url is for --director openai; --director local runs the model in this process")
    return d.TransformersDirector(args.llm_model, target=target, cache=cache)


@contextlib.contextmanager
def quiet_libraries():
    """The model libraries' warnings (such as "requires torchvision") and loading bars off, restored
    after: a run shows its own messages and one progress bar, the denoising's."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    saved = [(lib, lib.get_verbosity(), lib.is_progress_bar_enabled())
             for lib in (diffusers_logging, transformers_logging)]
    for lib, _, _ in saved:
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib, level, bars in saved:
            lib.set_verbosity(level)
            (lib.enable_progress_bar if bars else lib.disable_progress_bar)()


def bar_note(steps: int, noise: str, scheduler) -> str:
    """What the denoising bar counts: UNet passes, which can be a few more than --steps (54 for --steps 50
    and 8 frames: the warm start's frame 1 alone, and PNDM's one timestep more)."""
    scheduler.set_timesteps(steps)  # set again by the pipeline
    reasons = ["the warm start denoises frame 1 alone for its first steps"] if noise == "warm_start" else []
    extra = len(scheduler.timesteps) - steps
    if extra > 0:
        reasons.append(f"the {type(scheduler).__name__} takes {plural(extra, 'timestep')} more")
    return f" (the bar counts UNet passes, a few more: {'; '.join(reasons)})" if reasons else ""


def run(args) -> int:
    from .runtime import atomic_paths, pick_device

    paths = check_args(args)
    try:
        device = pick_device(args.device)  # also: CUDA or MPS asked for and absent
    except ValueError as err:
        raise UsageError(f"--device {args.device!r} {str(err).split(' ', 1)[1]}") from None  # less "device=..."
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))

    director = make_director(args)
    if args.director == "openai":
        say(f"asking {director.model!r} at {director.base_url} (timeout {director.timeout:g}s per attempt, "
            f"up to {director.retries + 1} attempts) ...")
    with quiet_libraries() if args.director == "local" else contextlib.nullcontext():
        script = director.direct(args.prompt, num_frames=args.frames, fps=args.fps)
        for _ in range(args.lift):
            script = director.lift(script)
    if script.cached:
        print(f"direct2v: the frame prompts are replayed from the reply cache in {director.cache.folder} "
              "(--no-cache asks the LLM again)", file=sys.stderr)
    if not args.quiet:
        print(script)

    with quiet_libraries():
        from .pipeline import load_pipeline
        from .video import check_scale, save_video

        say(f"loading model {args.model!r} on {device} ...")
        try:
            pipe = load_pipeline(args.model, device=device)
        except (OSError, ValueError, ImportError) as err:  # missing folder, no network, not a pipeline
            raise RuntimeError(f"could not load the model {args.model!r}: {err}") from err
        side = pipe.unet.config.sample_size * pipe.vae_scale_factor
        try:  # a hub model's frame size is known only now (a folder's was checked before)
            check_scale(args.scale, side, side)
        except ValueError as err:
            raise UsageError(f"--scale {args.scale}: {err}") from None
        steps = args.num_inference_steps
        noise = args.noise or getattr(pipe.defaults.get("noise"), "noise", "warm_start")  # None: the model's
        note = bar_note(steps, noise, pipe.scheduler)
        say(f"denoising {plural(script.num_frames, 'frame')} in {steps} steps{note} ...")
        pipe.set_progress_bar_config(disable=args.quiet, desc="denoising")
        video = pipe(script.frames, **video_keywords(args))  # None: pipe.defaults

    try:  # all files appear together, or none; over a file that appeared meanwhile only with --force
        with atomic_paths(*paths, replace=args.force) as tmps:
            for path, tmp in zip(paths, tmps):
                if path.suffix.lower() == ".json":
                    script.save(tmp)
                else:
                    captions = script.frames if path.suffix.lower() == ".png" else None
                    save_video(video.frames, tmp, fps=script.fps, scale=args.scale, captions=captions)
    except FileExistsError as err:
        raise UsageError(f"{err.filename} appeared while this run worked (another run writing the same files?); "
                         "none of this run's files were written: choose another --output or add --force "
                         "to replace them") from None
    print(f"wrote {', '.join(map(str, paths))} ({plural(script.num_frames, 'frame')} at {script.fps:g} fps)")
    return 0


def secrets_of(args) -> list[str]:
    """What no message may show: the OpenAI key and the credentials in the server's address."""
    from .director.openai_backend import url_secrets

    return [os.environ.get("OPENAI_API_KEY", ""), *url_secrets(args.base_url),
            *url_secrets(os.environ.get("OPENAI_BASE_URL"))]


def redacted(text: str, secrets: list[str]) -> str:
    if not any(secrets):
        return text
    from .director.openai_backend import redact

    return redact(text, secrets)


class Redacting(logging.Filter):
    """Removes ``secrets`` (filled once the arguments are read) from every record the handler prints."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redacted(record.getMessage(), self.secrets), None
        return True


@contextlib.contextmanager
def signals_and_warnings(secrets: list[str]):
    """SIGINT and SIGTERM raise :class:`Stopped` (so temporary files are removed); the package's
    warnings (retries, an unwritable reply cache) print as one line each, without ``secrets``.
    Both undone on exit."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("direct2v: warning: %(message)s"))
    handler.addFilter(Redacting(secrets))
    logger = logging.getLogger("direct2v")
    logger.addHandler(handler)
    main_thread = threading.current_thread() is threading.main_thread()

    def stop(signum, frame):
        raise Stopped(signum)

    stops = (signal.SIGINT, signal.SIGTERM) if main_thread else ()
    previous = {signum: signal.signal(signum, stop) for signum in stops}
    try:
        yield
    finally:
        logger.removeHandler(handler)
        for signum, old in previous.items():
            signal.signal(signum, old)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``direct2v`` console script; returns the exit code (see the module doc)."""
    args = None
    secrets: list[str] = []
    try:
        with signals_and_warnings(secrets):
            parser = build_parser()
            try:
                args = parser.parse_args(argv)
            except SystemExit as exit_:  # --help, --version (0) or a usage error (2), printed by argparse
                return int(exit_.code or 0)
            secrets += secrets_of(args)
            return run(args)
    except (KeyboardInterrupt, Stopped) as stop:
        if getattr(stop, "signum", signal.SIGINT) == signal.SIGTERM:
            print("direct2v: terminated", file=sys.stderr)
            return 143
        print("direct2v: interrupted", file=sys.stderr)
        return 130
    except ValueError as err:  # UsageError, DirectorError, the pipeline's argument checks
        kind = "director error" if type(err).__name__.endswith("DirectorError") else "error"
        return report(err, f"direct2v: {kind}: {err}", 2, args, secrets)
    except Exception as err:  # noqa: BLE001 - a clean message instead of a traceback
        return report(err, f"direct2v: failed: {type(err).__name__}: {err}\n"
                           "(run again with --traceback for details)", 1, args, secrets)


def report(err: BaseException, message: str, code: int, args, secrets: list[str]) -> int:
    """Print ``message`` (with ``--traceback``: the traceback, chained exceptions included), without
    ``secrets``; return ``code``, the same either way."""
    if args is not None and args.traceback:
        message = "".join(traceback.format_exception(err)).rstrip("\n")
    print(redacted(message, secrets), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

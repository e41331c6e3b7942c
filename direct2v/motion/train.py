"""Few-shot motion tuning (CS236 report, sections 3.2 and 3.4), and its Tune-A-Video baseline.

    python -m direct2v.motion.train --method recurrent|sparse_causal --steps N --out DIR [--videos 12 ...]

Every pretrained weight is frozen except the query projections the report names: ``W^Q`` of the
self-attention layers (``attn1.to_q``) and of the cross-attention layers (``attn2.to_q``). The
report also tunes "all projection matrices in temporal self-attention layers", which Tune-A-Video
adds to the UNet; the miniature UNet has none and none are added, for either method, so the two
methods differ only in how frames attend each other:

- ``recurrent``: :class:`~direct2v.motion.recurrent.RecurrentCausalProcessor` on every ``attn1``,
  plus the recurrent weights ``W_zh, b_h, W_hh, W_ho, b_a`` (the report lists ``W_hh, W_zh, b_h``;
  ``W_ho`` and ``b_a`` must train too, see :mod:`direct2v.motion.recurrent`);
- ``sparse_causal``: Tune-A-Video's attention to the first and the previous frame
  (``direct2v.attention``), same parameters minus the recurrence, same data, steps and schedule.

Loss: the video diffusion loss: one timestep per video, independent noise on every frame, the
UNet denoises all frames of the clip jointly (their attention sees each other) and the MSE of the
predicted noise is averaged over all frames. Learning rate: linear warm-up, then linear decay to
zero (the report: 1600 warm-up steps of 16,000). AdamW, gradient clipping at 1.

Seeded and resumable: the batch, timesteps and noise of step s depend only on (seed, s), and
``DIR/checkpoint.pt`` (trainable weights, optimizer, losses) is written every ``--save-every``
steps, so an interrupted run continued with the same command ends with the same weights. The
result, ``DIR/motion.safetensors``, holds the trainable parameters only (a few hundred kB), with
the training configuration in its metadata; :func:`load_motion` reads it back.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from safetensors import safe_open
from safetensors.torch import save_file

from ..attention import FrameInteraction, install_frame_interaction, uninstall_frame_interaction
from ..miniature.model import scheduler_config
from ..runtime import atomic_path, pick_device
from ..training import Hooks, optimize
from ..video import frames_to_tensor
from .data import MOTIONS, training_clips
from .recurrent import RecurrentMotion, install_recurrent_attention

METHODS = ("recurrent", "sparse_causal")
QUERY_SUFFIXES = ("attn1.to_q", "attn2.to_q")
WEIGHTS = Path(__file__).with_name("weights")
"""The shipped tuned weights of the book's demonstration."""


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed; use one of {METHODS}")


def query_projections(unet) -> dict[str, torch.nn.Parameter]:
    """``W^Q`` of every self- and cross-attention layer: ``{"down_blocks.0...attn1.to_q.weight": param}``."""
    return {f"{name}.{p}": param for name, module in unet.named_modules() if name.endswith(QUERY_SUFFIXES)
            for p, param in module.named_parameters()}


def prepare(unet, method: str, num_frames: int, motion: RecurrentMotion | None = None) -> tuple[dict, RecurrentMotion | None]:
    """Freeze ``unet`` but its query projections, install the method's attention; return (trainable, motion).

    ``trainable`` maps names (``unet.<param>`` and ``recurrent.<param>``) to the parameters that train,
    in a fixed order. ``motion``: recurrent weights to continue from (default: fresh, zero output).
    """
    _check_method(method)
    unet.requires_grad_(False)
    trainable = {f"unet.{k}": p for k, p in sorted(query_projections(unet).items())}
    if method == "recurrent":
        motion = motion if motion is not None else RecurrentMotion.for_unet(unet)
        install_recurrent_attention(unet, motion, num_frames)
        trainable.update({f"recurrent.{k}": p for k, p in sorted(motion.named_parameters())})
    else:
        motion = None
        install_frame_interaction(unet, FrameInteraction("sparse_causal", num_frames=num_frames, mapping_start=0))
    for p in trainable.values():
        p.requires_grad_(True)
    return trainable, motion


def lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps to 1, then linear decay to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (steps - step) / max(1, steps - warmup))


def video_diffusion_loss(unet, latents, embeds, noise_schedule, generator, videos_per_step: int) -> torch.Tensor:
    """MSE of the predicted noise over all frames of ``videos_per_step`` clips, one timestep per clip.

    ``latents``: (V, F, C, h, w) scaled VAE latents of V clips; ``embeds``: (V, L, D) one caption each.
    The clips are drawn from ``generator`` (without replacement when possible).
    """
    v, frames = latents.shape[:2]
    pick = torch.randperm(v, generator=generator)[:videos_per_step] if videos_per_step <= v \
        else torch.randint(v, (videos_per_step,), generator=generator)
    x0 = latents[pick].flatten(0, 1)                                          # (B*F, C, h, w)
    t = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(pick),), generator=generator)
    t = t.repeat_interleave(frames).to(latents.device)
    noise = torch.randn(x0.shape, generator=generator).to(latents.device, latents.dtype)
    noisy = noise_schedule.add_noise(x0, noise, t)
    context = embeds[pick].repeat_interleave(frames, dim=0)
    return F.mse_loss(unet(noisy, t, encoder_hidden_states=context).sample.float(), noise.float())


@dataclass
class TuneResult:
    """What :func:`tune` returns: the per-step ``losses``, wall ``seconds`` of this run, the recurrent
    ``motion`` (``None`` for sparse-causal), the ``trainable`` parameters and the ``config``."""

    losses: list[float]
    seconds: float
    motion: RecurrentMotion | None
    trainable: dict
    config: dict = field(default_factory=dict)


def _default_schedule():
    cfg = scheduler_config()
    return DDPMScheduler(**{k: cfg[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")})


def tune(unet, latents, embeds, method: str = "recurrent", steps: int = 400, lr: float = 3e-4, warmup: int | None = None,
         videos_per_step: int = 2, seed: int = 0, out: str | os.PathLike | None = None, resume: bool = True,
         save_every: int = 50, noise_schedule=None, progress: bool = True, weight_decay: float = 0.0) -> TuneResult:
    """Tune ``unet`` on clips of one motion (module docstring); the UNet is modified in place.

    ``latents`` (V, F, C, h, w) and ``embeds`` (V, L, D): the clips, see :func:`encode_clips`.
    ``warmup``: steps of linear warm-up (default 10% of ``steps``, the report's ratio). With ``out``,
    ``out/checkpoint.pt`` is written every ``save_every`` steps and, with ``resume``, continued from.
    The installed attention processors stay on the UNet (uninstall with
    ``direct2v.attention.uninstall_frame_interaction``).
    """
    _check_method(method)
    for name, value, low in (("steps", steps, 1), ("videos_per_step", videos_per_step, 1), ("save_every", save_every, 1),
                             ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} is not allowed; use an integer >= {low}")
    if latents.ndim != 5 or embeds.ndim != 3 or len(latents) != len(embeds):
        raise ValueError(f"latents {tuple(latents.shape)} and embeds {tuple(embeds.shape)} are not allowed; "
                         "use (V, F, C, h, w) and (V, L, D) for the same V clips")
    if not lr > 0:
        raise ValueError(f"lr={lr!r} is not allowed; use a positive number")
    warmup = max(1, steps // 10) if warmup is None else warmup
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 < warmup <= steps:
        raise ValueError(f"warmup={warmup!r} is not allowed; use an integer in 1..steps={steps}")
    num_frames = latents.shape[1]
    config = dict(method=method, steps=steps, lr=lr, warmup=warmup, videos_per_step=videos_per_step, seed=seed,
                  weight_decay=weight_decay, num_frames=num_frames, videos=len(latents))
    with torch.random.fork_rng(devices=[]):  # the recurrence's W_zh is drawn from the seed, not the global state
        torch.manual_seed(seed)
        trainable, motion = prepare(unet, method, num_frames)
    params = list(trainable.values())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    noise_schedule = noise_schedule or _default_schedule()
    start, losses = 0, []
    checkpoint = Path(out) / "checkpoint.pt" if out is not None else None
    if checkpoint is not None and resume and checkpoint.exists():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if saved["config"] != config:
            raise ValueError(f"{checkpoint} was written by a run with config {saved['config']}, not {config}; "
                             "use the same arguments, another --out, or --no-resume")
        with torch.no_grad():
            for name, p in trainable.items():
                p.copy_(saved["trainable"][name])
        opt.load_state_dict(saved["opt"])
        start, losses = saved["step"], list(saved["losses"])

    def save(done):
        with atomic_path(checkpoint) as tmp:
            torch.save({"step": done, "config": config, "losses": losses, "opt": opt.state_dict(),
                        "trainable": {k: p.detach().cpu() for k, p in trainable.items()}}, tmp)

    def loss_fn(step):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return video_diffusion_loss(unet, latents, embeds, noise_schedule, generator, videos_per_step)

    unet.train()
    began = time.time()
    hooks = Hooks(lr=lambda step: lr * lr_factor(step, steps, warmup), save=save if checkpoint is not None else None)
    optimize(opt, params, loss_fn, steps=steps, hooks=hooks, start=start, save_every=save_every, losses=losses,
             desc=f"tune {method}", progress=progress)
    unet.eval()
    return TuneResult(losses, time.time() - began, motion, trainable, config)


# ----------------------------------------------------------------------------- data in, weights out
@torch.no_grad()
def encode_clips(pipe, clips) -> tuple[torch.Tensor, torch.Tensor]:
    """VAE latents (mean, scaled) of every clip's frames and the text embedding of its one caption."""
    device = pipe.unet.device
    frames = torch.stack([torch.from_numpy(c.frames) for c in clips])                  # (V, F, H, W, 3)
    x = frames_to_tensor(frames.flatten(0, 1)).to(device, pipe.vae.dtype)
    latents = torch.cat([pipe.vae.encode(x[i:i + 64]).latent_dist.mean for i in range(0, len(x), 64)])
    latents = (latents * pipe.vae.config.scaling_factor).view(*frames.shape[:2], *latents.shape[1:])
    embeds, _ = pipe.encode_prompt([c.prompt for c in clips], device, 1, False)
    return latents.to(pipe.unet.dtype), embeds.to(pipe.unet.dtype)


def save_motion(path: str | os.PathLike, result: TuneResult, extra: dict | None = None) -> Path:
    """Write the trainable parameters of ``result`` (safetensors, fp32) with the config as metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: p.detach().float().cpu().contiguous() for k, p in result.trainable.items()}
    meta = {"config": json.dumps({**result.config, **(extra or {})})}
    if result.motion is not None:
        meta["widths"] = json.dumps(result.motion.widths)
        meta["hidden_ratio"] = str(result.motion.hidden_ratio)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


class MotionWeights:
    """Tuned weights read by :func:`load_motion`: ``method``, ``config``, the query projections
    ``queries`` (name -> tensor) and the recurrent ``motion`` (``None`` for sparse-causal).

    ``with weights.applied(pipe.unet, num_frames) as attention: pipe(prompt, attention=attention, ...)``
    swaps the tuned queries in (and the recurrent processors, for ``recurrent``) for the block and
    restores the pretrained UNet afterwards.
    """

    def __init__(self, method, config, queries, motion):
        self.method, self.config, self.queries, self.motion = method, config, queries, motion

    def __repr__(self):
        n = sum(t.numel() for t in self.queries.values())
        n += sum(p.numel() for p in self.motion.parameters()) if self.motion is not None else 0
        return f"MotionWeights(method={self.method!r}, steps={self.config.get('steps')}, parameters={n})"

    @contextmanager
    def applied(self, unet, num_frames: int):
        params = dict(unet.named_parameters())
        unknown = sorted(set(self.queries) - set(params))
        if unknown:
            raise ValueError(f"the UNet has no parameters {unknown[:3]}...; these weights belong to another model")
        saved = {k: params[k].detach().clone() for k in self.queries}
        try:
            with torch.no_grad():
                for k, t in self.queries.items():
                    params[k].copy_(t.to(params[k].device, params[k].dtype))
            if self.motion is not None:
                install_recurrent_attention(unet, self.motion, num_frames)
                yield "self"   # the pipeline installs nothing for "self": the recurrent processors act
            else:
                yield "sparse_causal"
        finally:
            if self.motion is not None:
                uninstall_frame_interaction(unet)
            with torch.no_grad():
                for k, t in saved.items():
                    params[k].copy_(t)


def load_motion(path: str | os.PathLike = None, method: str = "recurrent") -> MotionWeights:
    """Read weights written by :func:`save_motion`; ``path`` defaults to the shipped ``WEIGHTS/<method>.safetensors``."""
    path = Path(path) if path is not None else WEIGHTS / f"{method}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"no tuned weights at {path}; make them with `python -m direct2v.motion.train`")
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    config = json.loads(meta["config"])
    queries = {k[len("unet."):]: t for k, t in tensors.items() if k.startswith("unet.")}
    motion = None
    if config["method"] == "recurrent":
        motion = RecurrentMotion(json.loads(meta["widths"]), float(meta["hidden_ratio"]))
        motion.load_state_dict({k[len("recurrent."):]: t for k, t in tensors.items() if k.startswith("recurrent.")})
        motion.requires_grad_(False)
    return MotionWeights(config["method"], config, queries, motion)


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> None:
    from ..pipeline import load_pipeline  # the whole pipeline (diffusers' pipelines, transformers): for the command only

    parser = argparse.ArgumentParser(prog="python -m direct2v.motion.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder: checkpoint.pt, motion.safetensors, log.json")
    parser.add_argument("--model", default="shapes", help="'shapes' (embedded) or a Stable Diffusion folder / id")
    parser.add_argument("--motion", choices=sorted(MOTIONS), default="left_to_right")
    parser.add_argument("--videos", type=int, default=12, help="training videos (the report: 8 to 16)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--videos-per-step", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=int, default=None, help="default: 10%% of --steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--no-resume", dest="resume", action="store_false")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="default: CUDA when present, else CPU")
    args = parser.parse_args(argv)
    for name in ("steps", "videos", "frames", "videos_per_step", "save_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    pipe = load_pipeline(args.model, device=device, dtype=torch.float32)
    clips = training_clips(args.videos, args.frames, args.motion, args.seed)
    latents, embeds = encode_clips(pipe, clips)
    result = tune(pipe.unet, latents, embeds, args.method, args.steps, args.lr, args.warmup, args.videos_per_step,
                  args.seed, args.out, args.resume, args.save_every)
    prompts = [c.prompt for c in clips]
    path = save_motion(args.out / "motion.safetensors", result, {"motion": args.motion, "prompts": prompts,
                                                                 "model": args.model})
    log = {**result.config, "motion": args.motion, "prompts": prompts, "seconds_this_run": round(result.seconds, 1),
           "device": str(device), "threads": torch.get_num_threads(), "final_loss": sum(result.losses[-50:]) / len(result.losses[-50:]),
           "losses": [round(x, 5) for x in result.losses],
           "trainable_parameters": sum(p.numel() for p in result.trainable.values())}
    with atomic_path(args.out / "log.json") as tmp:
        Path(tmp).write_text(json.dumps(log, indent=1) + "\n")
    print(f"{args.method}: {args.steps} steps, {result.seconds:.0f} s this run, final loss {log['final_loss']:.4f}, "
          f"{log['trainable_parameters']} trainable parameters -> {path}")


if __name__ == "__main__":
    main()

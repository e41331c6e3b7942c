"""Train the miniature Stable Diffusion on the shapes world, part by part.

    python -m direct2v.miniature.train {tokenizer,clip,vae,unet,all} --device auto --steps N --out DIR

Data are rendered on the fly from a seeded generator. Each part resumes from the weights already
in ``DIR`` (the shipped folder, ``direct2v/miniature/weights``, is a valid ``DIR``: training proceeds
over several runs on a 2-core CPU) and, when the same machine ran it before, from the optimizer
state kept in ``DIR/.train/``. Every run is appended to ``DIR/training_log.json`` and the model card
``DIR/README.md`` is rewritten from it.

The order matters: the UNet is conditioned on the CLIP text tower (as Stable Diffusion's is) and
trained on the VAE's latents, so ``all`` runs tokenizer, clip, vae, then unet.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..runtime import atomic_folder, atomic_path, pick_device
from ..training import Hooks, optimize
from ..video import frames_to_tensor
from ..world.captions import caption, training_caption
from ..world.render import render
from ..world.world import random_scene
from . import model as mini
from .card import write_model_card
from .grounding import GroundingHeads, batch_targets

PARTS = ("tokenizer", "clip", "vae", "unet")
DEFAULTS = {  # steps, batch, learning rate
    "clip": (3000, 128, 1e-3),
    "vae": (3000, 32, 1e-3),
    "unet": (4000, 64, 4e-4),
}
CFG_DROPOUT = 0.1
"""Fraction of UNet training captions replaced by the empty prompt (classifier-free guidance)."""


# ----------------------------------------------------------------------------- data
def batch(rng: np.random.Generator, n: int, canonical: float = 0.5, shared_pattern: bool = False,
          min_objects: int = 1):
    """``n`` fresh scenes: images in [-1, 1] as (n, 3, 64, 64), and a caption each.

    A caption is canonical with probability ``canonical``, else a randomly under-specified,
    reordered training variant, so the model learns to sample what a caption leaves open.
    ``shared_pattern``: the objects of a scene share one pattern (the version-3 candidate rule,
    :mod:`direct2v.world.render`). ``min_objects``: scenes hold at least this many objects (the world's
    1-3 object counts otherwise; 2 gives every image something to share).
    """
    scenes = [random_scene(rng, int(rng.integers(min_objects, 4)) if min_objects > 1 else None) for _ in range(n)]
    images = np.stack([render(s, rng, shared_pattern) for s in scenes])
    texts = [caption(s) if rng.random() < canonical else training_caption(s, rng) for s in scenes]
    x = frames_to_tensor(images)
    return x, texts


class Batches(torch.utils.data.IterableDataset):
    """Endless :func:`batch` results rendered in DataLoader worker processes (``--workers``): on a GPU the
    renderer, not the UNet, is the bottleneck (about 0.4 s for 64 scenes on one CPU core). Worker ``w`` draws
    from ``default_rng([seed, w])``; unlike the in-process stream, its state is not saved on resume."""

    def __init__(self, seed, n: int, **options):
        self.seed, self.n, self.options = seed, n, options

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([*np.atleast_1d(self.seed), 0 if info is None else info.id])
        while True:
            yield batch(rng, self.n, **self.options)


def batch_stream(args, seed, **options):
    """A callable ``rng -> (images, texts)``: :func:`batch` in this process, or from ``args.workers`` processes."""
    workers = getattr(args, "workers", 0)
    if not workers:
        return lambda rng: batch(rng, args.batch, **options)
    loader = torch.utils.data.DataLoader(Batches(seed, args.batch, **options), batch_size=None, num_workers=workers,
                                         prefetch_factor=4, persistent_workers=True)
    stream = iter(loader)
    return lambda rng: next(stream)


def tokenize(tokenizer, texts, device):
    ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
    return ids.input_ids.to(device), ids.attention_mask.to(device)


# ----------------------------------------------------------------------------- bookkeeping
def save_fp16(model, folder: Path) -> None:
    """Store weights in fp16 (the package ships at most 40 MB); loading casts back to fp32 on a CPU.

    A transformers model's folder is marked to load in fp32 (``model.declare_fp32``), as diffusers
    models load by default, so that plain diffusers loads the whole folder with defaults.
    """
    from transformers import PreTrainedModel

    def save(m, path):
        copy.deepcopy(m).half().save_pretrained(path)
        if isinstance(m, PreTrainedModel):
            mini.declare_fp32(path)

    atomic_folder(model, folder, save)


def log_run(out: Path, entry: dict) -> None:
    path = out / "training_log.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(entry)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(runs, indent=2) + "\n")
    write_model_card(out)


class State:
    """Optimizer, EMA and step of a part, kept in ``DIR/.train/<part>.pt`` between runs on one machine."""

    def __init__(self, out: Path, part: str):
        self.path = out / ".train" / f"{part}.pt"

    def load(self):
        return torch.load(self.path, map_location="cpu", weights_only=True) if self.path.exists() else None

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)


def previous_steps(out: Path, part: str) -> int:
    """Steps this part has been trained for in earlier runs, from the training log."""
    path = out / "training_log.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    return max((r["total_steps"] for r in runs if r["part"] == part), default=0)


def lr_at(step: int, total: int, peak: float, warmup: int = 100) -> float:
    """Linear warm-up then linear decay to 10% of the peak over this run."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (1.0 - 0.9 * (step - warmup) / max(1, total - warmup))


def train_loop(part, params, loss_fn, args, out, on_save):
    """A part's run of :func:`direct2v.training.optimize`: AdamW, warm-up/decay, periodic atomic saves.

    ``on_save`` hooks: ``export()`` writes the weights, ``after_step()``, ``extra_state()`` returns what a
    part keeps beside the optimizer (EMA, grounding heads) and ``restore(saved)`` reads it back on resume.
    """
    steps, _, peak = args.steps, args.batch, args.lr
    opt = torch.optim.AdamW(params, lr=peak, weight_decay=args.weight_decay)
    state = State(out, part)
    saved = state.load() if args.resume else None
    done_before = previous_steps(out, part) if (out / part).exists() else 0  # else: trained from scratch
    rng = np.random.default_rng([args.seed, done_before])  # a resumed run sees fresh data
    if saved is not None and saved.get("size") == args.size:
        try:
            opt.load_state_dict(saved["opt"])
        except ValueError:  # the part gained or lost parameters since: keep the weights, fresh moments
            tqdm.write(f"{part}: saved optimizer state does not match the parameters; starting it afresh")
        rng.bit_generator.state = saved["rng"]
        done_before = saved["step"]
        on_save.get("restore", lambda saved: None)(saved)
    extra = on_save.get("extra_state", lambda: {})

    def save(done):
        on_save["export"]()
        state.save({"opt": opt.state_dict(), "rng": rng.bit_generator.state, "step": done_before + done,
                    "size": args.size, **extra()})

    start = time.time()
    hooks = Hooks(lr=lambda i: lr_at(i, steps, peak), after_step=on_save.get("after_step"), save=save)
    losses = optimize(opt, params, lambda i: loss_fn(rng), steps=steps, hooks=hooks, save_every=args.save_every,
                      desc=f"train {part}")
    seconds = time.time() - start
    log_run(out, {
        "part": part, "steps": steps, "total_steps": done_before + steps, "batch": args.batch, "lr": peak,
        "seconds": round(seconds, 1), "device": str(args.device), "final_loss": round(float(np.mean(losses[-50:])), 5),
        "size": args.size, "seed": args.seed, "date": time.strftime("%Y-%m-%d %H:%M"),
        "torch_threads": torch.get_num_threads(), **({"note": args.note} if args.note else {}),
        **{flag: getattr(args, flag) for flag in ("shared_pattern", "bf16", "train_only") if getattr(args, flag, None)},
        **({"min_objects": args.min_objects} if getattr(args, "min_objects", 1) > 1 else {}),
    })
    return seconds


# ----------------------------------------------------------------------------- parts
def train_tokenizer(args, out: Path) -> None:
    tokenizer = mini.build_tokenizer()
    atomic_folder(tokenizer, out / "tokenizer", lambda t, p: t.save_pretrained(p))
    print(f"tokenizer: {len(tokenizer)} tokens -> {out / 'tokenizer'}")


def load_tokenizer(out: Path):
    from transformers import AutoTokenizer

    if not (out / "tokenizer").exists():
        raise SystemExit(f"no tokenizer in {out}: run the 'tokenizer' part first")
    return AutoTokenizer.from_pretrained(out / "tokenizer")


GROUNDING_WEIGHT = 1.0
"""Weight of the token-grounding loss (``direct2v.miniature.grounding``) beside CLIP's contrastive loss."""


def train_clip(args, out: Path) -> None:
    """Contrastive training of the small CLIP (symmetric InfoNCE with a learned temperature), plus
    the token-grounding loss that makes every token state carry its phrase's attributes."""
    from transformers import CLIPModel, CLIPTextModel

    tokenizer = load_tokenizer(out)
    if (out / "clip").exists():
        clip = CLIPModel.from_pretrained(out / "clip", dtype=torch.float32)
    else:
        torch.manual_seed(args.seed)
        clip = CLIPModel(mini.clip_config(tokenizer, args.size))
    clip.to(args.device).train()
    heads = GroundingHeads(clip.config.text_config.hidden_size).to(args.device)

    def restore(saved):
        if "heads" in saved:
            heads.load_state_dict(saved["heads"])

    def loss_fn(rng):
        images, texts = batch(rng, args.batch)
        ids, mask = tokenize(tokenizer, texts, args.device)
        result = clip(input_ids=ids, attention_mask=mask, pixel_values=images.to(args.device), return_loss=True)
        states = result.text_model_output.last_hidden_state
        return result.loss + GROUNDING_WEIGHT * heads.loss(states, batch_targets(tokenizer, ids))

    def export():
        save_fp16(clip, out / "clip")
        text = CLIPTextModel(clip.config.text_config)
        text.load_state_dict(clip.text_model.state_dict())
        save_fp16(text, out / "text_encoder")

    hooks = {"export": export, "extra_state": lambda: {"heads": heads.state_dict()}, "restore": restore}
    train_loop("clip", [*clip.parameters(), *heads.parameters()], loss_fn, args, out, hooks)


OBJECT_WEIGHT = 8.0
"""Extra reconstruction weight on pixels away from the background colour (objects, decorations)."""


def away_from_background(images: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """(n, 1, h, w) float mask, 1 where a pixel differs from its image's background by more than
    ``threshold``. The background is each image's per-channel median colour (it fills most of the canvas)."""
    background = images.flatten(2).median(dim=2).values[..., None, None]
    return ((images - background).abs().amax(dim=1, keepdim=True) > threshold).float()


def object_weights(images: torch.Tensor) -> torch.Tensor:
    """Per-pixel loss weights (n, 1, h, w): 1 on the background, ``1 + OBJECT_WEIGHT`` elsewhere.

    A plain mean error is dominated by flat background, so a 10 px triangle came back from the VAE as a
    blob the detector took for a circle; weighting its pixels keeps the shapes the world is about.
    """
    return 1.0 + OBJECT_WEIGHT * away_from_background(images)


def train_vae(args, out: Path) -> None:
    """Object-weighted reconstruction (MSE + L1) with a small KL term, then the latent scaling factor
    measured on data (as Stable Diffusion's 0.18215 was)."""
    from diffusers import AutoencoderKL

    if (out / "vae").exists():
        vae = AutoencoderKL.from_pretrained(out / "vae", dtype=torch.float32)
    else:
        torch.manual_seed(args.seed)
        vae = AutoencoderKL(**mini.vae_config(args.size))
    vae.to(args.device).train()

    def loss_fn(rng):
        images, _ = batch(rng, args.batch)
        images = images.to(args.device)
        posterior = vae.encode(images).latent_dist
        recon = vae.decode(posterior.sample()).sample
        kl = posterior.kl().mean() / images[0].numel()
        w = object_weights(images)
        error = recon - images
        return (w * error.pow(2)).mean() + 0.1 * (w * error.abs()).mean() + 1e-4 * kl

    def export():
        vae.eval()
        with torch.no_grad():
            images, _ = batch(np.random.default_rng(12345), 256)
            latents = vae.encode(images.to(args.device)).latent_dist.sample()
        vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
        vae.train()
        save_fp16(vae, out / "vae")

    train_loop("vae", list(vae.parameters()), loss_fn, args, out, {"export": export})


UNET_OBJECT_WEIGHT = 3.0
"""Extra denoising weight on latent pixels that cover objects or decorations (see ``latent_weights``)."""


def latent_weights(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Per-latent-pixel loss weights (n, 1, h/factor, w/factor), normalised to mean 1 per image.

    A latent pixel weighs ``1 + UNET_OBJECT_WEIGHT`` times the share of the image pixels it covers that
    are away from the background (``away_from_background``). With uniform weights the flat background dominates the error,
    and the UNet learned objects' outlines long before their unnamed patterns (world version 2).
    """
    w = 1.0 + UNET_OBJECT_WEIGHT * F.avg_pool2d(away_from_background(images), factor)
    return w / w.mean(dim=(1, 2, 3), keepdim=True)


def autocast(args):
    """bf16 autocast of the UNet's forward pass when ``--bf16`` (the loss stays fp32), else a no-op.

    On a CPU with avx512_bf16 it may be faster; ``benchmarks/training_bf16.py`` measures it against fp32."""
    device_type = torch.device(args.device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=bool(getattr(args, "bf16", False)))


def train_unet(args, out: Path) -> None:
    """Epsilon-prediction denoising on VAE latents, conditioned on the frozen CLIP text tower,
    weighted toward object and decoration pixels (``latent_weights``).

    Captions are dropped to the empty prompt with probability ``CFG_DROPOUT`` so that one network
    gives both terms of classifier-free guidance. The shipped UNet is the EMA of the weights.
    """
    from diffusers import AutoencoderKL, DDPMScheduler, PNDMScheduler, UNet2DConditionModel
    from diffusers.training_utils import EMAModel
    from transformers import CLIPTextModel

    tokenizer = load_tokenizer(out)
    for need in ("text_encoder", "vae"):
        if not (out / need).exists():
            raise SystemExit(f"no {need} in {out}: train it first")
    text_encoder = CLIPTextModel.from_pretrained(out / "text_encoder", dtype=torch.float32).to(args.device).eval()
    vae = AutoencoderKL.from_pretrained(out / "vae", dtype=torch.float32).to(args.device).eval()
    text_encoder.requires_grad_(False)
    vae.requires_grad_(False)
    if (out / "unet").exists():
        unet = UNet2DConditionModel.from_pretrained(out / "unet", dtype=torch.float32)
    else:
        torch.manual_seed(args.seed)
        unet = UNet2DConditionModel(**mini.unet_config(args.size, text_encoder.config.hidden_size))
    unet.to(args.device).train()
    noise_schedule = DDPMScheduler(**{k: mini.scheduler_config()[k] for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")})
    ema = EMAModel(unet.parameters(), decay=args.ema_decay, use_ema_warmup=True, power=2 / 3)
    ema.to(args.device)

    def restore(saved):
        if "ema" in saved:
            ema.load_state_dict(saved["ema"])
            ema.to(args.device)
    scale = vae.config.scaling_factor
    generator = torch.Generator(args.device).manual_seed(args.seed)

    draw = batch_stream(args, [args.seed, previous_steps(out, "unet")], shared_pattern=args.shared_pattern,
                        min_objects=args.min_objects)

    def loss_fn(rng):
        images, texts = draw(rng)
        texts = ["" if rng.random() < CFG_DROPOUT else t for t in texts]
        with torch.no_grad():
            latents = vae.encode(images.to(args.device)).latent_dist.sample(generator) * scale
            ids, _ = tokenize(tokenizer, texts, args.device)
            context = text_encoder(ids)[0]
        noise = torch.randn(latents.shape, generator=generator, device=args.device)
        t = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(latents),), generator=generator, device=args.device)
        noisy = noise_schedule.add_noise(latents, noise, t)
        w = latent_weights(images, images.shape[-1] // latents.shape[-1]).to(args.device)
        with autocast(args):
            predicted = unet(noisy, t, context).sample
        return (w * (predicted.float() - noise).pow(2)).mean()

    def export():
        ema.store(unet.parameters())
        ema.copy_to(unet.parameters())
        save_fp16(unet, out / "unet")
        ema.restore(unet.parameters())
        atomic_folder(PNDMScheduler(**mini.scheduler_config()), out / "scheduler", lambda s, p: s.save_pretrained(p))
        mini.write_model_index(out)
        mini.write_settings(out)

    hooks = {"export": export, "after_step": lambda: ema.step(unet.parameters()),
             "extra_state": lambda: {"ema": ema.state_dict()}, "restore": restore}
    train_loop("unet", trained_parameters(unet, args.train_only), loss_fn, args, out, hooks)


def trained_parameters(unet, only: str | None) -> list:
    """The UNet parameters to optimise: all, or those whose names contain one of the comma-separated
    ``only`` parts (``attn1``: the self-attention projections, what value mapping reads); the rest are frozen."""
    if not only:
        return list(unet.parameters())
    parts = [p for p in only.split(",") if p]
    chosen = [p for name, p in unet.named_parameters() if any(part in name for part in parts)]
    if not chosen:
        raise SystemExit(f"--train-only {only!r} matches no UNet parameter (names look like "
                         f"{next(iter(dict(unet.named_parameters())))!r})")
    for p in unet.parameters():
        p.requires_grad_(False)
    for p in chosen:
        p.requires_grad_(True)
    return chosen


TRAINERS = {"tokenizer": train_tokenizer, "clip": train_clip, "vae": train_vae, "unet": train_unet}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m direct2v.miniature.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=PARTS + ("all",))
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps for this run (default per part)")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=("default", "tiny"), default="default", help="tiny: for tests")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="ignore saved optimizer state")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=mini.WEIGHTS)
    parser.add_argument("--note", default=None, help="why this run was made, kept in the training log and model card")
    parser.add_argument("--shared-pattern", action="store_true",
                        help="unet: train on scenes whose objects share one pattern (version-3 candidate rule)")
    parser.add_argument("--bf16", action="store_true", help="unet: bf16 autocast of the forward pass")
    parser.add_argument("--min-objects", type=int, default=1, choices=(1, 2, 3),
                        help="unet: training scenes hold at least this many objects")
    parser.add_argument("--workers", type=int, default=0,
                        help="unet: render training scenes in this many processes (for a GPU; 0: in this process)")
    parser.add_argument("--train-only", default=None,
                        help="unet: train only parameters whose names contain one of these comma-separated parts "
                             "(e.g. attn1, the self-attention projections)")
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "save_every", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = pick_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    for part in PARTS if args.part == "all" else (args.part,):
        if part in DEFAULTS:
            run = argparse.Namespace(**vars(args))
            steps, size, lr = DEFAULTS[part]
            run.steps = args.steps or steps
            run.batch = args.batch or size
            run.lr = args.lr or lr
            run.seed = args.seed + (math.prod(map(ord, part)) % 1000)
            TRAINERS[part](run, args.out)
        else:
            TRAINERS[part](args, args.out)


if __name__ == "__main__":
    main()

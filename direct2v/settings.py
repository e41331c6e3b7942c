"""Every setting of a video, its default and its rule, in one place that needs no model.

The paper's settings (section 4.1) are :data:`PAPER_SETTINGS` and :data:`PAPER_INTERACTION`; a model's
own recommended settings live with its weights (``direct2v.json``, read by
:func:`model_settings`). Each rule is one function here: the pipeline
(:meth:`direct2v.pipeline.DirecT2VPipeline.__call__`), :class:`direct2v.attention.FrameInteraction`,
:class:`NoiseSpec` and the command (:func:`direct2v.cli.check_args`) all call the same ones, so a
setting is checked the same way everywhere, before any model is loaded.

A broken rule raises :class:`SettingError`, a ``ValueError`` that knows the argument's name, its value
and what is allowed, so the command can name its own flag (``--dsf-quantile 1.5: use ...``) where the
pipeline names its keyword (``dsf_quantile=1.5 is not allowed; use ...``).
"""
from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

# ----------------------------------------------------------------------------- the paper's settings
PAPER_SETTINGS = {"num_inference_steps": 100, "guidance_scale": 12.0}
"""The paper's sampling settings (section 4.1: PNDM, T = 100, guidance 12.0): the defaults of
:meth:`DirecT2VPipeline.__call__` for a model that does not recommend its own (any Stable Diffusion)."""
SIZE_SETTINGS = ("height", "width")
"""Keys a model's ``direct2v.json`` may add to those of ``PAPER_SETTINGS`` (pixels)."""
PAPER_INTERACTION = {"attention": "rvm", "rvm_period": 4, "mapping_fraction": 0.04, "dsf_quantile": 0.05}
"""Frame interaction of the paper (sections 3.4-3.5, 4.1): RVM with m = 4, value mapping for T' = 96 of
T = 100 steps (it starts after 4%), DSF with a small quantile phi (0.05: the command's default; the
pipeline's keyword default is DSF off, the paper's ablation baseline)."""

ATTENTION_MODES = ("self", "cross_frame", "sparse_causal", "rvm", "random")
"""``attention=`` of the pipeline and ``--attention`` of the command (section 4.2's baselines and RVM)."""
MODES = ATTENTION_MODES + ("fixed",)
"""Modes of :class:`direct2v.attention.FrameInteraction` (``fixed``: one chosen reference frame)."""
VALUE_MAPPING_MODES = ("cross_frame", "rvm", "random", "fixed")
"""Modes whose frames attend one reference frame (value mapping, Eq. 4); DSF (Eqs. 5-6) applies to these."""
DSF_SCOPES = ("frame", "batch")
"""Where DSF's quantile phi is taken: per frame (default) or over a guidance group (the released code)."""
NOISE_KINDS = ("independent", "shared", "autoregressive", "warm_start")
"""``noise=`` of the pipeline: the samplers of :mod:`direct2v.noise`, or Text2Video-Zero's warm start."""
OUTPUT_TYPES = ("pil", "np", "latent")
T2VZ_STEPS, T2VZ_T0, T2VZ_T1 = 50, 44, 47
"""Text2Video-Zero's defaults: t0 = 44 and t1 = 47 for 50 steps (diffusers crashes below 48 steps)."""
MAX_SEED = 2 ** 64 - 1
"""The largest seed a torch generator takes."""


class SettingError(ValueError):
    """A setting that breaks its rule: ``name``, ``value`` and ``allowed`` (what to use instead)."""

    def __init__(self, name: str, value, allowed: str, message: str | None = None):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(message or f"{name}={value!r} is not allowed; {allowed}")


# ----------------------------------------------------------------------------- one checker per kind
def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int (not a bool) in [low, high]; else :class:`SettingError`."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        allowed = (f"use an integer from {low} to {high}" if low is not None and high is not None
                   else f"use an integer >= {low}" if low is not None else "use an integer")
        raise SettingError(name, value, allowed)
    return int(value)


def check_number(name: str, value, low: float | None = None, high: float | None = None, hint: str = "") -> float:
    """``value`` as a finite float (not a bool) in [low, high]; else :class:`SettingError`."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        span = (f"in [{low}, {high}]" if low is not None and high is not None
                else f">= {low}" if low is not None else "")
        raise SettingError(name, value, f"use a finite number {span}".rstrip() + hint)
    return float(value)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingError(name, value, f"use one of {tuple(choices)}")
    return value


# ----------------------------------------------------------------------------- one rule per setting
def check_steps(num_inference_steps) -> int:
    """T, denoising steps (paper: 100)."""
    return check_int("num_inference_steps", num_inference_steps, 1)


GUIDANCE_MAX = 100.0
"""The largest guidance scale allowed: far beyond any useful one (the paper uses 12), and below those that
overflow the latents to inf/nan and decode to black frames (1e30 in fp32, far less in fp16)."""


def check_guidance(guidance_scale) -> float:
    """Classifier-free guidance scale (paper: 12.0; <= 1 turns guidance off; at most :data:`GUIDANCE_MAX`)."""
    return check_number("guidance_scale", guidance_scale, 0, GUIDANCE_MAX,
                        hint=" (<= 1 turns classifier-free guidance off; the paper uses 12.0)")


def check_seed(seed) -> int | None:
    return None if seed is None else check_int("seed", seed, 0, MAX_SEED)


def default_mapping_start(num_inference_steps: int) -> int:
    """The step where value mapping starts when not given: the paper's 4 of 100 (T' = 96), scaled."""
    return round(PAPER_INTERACTION["mapping_fraction"] * num_inference_steps)


def check_mapping_start(mapping_start, num_inference_steps: int) -> int:
    """``None`` -> :func:`default_mapping_start`; else an integer in [0, T]."""
    if mapping_start is None:
        return default_mapping_start(num_inference_steps)
    ok = isinstance(mapping_start, numbers.Integral) and not isinstance(mapping_start, bool)
    if not ok or not 0 <= mapping_start <= num_inference_steps:
        raise SettingError("mapping_start", mapping_start, f"use an integer in [0, num_inference_steps="
                           f"{num_inference_steps}] (paper: 4 of 100)")
    return int(mapping_start)


def check_dsf(dsf_quantile, mode: str) -> float:
    """phi of DSF (Eq. 6) in [0, 1], ``None`` or 0 for off; only for value-mapping modes. Returns phi (0: off)."""
    if dsf_quantile is None:
        return 0.0
    if isinstance(dsf_quantile, bool) or not isinstance(dsf_quantile, numbers.Real) \
            or not 0.0 <= dsf_quantile <= 1.0:
        raise SettingError("dsf_quantile", dsf_quantile, "use None or a number in [0, 1] (0: off, paper-like: 0.05)")
    if dsf_quantile > 0 and mode not in VALUE_MAPPING_MODES:
        raise SettingError("dsf_quantile", dsf_quantile, "", f"dsf_quantile={dsf_quantile} needs a value-mapping "
                           f"attention {VALUE_MAPPING_MODES[:3]}, not attention={mode!r}; turn DSF off (None or 0)")
    return float(dsf_quantile)


def check_batch_frames(max_batch_frames, num_frames: int, mode: str) -> int | None:
    """B of long videos (section 4.3): ``None`` or an integer >= 2; sparse-causal attention cannot cache."""
    if max_batch_frames is None:
        return None
    check_int("max_batch_frames", max_batch_frames, 2)
    if num_frames > max_batch_frames and mode == "sparse_causal":
        raise SettingError("max_batch_frames", max_batch_frames, "", "attention='sparse_causal' cannot cache a "
                           f"reference for long videos (num_frames={num_frames} > max_batch_frames="
                           f"{max_batch_frames}); use 'rvm', 'cross_frame', 'random' or 'self', or raise it")
    return max_batch_frames


def warm_start_steps(num_steps: int, t0: int | None = None, t1: int | None = None) -> tuple[int, int]:
    """Text2Video-Zero's ``(t0, t1)`` for ``num_steps``, validated.

    As in Text2Video-Zero, t0 and t1 count scheduler timesteps from the end: frame 1 is denoised
    alone through ``timesteps[:-t1-1]`` (to x_T1) and on to ``timesteps[-t0-1]`` (x_T0); the other
    frames are x_T0 warped by the motion field and re-noised to T1; then all frames are denoised
    together from T1. ``None`` scales the defaults 44 and 47 of 50 steps to ``num_steps``
    (t0 = floor(0.88 N), t1 = floor(0.94 N), kept in 0 <= t0 < t1 <= N - 1). Explicit values must
    satisfy 0 <= t0 < t1 <= num_steps - 1.
    """
    if num_steps < 2:
        raise SettingError("num_inference_steps", num_steps, "use at least 2",
                           f"num_inference_steps={num_steps} is too few for noise='warm_start'; use at least 2")
    if t0 is None and t1 is None:
        t1 = min(num_steps - 1, max(1, num_steps * T2VZ_T1 // T2VZ_STEPS))
        t0 = min(t1 - 1, num_steps * T2VZ_T0 // T2VZ_STEPS)
        return t0, t1
    if t0 is None or t1 is None:
        raise SettingError("t0", t0, "", f"t0={t0!r}, t1={t1!r}: give both or neither (neither scales "
                                         "Text2Video-Zero's 44/47 of 50)")
    check_int("t0", t0)
    check_int("t1", t1)
    if not 0 <= t0 < t1 <= num_steps - 1:
        raise SettingError("t0", t0, "", f"t0={t0}, t1={t1} are not allowed for num_inference_steps={num_steps}; "
                           f"use 0 <= t0 < t1 <= {num_steps - 1} (timesteps counted from the end), or leave both "
                           "None to scale Text2Video-Zero's t0=44, t1=47 of 50 steps")
    return t0, t1


@dataclass(frozen=True)
class NoiseSpec:
    """The initial noise of a video (:mod:`direct2v.noise`), checked when made.

    ``kind``: one of :data:`NOISE_KINDS`; ``weight``: a of shared/autoregressive noise, in [0, 1];
    ``t0``/``t1``: the warm start's steps (see :func:`warm_start_steps`; ``None``: scaled defaults);
    ``motion``: Text2Video-Zero's motion dynamics (x, y) in image pixels per frame, warm start only
    (paper appendix A; 0 in the main paper).
    """

    kind: str = "warm_start"
    weight: float = 0.5
    t0: int | None = None
    t1: int | None = None
    motion: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        check_choice("noise", self.kind, NOISE_KINDS)
        check_number("noise_weight", self.weight, 0.0, 1.0)
        check_number("motion_field_strength_x", self.motion[0])
        check_number("motion_field_strength_y", self.motion[1])
        if self.kind == "warm_start":
            return
        if self.t0 is not None or self.t1 is not None:
            raise SettingError("t0", self.t0, "", f"t0={self.t0!r}, t1={self.t1!r} are only used with "
                                                  f"noise='warm_start', not noise={self.kind!r}")
        if any(self.motion):
            raise SettingError("motion_field_strength_x", self.motion[0], "", (
                f"motion_field_strength_x={self.motion[0]!r}, motion_field_strength_y={self.motion[1]!r}: motion "
                f"dynamics act in the warm start only; use noise='warm_start' or strengths 0 (noise={self.kind!r})"))

    def warm_start(self, num_inference_steps: int) -> tuple[int, int] | None:
        """``(t0, t1)`` for ``num_inference_steps`` with the warm start, else ``None``."""
        return warm_start_steps(num_inference_steps, self.t0, self.t1) if self.kind == "warm_start" else None


def check_settings(settings: dict, where: str = "settings") -> dict:
    """Validate a model's recommended sampling defaults (keys of ``PAPER_SETTINGS`` and ``SIZE_SETTINGS``)."""
    if not isinstance(settings, dict):
        raise ValueError(f"{where}={settings!r} is not allowed; use a JSON object with keys {sorted(PAPER_SETTINGS)}")
    allowed = sorted(PAPER_SETTINGS) + list(SIZE_SETTINGS)
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: keys {unknown} are not allowed; use {allowed}")
    try:
        for name in SIZE_SETTINGS:
            value = settings.get(name, 8)
            if check_int(name, value, 8) % 8:
                raise SettingError(name, value, "use a positive multiple of 8 (pixels)")
        check_steps(settings.get("num_inference_steps", 1))
        check_guidance(settings.get("guidance_scale", 0.0))
    except SettingError as err:
        raise ValueError(f"{where}: {err}") from None
    return dict(settings)


@dataclass(frozen=True)
class VideoSettings:
    """The resolved, checked settings of one video (the output of :func:`check_video_settings`)."""

    num_frames: int
    num_inference_steps: int
    guidance_scale: float | None
    interaction: object  # a direct2v.attention.FrameInteraction
    noise: NoiseSpec
    warm_start: tuple[int, int] | None
    max_batch_frames: int | None
    seed: int | None


KEYWORDS = {"mode": "attention", "period": "rvm_period", "start_step": "mapping_start", "seed": "random_seed"}
"""FrameInteraction's argument names and the pipeline keywords that set them."""


def check_video_settings(*, num_frames: int, num_inference_steps, guidance_scale, interaction=None,
                         attention=None, rvm_period=None, mapping_start=None, dsf_quantile=None, dsf_scope=None,
                         random_seed=None, noise="warm_start", max_batch_frames=None, seed=None) -> VideoSettings:
    """Every model-free rule of a video, in one call; the pipeline and the command both use it.

    ``interaction``: a :class:`~direct2v.attention.FrameInteraction` to use as it is, or ``None`` to build
    one from the keywords (``None`` keywords take the paper's values, :data:`PAPER_INTERACTION`; DSF off;
    mapping from 4% of the steps). Giving both is an error. ``noise``: a kind or a :class:`NoiseSpec`.
    """
    from .attention.controller import FrameInteraction

    num_frames = check_int("num_frames", num_frames, 1)
    steps = check_steps(num_inference_steps)
    guidance = None if guidance_scale is None else check_guidance(guidance_scale)  # None: the model's, not known yet
    given = {k: v for k, v in dict(attention=attention, rvm_period=rvm_period, mapping_start=mapping_start,
                                   dsf_quantile=dsf_quantile, dsf_scope=dsf_scope, random_seed=random_seed).items()
             if v is not None}
    if interaction is None:
        attention = check_choice("attention", PAPER_INTERACTION["attention"] if attention is None else attention,
                                 ATTENTION_MODES)
        try:
            interaction = FrameInteraction(
                mode=attention, num_frames=num_frames,
                period=PAPER_INTERACTION["rvm_period"] if rvm_period is None else rvm_period,
                start_step=check_mapping_start(mapping_start, steps), dsf_quantile=dsf_quantile,
                seed=0 if random_seed is None else random_seed, dsf_scope="frame" if dsf_scope is None else dsf_scope)
        except SettingError as err:  # FrameInteraction's argument names -> the pipeline's keywords
            if err.name not in KEYWORDS or not err.allowed:
                raise
            raise SettingError(KEYWORDS[err.name], err.value, err.allowed) from None
    elif not isinstance(interaction, FrameInteraction):
        raise SettingError("interaction", interaction, "use a direct2v.attention.FrameInteraction or None")
    elif given:
        raise SettingError("interaction", interaction, "", f"interaction= and {sorted(given)} given together; "
                           "set them on the FrameInteraction")
    else:
        check_mapping_start(interaction.start_step, steps)
        if interaction.mode == "fixed" and interaction.reference >= num_frames:
            raise SettingError("reference", interaction.reference, f"use a frame in 0..{num_frames - 1}")
    noise = noise if isinstance(noise, NoiseSpec) else NoiseSpec(kind=check_choice("noise", noise, NOISE_KINDS))
    return VideoSettings(num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance,
                         interaction=interaction, noise=noise, warm_start=noise.warm_start(steps),
                         max_batch_frames=check_batch_frames(max_batch_frames, num_frames, interaction.mode),
                         seed=check_seed(seed))


def frame_interaction(num_frames: int, num_inference_steps: int, **keywords):
    """The :class:`~direct2v.attention.FrameInteraction` that ``pipe(...)`` would build from the same keywords.

    ``keywords``: the pipeline's ``attention``, ``rvm_period``, ``mapping_start``, ``dsf_quantile``,
    ``dsf_scope`` and ``random_seed`` (the paper's values where left out). Build it first to open a
    :func:`~direct2v.attention.capture` on it, then pass it on with ``pipe(..., interaction=it)``.
    """
    return check_video_settings(num_frames=num_frames, num_inference_steps=num_inference_steps,
                                guidance_scale=None, **keywords).interaction


# ----------------------------------------------------------------------------- a model folder's own settings
SETTINGS_FILE = "direct2v.json"
"""A model folder's recommended settings (a JSON object with keys of ``PAPER_SETTINGS``, and optionally
``height``/``width`` in pixels), applied by :func:`direct2v.pipeline.load_pipeline` as the pipeline's defaults;
the shapes model ships one (guidance 1.5, written by :func:`direct2v.miniature.model.write_settings`)."""

SHAPES_WEIGHTS = Path(__file__).with_name("miniature") / "weights"
"""The folder of the embedded miniature model (committed inside the package, made by
``python -m direct2v.miniature.train``)."""
MODELS = {"shapes": SHAPES_WEIGHTS}
"""Names of the models embedded in the package -> their pipeline folder (``load_pipeline("shapes")``)."""


def model_folder(name_or_path: str | os.PathLike) -> str | os.PathLike:
    """The folder of an embedded model's name (:data:`MODELS`); any other folder or hub id unchanged."""
    return MODELS.get(str(name_or_path), name_or_path)


def model_settings(name_or_path: str | os.PathLike) -> dict:
    """The sampling defaults of a model: ``PAPER_SETTINGS`` updated by its folder's ``direct2v.json``.

    ``name_or_path``: an embedded model's name (``"shapes"``), a folder or a hub id; a hub id or a folder
    without the file gets the paper's settings.
    """
    file = Path(model_folder(name_or_path)) / SETTINGS_FILE
    if not file.is_file():
        return dict(PAPER_SETTINGS)
    try:
        own = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON ({err}); use an object such as {{\"guidance_scale\": 3.0}}") from err
    return {**PAPER_SETTINGS, **check_settings(own, str(file))}


def check_model_folder(folder: str | os.PathLike) -> None:
    """Every model of a pipeline folder (a component with a ``config.json``: UNet, VAE, text encoder) has
    its weights as safetensors, each readable: else ``FileNotFoundError`` naming the folder, or
    ``ValueError`` naming the file. Checked before loading, which reads safetensors only (never a
    pickle ``.bin``, whose loading can run code)."""
    folder = Path(folder)
    skipped = ("safety_checker", "feature_extractor")  # not loaded (load_pipeline passes None)
    for part in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in skipped):
        if not (part / "config.json").is_file():
            continue  # scheduler, tokenizer: no weights
        files = sorted(part.glob("*.safetensors"))
        if not files:
            others = sorted(p.name for p in part.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
            found = f" (it has {', '.join(others)}: pickle files, which are not loaded)" if others else ""
            raise FileNotFoundError(f"{part} has no weights as .safetensors{found}; save the model with "
                                    "save_pretrained(..., safe_serialization=True)")
        for file in files:
            try:
                with safe_open(str(file), framework="pt"):
                    pass
            except (SafetensorError, OSError, ValueError) as err:
                raise ValueError(f"{file} is not a readable safetensors file ({file.stat().st_size} bytes: "
                                 f"{err}); save it again") from None


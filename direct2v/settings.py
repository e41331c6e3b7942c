"""Every setting of a video, its one name, its default and its rule, in one place that needs no model.

Each setting has one name everywhere (:data:`KNOBS`): the pipeline's keyword, the command's flag without dashes,
the field of :class:`NoiseSpec` and the argument of :class:`direct2v.attention.FrameInteraction`. The paper's
settings (section 4.1) are :data:`PAPER_SETTINGS` and :data:`PAPER_INTERACTION`; a model's own recommended
settings live with its weights (``direct2v.json``, read by :func:`model_settings`, checked by :func:`check_settings`). Each rule is one function
here: the pipeline (:meth:`direct2v.pipeline.DirecT2VPipeline.__call__`), :class:`~direct2v.attention.FrameInteraction`,
:class:`NoiseSpec` and the command (:func:`direct2v.cli.check_args`) all call the same ones, so a setting is
checked the same way everywhere, before any model is loaded. This module imports no other module of the package.

A broken rule raises :class:`SettingError`, a ``ValueError`` that knows the argument's name, its value
and what is allowed, so the command can name its own flag (``--dsf-quantile 1.5: use ...``) where the
pipeline names its keyword (``dsf_quantile=1.5 is not allowed; use ...``).
"""
from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from dataclasses import dataclass, replace
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
CHUNK_SIZE = 1024
"""Query rows per block of DSF's confidence (:class:`~direct2v.attention.FrameInteraction`'s ``chunk_size``)."""
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


INTERACTION_KEYWORDS = ("attention", "rvm_period", "mapping_start", "dsf_quantile", "dsf_scope", "random_seed")
"""The pipeline keywords that make a :class:`~direct2v.attention.FrameInteraction` (its arguments, the same names)."""
NOISE_KEYWORDS = ("noise", "noise_weight", "t0", "t1", "motion_field_strength_x", "motion_field_strength_y")
"""The pipeline keywords of the initial noise (the fields of :class:`NoiseSpec`, the same names)."""
KNOBS = ("num_frames", "num_inference_steps", "guidance_scale", *INTERACTION_KEYWORDS, *NOISE_KEYWORDS,
         "max_batch_frames", "seed")
"""The one name of every setting of a video: the pipeline's keyword, the command's flag without dashes, the field
of :class:`NoiseSpec` and the argument of :class:`~direct2v.attention.FrameInteraction` (see CONTRIBUTING,
"Adding a setting")."""


def renamed(owner: str, old: dict, names: dict) -> dict:
    """Keywords given under a former name (``names``: old -> new), renamed, each with a ``DeprecationWarning``
    (kept for one release); a name that never existed is a ``TypeError``, as Python's own."""
    new = {}
    for name, value in old.items():
        if name not in names:
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")
        warnings.warn(f"{owner}({name}=...) is deprecated; use {names[name]}=...", DeprecationWarning, stacklevel=3)
        new[names[name]] = value
    return new


def deprecated_alias(new: str, owner: str) -> property:
    """A read-only attribute under a former name that warns and returns attribute ``new`` (one release)."""
    def get(self):
        warnings.warn(f"{owner}'s attribute is now .{new}; the old name is deprecated", DeprecationWarning,
                      stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated: use ``{new}``.")


@dataclass(frozen=True, init=False)
class NoiseSpec:
    """The initial noise of a video (:mod:`direct2v.noise`), checked when made; fields named as the pipeline's keywords.

    ``noise``: one of :data:`NOISE_KINDS`; ``noise_weight``: a of shared/autoregressive noise, in [0, 1];
    ``t0``/``t1``: the warm start's steps (see :func:`warm_start_steps`; ``None``: scaled defaults);
    ``motion_field_strength_x``/``_y``: Text2Video-Zero's motion dynamics in image pixels per frame, warm start
    only (paper appendix A; 0 in the main paper). The former names ``kind``, ``weight`` and ``motion=(x, y)``
    still work for one release, with a ``DeprecationWarning``.
    """

    noise: str = "warm_start"
    noise_weight: float = 0.5
    t0: int | None = None
    t1: int | None = None
    motion_field_strength_x: float = 0.0
    motion_field_strength_y: float = 0.0

    def __init__(self, noise="warm_start", noise_weight=0.5, t0=None, t1=None, motion_field_strength_x=0.0,
                 motion_field_strength_y=0.0, **old):
        new = renamed("NoiseSpec", old, {"kind": "noise", "weight": "noise_weight", "motion": "motion"})
        if "motion" in new:
            motion_field_strength_x, motion_field_strength_y = new.pop("motion")
        values = {**dict(noise=noise, noise_weight=noise_weight, t0=t0, t1=t1,
                         motion_field_strength_x=motion_field_strength_x,
                         motion_field_strength_y=motion_field_strength_y), **new}
        for name, value in values.items():
            object.__setattr__(self, name, value)
        check_choice("noise", self.noise, NOISE_KINDS)
        check_number("noise_weight", self.noise_weight, 0.0, 1.0)
        x, y = check_number("motion_field_strength_x", self.motion_field_strength_x), \
            check_number("motion_field_strength_y", self.motion_field_strength_y)
        if self.noise == "warm_start":
            return
        if self.t0 is not None or self.t1 is not None:
            raise SettingError("t0", self.t0, "", f"t0={self.t0!r}, t1={self.t1!r} are only used with "
                                                  f"noise='warm_start', not noise={self.noise!r}")
        if x or y:
            raise SettingError("motion_field_strength_x", x, "", (
                f"motion_field_strength_x={x!r}, motion_field_strength_y={y!r}: motion dynamics act in the warm "
                f"start only; use noise='warm_start' or strengths 0 (noise={self.noise!r})"))

    kind = deprecated_alias("noise", "NoiseSpec")
    weight = deprecated_alias("noise_weight", "NoiseSpec")

    @property
    def motion(self) -> tuple[float, float]:
        """Deprecated: ``(motion_field_strength_x, motion_field_strength_y)``."""
        warnings.warn("NoiseSpec.motion is deprecated; use motion_field_strength_x and _y", DeprecationWarning,
                      stacklevel=2)
        return self.motion_field_strength_x, self.motion_field_strength_y

    def warm_start(self, num_inference_steps: int) -> tuple[int, int] | None:
        """``(t0, t1)`` for ``num_inference_steps`` with the warm start, else ``None``."""
        return warm_start_steps(num_inference_steps, self.t0, self.t1) if self.noise == "warm_start" else None


def check_noise(noise=None, default: NoiseSpec | None = None, **given) -> NoiseSpec:
    """The initial noise of a call. ``noise``: a :class:`NoiseSpec` (used as it is), a kind (with the loose
    keywords ``given``, the rest of :data:`NOISE_KEYWORDS`; ``None`` means not given), or ``None``: the
    ``default`` (a model's own, from its ``direct2v.json``) with ``given`` over it, else the paper's warm start."""
    given = {k: v for k, v in given.items() if v is not None}
    if isinstance(noise, NoiseSpec):
        if given:
            raise SettingError("noise", noise, "", f"noise=NoiseSpec(...) and {sorted(given)} given together; "
                               "set them on the NoiseSpec")
        return noise
    if noise is None:
        return NoiseSpec(**given) if default is None else replace(default, **given)
    return NoiseSpec(check_choice("noise", noise, NOISE_KINDS), **given)


def check_interaction(*, attention, num_frames, rvm_period, mapping_start, dsf_quantile, random_seed, dsf_scope,
                      reference=0, chunk_size=CHUNK_SIZE) -> dict:
    """Every rule of a frame interaction (the arguments of :class:`~direct2v.attention.FrameInteraction`, which
    calls this): the checked values by name (``dsf_quantile`` ``None`` becomes 0.0, off)."""
    attention = check_choice("attention", attention, MODES)
    num_frames = check_int("num_frames", num_frames, 1)
    return dict(attention=attention, num_frames=num_frames, rvm_period=check_int("rvm_period", rvm_period, 1),
                mapping_start=check_int("mapping_start", mapping_start, 0),
                dsf_quantile=check_dsf(dsf_quantile, attention),
                reference=check_int("reference", reference, 0, num_frames - 1),
                random_seed=check_int("random_seed", random_seed, 0),
                dsf_scope=check_choice("dsf_scope", dsf_scope, DSF_SCOPES),
                chunk_size=check_int("chunk_size", chunk_size, 1))


def interaction_keywords(num_frames: int, num_inference_steps: int, attention=None, rvm_period=None,
                         mapping_start=None, dsf_quantile=None, dsf_scope=None, random_seed=None) -> dict:
    """The pipeline's interaction keywords (:data:`INTERACTION_KEYWORDS`; ``None``: the paper's value,
    :data:`PAPER_INTERACTION`, DSF off, mapping from 4% of the steps) as the arguments of
    :class:`~direct2v.attention.FrameInteraction`. Checks what only the pipeline asks: ``attention`` is one of
    :data:`ATTENTION_MODES` and ``mapping_start`` lies within the steps; the interaction checks the rest."""
    steps = check_steps(num_inference_steps)
    return dict(attention=check_choice("attention", PAPER_INTERACTION["attention"] if attention is None else attention,
                                       ATTENTION_MODES),
                num_frames=num_frames,
                rvm_period=PAPER_INTERACTION["rvm_period"] if rvm_period is None else rvm_period,
                mapping_start=check_mapping_start(mapping_start, steps), dsf_quantile=dsf_quantile,
                random_seed=0 if random_seed is None else random_seed,
                dsf_scope="frame" if dsf_scope is None else dsf_scope)


def check_settings(settings: dict, where: str = "settings") -> dict:
    """Validate a model's recommended defaults (a ``direct2v.json``): keys of ``PAPER_SETTINGS``,
    ``SIZE_SETTINGS`` and ``noise``, an object of :class:`NoiseSpec` fields (the model's own initial noise,
    which the pipeline uses when a call gives none). Returns them, ``noise`` as a :class:`NoiseSpec`."""
    allowed = sorted(PAPER_SETTINGS) + list(SIZE_SETTINGS) + ["noise"]
    if not isinstance(settings, dict):
        raise ValueError(f"{where}={settings!r} is not allowed; use a JSON object with keys {allowed}")
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: keys {unknown} are not allowed; use {allowed}")
    settings = dict(settings)
    try:
        for name in SIZE_SETTINGS:
            value = settings.get(name, 8)
            if check_int(name, value, 8) % 8:
                raise SettingError(name, value, "use a positive multiple of 8 (pixels)")
        steps = check_steps(settings.get("num_inference_steps", PAPER_SETTINGS["num_inference_steps"]))
        check_guidance(settings.get("guidance_scale", 0.0))
        if "noise" in settings:
            noise = settings["noise"]
            fields = sorted(NoiseSpec.__dataclass_fields__)
            if not isinstance(noise, dict) or set(noise) - set(fields):
                raise SettingError("noise", noise, f"use an object with keys of {fields}, e.g. "
                                                   '{"noise": "warm_start", "t0": 40, "t1": 45}')
            settings["noise"] = NoiseSpec(**noise)
            settings["noise"].warm_start(steps)  # t0, t1 within the model's steps
    except SettingError as err:
        raise ValueError(f"{where}: {err}") from None
    return settings


@dataclass(frozen=True)
class VideoSettings:
    """The resolved, checked settings of one video (the output of :func:`check_video_keywords`)."""

    num_frames: int
    num_inference_steps: int
    guidance_scale: float | None
    interaction: object  # a direct2v.attention.FrameInteraction, or its checked arguments (a dict)
    noise: NoiseSpec
    warm_start: tuple[int, int] | None
    max_batch_frames: int | None
    seed: int | None


def check_video_keywords(*, num_frames: int, num_inference_steps, guidance_scale, interaction=None, noise=None,
                         default_noise: NoiseSpec | None = None, max_batch_frames=None, seed=None,
                         **keywords) -> VideoSettings:
    """Every model-free rule of a video, in one call, without building anything: the command checks its flags
    with it before the director runs; :func:`direct2v.attention.check_video_settings` (the pipeline's check)
    builds the interaction and then calls it.

    ``keywords``: the rest of :data:`KNOBS` (interaction and loose noise keywords; ``None``: not given).
    ``interaction``: an interaction object (checked against the steps and frames; then no interaction keyword
    may be given), or ``None``: the interaction keywords, checked, become ``VideoSettings.interaction`` as a dict
    of :class:`~direct2v.attention.FrameInteraction` arguments. ``noise`` and ``default_noise``: see
    :func:`check_noise`.
    """
    unknown = sorted(set(keywords) - set(INTERACTION_KEYWORDS) - set(NOISE_KEYWORDS))
    if unknown:
        raise TypeError(f"check_video_keywords() got unexpected keyword arguments {unknown}; use {list(KNOBS)}")
    num_frames = check_int("num_frames", num_frames, 1)
    steps = check_steps(num_inference_steps)
    guidance = None if guidance_scale is None else check_guidance(guidance_scale)  # None: the model's, not known yet
    given = {k: keywords[k] for k in INTERACTION_KEYWORDS if keywords.get(k) is not None}
    if interaction is None:
        interaction = check_interaction(**interaction_keywords(num_frames, steps, **given))
        mode = interaction["attention"]
    elif given:
        raise SettingError("interaction", interaction, "", f"interaction= and {sorted(given)} given together; "
                           "set them on the FrameInteraction")
    else:
        check_mapping_start(interaction.mapping_start, steps)
        if interaction.attention == "fixed" and interaction.reference >= num_frames:
            raise SettingError("reference", interaction.reference, f"use a frame in 0..{num_frames - 1}")
        mode = interaction.attention
    noise = check_noise(noise, default_noise, **{k: keywords.get(k) for k in NOISE_KEYWORDS[1:]})
    return VideoSettings(num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance,
                         interaction=interaction, noise=noise, warm_start=noise.warm_start(steps),
                         max_batch_frames=check_batch_frames(max_batch_frames, num_frames, mode),
                         seed=check_seed(seed))


# ----------------------------------------------------------------------------- a model folder's own settings
SETTINGS_FILE = "direct2v.json"
"""A model folder's recommended settings (a JSON object with keys of ``PAPER_SETTINGS``, and optionally
``height``/``width`` in pixels and ``noise``, an object of :class:`NoiseSpec` fields), applied by :func:`direct2v.pipeline.load_pipeline` as the pipeline's defaults;
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


"""The DirecT2V video pipeline: one prompt per frame, frames generated together (paper section 3).

:class:`DirecT2VPipeline` is a Stable Diffusion pipeline (it subclasses diffusers'
``StableDiffusionPipeline`` and reuses its components, ``from_pretrained``, ``encode_prompt``,
scheduler API and image processor) whose ``__call__`` renders a video:

1. every frame f is conditioned on its own prompt (the director's frame-level prompts, section 3.3);
2. the frames' self-attention interacts through :class:`direct2v.attention.FrameInteraction`
   (``attention=``: plain ``"self"``, Text2Video-Zero ``"cross_frame"``, Tune-A-Video
   ``"sparse_causal"``, ``"rvm"`` (Eq. 4 with r(t') = floor(t'/m) mod F), ``"random"``), with
   dual-softmax filtering (``dsf_quantile``, Eqs. 5-6), installed for the call and always removed;
3. the initial noise (``noise=``) is independent per frame, shared, autoregressive
   (:mod:`direct2v.noise`), or Text2Video-Zero's warm start, which the paper and its released code
   use ("the same scheduling mechanism as T2V-Z", section 4.1);
4. long videos (section 4.3): when the frames exceed ``max_batch_frames`` B, the first floor(B/2)
   frames run with their reference keys and values recorded, and the remaining frames run in
   batches of floor(B/2) whose self-attention maps onto those cached references.

:func:`load_pipeline` loads the embedded shapes model or any Stable Diffusion 1.x/2.x checkpoint
through the same ``from_pretrained`` call; :func:`text2video_zero_peer` builds diffusers'
``TextToVideoZeroPipeline`` from the same components, the baseline kept side by side.
"""
from __future__ import annotations

import copy
import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import BaseOutput

from . import noise as noises
from .runtime import pick_device, pick_dtype

ATTENTION_MODES = ("self", "cross_frame", "sparse_causal", "rvm", "random")
OUTPUT_TYPES = ("pil", "np", "latent")
T2VZ_STEPS, T2VZ_T0, T2VZ_T1 = 50, 44, 47
"""Text2Video-Zero's defaults: t0 = 44 and t1 = 47 for 50 steps (diffusers crashes below 48 steps)."""
PAPER_SETTINGS = {"num_inference_steps": 100, "guidance_scale": 12.0}
"""The paper's sampling settings (section 4.1: PNDM, T = 100, guidance 12.0): the defaults of
:meth:`DirecT2VPipeline.__call__` for a model that does not recommend its own (any Stable Diffusion)."""
SETTINGS_FILE = "direct2v.json"
"""A model folder's recommended settings (a JSON object with keys of ``PAPER_SETTINGS``, and optionally
``height``/``width`` in pixels), applied by :func:`load_pipeline` as the pipeline's defaults; the shapes
model ships one (guidance 3.0)."""
SIZE_SETTINGS = ("height", "width")


def check_settings(settings: dict, where: str = "settings") -> dict:
    """Validate sampling defaults (keys of ``PAPER_SETTINGS``); return them as a new dict."""
    if not isinstance(settings, dict):
        raise ValueError(f"{where}={settings!r} is not allowed; use a JSON object with keys {sorted(PAPER_SETTINGS)}")
    allowed = sorted(PAPER_SETTINGS) + list(SIZE_SETTINGS)
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: keys {unknown} are not allowed; use {allowed}")
    for name in SIZE_SETTINGS:
        value = settings.get(name, 8)
        if isinstance(value, bool) or not isinstance(value, int) or value < 8 or value % 8:
            raise ValueError(f"{where}: {name}={value!r} is not allowed; use a positive multiple of 8 (pixels)")
    steps, guidance = settings.get("num_inference_steps", 1), settings.get("guidance_scale", 0.0)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{where}: num_inference_steps={steps!r} is not allowed; use an integer >= 1")
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or guidance < 0:
        raise ValueError(f"{where}: guidance_scale={guidance!r} is not allowed; use a number >= 0")
    return dict(settings)


def model_settings(name_or_path: str | os.PathLike) -> dict:
    """The sampling defaults of a model: ``PAPER_SETTINGS`` updated by its folder's ``direct2v.json``.

    A hub id or a folder without the file gets the paper's settings.
    """
    import json

    file = Path(name_or_path) / SETTINGS_FILE
    if not file.is_file():
        return dict(PAPER_SETTINGS)
    try:
        own = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON ({err}); use an object such as {{\"guidance_scale\": 3.0}}") from err
    return {**PAPER_SETTINGS, **check_settings(own, str(file))}


@dataclass
class DirecT2VOutput(BaseOutput):
    """``frames``: F PIL images, an array (F, H, W, 3) in [0, 1], or the latents (F, C, h, w) for
    ``output_type="latent"``. ``latents``: the final latents when ``return_latents=True``."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    latents: torch.Tensor | None = None


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
        raise ValueError(f"num_inference_steps={num_steps} is too few for noise='warm_start'; use at least 2")
    if t0 is None and t1 is None:
        t1 = min(num_steps - 1, max(1, num_steps * T2VZ_T1 // T2VZ_STEPS))
        t0 = min(t1 - 1, num_steps * T2VZ_T0 // T2VZ_STEPS)
        return t0, t1
    if t0 is None or t1 is None:
        raise ValueError(f"t0={t0!r}, t1={t1!r}: give both or neither (neither scales Text2Video-Zero's 44/47 of 50)")
    for name, value in (("t0", t0), ("t1", t1)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}={value!r} is not allowed; use an integer")
    if not 0 <= t0 < t1 <= num_steps - 1:
        raise ValueError(f"t0={t0}, t1={t1} are not allowed for num_inference_steps={num_steps}; "
                         f"use 0 <= t0 < t1 <= {num_steps - 1} (timesteps counted from the end), or leave both "
                         "None to scale Text2Video-Zero's t0=44, t1=47 of 50 steps")
    return t0, t1


class DirecT2VPipeline(StableDiffusionPipeline):
    """Stable Diffusion lifted to video with frame-level prompts and frame interaction (DirecT2V).

    Loads like any diffusers pipeline: ``DirecT2VPipeline.from_pretrained(folder_or_id)``.
    ``defaults`` holds the sampling settings that ``__call__`` uses when they are not given: the paper's
    (``PAPER_SETTINGS``), or the model's own when loaded by :func:`load_pipeline` from a folder with a
    ``direct2v.json`` (the shapes model: guidance 3.0).
    """

    defaults: dict = PAPER_SETTINGS

    # ------------------------------------------------------------------ checks
    def check_video_inputs(self, prompt, num_frames, negative_prompt, height, width, num_inference_steps,
                           guidance_scale, attention, rvm_period, mapping_start, dsf_quantile, attention_layers,
                           noise, noise_weight, t0, t1, max_batch_frames, latents, generator, seed,
                           output_type, callback_on_step_end_tensor_inputs, motion_field_strength_x=0.0,
                           motion_field_strength_y=0.0, dsf_scope="frame", random_seed=0):
        """Validate everything before any compute; return ``(prompts, negatives, num_frames, mapping_start, t0, t1)``."""
        if isinstance(prompt, str):
            num_frames = 8 if num_frames is None else num_frames
            if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
                raise ValueError(f"num_frames={num_frames!r} is not allowed; use an integer >= 1")
            prompts = [prompt] * num_frames
        elif isinstance(prompt, (list, tuple)):
            if not prompt:
                raise ValueError("prompt=[] is not allowed; give one prompt per frame or a single string")
            if not all(isinstance(p, str) for p in prompt):
                raise ValueError(f"prompt={prompt!r} is not allowed; use a string or a list of strings")
            if num_frames is not None and (isinstance(num_frames, bool) or not isinstance(num_frames, int)
                                           or num_frames < 1):
                raise ValueError(f"num_frames={num_frames!r} is not allowed; use an integer >= 1")
            if num_frames is not None and num_frames != len(prompt):
                raise ValueError(f"num_frames={num_frames} does not match the {len(prompt)} frame prompts; "
                                 "give one prompt per frame (or one string for all frames)")
            prompts, num_frames = list(prompt), len(prompt)
        else:
            raise ValueError(f"prompt={prompt!r} is not allowed; use a string or a list of strings")
        if negative_prompt is None or isinstance(negative_prompt, str):
            negatives = None if negative_prompt is None else [negative_prompt] * num_frames
        elif isinstance(negative_prompt, (list, tuple)) and len(negative_prompt) == num_frames \
                and all(isinstance(p, str) for p in negative_prompt):
            negatives = list(negative_prompt)
        else:
            raise ValueError(f"negative_prompt={negative_prompt!r} is not allowed; use None, a string, or a list "
                             f"of {num_frames} strings (one per frame)")
        factor = self.vae_scale_factor
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < factor or value % factor:
                raise ValueError(f"{name}={value!r} is not allowed; use a positive multiple of the VAE factor {factor}")
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps={num_inference_steps!r} is not allowed; use an integer >= 1")
        if not isinstance(guidance_scale, (int, float)) or not 0 <= guidance_scale < math.inf:
            raise ValueError(f"guidance_scale={guidance_scale!r} is not allowed; use a finite number >= 0 "
                             "(<= 1 turns classifier-free guidance off; the paper uses 12.0)")
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention={attention!r} is not allowed; use one of {ATTENTION_MODES}")
        if isinstance(rvm_period, bool) or not isinstance(rvm_period, int) or rvm_period < 1:
            raise ValueError(f"rvm_period={rvm_period!r} is not allowed; use an integer >= 1 (paper: 4)")
        if mapping_start is None:
            mapping_start = round(0.04 * num_inference_steps)  # paper: T' = 96 of T = 100
        if isinstance(mapping_start, bool) or not isinstance(mapping_start, int) \
                or not 0 <= mapping_start <= num_inference_steps:
            raise ValueError(f"mapping_start={mapping_start!r} is not allowed; use an integer in "
                             f"[0, num_inference_steps={num_inference_steps}] (paper: 4 of 100)")
        if dsf_quantile is not None:
            if isinstance(dsf_quantile, bool) or not isinstance(dsf_quantile, (int, float)) \
                    or not 0.0 <= dsf_quantile <= 1.0:
                raise ValueError(f"dsf_quantile={dsf_quantile!r} is not allowed; use None or a number in [0, 1]")
            if dsf_quantile > 0 and attention in ("self", "sparse_causal"):
                raise ValueError(f"dsf_quantile={dsf_quantile} needs a value-mapping attention "
                                 f"('cross_frame', 'rvm', 'random'), not attention={attention!r}")
        if attention_layers is not None:
            if isinstance(attention_layers, str):
                raise ValueError(f"attention_layers={attention_layers!r} is not allowed; use a list of name prefixes")
            from .attention import self_attention_layers

            names = self_attention_layers(self.unet)
            for prefix in attention_layers:
                if not any(name == prefix or name.startswith(f"{prefix}.") for name in names):
                    blocks = sorted({n.split(".attentions")[0] for n in names})
                    raise ValueError(f"attention_layers entry {prefix!r} matches no self-attention layer of this "
                                     f"UNet; use prefixes of {blocks} (full names: direct2v.attention."
                                     "self_attention_layers(pipe.unet))")
        if noise not in noises.NOISE_KINDS:
            raise ValueError(f"noise={noise!r} is not allowed; use one of {noises.NOISE_KINDS}")
        if not isinstance(noise_weight, (int, float)) or not 0.0 <= noise_weight <= 1.0:
            raise ValueError(f"noise_weight={noise_weight!r} is not allowed; use a number in [0, 1]")
        if noise == "warm_start":
            t0, t1 = warm_start_steps(num_inference_steps, t0, t1)
        elif t0 is not None or t1 is not None:
            raise ValueError(f"t0={t0!r}, t1={t1!r} are only used with noise='warm_start', not noise={noise!r}")
        elif motion_field_strength_x or motion_field_strength_y:
            raise ValueError(f"motion_field_strength_x={motion_field_strength_x!r}, motion_field_strength_y="
                             f"{motion_field_strength_y!r}: motion dynamics act in the warm start only; use "
                             f"noise='warm_start' or strengths 0 (noise={noise!r})")
        from .attention.functional import DSF_SCOPES

        if dsf_scope not in DSF_SCOPES:
            raise ValueError(f"dsf_scope={dsf_scope!r} is not allowed; use one of {DSF_SCOPES}")
        if isinstance(random_seed, bool) or not isinstance(random_seed, int) or random_seed < 0:
            raise ValueError(f"random_seed={random_seed!r} is not allowed; use an integer >= 0")
        if max_batch_frames is not None:
            if isinstance(max_batch_frames, bool) or not isinstance(max_batch_frames, int) or max_batch_frames < 2:
                raise ValueError(f"max_batch_frames={max_batch_frames!r} is not allowed; use None or an integer >= 2")
            if num_frames > max_batch_frames and attention == "sparse_causal":
                raise ValueError("attention='sparse_causal' cannot cache a reference for long videos "
                                 f"(num_frames={num_frames} > max_batch_frames={max_batch_frames}); use 'rvm', "
                                 "'cross_frame', 'random' or 'self', or raise max_batch_frames")
        shape = (num_frames, self.unet.config.in_channels, height // factor, width // factor)
        if latents is not None and tuple(latents.shape) != shape:
            raise ValueError(f"latents of shape {tuple(latents.shape)} are not allowed; use {shape} (F, C, h, w)")
        if generator is not None and seed is not None:
            raise ValueError(f"generator and seed={seed!r} given together; use one of them")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator={generator!r} is not allowed; use one torch.Generator for the whole video")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type={output_type!r} is not allowed; use one of {OUTPUT_TYPES}")
        bad = [k for k in callback_on_step_end_tensor_inputs if k not in ("latents", "prompt_embeds")]
        if bad:
            raise ValueError(f"callback_on_step_end_tensor_inputs={bad} is not allowed; use 'latents' or 'prompt_embeds'")
        return prompts, negatives, num_frames, mapping_start, t0, t1

    # ------------------------------------------------------------------ pieces
    def _denoise(self, latents, embeds, timesteps, first_step, scheduler, guidance_scale, controller, extra,
                 bar, callback, callback_inputs):
        """Reverse process over ``timesteps`` (global step indices from ``first_step``) for one batch of frames."""
        cfg = guidance_scale > 1.0
        for j, t in enumerate(timesteps):
            step = first_step + j
            if controller is not None:
                controller.set_step(step)
            x = scheduler.scale_model_input(torch.cat([latents] * 2) if cfg else latents, t)
            eps = self.unet(x, t, encoder_hidden_states=embeds, return_dict=False)[0]
            if cfg:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance_scale * (cond - uncond)
            latents = scheduler.step(eps, t, latents, **extra, return_dict=False)[0]
            if callback is not None:
                values = {"latents": latents, "prompt_embeds": embeds}
                out = callback(self, step, t, {k: values[k] for k in callback_inputs}) or {}
                latents = out.get("latents", latents)
            bar.update()
        return latents

    def _renoise(self, x_t0, t0, t1, generator):
        """DDPM forward process from timestep t0 to t1 (> t0), as Text2Video-Zero's ``forward_loop``.

        x_t1 = sqrt(a) x_t0 + sqrt(1 - a) eps with a = prod(alphas[t0:t1]) (Text2Video-Zero's indexing).
        Like the peer it assumes a variance-preserving sampler (DDIM, PNDM, DDPM, DPM-Solver, ...).
        """
        cum = self.scheduler.alphas_cumprod
        alphas = getattr(self.scheduler, "alphas", None)
        alphas = cum / torch.cat([cum.new_ones(1), cum[:-1]]) if alphas is None else alphas
        eps = noises.random_noise(x_t0.shape[0], x_t0.shape[1:], generator, x_t0.device, x_t0.dtype)
        alpha = torch.prod(alphas[int(t0):int(t1)]).to(x_t0.device, torch.float32)
        return (alpha.sqrt() * x_t0.float() + (1 - alpha).sqrt() * eps.float()).to(x_t0.dtype)

    def _initial_noise(self, noise, num_frames, shape, weight, generator, device, dtype):
        kind = "independent" if noise == "warm_start" else noise
        return noises.sample_noise(kind, num_frames, shape, weight, generator, device, dtype) \
            * self.scheduler.init_noise_sigma

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        num_frames: int | None = None,
        negative_prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        attention: str = "rvm",
        rvm_period: int = 4,
        mapping_start: int | None = None,
        dsf_quantile: float | None = None,
        attention_layers: list[str] | None = None,
        noise: str = "warm_start",
        noise_weight: float = 0.5,
        t0: int | None = None,
        t1: int | None = None,
        motion_field_strength_x: float = 0.0,
        motion_field_strength_y: float = 0.0,
        max_batch_frames: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        latents: torch.Tensor | None = None,
        eta: float = 0.0,
        output_type: str = "pil",
        return_latents: bool = False,
        return_dict: bool = True,
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs: tuple[str, ...] = ("latents",),
        random_seed: int = 0,
        dsf_scope: str = "frame",
    ):
        """Render one video, frame f from prompt f.

        Args:
            prompt: one prompt per frame, or one string for every frame (then ``num_frames``, default 8).
            num_frames: F; must equal ``len(prompt)`` when a list is given.
            negative_prompt: None, one string, or one per frame.
            height, width: pixels, multiples of the VAE factor (default: ``self.defaults``, else
                ``unet.config.sample_size * factor``).
            num_inference_steps: T (paper: 100 with PNDM). guidance_scale: classifier-free guidance (paper: 12.0).
                ``None`` takes either from ``self.defaults``: the model's recommended settings, else the paper's.
            attention: ``"self"``, ``"cross_frame"``, ``"sparse_causal"``, ``"rvm"`` or ``"random"``.
            rvm_period: m of RVM (paper: 4). mapping_start: the step at which value mapping starts
                (default: 4% of the steps, the paper's 4 of 100). dsf_quantile: phi of DSF (None: off).
            attention_layers: self-attention name prefixes to act on (None: all; the released code used
                ``direct2v.attention.RELEASED_CODE_LAYERS``).
            noise: ``"independent"``, ``"shared"``, ``"autoregressive"`` (weight ``noise_weight``, see
                :mod:`direct2v.noise`) or ``"warm_start"`` (Text2Video-Zero, with ``t0``/``t1``, see
                :func:`warm_start_steps`; frame 1 is denoised alone with its own negative and positive
                embeddings under guidance, the motion field warps the other frames at T0).
            motion_field_strength_x, _y: motion dynamics in image pixels per frame (paper appendix A; 0 in
                the main paper), used by the warm start.
            max_batch_frames: B; more frames than B make a long video (section 4.3).
            generator or seed: randomness (CPU results are deterministic under a seed).
            latents: initial noise (F, C, h, w), instead of sampling it (warm start uses frame 1's).
            output_type: ``"pil"``, ``"np"`` or ``"latent"``; return_latents: also return the final latents.
            callback_on_step_end: ``f(pipe, step, timestep, kwargs) -> dict`` after every step (the warm
                start's frame-1 steps between T1 and T0 are reported twice: alone, then with all frames).
            random_seed: seed of ``attention="random"``. dsf_scope: see ``FrameInteraction``.
        """
        if height is None:
            height = self.defaults.get("height") or self.unet.config.sample_size * self.vae_scale_factor
        if width is None:
            width = self.defaults.get("width") or self.unet.config.sample_size * self.vae_scale_factor
        if num_inference_steps is None:
            num_inference_steps = self.defaults["num_inference_steps"]
        if guidance_scale is None:
            guidance_scale = self.defaults["guidance_scale"]
        prompts, negatives, num_frames, mapping_start, t0, t1 = self.check_video_inputs(
            prompt, num_frames, negative_prompt, height, width, num_inference_steps, guidance_scale, attention,
            rvm_period, mapping_start, dsf_quantile, attention_layers, noise, noise_weight, t0, t1,
            max_batch_frames, latents, generator, seed, output_type, callback_on_step_end_tensor_inputs,
            motion_field_strength_x, motion_field_strength_y, dsf_scope, random_seed)
        if seed is not None:
            generator = torch.Generator("cpu").manual_seed(seed)
        device = self._execution_device
        cfg = guidance_scale > 1.0

        positive, negative = self.encode_prompt(prompts, device, 1, cfg, negatives)

        def embeds(frames):
            return torch.cat([negative[frames], positive[frames]]) if cfg else positive[frames]

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        extra = self.prepare_extra_step_kwargs(generator, eta)
        shape = (self.unet.config.in_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        if latents is None:
            latents = self._initial_noise(noise, num_frames, shape, noise_weight, generator, device, positive.dtype)
        latents = latents.to(device, positive.dtype)

        first_step, scheduler = 0, self.scheduler
        if noise == "warm_start":
            k1, k0 = len(timesteps) - t1 - 1, len(timesteps) - t0 - 1
            first_step = k1
        alone = (k0 if num_frames > 1 else k1) if noise == "warm_start" else 0  # frame 1's steps alone
        long_video = max_batch_frames is not None and num_frames > max_batch_frames
        sections = math.ceil(num_frames / (max_batch_frames // 2)) if long_video else 1
        with self.progress_bar(total=alone + sections * (len(timesteps) - first_step)) as bar:
            if noise == "warm_start":  # Text2Video-Zero: frame 1 alone to T1 and T0, the others from it
                scheduler = copy.deepcopy(self.scheduler)
                x1 = self._denoise(latents[:1], embeds([0]), timesteps[:k1], 0, scheduler, guidance_scale, None,
                                   extra, bar, callback_on_step_end, callback_on_step_end_tensor_inputs)
                scheduler_t1 = copy.deepcopy(scheduler)
                if num_frames > 1:
                    x1_t0 = self._denoise(x1, embeds([0]), timesteps[k1:k0], k1, scheduler, guidance_scale, None,
                                          extra, bar, callback_on_step_end, callback_on_step_end_tensor_inputs)
                    others = noises.translate_latents(x1_t0.repeat(num_frames - 1, 1, 1, 1), motion_field_strength_x,
                                                      motion_field_strength_y, range(1, num_frames), (height, width))
                    others = self._renoise(others, timesteps[k0], timesteps[k1], generator)
                    latents = torch.cat([x1, others])
                else:
                    latents = x1
                scheduler = scheduler_t1
            latents = self._denoise_video(latents, embeds, timesteps[first_step:], first_step, scheduler,
                                          guidance_scale, extra, bar, attention, rvm_period, mapping_start,
                                          dsf_quantile, dsf_scope, attention_layers, max_batch_frames, random_seed,
                                          callback_on_step_end, callback_on_step_end_tensor_inputs)

        if output_type == "latent":
            frames = latents
        else:
            chunk = max_batch_frames or num_frames
            images = [self.vae.decode(latents[i:i + chunk] / self.vae.config.scaling_factor, return_dict=False)[0]
                      for i in range(0, num_frames, chunk)]
            frames = self.image_processor.postprocess(torch.cat(images), output_type=output_type)
        self.maybe_free_model_hooks()
        latents_out = latents if return_latents else None
        if not return_dict:
            return frames, latents_out
        return DirecT2VOutput(frames=frames, latents=latents_out)

    def _denoise_video(self, latents, embeds, timesteps, first_step, scheduler, guidance_scale, extra, bar, attention,
                       rvm_period, mapping_start, dsf_quantile, dsf_scope, attention_layers, max_batch_frames,
                       random_seed, callback, callback_inputs):
        """All frames from ``first_step`` to the end, with frame interaction installed for the call only.

        Long videos (section 4.3): with F > B = ``max_batch_frames``, frames are processed in sections of
        h = floor(B/2): the first section records its reference keys/values per (layer, step), the
        others replay them, so no UNet batch holds more than h frames (2h rows under guidance).
        """
        from .attention import FrameInteraction, install_frame_interaction, uninstall_frame_interaction

        num_frames = latents.shape[0]
        long_video = max_batch_frames is not None and num_frames > max_batch_frames
        section = max_batch_frames // 2 if long_video else num_frames
        controller = None
        if attention != "self":
            controller = FrameInteraction(mode=attention, num_frames=section, period=rvm_period,
                                          start_step=mapping_start, dsf_quantile=dsf_quantile, seed=random_seed,
                                          dsf_scope=dsf_scope)
            install_frame_interaction(self.unet, controller, layers=attention_layers)
        try:
            if not long_video:
                return self._denoise(latents, embeds(list(range(num_frames))), timesteps, first_step, scheduler,
                                     guidance_scale, controller, extra, bar, callback, callback_inputs)
            out = []
            for start in range(0, num_frames, section):
                frames = list(range(start, min(start + section, num_frames)))
                if controller is not None:
                    if start == 0:
                        controller.record()
                    else:
                        controller.replay()
                    controller.num_frames = len(frames)
                out.append(self._denoise(latents[frames], embeds(frames), timesteps, first_step,
                                         copy.deepcopy(scheduler), guidance_scale, controller, extra,
                                         bar, callback, callback_inputs))
            return torch.cat(out)
        finally:
            if controller is not None:
                controller.stop_caching()
                uninstall_frame_interaction(self.unet)


def load_pipeline(name_or_path: str | os.PathLike = "shapes", device=None, dtype=None, **kwargs) -> DirecT2VPipeline:
    """A :class:`DirecT2VPipeline` from ``"shapes"`` (the embedded miniature model) or any Stable Diffusion
    1.x/2.x hub id or folder (e.g. ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``), through one
    ``from_pretrained`` call; CUDA and fp16 when present, CPU and fp32 otherwise. The safety checker is not
    loaded (``safety_checker=None``) unless passed in ``kwargs``. ``pipe.defaults`` are the model's
    recommended sampling settings (its folder's ``direct2v.json``; the shapes model: guidance 3.0), else
    the paper's (:data:`PAPER_SETTINGS`).
    """
    device = pick_device(device)
    dtype = pick_dtype(device, dtype)
    path = name_or_path
    if str(name_or_path) == "shapes":
        from .shapes.model import WEIGHTS
        if not (WEIGHTS / "model_index.json").exists():
            raise FileNotFoundError(f"the shapes model is not in {WEIGHTS}; train it with "
                                    "`python -m direct2v.shapes.train all --out direct2v/shapes/weights`")
        path = WEIGHTS
    kwargs = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False, **kwargs}
    defaults = model_settings(path)
    pipe = DirecT2VPipeline.from_pretrained(path, dtype=dtype, **kwargs)
    pipe.defaults = defaults
    return pipe.to(device)


def text2video_zero_peer(pipe: StableDiffusionPipeline):
    """diffusers' ``TextToVideoZeroPipeline`` on the same components (no safety checker), the baseline.

    Its defaults t0=44, t1=47 need at least 48 steps: pass ``warm_start_steps(steps)`` to it for fewer.
    """
    try:
        from diffusers import TextToVideoZeroPipeline
    except ImportError:  # pragma: no cover - older layouts
        from diffusers.pipelines.deprecated.text_to_video_synthesis import TextToVideoZeroPipeline
    allowed = inspect.signature(TextToVideoZeroPipeline.__init__).parameters
    parts = {k: v for k, v in pipe.components.items() if k in allowed}
    parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    peer = TextToVideoZeroPipeline(**parts)
    peer.set_progress_bar_config(**getattr(pipe, "_progress_bar_config", {}))
    return peer

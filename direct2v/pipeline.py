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
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import BaseOutput

from . import noise as noises
from . import settings as _settings
from .attention import check_video_settings, install_frame_interaction, select_layers, uninstall_frame_interaction
from .runtime import pick_device, pick_dtype
from .settings import (KNOBS, MODELS, OUTPUT_TYPES, PAPER_SETTINGS, VALUE_MAPPING_MODES, NoiseSpec, VideoSettings,
                       check_choice, check_int, check_model_folder, model_settings)


@dataclass
class DirecT2VOutput(BaseOutput):
    """``frames``: F PIL images, an array (F, H, W, 3) in [0, 1], or the latents (F, C, h, w) for
    ``output_type="latent"``. ``latents``: the final latents when ``return_latents=True``."""

    frames: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    latents: torch.Tensor | None = None


@dataclass
class VideoCall:
    """Everything one ``pipe(...)`` call resolved and checked, handed from stage to stage."""

    prompts: list[str]
    negatives: list[str] | None
    height: int
    width: int
    settings: VideoSettings
    layers: list[str] | None
    generator: torch.Generator | None
    eta: float
    output_type: str
    callback: object
    callback_inputs: tuple[str, ...]

    @property
    def num_frames(self) -> int:
        return self.settings.num_frames

    @property
    def guidance(self) -> bool:
        """Classifier-free guidance is on (scale > 1): the UNet sees [unconditional, conditional] rows."""
        return self.settings.guidance_scale > 1.0

    @property
    def section(self) -> int:
        """Frames per UNet batch: all of them, or floor(B/2) for a long video (section 4.3)."""
        b = self.settings.max_batch_frames
        return b // 2 if b is not None and self.num_frames > b else self.num_frames


class DirecT2VPipeline(StableDiffusionPipeline):
    """Stable Diffusion lifted to video with frame-level prompts and frame interaction (DirecT2V).

    Loads like any diffusers pipeline: ``DirecT2VPipeline.from_pretrained(folder_or_id)``.
    ``defaults`` holds the sampling settings that ``__call__`` uses when they are not given: the paper's
    (``PAPER_SETTINGS``), or the model's own when loaded by :func:`load_pipeline` from a folder with a
    ``direct2v.json`` (the shapes model: guidance 1.5; a model may also name its own initial ``noise``), each
    pipeline its own copy. ``interaction`` is the :class:`~direct2v.attention.FrameInteraction` of the last call
    (``None`` before the first).
    """

    interaction = None

    @property
    def defaults(self) -> dict:
        """This pipeline's sampling defaults (a copy of ``PAPER_SETTINGS`` until set; never shared with others)."""
        if "_defaults" not in self.__dict__:
            self.__dict__["_defaults"] = dict(PAPER_SETTINGS)
        return self.__dict__["_defaults"]

    @defaults.setter
    def defaults(self, value: dict):
        self.__dict__["_defaults"] = dict(value)

    # ------------------------------------------------------------------ 1. check inputs
    def check_video_inputs(self, *, prompt, negative_prompt=None, height=None, width=None, attention_layers=None,
                           latents=None, generator=None, eta=0.0, output_type="pil", callback=None,
                           callback_inputs=("latents",), num_frames=None, num_inference_steps=None,
                           guidance_scale=None, **settings) -> VideoCall:
        """Validate everything before any compute. ``settings``: the rest of the video's settings (the one
        vocabulary, :data:`direct2v.settings.KNOBS`, and ``interaction``); ``None`` takes ``self.defaults`` (the
        model's recommended settings, its ``noise`` included), else the paper's. The model-free rules are
        :func:`direct2v.attention.check_video_settings` (the command checks the same ones); the rest needs this
        model (VAE factor, UNet layers, latent shape)."""
        prompts, num_frames = self._frame_prompts(prompt, num_frames)
        if negative_prompt is None or isinstance(negative_prompt, str):
            negatives = None if negative_prompt is None else [negative_prompt] * num_frames
        elif isinstance(negative_prompt, (list, tuple)) and len(negative_prompt) == num_frames \
                and all(isinstance(p, str) for p in negative_prompt):
            negatives = list(negative_prompt)
        else:
            raise ValueError(f"negative_prompt={negative_prompt!r} is not allowed; use None, a string, or a list "
                             f"of {num_frames} strings (one per frame)")
        factor = self.vae_scale_factor
        height, width = self._default("height", height), self._default("width", width)
        for name, value in (("height", height), ("width", width)):
            if check_int(name, value, factor) % factor:
                raise ValueError(f"{name}={value!r} is not allowed; use a positive multiple of the VAE factor {factor}")
        settings = check_video_settings(
            num_frames=num_frames, num_inference_steps=self._default("num_inference_steps", num_inference_steps),
            guidance_scale=self._default("guidance_scale", guidance_scale), default_noise=self.defaults.get("noise"),
            **settings)
        if isinstance(attention_layers, str):
            raise ValueError(f"attention_layers={attention_layers!r} is not allowed; use a list of name prefixes")
        if attention_layers is not None:
            select_layers(self.unet, attention_layers, name="attention_layers")
        shape = (num_frames, self.unet.config.in_channels, height // factor, width // factor)
        if latents is not None and tuple(latents.shape) != shape:
            raise ValueError(f"latents of shape {tuple(latents.shape)} are not allowed; use {shape} (F, C, h, w)")
        if generator is not None and settings.seed is not None:
            raise ValueError(f"generator and seed={settings.seed!r} given together; use one of them")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator={generator!r} is not allowed; use one torch.Generator for the whole video")
        check_choice("output_type", output_type, OUTPUT_TYPES)
        bad = [k for k in callback_inputs if k not in ("latents", "prompt_embeds")]
        if bad:
            raise ValueError(f"callback_on_step_end_tensor_inputs={bad} is not allowed; use 'latents' or 'prompt_embeds'")
        if settings.seed is not None:
            generator = torch.Generator("cpu").manual_seed(settings.seed)
        return VideoCall(prompts=prompts, negatives=negatives, height=height, width=width, settings=settings,
                         layers=attention_layers, generator=generator, eta=eta, output_type=output_type,
                         callback=callback, callback_inputs=tuple(callback_inputs))

    @staticmethod
    def _frame_prompts(prompt, num_frames) -> tuple[list[str], int]:
        """One prompt per frame: a list as given (``num_frames`` must match), or one string F times (default 8)."""
        if isinstance(prompt, str):
            num_frames = check_int("num_frames", 8 if num_frames is None else num_frames, 1)
            return [prompt] * num_frames, num_frames
        if not isinstance(prompt, (list, tuple)) or not all(isinstance(p, str) for p in prompt):
            raise ValueError(f"prompt={prompt!r} is not allowed; use a string or a list of strings")
        if not prompt:
            raise ValueError("prompt=[] is not allowed; give one prompt per frame or a single string")
        if num_frames is not None and check_int("num_frames", num_frames, 1) != len(prompt):
            raise ValueError(f"num_frames={num_frames} does not match the {len(prompt)} frame prompts; "
                             "give one prompt per frame (or one string for all frames)")
        return list(prompt), len(prompt)

    # ------------------------------------------------------------------ 2. encode prompts
    def _encode_frames(self, call: VideoCall, device):
        """Text embeddings of every frame's prompt; returns ``embeds(frames)``: the UNet's conditioning rows of
        those frames ([negatives; positives] under guidance, as diffusers orders them)."""
        positive, negative = self.encode_prompt(call.prompts, device, 1, call.guidance, call.negatives)

        def embeds(frames):
            return torch.cat([negative[frames], positive[frames]]) if call.guidance else positive[frames]

        return embeds, positive.dtype

    # ------------------------------------------------------------------ 3. timesteps, 4. initial latents
    def _timesteps(self, call: VideoCall, device) -> torch.Tensor:
        """The scheduler's timesteps for T = ``num_inference_steps`` (PNDM adds a warm-up step)."""
        self.scheduler.set_timesteps(call.settings.num_inference_steps, device=device)
        return self.scheduler.timesteps

    def _initial_latents(self, call: VideoCall, latents, device, dtype) -> torch.Tensor:
        """x_T of every frame: ``latents`` as given, else the noise of ``call.settings.noise`` (:mod:`direct2v.noise`;
        the warm start draws independent noise and uses frame 1's)."""
        if latents is None:
            spec = call.settings.noise
            kind = "independent" if spec.noise == "warm_start" else spec.noise
            shape = (self.unet.config.in_channels, call.height // self.vae_scale_factor,
                     call.width // self.vae_scale_factor)
            latents = noises.sample_noise(kind, call.num_frames, shape, spec.noise_weight, call.generator, device,
                                          dtype) * self.scheduler.init_noise_sigma
        return latents.to(device, dtype)

    # ------------------------------------------------------------------ 5. warm start
    def _warm_start_indices(self, call: VideoCall, num_timesteps: int) -> tuple[int, int]:
        """``(k1, k0)``: the positions in ``timesteps`` of T1 and T0, the warm start's two timesteps.

        Text2Video-Zero counts t1 > t0 from the end, so T1 = ``timesteps[-t1-1]`` comes first:
        k1 = len - t1 - 1 and k0 = len - t0 - 1 > k1. Without the warm start both are 0 (nothing alone).
        """
        if call.settings.warm_start is None:
            return 0, 0
        t0, t1 = call.settings.warm_start
        return num_timesteps - t1 - 1, num_timesteps - t0 - 1

    def _warm_start(self, call: VideoCall, latents, embeds, timesteps, bar):
        """Text2Video-Zero's warm start (section 4.1: "the same scheduling mechanism as T2V-Z").

        Frame 1 is denoised alone with its own prompt through ``timesteps[:k1]`` (to x_T1) and on through
        ``timesteps[k1:k0]`` (to x_T0); the other frames are x_T0 translated by the motion field and
        re-noised from T0 back to T1; then all frames continue together from step k1. The scheduler is
        copied because multistep schedulers (PNDM) keep a history of past outputs: the joint denoising
        must resume from frame 1's state at T1, not from the one at T0.

        Returns ``(latents at T1, the scheduler at T1, k1)``; without the warm start ``(latents, self.scheduler, 0)``.
        """
        k1, k0 = self._warm_start_indices(call, len(timesteps))
        if call.settings.warm_start is None:
            return latents, self.scheduler, 0
        scheduler = copy.deepcopy(self.scheduler)
        x1 = self._denoise(latents[:1], embeds([0]), timesteps[:k1], first_step=0, scheduler=scheduler,
                           call=call, bar=bar)
        scheduler_t1 = copy.deepcopy(scheduler)
        if call.num_frames == 1:
            return x1, scheduler_t1, k1
        x1_t0 = self._denoise(x1, embeds([0]), timesteps[k1:k0], first_step=k1, scheduler=scheduler, call=call,
                              bar=bar)
        motion_x, motion_y = call.settings.noise.motion_field_strength_x, call.settings.noise.motion_field_strength_y
        others = noises.translate_latents(x1_t0.repeat(call.num_frames - 1, 1, 1, 1), motion_x, motion_y,
                                          range(1, call.num_frames), (call.height, call.width))
        others = self._renoise(others, timesteps[k0], timesteps[k1], call.generator)
        return torch.cat([x1, others]), scheduler_t1, k1

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

    # ------------------------------------------------------------------ 6. denoise
    def _denoise(self, latents, embeds, timesteps, *, first_step, scheduler, call: VideoCall, bar, controller=None):
        """Reverse process (Eq. 2) over ``timesteps`` (global step indices from ``first_step``) for one batch of
        frames; ``controller`` (the installed frame interaction) is told each step."""
        return self._denoise_together([latents], [embeds], timesteps, first_step=first_step, schedulers=[scheduler],
                                      calls=[call], bar=bar, controller=controller)[0]

    def _denoise_together(self, latents, embeds, timesteps, *, first_step, schedulers, calls, bar, controller=None):
        """:meth:`_denoise` for several videos of the same settings in one UNet batch (:meth:`videos`).

        ``latents[v]``, ``embeds[v]`` (its UNet conditioning rows, [negatives; positives] under guidance),
        ``schedulers[v]`` and ``calls[v]`` belong to video v. The UNet sees [every video's unconditional rows;
        every video's conditional rows], so each group of F consecutive rows (what frame interaction works
        on) is one video's: frames of different videos never interact. Each video steps its own scheduler.
        """
        call = calls[0]
        extras = [self.prepare_extra_step_kwargs(c.generator, c.eta) for c in calls]
        scale = call.settings.guidance_scale
        sizes = [len(x) for x in latents]
        if call.guidance:
            halves = [e.chunk(2) for e in embeds]
            embeds = torch.cat([h[0] for h in halves] + [h[1] for h in halves])
        else:
            embeds = torch.cat(embeds)
        for j, t in enumerate(timesteps):
            step = first_step + j
            if controller is not None:
                controller.set_step(step)
            together = torch.cat(latents)
            x = schedulers[0].scale_model_input(torch.cat([together] * 2) if call.guidance else together, t)
            eps = self.unet(x, t, encoder_hidden_states=embeds, return_dict=False)[0]
            if call.guidance:
                uncond, cond = eps.chunk(2)
                eps = uncond + scale * (cond - uncond)
            latents = [scheduler.step(e, t, x, **extra, return_dict=False)[0]
                       for scheduler, e, x, extra in zip(schedulers, eps.split(sizes), latents, extras)]
            if call.callback is not None:  # one video only (checked by videos())
                values = {"latents": latents[0], "prompt_embeds": embeds}
                out = call.callback(self, step, t, {k: values[k] for k in call.callback_inputs}) or {}
                latents = [out.get("latents", latents[0])]
            bar.update()
        return latents

    def _denoise_video(self, call: VideoCall, latents, embeds, timesteps, *, first_step, scheduler, bar):
        """All frames from ``first_step`` to the end, with frame interaction installed for these steps only.

        The interaction (``self.interaction``) is installed unless it is plain self-attention with no open
        :func:`~direct2v.attention.capture` (then the UNet's own processors, e.g. recurrent motion, stay).
        Long videos (section 4.3): with F > B = ``max_batch_frames``, frames run in sections of h = floor(B/2):
        the first section records its reference keys/values per (layer, step), the others replay them, so no
        UNet batch holds more than h frames (2h rows under guidance).
        """
        controller = self.interaction = call.settings.interaction
        controller.num_frames = call.section
        installed = controller.attention != "self" or controller.capturing
        if installed:
            install_frame_interaction(self.unet, controller, layers=call.layers)
        run = dict(first_step=first_step, call=call, bar=bar, controller=controller if installed else None)
        try:
            if call.section == call.num_frames:
                return self._denoise(latents, embeds(list(range(call.num_frames))), timesteps, scheduler=scheduler,
                                     **run)
            out = []
            for start in range(0, call.num_frames, call.section):
                frames = list(range(start, min(start + call.section, call.num_frames)))
                if installed and controller.attention in VALUE_MAPPING_MODES:
                    controller.record() if start == 0 else controller.replay()
                controller.num_frames = len(frames)
                out.append(self._denoise(latents[frames], embeds(frames), timesteps,
                                         scheduler=copy.deepcopy(scheduler), **run))  # each section from step k1
            return torch.cat(out)
        finally:
            controller.stop_caching()
            if installed:
                uninstall_frame_interaction(self.unet)

    # ------------------------------------------------------------------ 7. decode
    def _decode(self, call: VideoCall, latents):
        """Latents to frames in batches of at most ``max_batch_frames`` (all at once for short videos)."""
        if call.output_type == "latent":
            return latents
        chunk = call.settings.max_batch_frames or call.num_frames
        images = [self.vae.decode(latents[i:i + chunk] / self.vae.config.scaling_factor, return_dict=False)[0]
                  for i in range(0, call.num_frames, chunk)]
        return self.image_processor.postprocess(torch.cat(images), output_type=call.output_type)

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
        attention: str | None = None,
        rvm_period: int | None = None,
        mapping_start: int | None = None,
        dsf_quantile: float | None = None,
        attention_layers: list[str] | None = None,
        noise: str | NoiseSpec | None = None,
        noise_weight: float | None = None,
        t0: int | None = None,
        t1: int | None = None,
        motion_field_strength_x: float | None = None,
        motion_field_strength_y: float | None = None,
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
        random_seed: int | None = None,
        dsf_scope: str | None = None,
        interaction=None,
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
            attention: ``"self"``, ``"cross_frame"``, ``"sparse_causal"``, ``"rvm"`` (default) or ``"random"``.
            rvm_period: m of RVM (default: the paper's 4). mapping_start: the step at which value mapping starts
                (default: 4% of the steps, the paper's 4 of 100). dsf_quantile: phi of DSF (None: off).
            random_seed: seed of ``attention="random"`` (default 0). dsf_scope: see ``FrameInteraction``.
            interaction: a :class:`~direct2v.attention.FrameInteraction` instead of the six keywords above, which
                are its short form with the same names (for example one with an open
                :func:`~direct2v.attention.capture`); the pipeline sets its ``num_frames`` to the frames of each
                UNet batch. After the call ``pipe.interaction`` is the interaction used, built or given.
            attention_layers: self-attention name prefixes to act on (None: all; the released code used
                ``direct2v.attention.RELEASED_CODE_LAYERS``).
            noise: ``"independent"``, ``"shared"``, ``"autoregressive"`` (weight ``noise_weight``, default 0.5,
                see :mod:`direct2v.noise`) or ``"warm_start"`` (Text2Video-Zero, with ``t0``/``t1``, see
                :func:`warm_start_steps`; frame 1 is denoised alone with its own negative and positive
                embeddings under guidance, the motion field warps the other frames at T0); or a
                :class:`~direct2v.settings.NoiseSpec` holding all six noise settings (the loose keywords are its
                short form, same names). ``None``: the model's own noise (``self.defaults["noise"]``, from its
                ``direct2v.json``) with the loose keywords given over it, else the paper's warm start.
            motion_field_strength_x, _y: motion dynamics in image pixels per frame (paper appendix A; 0 in
                the main paper), used by the warm start.
            max_batch_frames: B; more frames than B make a long video (section 4.3).
            generator or seed: randomness (CPU results are deterministic under a seed).
            latents: initial noise (F, C, h, w), instead of sampling it (warm start uses frame 1's).
            output_type: ``"pil"``, ``"np"`` or ``"latent"``; return_latents: also return the final latents.
            callback_on_step_end: ``f(pipe, step, timestep, kwargs) -> dict`` after every step (the warm
                start's frame-1 steps between T1 and T0 are reported twice: alone, then with all frames).
        """
        settings = {name: value for name, value in locals().items() if name in KNOBS}  # the one vocabulary
        call = self.check_video_inputs(  # 1. check inputs (the model's defaults for what is not given)
            prompt=prompt, negative_prompt=negative_prompt, height=height, width=width, interaction=interaction,
            attention_layers=attention_layers, latents=latents, generator=generator, eta=eta, output_type=output_type,
            callback=callback_on_step_end, callback_inputs=callback_on_step_end_tensor_inputs, **settings)
        device = self._execution_device
        embeds, dtype = self._encode_frames(call, device)  # 2. encode prompts
        timesteps = self._timesteps(call, device)  # 3. timesteps
        latents = self._initial_latents(call, latents, device, dtype)  # 4. initial latents
        k1, k0 = self._warm_start_indices(call, len(timesteps))
        alone = k0 if call.num_frames > 1 else k1  # frame 1's steps on its own
        sections = math.ceil(call.num_frames / call.section)
        with self.progress_bar(total=alone + sections * (len(timesteps) - k1)) as bar:
            latents, scheduler, first_step = self._warm_start(call, latents, embeds, timesteps, bar)  # 5. warm start
            latents = self._denoise_video(call, latents, embeds, timesteps[first_step:], first_step=first_step,
                                          scheduler=scheduler, bar=bar)  # 6. denoise
        frames = self._decode(call, latents)  # 7. decode
        self.maybe_free_model_hooks()
        latents_out = latents if return_latents else None
        if not return_dict:
            return frames, latents_out
        return DirecT2VOutput(frames=frames, latents=latents_out)

    def _default(self, name: str, value):
        """``value``, or the model's recommended setting ``name`` (``self.defaults``), or for the frame size
        the UNet's sample size in pixels."""
        if value is not None:
            return value
        if name in ("height", "width"):
            return self.defaults.get(name) or self.unet.config.sample_size * self.vae_scale_factor
        return self.defaults[name]

    # ------------------------------------------------------------------ several videos per UNet call
    BATCH_ONLY_PER_VIDEO = ("prompt", "seed", "generator", "latents", "return_dict", "return_latents",
                            "callback_on_step_end", "max_batch_frames", "interaction")
    """Arguments of ``__call__`` that :meth:`videos` does not take (they belong to one video, or to a long video)."""

    @torch.no_grad()
    def videos(self, prompts: list[list[str]], seeds: list[int], **kwargs) -> list:
        """Several videos with the same settings, their frames in one UNet batch (an evaluation's speed-up).

        Video v has the frame prompts ``prompts[v]`` and ``seed=seeds[v]``; ``kwargs`` are ``__call__``'s
        other arguments, the same for every video (all but ``BATCH_ONLY_PER_VIDEO``). Frames of different
        videos never interact (see :meth:`_denoise_together`), so video v equals
        ``pipe(prompts[v], seed=seeds[v], **kwargs).frames`` up to float rounding of a larger batch.
        Frame 1's warm-start steps run per video (a few steps of one frame). Returns one output per video.
        """
        bad = [k for k in kwargs if k in self.BATCH_ONLY_PER_VIDEO]
        if bad:
            raise ValueError(f"{bad} are not allowed in videos(); give prompts and seeds per video, the rest as "
                             "for __call__ (no long videos, callbacks or latents)")
        if isinstance(prompts, str) or len(prompts) != len(seeds) or not len(prompts):
            raise ValueError(f"{len(prompts)} prompt lists and {len(seeds)} seeds are not allowed; give one list "
                             "of frame prompts and one seed per video")
        args = {k: p.default for k, p in inspect.signature(type(self).__call__).parameters.items()
                if k not in ("self", "prompt")}
        unknown = [k for k in kwargs if k not in args]
        if unknown:
            raise ValueError(f"{unknown} are not arguments of the pipeline; use names of __call__")
        calls = [self._video_call(prompt, {**args, **kwargs, "seed": seed}) for prompt, seed in zip(prompts, seeds)]
        if len({c.num_frames for c in calls}) > 1:
            raise ValueError(f"videos of {sorted({c.num_frames for c in calls})} frames are not allowed together; "
                             "give every video the same number of frame prompts")
        device = self._execution_device
        encoded = [self._encode_frames(c, device) for c in calls]
        timesteps = self._timesteps(calls[0], device)
        frames = list(range(calls[0].num_frames))
        k1, k0 = self._warm_start_indices(calls[0], len(timesteps))
        alone = k0 if len(frames) > 1 else k1  # frame 1's steps on its own, per video
        latents, schedulers, first_step = [], [], 0
        with self.progress_bar(total=len(calls) * alone + len(timesteps) - k1) as bar:
            for c, (embeds, dtype) in zip(calls, encoded):
                self.scheduler.set_timesteps(c.settings.num_inference_steps, device=device)
                x, scheduler, first_step = self._warm_start(c, self._initial_latents(c, None, device, dtype), embeds,
                                                            timesteps, bar)
                latents.append(x)
                schedulers.append(copy.deepcopy(scheduler))
            controller = self.interaction = calls[0].settings.interaction
            controller.num_frames = calls[0].num_frames
            installed = controller.attention != "self" or controller.capturing
            if installed:
                install_frame_interaction(self.unet, controller, layers=calls[0].layers)
            try:
                latents = self._denoise_together(latents, [e(frames) for e, _ in encoded], timesteps[first_step:],
                                                 first_step=first_step, schedulers=schedulers, calls=calls, bar=bar,
                                                 controller=controller if installed else None)
            finally:
                controller.stop_caching()
                if installed:
                    uninstall_frame_interaction(self.unet)
        return [self._decode(c, x) for c, x in zip(calls, latents)]

    def _video_call(self, prompt, args: dict) -> VideoCall:
        """:meth:`check_video_inputs` of one video from ``__call__``'s arguments ``args`` (for :meth:`videos`)."""
        return self.check_video_inputs(
            prompt=prompt, negative_prompt=args["negative_prompt"], height=args["height"], width=args["width"],
            attention_layers=args["attention_layers"], eta=args["eta"], output_type=args["output_type"],
            callback_inputs=args["callback_on_step_end_tensor_inputs"], **{k: args[k] for k in KNOBS})


def load_pipeline(name_or_path: str | os.PathLike = "shapes", device=None, dtype=None, **kwargs) -> DirecT2VPipeline:
    """A :class:`DirecT2VPipeline` from ``"shapes"`` (the embedded miniature model) or any Stable Diffusion
    1.x/2.x hub id or folder (e.g. ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``), through one
    ``from_pretrained`` call; CUDA and fp16 when present, CPU and fp32 otherwise. The safety checker is not
    loaded (``safety_checker=None``) unless passed in ``kwargs``. ``pipe.defaults`` are the model's
    recommended sampling settings (its folder's ``direct2v.json``; the shapes model: guidance 1.5), else
    the paper's (:data:`PAPER_SETTINGS`). A folder's weights are read from safetensors only
    (:func:`check_model_folder`).
    """
    device = pick_device(device)
    dtype = pick_dtype(device, dtype)
    path = name_or_path
    if str(name_or_path) in MODELS:
        path = MODELS[str(name_or_path)]
        if not (path / "model_index.json").exists():
            raise FileNotFoundError(f"the {name_or_path} model is not in {path}; train it with "
                                    "`python -m direct2v.miniature.train all --out direct2v/miniature/weights`")
    kwargs = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False, **kwargs}
    if Path(path).is_dir():
        check_model_folder(path)
        kwargs.setdefault("use_safetensors", True)
    defaults = model_settings(path)
    pipe = DirecT2VPipeline.from_pretrained(path, dtype=dtype, **kwargs)
    pipe.defaults = defaults
    return pipe.to(device)


def text2video_zero_peer(pipe: StableDiffusionPipeline):
    """diffusers' ``TextToVideoZeroPipeline`` on the same components (no safety checker), the baseline.

    Its defaults t0=44, t1=47 need at least 48 steps: pass ``direct2v.settings.warm_start_steps(steps)`` to it for fewer.
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


_MOVED = ("ATTENTION_MODES", "SIZE_SETTINGS", "SETTINGS_FILE", "check_settings", "warm_start_steps")
"""Names this module re-exported from :mod:`direct2v.settings`, their owner: kept one release, with a warning."""


def __getattr__(name: str):
    if name in _MOVED:
        warnings.warn(f"direct2v.pipeline.{name} is deprecated: use direct2v.settings.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(_settings, name)
    raise AttributeError(f"module 'direct2v.pipeline' has no attribute {name!r}")

"""The frame director (DirecT2V Sec. 3.3, 4.3): one prompt in, F frame prompts out, and lifting.

:class:`Director` holds the conversation logic every LLM backend shares: send the instruction,
read the list from the reply (:func:`parse_frames`), ask once more when the count is wrong,
replay from the :class:`ReplyCache`, and continue the conversation to double the frame rate.
A backend supplies only :meth:`Director._complete` (messages and the frame count in, reply text
out; the count is what a constrained backend holds the reply to).
"""
from __future__ import annotations

import logging
import numbers
import os

from .cache import ReplyCache
from .instruction import CORRECT_COUNT, CORRECT_FORMAT, build_instruction, lift_request
from .parsing import DirectorError, FrameCountError, parse_frames, show
from .script import Script

MAX_FRAMES = 1024
log = logging.getLogger("direct2v.director")


def check_request(prompt, num_frames, fps, camera) -> None:
    """ValueError naming the argument, before any work."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt={prompt!r} is not allowed; give a non-empty string")
    if isinstance(num_frames, bool) or not isinstance(num_frames, numbers.Integral) or not 1 <= num_frames <= MAX_FRAMES:
        raise ValueError(f"num_frames={num_frames!r} is not allowed; give an integer from 1 to {MAX_FRAMES}")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not fps > 0 or fps != fps or fps == float("inf"):
        raise ValueError(f"fps={fps!r} is not allowed; give a positive number")
    if not isinstance(camera, bool):
        raise ValueError(f"camera={camera!r} is not allowed; give True or False")


def make_cache(cache) -> ReplyCache | None:
    """``None``/``True``: the default folder; ``False``: no cache; a path: that folder."""
    if cache is False:
        return None
    if cache is None or cache is True:
        return ReplyCache()
    if isinstance(cache, ReplyCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return ReplyCache(cache)
    raise ValueError(f"cache={cache!r} is not allowed; give None, True, False, a folder or a ReplyCache")


class Director:
    """Base class: ``direct(prompt, num_frames, fps, camera) -> Script`` and ``lift(script)``.

    ``target="shapes"`` adds the miniature model's vocabulary to the instruction; ``examples``
    (prompts the storyboard can direct) add worked examples to it (:func:`build_instruction`).
    """

    backend = "base"

    def __init__(self, model: str, *, temperature: float = 0.0, seed: int | None = 0,
                 target: str | None = None, examples: tuple[str, ...] = (), cache=None):
        build_instruction("x", target=target, examples=examples)  # validates target and examples early
        self.model = model
        self.temperature = float(temperature)
        self.seed = seed
        self.target = target
        self.examples = tuple(examples)
        self.cache = make_cache(cache)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model={self.model!r}, temperature={self.temperature}, "
                f"seed={self.seed!r}, target={self.target!r}"
                + (f", examples={len(self.examples)}" if self.examples else "") + ")")

    # --- what a backend implements --------------------------------------------------------
    def _complete(self, messages: list[dict], num_frames: int) -> str:
        """The assistant's reply to ``messages`` (OpenAI chat format), which asks for ``num_frames`` frames."""
        raise NotImplementedError

    def _settings(self) -> dict:
        """Backend settings that change the reply (for the cache key)."""
        return {}

    def _source(self) -> str:
        """Who answered, as error messages name it."""
        return f"{self.backend} model {self.model!r}"

    # --- the method -------------------------------------------------------------------------
    def instruction(self, prompt: str, num_frames: int = 8, fps: float = 1, camera: bool = True) -> str:
        """The first message :meth:`direct` sends (Fig. 14)."""
        return build_instruction(prompt, num_frames, fps, camera, target=self.target, examples=self.examples)

    def direct(self, prompt: str, num_frames: int = 8, fps: float = 1, camera: bool = True) -> Script:
        """Ask the LLM for ``num_frames`` frame prompts at ``fps`` for ``prompt`` (Sec. 3.3)."""
        check_request(prompt, num_frames, fps, camera)
        instruction = self.instruction(prompt, num_frames, fps, camera)
        messages = [{"role": "user", "content": instruction}]
        frames, messages, reply, cached = self._converse(messages, prompt, num_frames, fps)
        return Script(frames=frames, fps=fps, prompt=prompt, instruction=instruction, reply=reply,
                      backend=self.backend, model=self.model, messages=messages, camera=camera,
                      target=self.target, cached=cached)

    def lift(self, script: Script) -> Script:
        """Frame-rate lifting (Sec. 4.3): continue the conversation, asking to split every frame
        in two at 2R fps, so F frames become 2F. Repeatable."""
        if not isinstance(script, Script) or not script.messages:
            raise ValueError("script must be a Script with its conversation (messages); "
                             f"got {type(script).__name__}")
        num_frames, fps = 2 * script.num_frames, 2 * script.fps
        check_request(script.prompt, num_frames, fps, script.camera)
        messages = list(script.messages) + [{"role": "user", "content": lift_request(num_frames, fps)}]
        frames, messages, reply, cached = self._converse(messages, script.prompt, num_frames, fps)
        return Script(frames=frames, fps=fps, prompt=script.prompt, instruction=script.instruction,
                      reply=reply, backend=self.backend, model=self.model, messages=messages,
                      camera=script.camera, target=script.target, cached=cached)

    def _converse(self, messages, prompt, num_frames, fps):
        """Send ``messages``; parse; one corrective turn if needed; cache the replies on success."""
        fields = {"backend": self.backend, "model": self.model, "messages": messages, "prompt": prompt,
                  "num_frames": num_frames, "fps": fps, "temperature": self.temperature,
                  "seed": self.seed, **self._settings()}
        replay = self.cache.get(fields) if self.cache is not None else None
        cached = replay is not None
        replies: list[str] = []

        def ask(msgs):
            reply = replay.pop(0) if replay else self._complete(msgs, num_frames)
            replies.append(reply)
            return reply

        reply = ask(messages)
        try:
            frames = parse_frames(reply, num_frames)
        except DirectorError as first:
            template = CORRECT_COUNT if isinstance(first, FrameCountError) else CORRECT_FORMAT
            got = len(first.frames) if isinstance(first, FrameCountError) else 0
            messages = messages + [{"role": "assistant", "content": reply},
                                   {"role": "user", "content": template.format(got=got, num_frames=num_frames)}]
            reply = ask(messages)
            try:
                frames = parse_frames(reply, num_frames)
            except DirectorError as second:
                raise DirectorError(
                    f"{self._source()} did not give {num_frames} usable frames, "
                    f"even after a corrective turn. First reply: {first}. Second reply: {second}") from second
        messages = messages + [{"role": "assistant", "content": reply}]
        if self.cache is not None and not cached:
            try:
                self.cache.put(fields, replies)
            except OSError as err:  # a bad DIRECT2V_CACHE or a read-only home must not lose the reply
                log.warning("could not write the reply cache %s (%s: %s); going on without it",
                            self.cache.folder, type(err).__name__, err.strerror or err)
        return frames, messages, reply, cached


__all__ = ["Director", "DirectorError", "check_request", "show"]

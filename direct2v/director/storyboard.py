"""The storyboard director: a deterministic, offline director for the shapes world.

It does what the paper asks of the LLM (Fig. 14) with a small grammar instead of a language
model (:mod:`direct2v.director.grammar`: the prompt read into a story of events, objects and
backgrounds) and writes one self-contained canonical caption per frame, with the ground-truth
:class:`~direct2v.world.world.Scene` of every frame (``script.scenes``; :mod:`direct2v.director.story`).
"""
from __future__ import annotations

import json

from ..world.captions import caption
from .base import Director, check_request
from .grammar import read_story
from .script import Script
from .story import Story, story_scenes


class StoryboardDirector(Director):
    """Deterministic offline director for the shapes world (see the module docstring)."""

    backend = "storyboard"

    def __init__(self):
        super().__init__("shapes-grammar", temperature=0.0, seed=None, target="shapes", cache=False)

    def __repr__(self) -> str:
        return "StoryboardDirector()"

    def plan(self, prompt: str) -> Story:
        """:func:`~direct2v.director.grammar.read_story`: the prompt read into a story (or a ``DirectorError``)."""
        return read_story(prompt)

    def scenes(self, prompt: str, num_frames: int) -> list:
        """Ground-truth scene of every frame (frame f at time (f + 1/2) / F)."""
        return story_scenes(self.plan(prompt), num_frames, prompt)

    # --- the Director interface -------------------------------------------------------------
    def describe_plan(self, prompt: str) -> str:
        """The storyboard in words (stands in for the instruction: nothing is sent anywhere)."""
        tracks, backgrounds = self.plan(prompt)
        lines = [f"storyboard for: {prompt}"]
        for t in tracks:
            events = ", ".join(f"{e.kind}{' ' + e.color if e.color else ''} [{e.a:.2f}-{e.b:.2f}]"
                               for e in t.events) or "stays"
            lines.append(f"- {t.color} {t.shape}: {events}")
        lines.append("- background: " + ", ".join(f"{w} from {s:.2f}" for s, w in backgrounds))
        return "\n".join(lines)

    def direct(self, prompt: str, num_frames: int = 8, fps: float = 1, camera: bool = True) -> Script:
        """One canonical caption per frame and its ground-truth scene (``script.scenes``)."""
        check_request(prompt, num_frames, fps, camera)
        scenes = self.scenes(prompt, num_frames)
        frames = [caption(s) for s in scenes]
        return Script(frames=frames, fps=fps, prompt=prompt, instruction=self.describe_plan(prompt),
                      reply=json.dumps(frames), backend=self.backend, model=self.model, messages=[],
                      camera=camera, target="shapes", scenes=scenes)

    def lift(self, script: Script) -> Script:
        """Re-plan at 2F frames and 2R fps (deterministic): each frame's interval splits in two."""
        if not isinstance(script, Script):
            raise ValueError(f"script must be a Script, got {type(script).__name__}")
        return self.direct(script.prompt, 2 * script.num_frames, 2 * script.fps, script.camera)

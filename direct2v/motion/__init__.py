"""Beyond zero-shot: few-shot motion learning (CS236 report "Few-Shot Video Generation with Recurrent
Motion Prediction", sections 3.2-3.4).

- :mod:`.recurrent`: recurrent causal attention, the processor on ``attn1`` and its weights.
- :mod:`.data`: a few videos of one motion from the shapes world, and held-out clips.
- :mod:`.train`: few-shot tuning of the query projections and the recurrence (and the
  Tune-A-Video sparse-causal baseline), ``python -m direct2v.motion.train``.
- :mod:`.compare`: tuned versus baseline versus zero-shot DirecT2V, ``python -m direct2v.motion.compare``.

The structured initial noise of section 3.3 lives in :mod:`direct2v.noise`.
"""
from .data import CONDITIONS, MotionClip, heldout_clips, make_clip, motion_prompt, training_clips
from .recurrent import (RecurrentCausalProcessor, RecurrentMemory, RecurrentMotion, install_recurrent_attention,
                        recurrent_attention)
from .train import METHODS, MotionWeights, TuneResult, encode_clips, load_motion, prepare, query_projections, save_motion, tune

__all__ = [
    "CONDITIONS", "MotionClip", "heldout_clips", "make_clip", "motion_prompt", "training_clips",
    "RecurrentCausalProcessor", "RecurrentMemory", "RecurrentMotion", "install_recurrent_attention",
    "recurrent_attention", "METHODS", "MotionWeights", "TuneResult", "encode_clips", "load_motion", "prepare",
    "query_projections", "save_motion", "tune",
]

"""How good is a generated video? The paper's metrics and the ones the shapes world makes possible.

* :mod:`~direct2v.metrics.clip_score`: CLIP score per frame (DirecT2V Table 1, 0-100 as in
  EvalCrafter and the CS236 report), Avg. Dist. (Table 1) and CLIP-Temp (the report, section 4).
* :mod:`~direct2v.metrics.warping`: warping error with classical optical flow and an occlusion mask.
* :mod:`~direct2v.metrics.narrative`: narrative accuracy, the detector's verdict against the
  storyboard's ground-truth scene of every frame (shapes world only).
* :mod:`~direct2v.metrics.consistency`: how much the unspecified details (object patterns,
  background decorations) change between adjacent frames.
* :mod:`~direct2v.metrics.bootstrap`: bootstrap confidence intervals over videos or over whole
  stories (a cluster bootstrap, seeds nested), and of paired differences between two methods.

A video is an array (F, H, W, 3), uint8 or floats in [0, 1], or a list of PIL images
(:func:`as_video`, which is :func:`direct2v.video.as_frames`: one owner for every module).
"""
from ..video import as_frames as as_video
from .clip_score import CLIPScorer, avg_dist, clip_temp, video_avg_dist
from .warping import farneback_flow, occlusion_mask, warp_back, warping_error, warping_errors
from .narrative import NARRATIVE_KEYS, judge_video, narrative_accuracy
from .consistency import (background_change, background_changes, background_mask,
                          decoration_consistencies, decoration_consistency,
                          identity_consistencies, identity_consistency)
from .bootstrap import bootstrap_ci, cluster_bootstrap_ci, paired_bootstrap_ci, paired_cluster_bootstrap_ci

__all__ = [
    "as_video", "CLIPScorer", "avg_dist", "video_avg_dist", "clip_temp", "farneback_flow", "occlusion_mask",
    "warp_back", "warping_error", "warping_errors", "NARRATIVE_KEYS", "judge_video",
    "narrative_accuracy", "background_change", "background_changes", "background_mask",
    "identity_consistency", "identity_consistencies", "decoration_consistency",
    "decoration_consistencies", "bootstrap_ci", "paired_bootstrap_ci", "cluster_bootstrap_ci",
    "paired_cluster_bootstrap_ci",
]

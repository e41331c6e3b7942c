"""Frame interaction in self-attention: value mapping, RVM and dual-softmax filtering (paper sections 3.4-3.5).

- :mod:`.functional`: the equations on ``(B, heads, N, d)`` tensors as the paper writes them, the readable
  reference (:func:`value_mapping`, :func:`dual_softmax_confidence`, :func:`dual_softmax_filtering`,
  :func:`sparse_causal_attention`).
- :mod:`.fast`: the same equations with memory linear in tokens, what the pipeline runs
  (:func:`value_mapping_attention`, :func:`value_mapping_details`, :func:`blocked_confidence`).
- :mod:`.controller`: :class:`FrameInteraction` (the step-driven schedule r(t'), the one rule of which frames
  each frame attends, the long-video cache), the immutable per-step :class:`AttentionPlan` it hands the
  processors, :func:`frame_interaction` (the interaction ``pipe(...)`` builds from its keywords) and
  :func:`check_video_settings` (the pipeline's model-free check).
- :mod:`.processor`: the diffusers processor, :func:`install_frame_interaction`, :func:`capture`, and
  :func:`swap_self_attention`, the one helper that swaps self-attention processors (also for recurrent motion).
- The allowed modes and every rule on the settings: :mod:`direct2v.settings`.
"""
from ..settings import ATTENTION_MODES, MODES, VALUE_MAPPING_MODES
from .controller import AttentionPlan, FrameInteraction, check_video_settings, frame_interaction
from .fast import (FilterDetails, blocked_confidence, chunked_confidence, mapped_attention, value_mapping_attention,
                   value_mapping_details)
from .functional import (dual_softmax_confidence, dual_softmax_filtering, filtered_queries, mapping_mask,
                         reference_keys, sparse_causal_attention, sparse_causal_frames, value_mapping)
from .processor import (MAPPED_LEVELS, ORIGINAL_PROCESSORS, RELEASED_CODE_LAYERS, AttentionRecord,
                        FrameInteractionProcessor, authors_layers, capture, install_frame_interaction, layer_matches, select_layers, self_attention_layers,
                        swap_self_attention, uninstall_frame_interaction)

__all__ = [
    "ATTENTION_MODES", "MODES", "VALUE_MAPPING_MODES", "AttentionPlan", "FrameInteraction", "check_video_settings",
    "frame_interaction", "blocked_confidence", "dual_softmax_confidence",
    "filtered_queries",
    "mapped_attention", "reference_keys", "sparse_causal_attention", "value_mapping_attention",
    "FilterDetails", "chunked_confidence", "dual_softmax_filtering", "mapping_mask", "sparse_causal_frames",
    "value_mapping", "value_mapping_details",
    "MAPPED_LEVELS", "RELEASED_CODE_LAYERS", "authors_layers", "AttentionRecord", "FrameInteractionProcessor", "capture",
    "install_frame_interaction", "self_attention_layers", "uninstall_frame_interaction", "ORIGINAL_PROCESSORS",
    "layer_matches", "select_layers", "swap_self_attention",
]

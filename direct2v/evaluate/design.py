"""The evaluation's design: the stories, the methods (the table's rows), the sizes, the noise settings, the
groups of story kinds and the DSF study's stories and sweep (see :mod:`direct2v.evaluate`)."""
from __future__ import annotations

from ..settings import PAPER_INTERACTION, model_settings

# (category, user prompt); every one is directed by the StoryboardDirector
STORIES: list[tuple[str, str]] = [
    ("move", "a red ball moves from left to right"),
    ("move", "a blue square slides from the right to the left"),
    ("move", "a small yellow triangle moves from the top left to the bottom right"),
    ("move", "a red ball falls"),
    ("move", "a green square rises on grass"),
    ("move", "a purple ball bounces at night"),
    ("appear later", "a green ball at the left, later a red square appears at the right"),
    ("appear later", "a purple square at the right, later an orange ball appears at the left"),
    ("appear later", "a yellow square at the top left, later a blue ball appears at the bottom right"),
    ("appear later", "a red square at the left and a green ball at the right, later the ball disappears"),
    ("grow", "a small red square grows"),
    ("grow", "a large blue ball shrinks"),
    ("grow", "a medium green triangle grows at night"),
    ("colour change", "a yellow ball turns red"),
    ("colour change", "a blue square turns green in the desert"),
    ("colour change", "an orange triangle turns purple at night"),
    ("day to night", "day turns to dusk and night while a red ball stays in the center"),
    ("day to night", "day turns to night while a yellow triangle stays at the left"),
    ("day to night", "a blue ball moves from left to right while day turns to night"),
    ("two objects", "a red ball falls while a blue square rises"),
    ("two objects", "a red ball moves from left to right and a yellow square grows"),
    ("two objects", "a blue square at the left and a red ball at the right, then the ball turns yellow"),
    ("two objects", "an orange ball moves from right to left in the desert, later a green square appears"),
]
QUICK_STORIES = (0, 6, 18)   # move, appear later, day to night

DSF_QUANTILE = PAPER_INTERACTION["dsf_quantile"]
GUIDANCE = model_settings("shapes")["guidance_scale"]
"""Classifier-free guidance of the runs. The paper uses 12.0 with Stable Diffusion; the shapes miniature at 12.0
paints wrong, over-saturated colours (a red ball comes out yellow or blue), so it is evaluated at the scale its
own quality bars were measured at (its ``direct2v.json``: ``direct2v.miniature.model.GUIDANCE``)."""
AUTHORS = "authors"
"""``attention_layers`` of a row in ``METHODS`` that :func:`generate_batch` replaces by :func:`authors_layers`."""
METHODS: dict[str, tuple[str, dict | None]] = {  # name -> (label, pipeline arguments; None: the peer)
    "self": ("Self-attn", dict(attention="self")),
    "cross_frame": ("T2V-Z attn", dict(attention="cross_frame", attention_layers=AUTHORS)),
    "sparse_causal": ("TAV attn", dict(attention="sparse_causal", attention_layers=AUTHORS)),
    "random": ("Random VM", dict(attention="random", attention_layers=AUTHORS)),
    "rvm": ("RVM", dict(attention="rvm", attention_layers=AUTHORS)),
    "rvm_dsf": ("RVM+DSF", dict(attention="rvm", dsf_quantile=DSF_QUANTILE, attention_layers=AUTHORS)),
    "rvm_all": ("RVM, all layers", dict(attention="rvm")),
    "t2vz_peer": ("T2V-Z, 1 prompt", None),
}
"""The rows of the table. Every row but ``rvm_all`` (the ablation: every self-attention layer, as the paper's
text reads) and the peer (diffusers' Text2Video-Zero, which swaps every attention layer) maps the authors' layers
(:func:`authors_layers`)."""
QUICK = dict(steps=20, frames=4, seeds=(0,), methods=("self", "cross_frame", "rvm"))
FULL = dict(steps=50, frames=8, seeds=(0, 1, 2), methods=tuple(METHODS))
"""The full table: 50 PNDM steps (the paper: 100, with value mapping on the last 96; here 48 of 50), 8 frames,
seeds 0-2, every row, both noise settings."""
BATCH = 8
"""Videos per UNet call (:meth:`direct2v.pipeline.DirecT2VPipeline.videos`): frames of different videos never
interact, so this changes the speed only (the videos agree with one-at-a-time generation to float rounding)."""
GLOBAL_KINDS = ("day to night",)
"""Story kinds whose change is global (the whole scene's light changes); each headline is reported for these
apart from the rest, where one object moves, appears, grows or changes colour and the scene stays."""
SCOPES = {"global change": GLOBAL_KINDS, "local change": None}
"""The two groups of story kinds of the headline (None: every kind not in another group)."""
MIN_STORIES = 3
"""Fewest stories for a verdict: with fewer clusters a bootstrap has too few distinct resamples to describe the
uncertainty (two stories give at most three), so the sentences and the claims table say "too few stories"."""
NOISES = ("warm_start", "independent")
"""Initial-noise settings (``pipe(noise=...)``): the paper's Text2Video-Zero warm start, and independent
noise per frame, where only the attention ties the frames together."""
NOISE_LABELS = {"warm_start": "the paper's warm start, every frame from frame 1's latent",
                "independent": "independent noise per frame"}
REFERENCES = ("self", "cross_frame")
"""Every method's paired difference is taken to these: no frame interaction, and Text2Video-Zero's."""
KINDS = tuple(dict.fromkeys(c for c, _ in STORIES))
CHANGES = ("appear", "disappear", "color")
"""Storyboard events that make an object's presence or colour change within a story."""
DSF_STORIES = (6, 7, 8, 9, 13, 14, 15, 21, 22)
"""The stories in which an object appears, disappears or changes colour (where DSF should matter)."""
SWEEP_STORIES = (6, 9, 13, 21)   # appears, disappears, turns colour, turns colour beside another object
SWEEP_QUANTILES = (0.0, 0.05, 0.1, 0.2, 0.4)
SWEEP_STARTS = (0.0, 0.02, 0.04, 0.1, 0.2)
"""Mapping starts of the sweep, as fractions of the steps (the paper: 4 of 100)."""
DEFAULT_START = PAPER_INTERACTION["mapping_fraction"]   # the pipeline's default mapping start: the paper's 4 of 100

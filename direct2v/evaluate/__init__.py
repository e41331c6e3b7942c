"""Replicate DirecT2V's Table 1 in the shapes world, with the metrics the paper lacks.

    python -m direct2v.evaluate [--quick] [--out DIR] [--steps 50] [--frames 8] [--seeds 0,1,2]
                                [--methods self,cross_frame,...] [--noise warm_start,independent] [--batch 8]
                                [--dsf-study [--sweep-quantiles 0,0.05,...] [--sweep-starts 0,0.02,...]]
                                [--device auto]

A fixed set of shapes-world stories (``STORIES``: motion, appearance, growth, colour change,
day to night, two objects) goes through the storyboard director, then through the pipeline once
per seed with every frame-interaction method of the paper's comparison (``METHODS``): per-frame
self-attention, Text2Video-Zero's cross-frame attention (frame 1), Tune-A-Video's sparse-causal
attention (frame 1 and the previous frame), random value mapping, RVM, RVM + DSF, each on the
authors' layers (:func:`authors_layers`, ``MAPPED_LEVELS``: the two highest-resolution decoder levels, as the
released code maps SD 1.5's ``up_blocks.2-3``); RVM on every self-attention layer (the ablation row ``rvm_all``); and
the single-prompt Text2Video-Zero peer (diffusers' ``TextToVideoZeroPipeline`` on the same weights,
the paper's Figs. 2 and 5). Videos of one (noise, method) go through the UNet ``--batch`` at a time
(:meth:`~direct2v.pipeline.DirecT2VPipeline.videos`; frames of different videos never interact).

The peer gets one prompt for every frame: the storyboard's *first frame caption*, not the user's
prompt. The miniature model was trained on canonical captions only; the user's story prompt
("a red ball moves from left to right") holds words it never saw in training, so the peer would be
judged on a prompt it cannot read. The first caption is what a single-prompt method could best be
given, and matches the paper's point: T2V-Z with one prompt keeps showing that prompt.

Every method starts from the same noise for the same (story, seed) and uses the pipeline's defaults
otherwise (PNDM, mapping from 4 % of the steps, motion dynamics off as in the paper's section 4.1),
so differences between methods are paired. Two noise settings (``NOISES``, ``--noise``): the paper's
Text2Video-Zero warm start (every frame starts from frame 1's latent, re-noised), and independent
noise per frame, where nothing but the attention ties the frames together. The single-prompt peer
has no independent-noise form and runs under the warm start only. Guidance is the miniature's own
1.5, not the paper's 12.0 (see ``GUIDANCE``).

Per video: the CLIP score (0-100) of every frame against its own frame prompt and against the user
prompt, Avg. Dist., CLIP-Temp, warping error, narrative accuracy, background change, identity and
decoration consistency (the unnamed pattern and decorations of the shapes world, version 2), the
share of frames where an object that appears, disappears or changes colour is shown as the
storyboard says, and seconds; see :mod:`direct2v.metrics`. Written to ``--out``:
``frames.csv`` (story x seed x noise x method x frame; per storyboard object ``obj<k>``: the colour
it should show or ``absent``, the colour seen, and whether they agree), ``videos.csv`` (story x seed
x noise x method), ``table.md`` and ``summary.json`` (the command, the settings and the numbers):
per noise setting, Table 1's layout plus the other metrics with 95 % intervals of a cluster
bootstrap over stories (every seed of a drawn story kept: seeds of one story are not independent),
Avg. Dist. as the paper computes it (on the per-frame means), every method's paired difference to
per-frame self-attention and to cross-frame attention (the same story, seed and noise), the same
differences for the global-change stories (day to night) apart from the rest (``SCOPES``), and a
table per story kind.
:func:`committed` reads the committed numbers back for the book.

``--dsf-study`` asks where DSF should matter: RVM against RVM + DSF on the stories in which an
object appears, disappears or changes colour (``DSF_STORIES``), then a sweep of the DSF quantile
and of the step where value mapping starts on ``SWEEP_STORIES`` (``sweep.csv``, ``sweep.md``).

The package: :mod:`.design` (stories, methods, sizes), :mod:`.run` (generation and measurement),
:mod:`.tables` (summaries and tables), :mod:`.study` (the DSF sweep), :mod:`.records` (files written and
read back), :mod:`.findings` (sentences and the paper's claims) and :mod:`.command` (``main``); every name
is importable from ``direct2v.evaluate``.
"""
from .design import (AUTHORS, BATCH, CHANGES, DEFAULT_START, DSF_QUANTILE, DSF_STORIES, FULL, GLOBAL_KINDS,  # noqa: F401
                     GUIDANCE, KINDS, METHODS, MIN_STORIES, NOISES, NOISE_LABELS, QUICK, QUICK_STORIES,
                     REFERENCES, SCOPES, STORIES, SWEEP_QUANTILES, SWEEP_STARTS, SWEEP_STORIES)
from .run import (Results, generate, generate_batch, measure, object_verdicts, run,  # noqa: F401
                  story_tracks, video_seed)
from .tables import (FRAME_METRICS, KIND_METRICS, PAIRED_METRICS, SUMMARY_METRICS, SWEEP_METRICS, by_kind,  # noqa: F401
                     by_scope, event_table, kind_tables, markdown_table, paired_table, record, report,
                     scope_kinds, summarize, sweep_summary, sweep_table)
from .study import sweep, sweep_configs  # noqa: F401
from .records import COMMITTED, committed, committed_from, read_videos, write, write_sweep  # noqa: F401
from .findings import (FINDING_METRICS, PAPER_CLAIMS, PAPER_TABLE1, findings, paper_claims,  # noqa: F401
                       paper_comparison)
from .command import main  # noqa: F401

"""The motion comparison's judges (direct2v.motion.compare), checked on ground-truth clips."""
import math

import numpy as np

from direct2v.motion import compare
from direct2v.motion.data import make_clip


def test_a_ground_truth_clip_scores_full_motion():
    clip = make_clip("red", "square", "day", num_frames=6, seed=3)
    scores = compare.motion_scores(clip.frames, clip)
    assert scores == {"motion": 1.0, "monotone": 1.0, "video_ok": 1.0, "object_kept": 1.0, "background_kept": 1.0}


def test_a_frozen_clip_does_not_move_and_a_wrong_colour_is_not_found():
    clip = make_clip("red", "square", "day", num_frames=6, seed=3)
    frozen = np.repeat(clip.frames[:1], len(clip.frames), axis=0)
    scores = compare.motion_scores(frozen, clip)
    assert scores["monotone"] == 0.0 and scores["video_ok"] == 0.0 and scores["motion"] < 0.5
    other = make_clip("blue", "square", "day", num_frames=6, seed=3)
    assert compare.motion_scores(other.frames, clip)["object_kept"] == 0.0


def test_summaries_average_per_condition_and_the_table_has_a_row_per_run():
    rows = [{"run": "a", "condition": "seen", **{m: 1.0 for m in compare.METRICS}},
            {"run": "a", "condition": "new_object", **{m: 0.0 for m in compare.METRICS}},
            {"run": "b", "condition": "seen", **{m: 0.5 for m in compare.METRICS}}]
    summary = compare.summarize(rows)
    assert summary["a"]["all"]["motion"] == 0.5 and summary["a"]["all"]["videos"] == 2
    assert summary["a"]["new_object"]["motion"] == 0.0
    assert summary["b"]["seen"]["motion"] == 0.5 and "new_object" not in summary["b"]
    table = compare.markdown_table(summary)
    assert table.count("\n| a |") == 1 and table.count("\n| b |") == 1
    assert not math.isnan(summary["a"]["seen"]["clip_temp"])


def test_the_reports_unnormalised_noise_is_the_same_draws_with_a_smaller_variance(tiny_model):
    """``autoregressive_unnormalised`` starts from the report's formula: the same draws as ``autoregressive``,
    not rescaled (frame 1 equal, later frames quieter), and the pipeline starts from exactly those latents."""
    import torch

    import direct2v
    from direct2v.noise import sample_noise

    pipe = direct2v.load_pipeline(tiny_model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    a = sample_noise("autoregressive", 6, (4, 8, 8), 0.5, torch.Generator().manual_seed(0))
    b = sample_noise("autoregressive", 6, (4, 8, 8), 0.5, torch.Generator().manual_seed(0), normalize=False)
    assert torch.equal(a[0], b[0]) and b[1:].var() < 0.8 * a[1:].var()
    clip = make_clip("red", "square", "day", num_frames=3, seed=3)

    class Identity:      # tuned weights stand-in: plain self-attention, nothing applied
        method = "recurrent"

        def applied(self, unet, num_frames):
            from contextlib import nullcontext
            return nullcontext("self")

    videos = {n: compare.generate(pipe, clip, "recurrent", Identity(), n, steps=2, guidance_scale=1.0)
              for n in ("autoregressive", "autoregressive_unnormalised")}
    assert videos["autoregressive"].shape == videos["autoregressive_unnormalised"].shape
    assert not np.array_equal(videos["autoregressive"], videos["autoregressive_unnormalised"])
    with np.testing.assert_raises(ValueError):
        compare.generate(pipe, clip, "recurrent", Identity(), "warm_start", steps=2)

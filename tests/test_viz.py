"""Chapter plotting helpers (direct2v.viz) and attention recording during a pipeline call."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import direct2v  # noqa: E402
from direct2v import viz  # noqa: E402


def test_token_helpers_round_trip():
    assert viz.token_at(0, 0, 256) == 0 and viz.token_at(63, 63, 256) == 255
    assert viz.token_at(*viz.token_center(37, 256), 256) == 37
    assert viz.token_grid(np.arange(64)).shape == (8, 8)
    with pytest.raises(ValueError, match="square"):
        viz.token_grid(np.arange(10))


def test_verdict_labels():
    assert viz.verdict_label({"color": True, "row": None, "all": True})[0] == "ok"
    text, colour = viz.verdict_label({"color": False, "column": False})
    assert text == "x color, col" and colour == viz.BAD


def test_capture_on_a_built_interaction_records_the_call_and_matches_the_keywords(tiny_model):
    pipe = direct2v.load_pipeline(tiny_model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    prompts = ["a red circle at the top left, day background", "a red circle at the top right, day background"]
    interaction = direct2v.frame_interaction(2, 2, dsf_quantile=0.2)
    with direct2v.capture(interaction, steps=[1]) as records:
        frames = pipe(prompts, num_inference_steps=2, seed=0, interaction=interaction, output_type="np").frames
    assert pipe.interaction is interaction
    same = pipe(prompts, num_inference_steps=2, seed=0, dsf_quantile=0.2, output_type="np").frames
    np.testing.assert_allclose(frames, same, atol=1e-5)  # same interaction (capturing computes maps explicitly)
    assert {type(p).__name__ for p in pipe.unet.attn_processors.values()} != {"FrameInteractionProcessor"}
    assert records and {r.step for r in records} == {1} and {r.frame for r in records} == {0, 1}
    rec = records[0]
    assert rec.probs.shape[0] == rec.confidence.shape[0] == rec.mask.shape[0]
    fig = viz.strip_grid({"a": frames, "b": frames}, {"a": [{"color": True}] * 2, "b": [{"color": False}] * 2})
    import matplotlib.pyplot as plt

    assert len(fig.axes) == 2 * 2  # two rows of two frames
    _, ax = plt.subplots()
    viz.overlay(ax, frames[0], rec.probs[0].numpy())
    assert ax.images  # the frame and the map drawn on it
    plt.close("all")


def test_diagrams_follow_the_one_rule_and_keep_their_former_names():
    """The diagrams read FrameInteraction.attended_frames; before mapping_start every frame reads only itself."""
    assert viz.attended_frames("sparse_causal", 3, 1, 4, mapping_start=2) == [3]
    assert viz.attended_frames("sparse_causal", 3, 2, 4, mapping_start=2) == [0, 2]
    with pytest.warns(DeprecationWarning, match="use rvm_period="):
        assert viz.attended_frames("rvm", 1, 8, 4, period=4) == viz.attended_frames("rvm", 1, 8, 4, rvm_period=4)
    import matplotlib.pyplot as plt

    with pytest.warns(DeprecationWarning, match="use mapping_start="):
        viz.interaction_schedule(("rvm",), num_frames=3, num_steps=4, start_step=1)
    plt.close("all")

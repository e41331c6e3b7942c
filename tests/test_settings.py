"""The settings and their rules (direct2v.settings): one checker per rule, shared by the pipeline and the command."""
import math

import pytest

from direct2v import settings as S
from direct2v.attention import FrameInteraction, check_video_settings


@pytest.mark.parametrize("value, ok", [(3, True), (0, False), (True, False), (2.0, False), ("3", False)])
def test_check_int(value, ok):
    if ok:
        assert S.check_int("n", value, 1) == value
    else:
        with pytest.raises(S.SettingError, match=r"n=.* is not allowed; use an integer >= 1") as info:
            S.check_int("n", value, 1)
        assert info.value.name == "n" and info.value.value == value and info.value.allowed == "use an integer >= 1"


@pytest.mark.parametrize("value", [math.inf, math.nan, -0.5, 1.5, True, "0.5"])
def test_check_number_refuses(value):
    with pytest.raises(ValueError, match="x="):
        S.check_number("x", value, 0, 1)


def test_paper_defaults_in_one_place():
    assert S.PAPER_SETTINGS == {"num_inference_steps": 100, "guidance_scale": 12.0}
    assert S.default_mapping_start(100) == 4 and S.default_mapping_start(50) == 2  # T' = 96 of 100
    assert S.MODES[:len(S.ATTENTION_MODES)] == S.ATTENTION_MODES and set(S.VALUE_MAPPING_MODES) < set(S.MODES)
    from direct2v import cli, pipeline
    from direct2v.attention import functional

    assert pipeline.PAPER_SETTINGS is S.PAPER_SETTINGS and functional.DSF_SCOPES is S.DSF_SCOPES
    assert cli.build_parser().get_default("rvm_period") == S.PAPER_INTERACTION["rvm_period"]


def test_video_settings_builds_the_interaction_from_keywords():
    v = check_video_settings(num_frames=4, num_inference_steps=50, guidance_scale=7.5, dsf_quantile=0.1)
    ctrl = v.interaction
    assert isinstance(ctrl, FrameInteraction) and ctrl.attention == "rvm" and ctrl.rvm_period == 4 and ctrl.mapping_start == 2
    assert ctrl.dsf_quantile == 0.1 and v.warm_start == S.warm_start_steps(50) and v.max_batch_frames is None


def test_video_settings_takes_an_interaction_as_it_is():
    ctrl = FrameInteraction("random", num_frames=4, random_seed=5)
    v = check_video_settings(num_frames=4, num_inference_steps=10, guidance_scale=None, interaction=ctrl)
    assert v.interaction is ctrl and v.guidance_scale is None
    with pytest.raises(ValueError, match=r"interaction= and \['rvm_period'\] given together"):
        check_video_settings(num_frames=4, num_inference_steps=10, guidance_scale=3, interaction=ctrl, rvm_period=2)
    with pytest.raises(ValueError, match="mapping_start=20"):
        check_video_settings(num_frames=4, num_inference_steps=10, guidance_scale=3,
                               interaction=FrameInteraction(mapping_start=20))


@pytest.mark.parametrize("kwargs, message", [
    (dict(attention="spiral"), "attention='spiral'"),
    (dict(rvm_period=0), "rvm_period=0"),            # FrameInteraction's "period", named as the pipeline's keyword
    (dict(random_seed=-1), "random_seed=-1"),
    (dict(mapping_start=11), "mapping_start=11"),
    (dict(attention="sparse_causal", dsf_quantile=0.1), "needs a value-mapping attention"),
    (dict(attention="sparse_causal", max_batch_frames=2), "cannot cache"),
    (dict(max_batch_frames=1), "max_batch_frames=1"),
    (dict(seed=2 ** 64), "seed="),
    (dict(num_inference_steps=1), "too few for noise='warm_start'"),
    (dict(guidance_scale=math.nan), "guidance_scale=nan"),
])
def test_video_settings_rules(kwargs, message):
    kwargs = {"num_frames": 4, "num_inference_steps": 10, "guidance_scale": 3.0, **kwargs}
    with pytest.raises(S.SettingError, match=message):
        check_video_settings(**kwargs)


def test_noise_spec():
    assert S.NoiseSpec().warm_start(50) == (44, 47)
    assert S.NoiseSpec(noise="shared", noise_weight=0.2).warm_start(50) is None
    for kwargs, message in [(dict(noise="pink"), "noise='pink'"), (dict(noise_weight=2.0), "noise_weight=2.0"),
                            (dict(noise="independent", t0=0, t1=1), "only used with noise='warm_start'"),
                            (dict(noise="shared", motion_field_strength_x=1.0), "motion dynamics act in the warm start only"),
                            (dict(motion_field_strength_x=math.nan), "motion_field_strength_x=nan")]:
        with pytest.raises(S.SettingError, match=message):
            S.NoiseSpec(**kwargs)
    with pytest.raises(ValueError, match="t0=3, t1=2"):
        S.NoiseSpec(t0=3, t1=2).warm_start(10)


def test_model_settings_rules():
    assert S.check_settings({"guidance_scale": 3.0, "height": 64}) == {"guidance_scale": 3.0, "height": 64}
    for bad, message in [({"steps": 3}, "keys \\['steps'\\]"), ({"height": 60}, "height=60"),
                         ({"guidance_scale": -1}, "guidance_scale=-1"), ([], "is not allowed")]:
        with pytest.raises(ValueError, match=message):
            S.check_settings(bad, "x.json")

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


def test_former_names_still_work_with_a_warning():
    with pytest.warns(DeprecationWarning) as caught:
        old = FrameInteraction(mode="random", num_frames=4, period=2, start_step=1, seed=5)
    assert [str(w.message).split("=")[0] for w in caught] == [f"FrameInteraction({n}" for n in
                                                              ("mode", "period", "start_step", "seed")]
    new = FrameInteraction(attention="random", num_frames=4, rvm_period=2, mapping_start=1, random_seed=5)
    assert old.schedule(20) == new.schedule(20)
    with pytest.warns(DeprecationWarning):
        assert (old.mode, old.period, old.start_step, old.seed) == ("random", 2, 1, 5)
    with pytest.warns(DeprecationWarning) as caught:
        spec = S.NoiseSpec(kind="shared", weight=0.2)
    assert len(caught) == 2 and "use noise_weight=" in str(caught[1].message)
    assert spec == S.NoiseSpec(noise="shared", noise_weight=0.2)
    with pytest.warns(DeprecationWarning):
        assert S.NoiseSpec(motion=(1.0, 2.0)) == S.NoiseSpec(motion_field_strength_x=1.0, motion_field_strength_y=2.0)
    with pytest.warns(DeprecationWarning):
        assert (spec.kind, spec.weight, spec.motion) == ("shared", 0.2, (0.0, 0.0))
    assert not hasattr(S, "frame_interaction")  # moved to direct2v.attention, no shim: it would import upward
    with pytest.raises(TypeError, match="unexpected keyword argument 'modes'"):
        FrameInteraction(modes="rvm")


def test_one_name_per_knob():
    """Each setting has one name: the pipeline's keyword, FrameInteraction's argument, NoiseSpec's field, the flag."""
    import inspect

    from direct2v import cli
    from direct2v.pipeline import DirecT2VPipeline

    call = inspect.signature(DirecT2VPipeline.__call__).parameters
    assert set(S.KNOBS) <= set(call)
    assert set(S.INTERACTION_KEYWORDS) - {"dsf_quantile"} <= set(inspect.signature(FrameInteraction).parameters) \
        and "dsf_quantile" in inspect.signature(FrameInteraction).parameters
    assert tuple(S.NoiseSpec.__dataclass_fields__) == S.NOISE_KEYWORDS
    args = cli.build_parser().parse_args(["a ball", "--motion", "1", "0"])
    keywords = cli.video_keywords(args)
    assert set(keywords) <= set(S.KNOBS) and keywords["motion_field_strength_x"] == 1.0
    assert set(keywords) | {"num_frames", "noise_weight", "t0", "t1", "dsf_scope", "random_seed"} == set(S.KNOBS)


def test_the_command_checks_without_building(monkeypatch):
    """The command's check is the settings' rules only: no interaction is built (validation runs once, in pipe)."""
    from direct2v import cli
    from direct2v.attention import controller

    built = []
    monkeypatch.setattr(controller.FrameInteraction, "__init__", lambda self, *a, **k: built.append(1))
    args = cli.build_parser().parse_args(["a ball", "--attention", "cross_frame", "--mapping-start", "3"])
    v = cli.check_video(args, 8)
    assert not built and v.interaction["attention"] == "cross_frame" and v.interaction["mapping_start"] == 3


def test_settings_imports_no_other_module_of_the_package():
    import subprocess
    import sys

    code = "import sys, direct2v.settings; print(sorted(m for m in sys.modules if m.startswith('direct2v')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['direct2v', 'direct2v.settings']"


def test_model_settings_may_name_the_noise():
    """A model's direct2v.json may carry its own initial noise (an object of NoiseSpec fields)."""
    got = S.check_settings({"noise": {"noise": "warm_start", "t0": 40, "t1": 45}})
    assert got["noise"] == S.NoiseSpec(t0=40, t1=45)
    for bad, message in [({"noise": "shared"}, "noise='shared'"), ({"noise": {"kind": "shared"}}, "keys of"),
                         ({"noise": {"noise": "pink"}}, "noise='pink'"),
                         ({"noise": {"noise": "shared", "t0": 1, "t1": 2}}, "only used with"),
                         ({"num_inference_steps": 20, "noise": {"t0": 40, "t1": 45}}, "t0=40, t1=45")]:
        with pytest.raises(ValueError, match=message):
            S.check_settings(bad, "direct2v.json")
    shared = S.NoiseSpec(noise="shared", noise_weight=0.3)
    assert S.check_noise(None, shared) == shared and S.check_noise(None, None) == S.NoiseSpec()
    assert S.check_noise("independent", shared) == S.NoiseSpec(noise="independent")  # the caller's wins
    assert S.check_noise(None, shared, noise_weight=0.8) == S.NoiseSpec(noise="shared", noise_weight=0.8)
    with pytest.raises(ValueError, match="given together"):
        S.check_noise(shared, None, t0=3)

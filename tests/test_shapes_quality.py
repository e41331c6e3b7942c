"""The miniature's quality judges (direct2v.miniature.quality) and stage measurements
(direct2v.miniature.stage), checked on ground truth, where the answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from direct2v.pipeline import load_pipeline
from direct2v.miniature import quality
from direct2v.miniature import stage
from direct2v.world.captions import parse
from direct2v.world.render import render, render_with_truth
from direct2v.world.world import PATTERNS, Obj, Scene


def test_strict_judge_passes_rendered_scenes_and_counts_extra_objects():
    scenes = quality.scenes(120, 1, 3) + quality.scenes(60, 2, 4)
    rng = np.random.default_rng(0)
    images = np.stack([render(s, rng) for s in scenes])
    verdict = quality.judge_strict(images, scenes)
    assert min(verdict[size] for size in ("small", "medium", "large")) >= 0.98, verdict
    assert verdict["extra_object"] == 0.0
    # an unasked second object is caught
    one = Scene((Obj("red", "circle", "large", "left", "middle"),), "day")
    two = Scene((Obj("red", "circle", "large", "left", "middle"), Obj("blue", "square", "small", "far right", "top")), "day")
    assert quality.judge_strict(render(two, 1)[None], [one]) == {"large": 0.0, "extra_object": 1.0}


def test_pattern_judges_on_the_world_itself():
    truth = parse(quality.PATTERN_CAPTION)
    scene = Scene((Obj(*(getattr(truth.objects[0], k) for k in ("color", "shape", "size", "column", "row"))),),
                  truth.background)
    images = np.stack([render(scene, seed) for seed in range(60)])
    spread = quality.pattern_spread(images)
    assert spread["seen"] == 1.0 and spread["largest_share"] <= 0.4
    assert set(spread["counts"]) == set(PATTERNS) and sum(spread["counts"].values()) == 60
    assert quality.judge_patterns(images, [scene] * 60)["named"] >= 0.95


def test_decoration_rates_of_the_world_match_themselves():
    scenes = quality.scenes(100, 1, 5)
    images = np.stack([render(s, np.random.default_rng([9, i])) for i, s in enumerate(scenes)])
    rates = quality.decoration_rates(images, scenes, seed=6)
    assert set(rates) == {"day", "night", "desert", "grass", "dusk"}
    for background, r in rates.items():
        assert 0.5 < r["ratio"] < 2.0, (background, r)   # two independent samples of the same world


def test_vae_quality_reads_psnr_and_patterns_of_the_shipped_vae():
    pipe = load_pipeline("shapes", device="cpu")
    result = quality.vae_quality(pipe.vae, 32, 1, "cpu")
    assert result["psnr_db"] >= 30 and result["pattern"] >= 0.8


def test_object_mask_covers_the_object_tokens():
    image, (drawn,) = render_with_truth(Scene((Obj("green", "square", "large", "center", "middle"),), "night"), 0)
    mask = stage._object_mask(image, 16)
    assert mask.shape == (16, 16)
    assert mask[7:9, 7:9].min() > 0.9 and mask[0, 0] == 0 and mask[15, 15] == 0
    assert abs(mask.sum() * 16 - drawn.side ** 2) < 0.2 * drawn.side ** 2


def test_stage_on_a_tiny_model_scores_ground_truth_as_consistent(tiny_model, monkeypatch):
    pipe = load_pipeline(tiny_model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    monkeypatch.setattr(stage, "STAGE_PROMPTS", stage.STAGE_PROMPTS[:1])
    result = stage.stage(pipe, steps=2, seeds=(0,), num_frames=3)
    assert set(result) == {"ground truth", "warm_start", "independent"}
    assert result["ground truth"] == {"identity": 1.0, "decoration": 1.0}
    for name in ("warm_start", "independent"):
        for value in result[name].values():
            assert np.isnan(value) or 0.0 <= value <= 1.0


@pytest.mark.parametrize("levels", [(None,), ("up_blocks.1",), (("up_blocks.1", "up_blocks.2"),)])
def test_appearance_transfer_reports_every_level_asked(tiny_model, levels):
    pipe = load_pipeline(tiny_model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    result = stage.appearance_transfer(pipe, n=1, steps=2, levels=levels)
    assert list(result) == [stage._level_name(level) for level in levels]
    assert stage._level_name(("up_blocks.1", "up_blocks.2")) == "up_blocks.1+up_blocks.2"
    assert all(set(r) == {"transfer", "own", "kept", "unnamed", "place", "fragments", "n"} for r in result.values())


def test_correspondence_reads_the_captured_attention_of_the_shipped_model():
    pipe = load_pipeline("shapes", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    result = stage.correspondence(pipe, n=2, steps=8)
    assert result and set(result) <= set(stage.LEVELS)
    for level in result.values():
        assert level["tokens"] > 0 and 0.0 <= level["rate"] <= 1.0 and 0.0 < level["chance"] < 0.5
    assert pipe.interaction.captures == []  # the capture is closed after the call


def test_interaction_study_pairs_rules_and_summarises_per_kind(tiny_model):
    pipe = load_pipeline(tiny_model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    stories = (stage.STAGE_STORIES[0], stage.STAGE_STORIES[12])   # a move and a day-to-night story
    rows = stage.interaction_study(pipe, rules=("self", "rvm"), seeds=(0,), steps=2, num_frames=3, stories=stories,
                                   layers=["up_blocks.1"], progress=False)
    assert [(r["story"], r["rule"]) for r in rows] == [(0, "self"), (0, "rvm"), (1, "self"), (1, "rvm")]
    summary = stage.study_summary(rows)
    assert set(summary) == {"move", "day to night", "all", "all but day to night"}
    assert summary["all"]["stories"] == 2 and summary["all but day to night"]["stories"] == 1
    assert "diff" in summary["all"]["rvm"]["identity"] and "diff" not in summary["all"]["self"]["identity"]
    assert "| move | 1 | rvm |" in stage.study_table(summary)
    with pytest.raises(ValueError, match="rules="):
        stage.interaction_study(pipe, rules=("rmv",), stories=stories)


def test_study_summary_resamples_stories_and_differences_are_paired():
    rows = [dict(kind="k", story=s, seed=seed, rule=rule, identity=v, decoration=v, narrative=1.0)
            for s in range(4) for seed in (0, 1) for rule, v in (("self", 0.2 + 0.1 * s), ("rvm", 0.5 + 0.1 * s))]
    summary = stage.study_summary(rows)
    mean, low, high = summary["k"]["rvm"]["identity"]["diff"]
    assert mean == pytest.approx(0.3) and low == pytest.approx(0.3) and high == pytest.approx(0.3)
    assert summary["k"]["self"]["identity"]["mean"][0] == pytest.approx(0.35)


def test_targets_read_the_study_and_the_transfer_at_the_study_layers():
    def rows_for(kind, story, self_v, rvm_v, cross_v):
        return [dict(kind=kind, story=story, seed=0, rule=rule, identity=v, decoration=v, narrative=v)
                for rule, v in (("self", self_v), ("rvm", rvm_v), ("cross_frame", cross_v))]

    rows = rows_for("move", 0, 0.4, 0.9, 0.8) + rows_for("appear later", 1, 0.4, 0.9, 0.5)
    summary = stage.study_summary(rows)
    level = "up_blocks.1+up_blocks.2"
    got = {t: (m, met) for t, m, _, met in stage.targets(summary, {level: dict(transfer=0.75, fragments=0.1, n=20)},
                                                         ("up_blocks.1", "up_blocks.2"))}
    assert got["decorations kept, RVM"] == ("90% [90, 90]", True)
    assert got["decorations kept, RVM - self-attention"][1] is True
    assert got["pattern kept, self-attention"][1] is True
    assert got[f"appearance transfer at {level}"] == ("75% (20 pairs)", True)
    assert got["fragments"] == ("10%", False)
    assert got["Fig. 7: narrative, RVM - first-frame mapping, appear later"] == ("+40 [+40, +40] points", None)
    table = stage.targets_table(stage.targets(summary))
    assert "| pattern kept, RVM | 90% [90, 90] | >= 85% | yes |" in table and "appearance transfer" not in table


def test_the_card_quotes_the_committed_pilots_as_stage_writes_them():
    """Every row of the pilots' table in the model card's notes is what ``stage.pilots_table`` makes of the
    committed pilot records (``direct2v/data/stage-pilots``)."""
    notes = (stage.Path(stage.__file__).parent / "weights" / "notes.md").read_text()
    table = stage.pilots_table().strip().splitlines()
    assert len(table) > 2 and all(line in notes for line in table)
    transfer = stage.transfer_table().strip().splitlines()
    assert len(transfer) > 2 and all(line in notes for line in transfer)

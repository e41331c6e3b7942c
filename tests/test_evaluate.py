"""direct2v.evaluate: the Table 1 replication runs end to end on a tiny random-weight pipeline (and once on the
shipped weights); paired differences, per-kind tables, the DSF study and the committed-results reader."""
import csv
import json

import numpy as np
import pytest
from transformers import CLIPModel

from direct2v import evaluate as E
from direct2v.attention import authors_layers
from direct2v.director import StoryboardDirector


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, tiny_shapes):
    """The shapes model's configurations at size "tiny" with random weights, and a tiny CLIP in clip/."""
    folder = tmp_path_factory.mktemp("tiny")
    CLIPModel(tiny_shapes(folder)).save_pretrained(folder / "clip")
    return folder


def test_stories_cover_the_categories_and_direct():
    assert len(E.STORIES) >= 20
    assert {c for c, _ in E.STORIES} >= {"move", "appear later", "grow", "colour change", "day to night",
                                         "two objects"}
    director = StoryboardDirector()
    for _, prompt in E.STORIES:
        script = director.direct(prompt, num_frames=8)
        assert len(script.scenes) == 8, prompt
    assert set(E.METHODS) == {"self", "cross_frame", "sparse_causal", "random", "rvm", "rvm_dsf", "rvm_all",
                              "t2vz_peer"}


def test_the_main_rows_map_the_authors_layers_and_the_ablation_every_layer():
    """The authors' layers are the two highest-resolution decoder levels with attention: SD 1.5's up_blocks.2-3
    (the released code's RELEASED_CODE_LAYERS) and the shipped miniature's up_blocks.1-2; every main row maps
    them, the ablation row every self-attention layer."""
    import json
    from types import SimpleNamespace

    from direct2v.attention import RELEASED_CODE_LAYERS
    from direct2v.miniature.model import WEIGHTS

    sd15 = SimpleNamespace(config={"up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                                      "CrossAttnUpBlock2D"]})
    assert authors_layers(sd15) == RELEASED_CODE_LAYERS
    shipped = SimpleNamespace(config=json.loads((WEIGHTS / "unet" / "config.json").read_text()))
    assert authors_layers(shipped) == ("up_blocks.1", "up_blocks.2")
    with pytest.raises(ValueError, match="levels=5"):
        authors_layers(sd15, levels=5)
    for method, (_, args) in E.METHODS.items():
        if args is not None and args["attention"] != "self":
            assert args.get("attention_layers") == (None if method == "rvm_all" else E.AUTHORS), method


def test_a_video_made_in_a_batch_equals_the_video_made_alone(tiny_folder):
    """Frames of different videos never interact: videos() gives each video what pipe() gives it alone."""
    import direct2v

    pipe = direct2v.load_pipeline(tiny_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    prompts = [["a red ball at the left on grass", "a red ball at the right on grass", "a red ball at night"],
               ["a blue square in the desert"] * 3, ["a small yellow triangle at night"] * 3]
    for method in ("rvm_dsf", "sparse_causal", "random"):
        for noise in ("warm_start", "independent"):
            args = dict(num_inference_steps=6, guidance_scale=1.5, output_type="np", noise=noise,
                        **{**E.METHODS[method][1], "attention_layers": authors_layers(pipe.unet)})
            many = pipe.videos(prompts, [3, 4, 5], **args)
            for p, seed, video in zip(prompts, (3, 4, 5), many):
                alone = pipe(p, seed=seed, **args).frames
                np.testing.assert_allclose(video, alone, atol=1e-4, err_msg=f"{method}, {noise}")
    mixed = pipe.videos(prompts[::-1], [5, 4, 3], **args)   # another neighbour, the same video
    np.testing.assert_allclose(mixed[2], many[0], atol=1e-4)
    assert np.abs(many[0] - many[1]).max() > 0.1                  # and the videos do differ
    with pytest.raises(ValueError, match="one seed per video"):
        pipe.videos(prompts, [1, 2])
    with pytest.raises(ValueError, match="not allowed in videos"):
        pipe.videos(prompts, [1, 2, 3], max_batch_frames=2)
    with pytest.raises(ValueError, match="same number of frame prompts"):
        pipe.videos([prompts[0], prompts[1][:2]], [1, 2])


def test_run_measures_every_video_and_writes_files(tiny_folder, tmp_path):
    import direct2v
    from direct2v.metrics import CLIPScorer

    pipe = direct2v.load_pipeline(tiny_folder, device="cpu")
    scorer = CLIPScorer.from_pretrained(tiny_folder / "clip", device="cpu")
    methods = ("self", "cross_frame", "rvm_dsf", "t2vz_peer")
    results = E.run(pipe, scorer, stories=[0], seeds=(0,), methods=methods, steps=3, frames=3, device="cpu",
                    progress=False, keep_videos=True, noises=("warm_start", "independent"))
    # the peer has no independent-noise form: 4 videos under the warm start, 3 under independent noise
    assert len(results.videos) == 7 and len(results.frames) == 21
    row = results.videos[0]
    for key in ("clip_avg", "video_avg_dist", "clip_temp", "warp_error", "background_change", "narrative_all", "seconds",
                "identity_consistency", "decoration_consistency", "event_accuracy", "noise"):
        assert key in row
    assert 0 <= row["clip_avg"] <= 100 and 0 <= row["narrative_all"] <= 1 and row["seconds"] > 0
    assert {"obj1", "obj1_expected", "obj1_seen", "obj1_right"} <= set(results.frames[0])
    videos = results.settings["videos"]
    assert videos[(0, 0, "self", "warm_start")].shape == (3, 64, 64, 3)
    # paired noise: with cross-frame attention frame 1 attends to itself, so it is frame 1 of self-attention
    for noise in ("warm_start", "independent"):
        first = [videos[(0, 0, m, noise)][0].astype(int) for m in ("self", "cross_frame")]
        assert np.abs(first[0] - first[1]).max() <= 3   # different seeds would differ by ~100
    assert not np.array_equal(videos[(0, 0, "self", "warm_start")], videos[(0, 0, "rvm_dsf", "warm_start")])
    assert not np.array_equal(videos[(0, 0, "self", "warm_start")], videos[(0, 0, "self", "independent")])
    out = E.write(results, tmp_path / "out", command="test")
    table = (out / "table.md").read_text()
    assert "| Frame 3 |" in table and "Avg. Dist." in table and "RVM+DSF" in table and "T2V-Z, 1 prompt" in table
    assert "## Noise `independent`" in table and "### Paired difference to T2V-Z attn" in table
    with open(out / "frames.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 21
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["frames"] == 3 and set(summary["summary"]) == set(methods)
    assert set(summary["by_noise"]["independent"]) == set(methods) - {"t2vz_peer"}
    assert len(E.read_videos(out)) == 7
    read = E.committed(out)
    assert read["noise"]["independent"]["rvm_dsf"]["paired"]["self"]["clip_avg"] == \
        summary["by_noise"]["independent"]["rvm_dsf"]["paired"]["self"]["clip_avg"]
    assert list(tmp_path.joinpath("out").iterdir()) and not list(tmp_path.joinpath("out").glob(".*tmp*"))


def test_quick_command_line(tiny_folder, tmp_path, capsys):
    E.main(["--quick", "--model", str(tiny_folder), "--clip", str(tiny_folder / "clip"), "--device", "cpu",
            "--stories", "6", "--frames", "2", "--steps", "3", "--out", str(tmp_path)])
    assert "| Frame 2 |" in capsys.readouterr().out
    assert (tmp_path / "videos.csv").exists() and (tmp_path / "table.md").exists()


def test_an_interrupted_run_resumes_from_its_kept_batches(tiny_folder, tmp_path, monkeypatch):
    """``resume=``: the batches measured before an interruption are read back, not made again; the result is
    the uninterrupted run's; other settings in the same folder are refused."""
    import importlib

    import direct2v
    from direct2v.metrics import CLIPScorer

    R = importlib.import_module("direct2v.evaluate.run")  # the module (the package's ``run`` is its function)
    pipe = direct2v.load_pipeline(tiny_folder, device="cpu")
    scorer = CLIPScorer.from_pretrained(tiny_folder / "clip", device="cpu")
    kw = dict(stories=[0, 13], seeds=(0,), methods=("self", "rvm"), steps=3, frames=3, device="cpu", progress=False,
              batch=1)
    whole = E.run(pipe, scorer, **kw)
    made, generate = [], R.generate_batch

    def interrupted(*args, **kwargs):
        if len(made) == 2:
            raise KeyboardInterrupt
        made.append(1)
        return generate(*args, **kwargs)

    monkeypatch.setattr(R, "generate_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        E.run(pipe, scorer, resume=tmp_path / "kept", **kw)
    assert len(list((tmp_path / "kept").glob("chunk-*.json"))) == 2
    made.clear()
    monkeypatch.setattr(R, "generate_batch", lambda *a, **k: made.append(1) or generate(*a, **k))
    resumed = E.run(pipe, scorer, resume=tmp_path / "kept", **kw)
    assert len(made) == 2  # the two batches not kept: 4 batches of one video in all
    def same(rows):  # as JSON, where NaN equals NaN; a video's seconds differ between runs
        return json.dumps([{k: v for k, v in r.items() if k != "seconds"} for r in rows], sort_keys=True)

    assert same(resumed.videos) == same(whole.videos) and same(resumed.frames) == same(whole.frames)
    assert resumed.settings == whole.settings and whole.settings["dtype"] == "float32"
    with pytest.raises(ValueError, match="resume=.*other settings \\(steps\\)"):
        E.run(pipe, scorer, resume=tmp_path / "kept", **{**kw, "steps": 4})


def test_command_line_loads_the_pipeline_in_the_precision_asked(tiny_folder, tmp_path, monkeypatch):
    """``--dtype bfloat16`` (about twice as fast on CPUs with AMX; benchmarks/evaluation.py --sides precision)."""
    import torch

    import direct2v.pipeline as P

    made, load = [], P.load_pipeline
    monkeypatch.setattr(P, "load_pipeline", lambda *a, **k: made.append(load(*a, **k)) or made[-1])
    E.main(["--quick", "--model", str(tiny_folder), "--clip", str(tiny_folder / "clip"), "--device", "cpu",
            "--stories", "6", "--frames", "2", "--steps", "3", "--out", str(tmp_path), "--dtype", "bfloat16"])
    assert made[0].unet.dtype == torch.bfloat16 and (tmp_path / "videos.csv").exists()


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="methods"):
        E.run(object(), object(), stories=[0], methods=("nope",))
    with pytest.raises(ValueError, match="story index 99"):
        E.run(object(), object(), stories=[99])
    with pytest.raises(ValueError, match="frames"):
        E.run(object(), object(), stories=[0], frames=1)
    with pytest.raises(SystemExit):
        E.main(["--methods", "nope", "--device", "cpu"])


# ------------------------------------------------------------------ summaries on synthetic rows
def _synthetic(noise="warm_start", shift=0.25):
    """Two stories of two kinds x two seeds; ``rvm`` = ``self`` + ``shift`` on every metric, ``cross_frame`` = ``self``."""
    videos, frames = [], []
    for story, kind in ((0, "move"), (13, "colour change")):
        for seed in (0, 1):
            base = 0.3 + 0.2 * seed + 0.1 * (story == 13)
            for method, d in (("self", 0.0), ("cross_frame", 0.0), ("rvm", shift)):
                key = dict(story=story, category=kind, prompt=E.STORIES[story][1], seed=seed, method=method,
                           noise=noise)
                videos.append({**key, **{col: base + d for col, *_ in E.SUMMARY_METRICS}})
                frames += [{**key, "frame": f, "clip_frame": 50.0 + d, "event_right": "" if story == 0 else 1.0}
                           for f in (1, 2)]
    return videos, frames


SETTINGS = dict(frames=2, steps=3, guidance=3.0, seeds=[0, 1], methods=["self", "cross_frame", "rvm"],
                noises=["warm_start", "independent"], stories=[E.STORIES[0], E.STORIES[13]], dsf_quantile=0.05,
                device="cpu")


def test_paired_differences_to_self_and_cross_frame():
    v1, f1 = _synthetic("warm_start", 0.25)
    v2, f2 = _synthetic("independent", -0.1)
    summary = E.summarize(v1 + v2, f1 + f2, SETTINGS)             # the first noise setting
    rvm = summary["rvm"]["paired"]
    assert set(rvm) == {"self", "cross_frame"} and set(summary["self"]["paired"]) == {"cross_frame"}
    for ref in ("self", "cross_frame"):
        d = rvm[ref]["narrative_all"]
        assert (d["mean"], d["low"], d["high"]) == pytest.approx((0.25, 0.25, 0.25)) and d["units"] == 4
    same = summary["cross_frame"]["paired"]["self"]["identity_consistency"]
    assert same["mean"] == 0 and same["low"] <= 0 <= same["high"]
    assert summary["rvm"]["videos"] == 4 and summary["rvm"]["event_per_frame"] == [1.0, 1.0]
    other = E.summarize(v1 + v2, f1 + f2, SETTINGS, "independent")["rvm"]["paired"]["self"]["clip_avg"]["mean"]
    assert other == pytest.approx(-0.1)


def test_per_kind_tables_group_by_story_kind():
    videos, frames = _synthetic()
    kinds = E.by_kind(videos, SETTINGS, "warm_start")
    assert list(kinds) == ["move", "colour change"]        # the order of STORIES' categories
    assert kinds["move"]["rvm"]["narrative_all"] == pytest.approx(np.mean([0.3, 0.5]) + 0.25)
    assert kinds["colour change"]["self"]["narrative_all"] == pytest.approx(np.mean([0.4, 0.6]))
    assert kinds["move"]["self"]["videos"] == 2
    rec = E.record(videos, frames, {**SETTINGS, "noises": ["warm_start"]}, command="synthetic")
    table = E.report(rec)
    assert table.startswith("Command: `synthetic`") and "## Noise `warm_start`" in table
    assert "### Per story kind" in table and "| colour change (2) | 50.0 | 50.0 | 75.0 |" in table
    assert "| Narrative: all attributes right (%) ↑ | +0.0 [0.0, 0.0] | +25.0 [25.0, 25.0] |" in table


def test_table_avg_dist_is_the_papers_and_headlines_keep_day_to_night_apart():
    """Avg. Dist. of the table is avg_dist of the per-frame means (not the mean of per-video distances); the
    global-change stories (day to night) are summarised apart from the rest, intervals over stories."""
    from direct2v.metrics import avg_dist

    videos, frames = [], []
    for story in (0, 6, 13, 16, 17, 18):
        for seed in (0, 1):
            key = dict(story=story, category=E.STORIES[story][0], prompt=E.STORIES[story][1], seed=seed,
                       noise="warm_start")
            for method, d in (("self", 0.0), ("rvm", 0.1 if story < 16 else -0.2)):
                videos.append({**key, "method": method, **{col: 0.5 + d for col, *_ in E.SUMMARY_METRICS}})
                scores = [60.0, 50.0] if seed == 0 else [50.0, 60.0]     # each video moves by 10, the mean does not
                frames += [{**key, "method": method, "frame": f + 1, "clip_frame": s + 10 * d, "event_right": ""}
                           for f, s in enumerate(scores)]
    settings = {**SETTINGS, "methods": ["self", "rvm"], "noises": ["warm_start"],
                "stories": [E.STORIES[i] for i in (0, 6, 13, 16, 17, 18)]}
    summary = E.summarize(videos, frames, settings)
    assert summary["self"]["metrics"]["avg_dist"]["mean"] == 0.0 == avg_dist([55.0, 55.0])
    rec = E.record(videos, frames, settings, command="synthetic")
    scopes = rec["by_scope"]["warm_start"]
    assert list(scopes) == ["global change", "local change"]
    assert scopes["global change"]["rvm"]["paired"]["self"]["narrative_all"]["mean"] == pytest.approx(-0.2)
    assert scopes["local change"]["rvm"]["paired"]["self"]["narrative_all"]["mean"] == pytest.approx(0.1)
    assert scopes["local change"]["rvm"]["paired"]["self"]["narrative_all"]["stories"] == 3
    assert rec["by_kind"]["warm_start"]["day to night"]["rvm"]["paired"]["clip_avg"]["mean"] == pytest.approx(-0.2)
    table = E.report(rec)
    assert "### Global change stories (day to night): difference to Self-attn" in table
    assert "### Local change stories (move, appear later, colour change): difference to Self-attn" in table
    claims = E.paper_claims(E.committed_from(rec))
    assert "| RVM follows the frame prompts better than T2V-Z's attention (Table 1, average CLIP score)" not in claims
    assert "RVM minus Self-attn, Narrative" not in claims   # only the paper's claims, only rows the run has
    identity = [line for line in claims.splitlines() if "Identity consistency" in line]
    assert len(identity) == 2 and "| global change (3) | -20.0 [-20.0, -20.0] | reversed |" in identity[0]
    assert "| local change (3) | +10.0 [10.0, 10.0] | reproduced |" in identity[1]
    two = E.committed_from(E.record([v for v in videos if v["story"] not in (6, 18)],
                                    [f for f in frames if f["story"] not in (6, 18)], settings))
    assert "| global change (2) | -20.0 [-20.0, -20.0] | too few stories |" in E.paper_claims(two)
    assert "too few stories to tell (-20.0 points on 2)" in E.findings(two)
    text = E.findings(E.committed_from(rec))
    assert text.index("**Global change**") < text.index("**Local change**")
    assert "lower by 20.0 points" in text.split("**Local change**")[0]
    assert "higher by 10.0 points" in text.split("**Local change**")[1]


def test_old_summaries_still_render():
    videos, frames = _synthetic()
    summary = E.summarize(videos, frames, SETTINGS)
    for entry in summary.values():      # a summary.json written before the version-2 metrics
        for col in ("identity_consistency", "decoration_consistency", "event_accuracy"):
            del entry["metrics"][col]
        del entry["paired"]
    old = {k: v for k, v in SETTINGS.items() if k != "noises"}
    table = E.markdown_table(summary, old)
    assert "Avg. Dist." in table and "Identity" not in table
    assert "Avg. Dist." in E.report({"command": "", "settings": old, "summary": summary})


# ------------------------------------------------------------------ the storyboard's objects, frame by frame
def test_dsf_stories_are_those_whose_objects_appear_disappear_or_recolour():
    director = StoryboardDirector()
    changing = [i for i, (_, p) in enumerate(E.STORIES)
                if any(t["changes"] for t in E.story_tracks(director.direct(p, num_frames=8)))]
    assert tuple(changing) == E.DSF_STORIES and set(E.SWEEP_STORIES) <= set(E.DSF_STORIES)
    assert {E.STORIES[i][0] for i in E.DSF_STORIES} == {"appear later", "colour change", "two objects"}


@pytest.mark.parametrize("story", [9, 13, 22])   # disappears, turns red, appears
def test_object_verdicts_agree_on_the_ground_truth_video(story):
    from direct2v.world.detect import detect
    from direct2v.world.render import render_story

    script = StoryboardDirector().direct(E.STORIES[story][1], num_frames=8)
    tracks = E.story_tracks(script)
    video = render_story(script.scenes, seed=0)
    verdicts = [E.object_verdicts(detect(f), scene, tracks, k) for k, (f, scene) in enumerate(zip(video, script.scenes))]
    expected = [[e for e, _ in v] for v in verdicts]
    assert all(e == s for v in verdicts for e, s in v), verdicts
    changing = next(k for k, t in enumerate(tracks) if t["changes"])
    column = [e[changing] for e in expected]
    assert len(set(column)) == 2    # the object changes: absent <-> present, or one colour to another
    blank = np.stack([np.full_like(video[0], video[0][0, 0])] * 8)   # background only: every object absent
    seen = [E.object_verdicts(detect(f), scene, tracks, k) for k, (f, scene) in enumerate(zip(blank, script.scenes))]
    assert all(s == "absent" for v in seen for _, s in v)


# ------------------------------------------------------------------ command line: new options
@pytest.mark.parametrize("flag,value", [("--noise", "warm,independent"), ("--noise", ""),
                                        ("--sweep-quantiles", "0,1.5"), ("--sweep-quantiles", "x"),
                                        ("--sweep-starts", "0,-0.1"), ("--batch", "0"), ("--dtype", "float64")])
def test_bad_new_options_exit_2_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as err:
        E.main([flag, value, "--device", "cpu"])
    assert err.value.code == 2 and flag in capsys.readouterr().err


def test_run_rejects_bad_noises_and_sweep_values():
    with pytest.raises(ValueError, match="noises"):
        E.run(object(), object(), stories=[0], noises="warm_start")
    with pytest.raises(ValueError, match="noises"):
        E.run(object(), object(), stories=[0], noises=("nope",))
    with pytest.raises(ValueError, match="quantiles"):
        E.sweep(object(), object(), stories=[13], quantiles=(2,))


def test_sweep_configs_vary_one_setting_at_a_time():
    configs = E.sweep_configs(steps=50)
    assert (0.0, 2, 0.04) in configs and (0.4, 2, 0.04) in configs and (0.05, 10, 0.2) in configs
    assert len(configs) == 9                       # 5 quantiles + 5 starts, the default counted once
    assert len(E.sweep_configs((0.05,), (0.0, 0.04), steps=3)) == 1   # equal step counts are one config


def test_dsf_study_command_line(tiny_folder, tmp_path, capsys):
    E.main(["--dsf-study", "--model", str(tiny_folder), "--clip", str(tiny_folder / "clip"), "--device", "cpu",
            "--stories", "13", "--sweep-stories", "9", "--seeds", "0", "--frames", "2", "--steps", "3",
            "--noise", "independent", "--sweep-quantiles", "0,0.4", "--sweep-starts", "0.5", "--out", str(tmp_path)])
    assert "| Noise | DSF quantile |" in capsys.readouterr().out
    assert {r["method"] for r in E.read_videos(tmp_path)} == {"rvm", "rvm_dsf"}
    with open(tmp_path / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(float(r["dsf_quantile"]), int(r["mapping_start"])) for r in rows] == [(0.0, 0), (0.4, 0), (0.05, 2)]
    assert {r["story"] for r in rows} == {"9"} and {r["noise"] for r in rows} == {"independent"}
    assert "| independent | 0.4 | 0 (4 %) |" in (tmp_path / "sweep.md").read_text()
    assert len(E.committed(tmp_path)["sweep"]) == 3


# ------------------------------------------------------------------ committed results, shipped weights
def test_committed_numbers_are_read_from_the_committed_files():
    """What the book quotes through ``committed()`` is what the committed table shows."""
    read = E.committed()
    assert E.committed("evaluation") == read
    assert read["command"].startswith("python -m direct2v.evaluate")
    methods = read["noise"]["warm_start"]
    first = next(iter(methods))
    s = methods[first]["narrative_all"]
    cell = f"{100 * s['mean']:.1f} [{100 * s['low']:.1f}, {100 * s['high']:.1f}]"
    table = (E.COMMITTED / "table.md").read_text()
    assert f"| Narrative: all attributes right (%) ↑ | {cell} |" in table
    assert len(methods[first]["clip_per_frame"]) == read["settings"]["frames"]
    assert f"| Frame 1 | {methods[first]['clip_per_frame'][0]:.2f} |" in table
    videos = [v for v in E.read_videos(E.COMMITTED) if v["method"] == first and v.get("noise", "warm_start") in
              ("warm_start", "")]
    assert s["mean"] == pytest.approx(np.mean([v["narrative_all"] for v in videos]))


def test_smoke_on_the_shipped_weights(tmp_path, capsys):
    """The tiniest run on the shipped miniature: both noises, the paired columns, every file."""
    E.main(["--stories", "13", "--seeds", "0", "--methods", "self,cross_frame", "--frames", "2", "--steps", "3",
            "--device", "cpu", "--out", str(tmp_path)])
    assert "## Noise `independent`" in capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {"frames.csv", "videos.csv", "table.md", "summary.json"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["command"].startswith("python -m direct2v.evaluate --stories 13")
    for noise in E.NOISES:
        paired = summary["by_noise"][noise]["cross_frame"]["paired"]["self"]
        assert set(paired) == set(E.PAIRED_METRICS) and paired["clip_avg"]["units"] == 1
        assert summary["by_kind"][noise]["colour change"]["self"]["videos"] == 1
    assert {(r["noise"], r["method"]) for r in E.read_videos(tmp_path)} == {
        (n, m) for n in E.NOISES for m in ("self", "cross_frame")}
    with open(tmp_path / "frames.csv") as fh:
        frames = list(csv.DictReader(fh))
    assert [r["obj1_expected"] for r in frames[:2]] == ["yellow", "red"] and frames[0]["obj1_right"] in ("0", "1")


def test_the_chapter_quotes_findings_read_from_the_committed_files():
    """The evaluation chapter's result sentences are written by ``findings`` from the committed
    summary (numbers and the words higher/lower), and its prose types no result number itself."""
    import json
    import re
    from pathlib import Path

    results = E.committed()
    scoped = [("all", results["noise"]["warm_start"])] + list(results.get("scope", {}).get("warm_start", {}).items())
    for scope, table in scoped:
        text = E.findings(results, scope=scope)
        paired = table["rvm"]["paired"]["self"]["identity_consistency"]
        identity = text.split("**RVM**")[1].split(";")[0]   # the first clause: pattern kept
        if paired["stories"] < E.MIN_STORIES:
            assert f"too few stories to tell ({100 * paired['mean']:+.1f} points on {paired['stories']})" in identity
            continue
        assert f"{100 * abs(paired['mean']):.1f}" in text and f"{100 * paired['low']:+.1f}" in text
        assert ("higher" in identity) == (paired["low"] > 0) and ("lower" in identity) == (paired["high"] < 0)
    assert len(scoped) == 3, "the committed run has the global-change stories apart from the rest"
    table = E.paper_comparison(results)
    assert "0.3113" in table and f"{results['noise']['warm_start']['rvm']['clip_avg']['mean']:.2f}" in table
    book = Path(__file__).parent.parent / "book" / "measuring_a_video.ipynb"
    cells = json.loads(book.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert any("E.findings(" in s for s in sources) and any("E.paper_comparison(" in s for s in sources)
    prose = [next(s for s in sources if "What the miniature reproduces" in s).split("What the miniature reproduces")[1],
             next(s for s in sources if s.startswith("**Reading it against the paper.**")),
             next(s for s in sources if s.startswith("**What the DSF study shows.**"))]
    for text in prose:   # no result typed in: no decimals, no percentages (the intervals' "95%" is the method)
        assert not re.search(r"\d+\.\d+|\d+ ?%", text.replace("95%", "")), text

"""direct2v.evaluate: the Table 1 replication runs end to end on a tiny random-weight pipeline."""
import csv
import json

import numpy as np
import pytest
from transformers import CLIPModel

from direct2v import evaluate as E
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
    assert set(E.METHODS) == {"self", "cross_frame", "sparse_causal", "random", "rvm", "rvm_dsf", "t2vz_peer"}


def test_run_measures_every_video_and_writes_files(tiny_folder, tmp_path):
    import direct2v
    from direct2v.metrics import CLIPScorer

    pipe = direct2v.load_pipeline(tiny_folder, device="cpu")
    scorer = CLIPScorer.from_pretrained(tiny_folder / "clip", device="cpu")
    methods = ("self", "cross_frame", "rvm_dsf", "t2vz_peer")
    results = E.run(pipe, scorer, stories=[0], seeds=(0,), methods=methods, steps=3, frames=3, device="cpu",
                    progress=False, keep_videos=True)
    assert len(results.videos) == 4 and len(results.frames) == 12
    row = results.videos[0]
    for key in ("clip_avg", "avg_dist", "clip_temp", "warp_error", "background_change", "narrative_all", "seconds"):
        assert key in row
    assert 0 <= row["clip_avg"] <= 100 and 0 <= row["narrative_all"] <= 1 and row["seconds"] > 0
    videos = results.settings["videos"]
    assert videos[(0, 0, "self")].shape == (3, 64, 64, 3)
    # paired noise: with cross-frame attention frame 1 attends to itself, so it is frame 1 of self-attention
    first = [videos[(0, 0, m)][0].astype(int) for m in ("self", "cross_frame")]
    assert np.abs(first[0] - first[1]).max() <= 3   # different seeds would differ by ~100
    assert not np.array_equal(videos[(0, 0, "self")], videos[(0, 0, "rvm_dsf")])
    out = E.write(results, tmp_path / "out", command="test")
    table = (out / "table.md").read_text()
    assert "| Frame 3 |" in table and "Avg. Dist." in table and "RVM+DSF" in table and "T2V-Z, 1 prompt" in table
    with open(out / "frames.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 12
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["frames"] == 3 and set(summary["summary"]) == set(methods)
    assert len(E.read_videos(out)) == 4


def test_quick_command_line(tiny_folder, tmp_path, capsys):
    E.main(["--quick", "--model", str(tiny_folder), "--clip", str(tiny_folder / "clip"), "--device", "cpu",
            "--stories", "6", "--frames", "2", "--steps", "3", "--out", str(tmp_path)])
    assert "| Frame 2 |" in capsys.readouterr().out
    assert (tmp_path / "videos.csv").exists() and (tmp_path / "table.md").exists()


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="methods"):
        E.run(object(), object(), stories=[0], methods=("nope",))
    with pytest.raises(ValueError, match="story index 99"):
        E.run(object(), object(), stories=[99])
    with pytest.raises(ValueError, match="frames"):
        E.run(object(), object(), stories=[0], frames=1)
    with pytest.raises(SystemExit):
        E.main(["--methods", "nope", "--device", "cpu"])

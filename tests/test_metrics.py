"""direct2v.metrics: CLIP score, Avg. Dist., CLIP-Temp, warping error, narrative accuracy, consistency, bootstrap."""
import json

import cv2
import numpy as np
import pytest
import torch

from direct2v import metrics as M
from direct2v.director import StoryboardDirector
from direct2v.miniature import model as mini
from direct2v.world import caption, random_scene, render
from direct2v.world.render import render_story
from direct2v.world.world import Obj, Scene

STORY = "a red ball moves from left to right while day turns to night"


def _clip_is_trained() -> bool:
    log = mini.WEIGHTS / "training_log.json"
    return (mini.WEIGHTS / "clip" / "config.json").exists() and log.exists() and \
        any(r.get("part") == "clip" for r in json.loads(log.read_text()))


@pytest.fixture(scope="module")
def script():
    return StoryboardDirector().direct(STORY, num_frames=6)


@pytest.fixture(scope="module")
def tiny_scorer():
    torch.manual_seed(0)
    from transformers import CLIPModel
    tok = mini.build_tokenizer()
    return M.CLIPScorer(CLIPModel(mini.clip_config(tok, "tiny")), tokenizer=tok, device="cpu")


def _texture(shape, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur((rng.random(shape) * 255).astype(np.uint8), (0, 0), 2.0)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)


def _translation_video(dx=3, frames=3):
    """Content moving right by dx px per frame: the right border of frame t leaves the view in t+1."""
    big = _texture((100, 140, 3))
    return np.stack([big[10:74, 30 - k * dx:94 - k * dx] for k in range(frames)])


# ----------------------------------------------------------------------------- CLIP score
PAPER_TABLE1_FRAMES = {  # DirecT2V Table 1: per-frame mean CLIP similarity, and its printed Avg. Dist.
    "T2V-Z": ([0.3208, 0.2950, 0.2894, 0.2865, 0.2935, 0.2889, 0.2858, 0.2888], 0.0272),
    "TAV": ([0.3236, 0.2947, 0.2909, 0.2931, 0.3006, 0.3013, 0.2980, 0.2988], 0.0235),
    "RVM": ([0.3143, 0.3026, 0.3056, 0.3123, 0.3137, 0.3052, 0.3103, 0.3052], 0.0057),
    "RVM+DSF": ([0.3180, 0.3077, 0.3077, 0.3095, 0.3131, 0.3122, 0.3142, 0.3077], 0.0067),
}


@pytest.mark.parametrize("method", list(PAPER_TABLE1_FRAMES))
def test_avg_dist_reproduces_the_papers_table_1(method):
    frames, printed = PAPER_TABLE1_FRAMES[method]
    assert round(M.avg_dist(frames), 4) == printed
    assert round(M.video_avg_dist(frames), 4) != printed  # the mean over f = 2..F is another statistic


def test_avg_dist_by_hand_and_means_over_videos_first():
    assert M.avg_dist([30.0, 28.0, 31.0, 25.0]) == pytest.approx((0 + 2 + 1 + 5) / 4)
    assert M.video_avg_dist([30.0, 28.0, 31.0, 25.0]) == pytest.approx((2 + 1 + 5) / 3)
    assert M.avg_dist([20.0, 20.0]) == 0.0
    videos = np.array([[30.0, 20.0], [20.0, 30.0]])   # each video moves by 10, their mean does not move
    assert M.avg_dist(videos) == 0.0
    assert M.avg_dist(videos) != np.mean([M.video_avg_dist(v) for v in videos])
    with pytest.raises(ValueError, match="at least 2"):
        M.avg_dist([30.0])
    with pytest.raises(ValueError, match="at least 2"):
        M.video_avg_dist([30.0])


def test_clip_temp_of_identical_frames_is_one():
    e = np.random.default_rng(0).normal(size=(1, 16))
    np.testing.assert_allclose(M.clip_temp(np.repeat(e, 4, 0)), 1.0, atol=1e-6)
    assert M.clip_temp(np.array([[1.0, 0.0], [0.0, 1.0]]))[0] == pytest.approx(0.0)


def test_tiny_clip_ranges_and_shapes(tiny_scorer):
    video = render_story(StoryboardDirector().direct("a red ball falls", num_frames=3).scenes)
    s = tiny_scorer.scores(video, ["a red circle", "a blue square", "night"])
    assert s.shape == (3,) and np.all((0 <= s) & (s <= 100))
    assert tiny_scorer.scores(video, "a red circle").shape == (3,)
    assert tiny_scorer.clip_temp(np.repeat(video[:1], 3, 0)) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="prompts for 3 frames"):
        tiny_scorer.scores(video, ["a", "b"])


@pytest.mark.skipif(not _clip_is_trained(), reason="the miniature CLIP is not trained yet")
def test_miniature_clip_prefers_the_right_caption():
    scorer = M.CLIPScorer.from_pretrained("shapes", device="cpu")
    assert scorer.miniature
    rng = np.random.default_rng(3)
    scenes = [random_scene(rng, n_objects=1) for _ in range(12)]
    images = np.stack([render(s, rng) for s in scenes])
    captions = [caption(s) for s in scenes]
    own = scorer.scores(images, captions)
    wrong = scorer.scores(images, captions[1:] + captions[:1])
    assert (own > wrong).mean() >= 0.75 and own.mean() > wrong.mean() + 2, (own, wrong)


# ----------------------------------------------------------------------------- warping error
def test_warping_error_translation_is_small_unrelated_is_large():
    moving = M.warping_error(_translation_video())
    unrelated = M.warping_error(np.stack([_texture((64, 64, 3), seed=s) for s in range(3)]))
    assert moving < 0.005, moving
    assert unrelated > 10 * moving, (moving, unrelated)


def test_occlusion_mask_excludes_the_border_that_leaves_the_view():
    dx = 3
    _, masks = M.warping_errors(_translation_video(dx), return_masks=True)
    mask = masks[0]
    assert mask[:, -dx:].mean() < 0.1            # these pixels of frame t are gone in frame t+1
    assert mask[:, dx:-2 * dx].mean() > 0.9      # the rest has a counterpart


def test_warping_error_rejects_single_frame():
    with pytest.raises(ValueError, match="at least 2 frames"):
        M.warping_errors(np.zeros((1, 64, 64, 3), np.uint8))


# ----------------------------------------------------------------------------- narrative and consistency
def test_narrative_accuracy_of_ground_truth_and_shuffled(script):
    truth = render_story(script.scenes, seed=1)
    right = M.narrative_accuracy(truth, script.scenes)
    assert right["all"] >= 0.99 and right["column"] >= 0.99
    shuffled = M.narrative_accuracy(truth[::-1], script.scenes)
    assert shuffled["all"] < 0.7 and shuffled["column"] < right["column"]
    assert set(right) == set(M.NARRATIVE_KEYS)


def test_background_change_of_consistent_and_independent_stories(script):
    consistent = M.background_changes(render_story(script.scenes, seed=2, consistent=True), script.scenes)
    independent = M.background_change(render_story(script.scenes, seed=2, consistent=False), script.scenes)
    changed = [s.background != t.background for s, t in zip(script.scenes, script.scenes[1:])]
    assert np.all(np.isnan(consistent) == np.array(changed))   # day -> dusk pairs are left out
    assert np.nanmax(consistent) < 1e-6
    assert independent > 0.002, independent


def _stories(n: int = 6):
    """Stories with medium or large objects (whose patterns show) on every background."""
    director = StoryboardDirector()
    prompts = ["a large red ball moves from left to right, night background",
               "a medium blue square grows, day background",
               "a large green triangle falls, desert background",
               "a medium yellow circle turns purple, grass background",
               "a large orange square moves from right to left, dusk background",
               "a medium purple box rises and a large red ball stays, day background"]
    return [director.direct(p, num_frames=6).scenes for p in prompts[:n]]


def test_identity_and_decoration_consistency_of_ground_truth_and_independent_frames():
    kept_id, kept_deco, loose_id, loose_deco = [], [], [], []
    for seed, scenes in enumerate(_stories()):
        for consistent, ids, decos in ((True, kept_id, kept_deco), (False, loose_id, loose_deco)):
            video = render_story(scenes, seed=seed, consistent=consistent)
            ids.append(M.identity_consistency(video, scenes))
            decos.append(M.decoration_consistency(video, scenes))
    assert np.nanmean(kept_id) >= 0.97 and np.nanmean(kept_deco) >= 0.95, (kept_id, kept_deco)
    # six patterns drawn independently agree about 1/6 of the time; decorations hardly overlap
    assert np.nanmean(loose_id) <= 0.4 and np.nanmean(loose_deco) <= 0.4, (loose_id, loose_deco)


def test_identity_consistency_follows_objects_without_scenes_and_skips_small_ones():
    scenes = _stories(1)[0]
    video = render_story(scenes, seed=0)
    assert M.identity_consistency(video) == pytest.approx(M.identity_consistency(video, scenes))
    small = [Scene((Obj("red", "circle", "small", c, "middle"),), "night")
             for c in ("left", "center", "right")]
    assert np.isnan(M.identity_consistencies(render_story(small, seed=0))).all()


def test_consistency_leaves_out_pairs_whose_background_word_changes():
    scenes = [Scene((Obj("red", "square", "large", "center", "middle"),), b)
              for b in ("day", "day", "night", "night")]
    video = render_story(scenes, seed=1)
    for values in (M.decoration_consistencies(video, scenes), M.decoration_consistencies(video),
                   M.background_changes(video)):
        assert np.isnan(values[1]) and np.isfinite(values[[0, 2]]).all()


def test_background_mask_leaves_out_objects():
    scene = StoryboardDirector().direct("a large red ball stays in the center", num_frames=2).scenes[0]
    mask = M.background_mask(render(scene, 0))
    assert not mask[28:36, 28:36].any() and mask[:5, :5].all()


# ----------------------------------------------------------------------------- bootstrap and inputs
def test_bootstrap_ci_contains_the_mean():
    x = np.random.default_rng(0).normal(3.0, 1.0, size=40)
    est, lo, hi = M.bootstrap_ci(x)
    assert est == pytest.approx(x.mean()) and lo < est < hi and hi - lo < 1.5
    assert M.bootstrap_ci([2.0]) == (2.0, 2.0, 2.0)
    assert np.isnan(M.bootstrap_ci([float("nan")])[0])
    with pytest.raises(ValueError, match="level"):
        M.bootstrap_ci(x, level=95)


def test_cluster_bootstrap_with_one_unit_per_cluster_is_the_plain_bootstrap():
    x = np.random.default_rng(3).normal(size=23)
    assert M.cluster_bootstrap_ci(x, np.arange(23) * 7) == pytest.approx(M.bootstrap_ci(x), abs=1e-12)
    # the general path (a statistic of rows) draws the same clusters
    assert M.cluster_bootstrap_ci(x, np.arange(23), statistic=np.mean) == pytest.approx(M.bootstrap_ci(x), abs=1e-12)


def test_cluster_bootstrap_duplicated_seeds_do_not_narrow_the_interval():
    x = np.random.default_rng(4).normal(size=20)
    stories = np.arange(20)
    twice, story_of = np.repeat(x, 2), np.repeat(stories, 2)   # every story's video repeated as a 2nd "seed"
    assert M.cluster_bootstrap_ci(twice, story_of) == pytest.approx(M.cluster_bootstrap_ci(x, stories), abs=1e-12)
    _, lo, hi = M.bootstrap_ci(x)
    _, lo2, hi2 = M.bootstrap_ci(twice)     # the plain bootstrap takes the copies as new data
    assert hi2 - lo2 < 0.8 * (hi - lo)


def test_cluster_bootstrap_matches_a_reference_loop():
    rng = np.random.default_rng(5)
    stories = rng.integers(0, 6, size=15)
    x = rng.normal(size=15) + stories        # seeds share their story's level
    est, lo, hi = M.cluster_bootstrap_ci(x, stories, n_boot=300, seed=2)
    names = list(dict.fromkeys(stories.tolist()))   # clusters in order of first appearance
    draws = np.random.default_rng(2).integers(0, len(names), size=(300, len(names)))
    stats = [np.mean(np.concatenate([x[stories == names[c]] for c in d])) for d in draws]
    assert est == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])))
    # a statistic of rows: Avg. Dist. of the per-frame means of the drawn videos
    rows = rng.normal(size=(15, 4))
    est, lo, hi = M.cluster_bootstrap_ci(rows, stories, n_boot=300, seed=2, statistic=M.avg_dist)
    stats = [M.avg_dist(np.concatenate([rows[stories == names[c]] for c in d])) for d in draws]
    assert est == pytest.approx(M.avg_dist(rows))
    assert (lo, hi) == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])))


def test_cluster_bootstrap_inputs_and_pairs():
    assert np.isnan(M.cluster_bootstrap_ci([float("nan")], [0])[0])
    with pytest.raises(ValueError, match="one cluster label per unit"):
        M.cluster_bootstrap_ci([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="level"):
        M.cluster_bootstrap_ci([1.0, 2.0], [0, 1], level=95)
    a = np.arange(6.0)
    assert M.paired_cluster_bootstrap_ci(a + 1.0, a, [0, 0, 1, 1, 2, 2]) == pytest.approx((1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="not paired"):
        M.paired_cluster_bootstrap_ci(a, a[:3], [0, 1, 2])


def test_paired_bootstrap_resamples_units_and_takes_the_mean_difference():
    rng = np.random.default_rng(1)
    units = rng.normal(0.5, 0.3, size=30)          # what a (story, seed) unit shares across methods
    est, lo, hi = M.paired_bootstrap_ci(units, units.copy())
    assert est == 0 and lo <= 0 <= hi             # identical methods: zero, an interval containing 0
    assert M.paired_bootstrap_ci(units + 0.25, units) == pytest.approx((0.25, 0.25, 0.25))  # a constant shift
    noisy = units + 0.1 + rng.normal(0, 0.02, size=30)
    est, lo, hi = M.paired_bootstrap_ci(noisy, units)
    assert est == pytest.approx((noisy - units).mean()) and 0 < lo < est < hi
    _, ulo, uhi = M.bootstrap_ci(noisy)          # unpaired: the units' spread swamps the 0.1 shift
    assert hi - lo < (uhi - ulo) / 5
    a, b = [1.0, float("nan"), 3.0], [0.5, 2.0, float("nan")]
    assert M.paired_bootstrap_ci(a, b) == (0.5, 0.5, 0.5)   # a unit missing on either side is dropped
    with pytest.raises(ValueError, match="paired"):
        M.paired_bootstrap_ci([1.0, 2.0], [1.0])


def test_as_video_accepts_floats_and_rejects_bad_shapes():
    v = M.as_video(np.full((2, 8, 8, 3), 0.5))
    assert v.dtype == np.uint8 and v[0, 0, 0, 0] == 128
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        M.as_video(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="floats must lie"):
        M.as_video(np.full((1, 8, 8, 3), 2.0))


def test_consistency_reuses_given_detections():
    from direct2v.world.detect import detect

    scenes = _stories(1)[0]
    video = render_story(scenes, seed=3, consistent=False)
    found = [detect(f) for f in video]
    for fn in (M.identity_consistencies, M.decoration_consistencies):
        assert np.array_equal(fn(video, scenes), fn(video, scenes, found), equal_nan=True)
    with pytest.raises(ValueError, match="detections"):
        M.identity_consistencies(video, scenes, found[:-1])

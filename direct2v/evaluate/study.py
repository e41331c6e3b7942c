"""The DSF study: where should DSF matter? A sweep of the DSF quantile and of the step where value mapping starts
(``python -m direct2v.evaluate --dsf-study``)."""
from __future__ import annotations

import time

from tqdm.auto import tqdm

from ..director import StoryboardDirector
from .design import DEFAULT_START, DSF_QUANTILE, GUIDANCE, SWEEP_QUANTILES, SWEEP_STARTS, SWEEP_STORIES
from .run import _check, _load, generate, measure, video_seed


def sweep_configs(quantiles=SWEEP_QUANTILES, starts=SWEEP_STARTS, steps: int = 50) -> list[tuple[float, int, float]]:
    """(dsf_quantile, mapping_start in steps, its fraction) of the sweep: every quantile at the paper's
    start (4 % of the steps), every start at the default quantile; repeats (equal steps) dropped."""
    configs = [(float(q), DEFAULT_START) for q in quantiles] + [(DSF_QUANTILE, float(s)) for s in starts]
    out, seen = [], set()
    for q, frac in configs:
        key = (q, round(frac * steps))
        if key not in seen:
            seen.add(key)
            out.append((q, key[1], frac))
    return out


def sweep(pipe=None, scorer=None, stories=SWEEP_STORIES, seeds=(0,), quantiles=SWEEP_QUANTILES,
          starts=SWEEP_STARTS, steps: int = 50, frames: int = 8, guidance: float = GUIDANCE, device=None,
          noises=("warm_start",), progress: bool = True) -> list[dict]:
    """RVM + DSF on ``stories`` for every :func:`sweep_configs` entry: one row per (story, seed, noise,
    config) with the video metrics of :func:`measure`. The noise of a (story, seed) is the same in every
    config, so the configs' differences are paired."""
    chosen = _check(("rvm_dsf",), steps, frames, seeds, noises, stories)
    quantiles, starts = _fractions(quantiles, "quantiles"), _fractions(starts, "starts")
    director = StoryboardDirector()
    scripts = [director.direct(prompt, num_frames=frames) for _, (_, prompt) in chosen]
    pipe, scorer = _load(pipe, scorer, device)
    configs = sweep_configs(quantiles, starts, steps)
    jobs = [(k, s, n, c) for k in range(len(chosen)) for s in seeds for n in noises for c in configs]
    rows = []
    for k, seed, noise, (q, start_step, frac) in tqdm(jobs, desc="sweep", disable=not progress):
        (index, (category, prompt)), script = chosen[k], scripts[k]
        story_id = index if index is not None else k
        begin = time.perf_counter()
        video = generate(pipe, None, "rvm_dsf", script, video_seed(story_id, seed), steps, guidance, noise,
                         dsf_quantile=q, mapping_start=start_step)
        seconds = time.perf_counter() - begin
        _, per_video = measure(video, script, scorer)
        rows.append(dict(story=story_id, category=category, prompt=prompt, seed=seed, noise=noise,
                         dsf_quantile=q, mapping_start=start_step, mapping_start_fraction=frac, steps=steps,
                         **per_video, seconds=seconds))
    return rows


def _fractions(values, name: str) -> tuple[float, ...]:
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in values):
        raise ValueError(f"{name}={values!r} is not allowed; use a non-empty list of numbers in [0, 1]")
    return values

"""Percentile bootstrap confidence intervals (Efron and Tibshirani, 1993, chapter 13).

The unit that is resampled is the video (one story under one seed): frames of one video are not
independent, so resampling frames would give intervals that are too narrow.
"""
from __future__ import annotations

import numpy as np


def bootstrap_ci(values, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                 statistic=np.mean) -> tuple[float, float, float]:
    """``(estimate, low, high)``: ``statistic(values)`` and its percentile bootstrap interval.

    ``values``: one number per independent unit (NaNs are dropped). ``level``: coverage (0.95).
    A single value gives the interval (v, v); no value gives NaNs.
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} is not allowed; use a number in (0, 1), e.g. 0.95")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r} is not allowed; use an integer >= 1")
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    estimate = float(statistic(x))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    stats = np.array([statistic(x[i]) for i in idx]) if statistic is not np.mean else x[idx].mean(1)
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)


def paired_bootstrap_ci(values, reference, level: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of the mean paired difference ``values - reference``.

    ``values[i]`` and ``reference[i]`` are the same unit (one story under one seed, with the same
    noise) measured under two methods; the units are resampled, so each resample keeps its pairs
    and the mean of their differences is taken. Pairing removes what the units share (a hard
    story is hard for both), which gives narrower intervals than two separate ones. Units where
    either value is NaN are dropped.
    """
    a, b = np.asarray(values, dtype=float).ravel(), np.asarray(reference, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"values ({a.size}) and reference ({b.size}) are not paired; give one number per unit in each")
    return bootstrap_ci(a - b, level=level, n_boot=n_boot, seed=seed)

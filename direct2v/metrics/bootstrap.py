"""Percentile bootstrap confidence intervals (Efron and Tibshirani, 1993, chapter 13).

The unit that is resampled must be independent. Frames of one video are not, so at least whole
videos are resampled (:func:`bootstrap_ci`). Videos of one story under several seeds are not
independent either: they share the story's difficulty, and the seeds only re-draw the noise. Treating
them as separate units is pseudo-replication (Hurlbert, 1984): a second seed of the same 23 stories
"doubles the data" and narrows the interval although the stories, the population the evaluation
speaks about, are the same. :func:`cluster_bootstrap_ci` resamples whole stories (clusters) and keeps
every seed of a drawn story (seeds nested inside the story; Davison and Hinkley, 1997, section 3.8),
so repeating a seed adds nothing to the interval's width.
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


def _mean_rows(rows: np.ndarray) -> float:
    return float(np.mean(rows))


def cluster_bootstrap_ci(values, clusters, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                         statistic=None) -> tuple[float, float, float]:
    """``(estimate, low, high)``: a percentile bootstrap that resamples whole clusters (stories).

    ``values``: one number per unit (N,), or one row per unit (N, K) for a ``statistic`` of rows (e.g. the
    per-frame scores of a video). ``clusters``: the cluster of each unit (N,), e.g. its story; the units of
    one cluster (its seeds) are kept together. Each resample draws as many clusters as there are, with
    replacement, and takes ``statistic`` of all their units' rows; default: the mean over units. Units with a
    NaN are dropped first. With one unit per cluster this is :func:`bootstrap_ci` (the same draws for the
    same ``seed``); copying every unit of a cluster leaves the mean's interval as it was.
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} is not allowed; use a number in (0, 1), e.g. 0.95")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r} is not allowed; use an integer >= 1")
    x = np.asarray(values, dtype=float)
    labels = np.asarray(clusters).ravel()
    if x.ndim not in (1, 2) or x.shape[0] != labels.size:
        raise ValueError(f"values of shape {x.shape} and {labels.size} clusters are not allowed; give one value "
                         "(or one row) per unit and one cluster label per unit")
    keep = ~np.isnan(x.reshape(len(x), -1)).any(1)
    x, labels = x[keep], labels[keep]
    if x.shape[0] == 0:
        return float("nan"), float("nan"), float("nan")
    names, member = np.unique(labels, return_inverse=True)
    order = np.argsort([np.flatnonzero(member == c)[0] for c in range(names.size)])  # first appearance
    groups = [np.flatnonzero(member == c) for c in order]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(groups), size=(n_boot, len(groups)))
    if statistic is None and x.ndim == 1:  # the mean: sums and counts per cluster, vectorised
        sums = np.array([x[g].sum() for g in groups])
        counts = np.array([g.size for g in groups])
        estimate = float(x.mean())
        stats = sums[draws].sum(1) / counts[draws].sum(1)
    else:
        statistic = statistic or _mean_rows
        estimate = float(statistic(x))
        stats = np.array([statistic(x[np.concatenate([groups[c] for c in draw])]) for draw in draws])
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)


def paired_cluster_bootstrap_ci(values, reference, clusters, level: float = 0.95, n_boot: int = 2000,
                                seed: int = 0) -> tuple[float, float, float]:
    """:func:`paired_bootstrap_ci` with whole clusters (stories) resampled: the mean of ``values - reference``
    over units, each unit one (story, seed) under two methods, the seeds of a drawn story kept together."""
    a, b = np.asarray(values, dtype=float).ravel(), np.asarray(reference, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"values ({a.size}) and reference ({b.size}) are not paired; give one number per unit in each")
    return cluster_bootstrap_ci(a - b, clusters, level=level, n_boot=n_boot, seed=seed)

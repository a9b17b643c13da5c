"""Statistics of benchmark runs: censored medians, the bootstrap interval of a median ratio, learning curves.

A run is a row of scripts/_bench_worker.py: ``solved_at_steps``/``solve_s`` are None when the run never
reached the threshold, and ``eval_history`` lists ``(env_steps, mean eval reward, seconds)``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000


def median(values: list[float | None]) -> float | None:
    """Median of the values present; None when none is, or when the median is infinite."""
    present = [v for v in values if v is not None]
    value = statistics.median(present) if present else None
    return None if value is None or math.isinf(value) else value


def to_threshold(rows: list[dict[str, Any]], key: str) -> list[float]:
    """A "to threshold" metric of each run, infinite for the runs that never reached the threshold."""
    return [math.inf if row[key] is None else float(row[key]) for row in rows]


def median_ratio_ci(ours: list[float], theirs: list[float], level: float = 0.95,
                    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """``median(ours) / median(theirs)`` and its percentile bootstrap confidence interval.

    The two samples are resampled independently (their seeds are not paired: the same seed drives
    different random streams on each side). Infinite values (runs that never solved) are allowed: a
    resample whose own median is infinite gives an infinite or zero ratio, and one where both are
    infinite is left out of the interval.
    """
    rng = np.random.default_rng(seed)
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = float(np.median(a) / np.median(b))
        boot = (np.median(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
                / np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1))
    boot = np.sort(boot[~np.isnan(boot)])
    if len(boot) == 0:
        return point, math.nan, math.nan
    tail = (1 - level) / 2
    low = boot[min(len(boot) - 1, int(math.floor(tail * len(boot))))]
    high = boot[min(len(boot) - 1, int(math.ceil((1 - tail) * len(boot))) - 1)]
    return point, float(low), float(high)


def eval_at(history: list[list[float]], env_steps: int) -> float | None:
    """The eval reward of a run at ``env_steps``: its first evaluation at or past that point; a run that
    stopped earlier (at the threshold) keeps its last one; None for a run with no evaluation."""
    if not history:
        return None
    return next((reward for steps, reward, *_ in history if steps >= env_steps), history[-1][1])


def curve(rows: list[dict[str, Any]], checkpoints: list[int]) -> list[float | None]:
    """Mean eval reward over runs at each checkpoint (see :func:`eval_at`)."""
    means = []
    for point in checkpoints:
        values = [v for v in (eval_at(row["eval_history"], point) for row in rows) if v is not None]
        means.append(float(np.mean(values)) if values else None)
    return means

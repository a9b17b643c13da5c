"""Reading a run's ``logs/metrics.csv`` and plotting its learning curve to ``learning_curve.png``.

Imports matplotlib only inside ``plot_learning_curve``: training and the summary never pay for it.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METRICS_CSV = Path("logs") / "metrics.csv"  # relative to the run folder
STEP_COLUMN = "env_steps"
PLOT_NAME = "learning_curve.png"


def read_metrics_csv(path: Path) -> dict[str, list[float]]:
    """Columns of a metrics CSV, aligned by row; NaN where a row has no value for the metric."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        columns: dict[str, list[float]] = {name: [] for name in header}
        for row in reader:
            for name, cell in zip(header, row + [""] * (len(header) - len(row))):
                columns[name].append(float(cell) if cell else math.nan)
    return columns


def _points(columns: dict[str, list[float]], key: str) -> tuple[list[float], list[float]]:
    """(env_steps, value) pairs of the rows that have ``key``."""
    pairs = [(x, y) for x, y in zip(columns[STEP_COLUMN], columns.get(key, [])) if not math.isnan(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def plot_learning_curve(run_dir: Path) -> Path:
    """Plot the run's learning curve (:func:`learning_curve_figure`) to ``<run_dir>/learning_curve.png``
    and return its path; raises FileNotFoundError when the run has no metrics CSV."""
    path = Path(run_dir) / PLOT_NAME
    learning_curve_figure(run_dir).savefig(path)
    return path


def learning_curve_figure(run_dir: Path) -> Figure:
    """Train and eval ``ep_rew_mean`` against env steps (and the reward threshold from results.json);
    raises FileNotFoundError when the run has no metrics CSV, ValueError when a file cannot be read."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg and leaves pyplot's backend alone

    run_dir = Path(run_dir)
    columns = read_metrics_csv(run_dir / METRICS_CSV)
    if STEP_COLUMN not in columns:
        raise ValueError(f"{run_dir / METRICS_CSV} has no {STEP_COLUMN} column")
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results = results if isinstance(results, dict) else {}

    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    steps, train = _points(columns, "train/ep_rew_mean")
    ax.plot(steps, train, color="tab:blue", alpha=0.8, label="train ep_rew_mean")
    steps, evals = _points(columns, "eval/ep_rew_mean")
    if evals:
        ax.plot(steps, evals, "o-", color="tab:orange", label="eval ep_rew_mean")
        _, stds = _points(columns, "eval/ep_rew_std")
        if len(stds) == len(evals):
            low = [m - s for m, s in zip(evals, stds)]
            high = [m + s for m, s in zip(evals, stds)]
            ax.fill_between(steps, low, high, color="tab:orange", alpha=0.2, linewidth=0)
    threshold = results.get("reward_threshold")
    if threshold is not None:
        ax.axhline(threshold, color="tab:green", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode reward")
    ax.set_title(f"{results.get('config_id', run_dir.name)} ({run_dir.name})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig

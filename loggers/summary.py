"""End-of-run summary: outcome, eval rewards, wall time, whole-run sparklines and what to run next.

In quiet mode it is a single line, e.g.
``CartPole-v1:ppo solved at 41,984 steps | best eval 500.0 | final eval 500.0 | 9.8 s | runs/ab12cd34``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .metrics_spec import load_metrics_spec
from .plots import METRICS_CSV, PLOT_NAME, read_metrics_csv

_REPO_ROOT = Path(__file__).resolve().parents[1]
from .sparkline import sparkline

SPARK_WIDTH = 40  # at most; narrower terminals get shorter sparklines


def format_duration(seconds: float) -> str:
    """``9.8 s``, ``2m 05s`` or ``1h 02m 03s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole // 60 % 60:02d}m {whole % 60:02d}s"


def _reward(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _display_path(path: Path) -> str:
    """Relative to the working directory when inside it (short, and what a user would type)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def outcome(results: dict[str, Any]) -> tuple[str, str]:
    """The run's outcome in words, and the rich style to show it in."""
    steps = f"{results['total_timesteps']:,}"
    if results.get("solved_at_timestep") is not None:
        return f"solved at {results['solved_at_timestep']:,} steps", "bold green"
    if results.get("status") == "interrupted":
        return f"interrupted at {steps} steps", "bold red"
    if results.get("reward_threshold") is None:
        return f"completed {steps} steps", "bold"
    return f"not solved in {steps} steps", "bold yellow"


def summary_line(results: dict[str, Any], run_dir: Path) -> str:
    """The one-line summary printed in quiet mode."""
    return " | ".join(
        (
            f"{results['config_id']} {outcome(results)[0]}",
            f"best eval {_reward(results.get('best_eval_reward'))}",
            f"final eval {_reward(results.get('final_eval_reward'))}",
            format_duration(results["wall_time_s"]),
            _display_path(run_dir),
        )
    )


def _history_from_csv(run_dir: Path) -> dict[str, list[float]]:
    path = run_dir / METRICS_CSV
    if not path.is_file():
        return {}
    return {key: [v for v in values if not math.isnan(v)] for key, values in read_metrics_csv(path).items()}


def _trends(history: dict[str, list[float]], width: int) -> Table:
    spec = load_metrics_spec()
    table = Table.grid(padding=(0, 2))
    for key in spec.keys():
        values = history.get(key)
        if not spec[key].summary or not values:
            continue
        fmt = spec[key].format
        table.add_row(key, Text(sparkline(values, width), style="cyan"), f"{fmt(values[0])} → {fmt(values[-1])}")
    return table


def print_summary(
    results: dict[str, Any], run_dir: Path, history: dict[str, list[float]] | None = None, quiet: bool = False
) -> None:
    """Print the end-of-run summary (one line when ``quiet``).

    ``history`` maps metric keys to their values over the run; when None it is read from
    ``run_dir/logs/metrics.csv`` (rows without the metric skipped).
    """
    run_dir = Path(run_dir)
    if quiet:
        print(summary_line(results, run_dir))
        return
    history = _history_from_csv(run_dir) if history is None else history
    run_id = results.get("run_id") or run_dir.name
    text, style = outcome(results)
    threshold = results.get("reward_threshold")

    facts = Table.grid(padding=(0, 2))
    facts.add_row("result", Text(text + (f" (threshold {threshold:g})" if threshold is not None else ""), style=style))
    facts.add_row(
        "eval reward",
        f"best {_reward(results.get('best_eval_reward'))} · final {_reward(results.get('final_eval_reward'))}",
    )
    facts.add_row("wall time", f"{format_duration(results['wall_time_s'])} for {results['total_timesteps']:,} env steps")
    facts.add_row("run folder", _display_path(run_dir))
    if (run_dir / PLOT_NAME).is_file():
        facts.add_row("plot", _display_path(run_dir / PLOT_NAME))
    for verb, script in (("play", "play.py"), ("inspect", "inspector.py"), ("publish", "publish.py")):
        if (_REPO_ROOT / script).is_file():
            facts.add_row(verb, Text(f"python {script} --run-id {run_id}", style="bold"))

    console = Console()
    if not console.is_terminal:
        console.width = 100
    body = Table.grid()
    body.add_row(facts)
    # Room left beside the metric name (24), the first -> last range (~17), paddings and the panel edges.
    trends = _trends(history, max(10, min(SPARK_WIDTH, console.width - 50)))
    if trends.row_count:
        body.add_row("")
        body.add_row(trends)
    title = f"{results['config_id']} · seed {results.get('seed')} · {run_id}"
    console.print(Panel(body, title=title, title_align="left", expand=False, border_style=style.split()[-1]))

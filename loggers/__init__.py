"""Console table, CSV, TensorBoard and W&B loggers, run summary, session logs and learning-curve plots.

Nothing is imported here eagerly: ``import loggers`` (or ``loggers.plots``) stays cheap, and
Lightning, torch's TensorBoard writer, rich and wandb load only when the loggers are built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytorch_lightning.loggers.logger import Logger


def build_loggers(run_dir: Path, config: dict[str, Any], quiet: bool) -> list[Logger]:
    """CSV and TensorBoard loggers under ``run_dir/logs``, the console table unless ``quiet``, and W&B when
    ``config["wandb"]`` is true and a W&B run can start.

    ``config`` is the resolved config dict: ``env_id``, ``algo_id``, ``variant``, ``max_timesteps``,
    ``reward_threshold`` (may be None), ``wandb`` and ``run_id`` are read.
    """
    from .csv_logger import CsvMetricsLogger
    from .tensorboard_logger import TensorBoardMetricsLogger

    run_dir = Path(run_dir)
    loggers: list[Logger] = [CsvMetricsLogger(run_dir), TensorBoardMetricsLogger(run_dir / "logs")]
    if not quiet:
        from .console_table import ConsoleTableLogger

        title = f"{config['env_id']}:{config.get('variant') or config['algo_id']}"
        loggers.append(
            ConsoleTableLogger(
                total_env_steps=int(config["max_timesteps"]),
                reward_threshold=config.get("reward_threshold"),
                title=title,
            )
        )
    if config.get("wandb"):
        from .wandb_logger import build_wandb_logger

        wandb_logger = build_wandb_logger(run_dir, config["run_id"], quiet)
        if wandb_logger is not None:
            loggers.append(wandb_logger)
    return loggers

"""TensorBoard event files under ``runs/<id>/logs/`` (``tensorboard --logdir runs`` finds them).

All metrics of one ``log_metrics`` call go into one event: per-scalar ``add_scalar`` calls (what
Lightning's TensorBoardLogger does) cost ~35 us each here, ~0.9 ms per update for 25 metrics, while one
batched event costs ~0.09 ms.
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter


class TensorBoardMetricsLogger(Logger):
    """Lightning logger writing each ``log_metrics`` call as one TensorBoard event."""

    def __init__(self, log_dir: Path):
        super().__init__()
        self._log_dir = Path(log_dir)
        self._writer: SummaryWriter | None = None

    @property
    def name(self) -> str:
        return "tensorboard"

    @property
    def version(self) -> str:
        return self._log_dir.parent.name

    @property
    def log_dir(self) -> str:
        return str(self._log_dir)

    @property
    @rank_zero_experiment
    def experiment(self) -> SummaryWriter:
        if self._writer is None:
            self._writer = SummaryWriter(log_dir=str(self._log_dir))
        return self._writer

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        text = json.dumps(vars(params) if isinstance(params, Namespace) else dict(params), indent=2, default=str)
        self.experiment.add_text("hparams", f"```\n{text}\n```")

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        summary = Summary(value=[Summary.Value(tag=key, simple_value=float(value)) for key, value in metrics.items()])
        self.experiment.file_writer.add_summary(summary, step)

    @rank_zero_only
    def save(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

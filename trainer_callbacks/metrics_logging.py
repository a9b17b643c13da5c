"""Hands each update's metrics to the loggers, once per update: no ``self.log`` in the hot loop."""

from __future__ import annotations

import pytorch_lightning as pl

from agents.base import BaseAgent


class MetricsLoggingCallback(pl.Callback):
    """Logs ``agent.metrics`` every ``every_updates`` updates and whenever they include an evaluation.

    Must come after the evaluation callback, so an update's row carries its ``eval/*`` values.
    """

    def __init__(self, every_updates: int = 1):
        self.every_updates = max(1, every_updates)
        self._last_logged: dict[str, float] = {}

    def _log(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(agent.metrics, step=agent.env_steps)
        self._last_logged = dict(agent.metrics)

    def on_train_batch_end(self, trainer: pl.Trainer, agent: BaseAgent, outputs, batch, batch_idx: int) -> None:
        if agent.updates % self.every_updates == 0 or "eval/ep_rew_mean" in agent.metrics:
            self._log(trainer, agent)

    def on_train_end(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        if agent.metrics != self._last_logged:  # the final evaluation, or updates not logged yet
            self._log(trainer, agent)

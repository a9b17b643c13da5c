"""Checkpoints: ``best.ckpt`` at each new best evaluation, ``last.ckpt`` periodically, at the end and
when training is interrupted or fails (but never with diverged weights). Written atomically; plain dicts of tensors and primitives, so
they load with ``torch.load(weights_only=True)`` and without Lightning."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from agents.base import BaseAgent, TrainingDiverged
from trainer_callbacks.evaluation import EvalRecord
from utils.runs import CHECKPOINT_FORMAT, Run, RunWriteError, atomic_torch_save, atomic_write_json


def checkpoint_dict(agent: BaseAgent, run: Run, record: EvalRecord) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "run_id": run.run_id,
        "config": agent.config.to_dict(),
        "eval": record.state_dict(),
        **agent.training_state(),
    }


class CheckpointCallback(pl.Callback):
    def __init__(self, run: Run, record: EvalRecord, every_updates: int):
        self.run = run
        self.record = record
        self.every_updates = every_updates

    def save(self, agent: BaseAgent, name: str) -> None:
        atomic_torch_save(checkpoint_dict(agent, self.run, self.record), self.run.checkpoint(name))
        if name == "last":  # config.json is always the config of last.ckpt (a resume may have changed it)
            atomic_write_json(self.run.config_path, agent.config.to_dict())

    def on_train_batch_end(self, trainer: pl.Trainer, agent: BaseAgent, outputs, batch, batch_idx: int) -> None:
        if self.record.improved:
            self.save(agent, "best")
        if self.every_updates and agent.updates % self.every_updates == 0:
            self.save(agent, "last")

    def on_train_end(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        if self.record.improved:  # the final evaluation ran after the last batch
            self.save(agent, "best")
        self.save(agent, "last")

    def on_exception(self, trainer: pl.Trainer, agent: BaseAgent, exception: BaseException) -> None:
        """Save progress on the way out, unless that could replace a good last.ckpt with a worse one: never
        after a divergence or with non-finite weights, and a failing disk keeps the file it has."""
        if isinstance(exception, TrainingDiverged) or not all(p.isfinite().all() for p in agent.policy.parameters()):
            return
        try:
            self.save(agent, "last")
        except RunWriteError:
            pass  # the original exception is what the user needs to see

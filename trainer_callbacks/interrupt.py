"""Ctrl-C ends training at the next update boundary, so the normal end-of-training path runs
(final evaluation, last.ckpt, results.json). A second Ctrl-C interrupts at once."""

from __future__ import annotations

import signal
import threading

import pytorch_lightning as pl

from agents.base import BaseAgent


class GracefulInterruptCallback(pl.Callback):
    def __init__(self) -> None:
        self.interrupted = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.interrupted:  # second Ctrl-C: give up waiting for the update to finish
            raise KeyboardInterrupt
        self.interrupted = True
        print("\nCtrl-C: finishing this update, then saving (press again to stop at once)", flush=True)

    def on_fit_start(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def on_train_batch_end(self, trainer: pl.Trainer, agent: BaseAgent, outputs, batch, batch_idx: int) -> None:
        if self.interrupted:
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

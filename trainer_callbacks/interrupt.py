"""Ctrl-C (SIGINT) and SIGTERM (sent by ``kill``, ``timeout``, schedulers and containers) stop training
within a step: the rollout or update in progress ends early, then the normal end-of-training path runs
(last.ckpt and results.json, no final evaluation) and the process exits 130 or 143. A second signal
interrupts at once (Lightning saves through ``on_exception``)."""

from __future__ import annotations

import signal
import threading

import pytorch_lightning as pl

from agents.base import BaseAgent

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulInterruptCallback(pl.Callback):
    def __init__(self) -> None:
        self.signum: int | None = None
        #: print what happens on a signal (one rank of several says it for all)
        self.announce = True
        self._agent: BaseAgent | None = None
        self._previous: dict[int, object] = {}

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.interrupted:  # a second signal: give up waiting for the step to finish
            raise KeyboardInterrupt
        self.signum = signum
        if self._agent is not None:
            self._agent.stop_requested.set()
        if self.announce:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(f"\n{name}: stopping after this step, then saving (send it again to stop at once)", flush=True)

    def install(self) -> None:
        """Handle the signals from now on (call it before building envs, so no window is left unhandled)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in HANDLED_SIGNALS:
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    def attach(self, agent: BaseAgent) -> None:
        """Forward a stop request to ``agent`` (at once, if a signal came while it was being built)."""
        self._agent = agent
        if self.interrupted:
            agent.stop_requested.set()

    def on_fit_start(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        self.attach(agent)

    def on_train_start(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        # Again, over the SIGTERM handler Lightning sets after on_fit_start: it would end the run as failed,
        # and with several ranks it broadcasts from inside the handler, out of step with training's collectives.
        self.install()

    def on_train_batch_end(self, trainer: pl.Trainer, agent: BaseAgent, outputs, batch, batch_idx: int) -> None:
        if self.interrupted:
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        self.restore()

    def on_exception(self, trainer: pl.Trainer, agent: BaseAgent, exception: BaseException) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back the handlers found at the first ``install`` (again after Lightning's teardown, which
        restores the ones it found at fit start: ours)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

"""Videos of evaluation episodes during training, in ``runs/<id>/videos/``: ``step_000050000.mp4`` named by
env step, and ``best.mp4``, the video of the policy saved as ``best.ckpt``.

When, by ``video_freq``: ``best`` at each new best evaluation; ``every_eval`` at every evaluation; N every
N env steps and at each new best; all of them also at the end of training; ``off`` never. Must come
after :class:`~trainer_callbacks.evaluation.EvaluationCallback` in the callback list: it reads the
evaluation's :class:`EvalRecord` of the same update.
"""

from __future__ import annotations

import pytorch_lightning as pl

from agents.base import BaseAgent
from trainer_callbacks.evaluation import EvalRecord
from utils.environment import normalization_state
from utils.runs import Run
from utils.videos import BackgroundRecorder


class VideoCallback(pl.Callback):
    """Hands the policy's weights to a :class:`BackgroundRecorder` whenever a video is due; the worker
    renders and encodes while training goes on. Notes from it (an env that cannot render) are printed once."""

    def __init__(self, config, run: Run, record: EvalRecord):
        self.config = config
        self.run = run
        self.record = record
        self.recorder: BackgroundRecorder | None = None
        self.last_recorded: int | None = None  # env steps of the latest video, and whether it was a best
        self.last_best = False
        self.next_video: int | None = None

    def setup(self, trainer: pl.Trainer, agent: BaseAgent, stage: str) -> None:
        if self.config.video_freq == "off":
            return
        if isinstance(self.config.video_freq, int):
            self.next_video = (agent.env_steps // self.config.video_freq + 1) * self.config.video_freq
        self.recorder = BackgroundRecorder(self.config, self.run.videos)

    def on_train_batch_end(self, trainer: pl.Trainer, agent: BaseAgent, outputs, batch, batch_idx: int) -> None:
        if self.recorder is None:
            return
        self._print_notes(self.recorder.notes())
        freq = self.config.video_freq
        evaluated = self.record.last_env_steps == agent.env_steps
        due = self.record.improved or (freq == "every_eval" and evaluated)
        if self.next_video is not None and agent.env_steps >= self.next_video:
            due = True
            self.next_video = (agent.env_steps // freq + 1) * freq
        if due:
            self._submit(agent)

    def on_train_end(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        if self.recorder is None:
            return
        if agent.stop_requested.is_set():  # stopped by a signal: exit now, without the final video
            self._close(wait=False)
            return
        # the final evaluation has run (EvaluationCallback comes first); this update may be recorded already
        if self.last_recorded != agent.env_steps:
            self._submit(agent)
        elif self.record.improved and not self.last_best:
            self.recorder.mark_best(agent.env_steps)
        self._close(wait=True)

    def on_exception(self, trainer: pl.Trainer, agent: BaseAgent, exception: BaseException) -> None:
        self._close(wait=False)

    def teardown(self, trainer: pl.Trainer, agent: BaseAgent, stage: str) -> None:
        self._close(wait=False)

    def _submit(self, agent: BaseAgent) -> None:
        assert self.recorder is not None
        self.last_best = self.record.improved
        self.recorder.submit(agent.env_steps, agent.policy.state_dict(), normalization_state(agent.train_envs),
                             self.last_best)
        self.last_recorded = agent.env_steps

    def _close(self, wait: bool) -> None:
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            self._print_notes(recorder.close(wait))

    @staticmethod
    def _print_notes(notes: list[str]) -> None:
        for note in notes:
            print(f"note: {note}", flush=True)

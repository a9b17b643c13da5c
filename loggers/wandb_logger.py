"""W&B logging through Lightning's WandbLogger, with env steps as every metric's x-axis.

Lightning's WandbLogger plots against ``trainer/global_step``; here each row carries ``time/env_steps`` and
every metric is defined against it, so W&B charts share the x-axis of the CSV, TensorBoard and console.
Eval videos are picked up from ``runs/<id>/videos/step_<env steps>.mp4`` as they appear (the video
callback only writes files), each logged at its own env step. A failing W&B call prints one line and
turns W&B off; training goes on.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from .wandb_run import ENV_STEPS, VIDEO_KEY, active_run, project_name, start_run, warn

if TYPE_CHECKING:
    from wandb.sdk.wandb_run import Run

VIDEO_NAME = re.compile(r"step_(\d+)\.mp4")
#: seconds the end-of-run workspace update may take before the run ends without it
WORKSPACE_TIMEOUT_S = 60


class EnvStepWandbLogger(WandbLogger):
    """Lightning's WandbLogger on an already started run, plotting every metric against env steps.

    Rows go to wandb from a thread of their own: ``run.log`` waits about half a millisecond per call on
    wandb's service socket, which the training loop need not pay.
    """

    def __init__(self, run: Run, videos_dir: Path, update_workspace: bool = True):
        super().__init__(experiment=run)
        self._videos_dir = Path(videos_dir)
        self._videos_logged: set[str] = set()
        self._update_workspace = update_workspace
        self._off = False
        self._finished = False
        run.define_metric(ENV_STEPS)
        run.define_metric("*", step_metric=ENV_STEPS, step_sync=True)
        self._rows: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, name="wandb-log", daemon=True)
        self._sender.start()

    def _send(self) -> None:
        while (row := self._rows.get()) is not None:
            if self._off:
                continue
            try:
                self._experiment.log(row)
            except Exception as exc:  # any wandb failure must not stop training
                self._off = True
                warn(f"logging stopped: {type(exc).__name__}: {str(exc).strip()[:300]}; training continues")

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._off or self._finished:
            return
        row = dict(metrics)
        if step is not None:
            row[ENV_STEPS] = step
        self._rows.put(row)
        self._log_new_videos()

    def _log_new_videos(self) -> None:
        """Log each ``step_<N>.mp4`` not logged yet, oldest first, at env step N."""
        try:
            names = [entry.name for entry in self._videos_dir.iterdir() if entry.name not in self._videos_logged]
        except OSError:  # no videos folder (yet)
            return
        found = sorted((int(match[1]), name) for name in names if (match := VIDEO_NAME.fullmatch(name)))
        if not found:
            return
        import wandb

        for env_steps, name in found:
            self._videos_logged.add(name)
            self._rows.put({VIDEO_KEY: wandb.Video(str(self._videos_dir / name), format="mp4"), ENV_STEPS: env_steps})

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Send what is queued, log the last videos and end the W&B run (failed unless ``status`` is success);
        an online run that is not part of a sweep then updates the project's workspace and prints its URL."""
        if self._finished or self._experiment is None:
            return
        self._finished = True
        if not self._off:
            self._log_new_videos()
        self._rows.put(None)
        self._sender.join()
        run = self._experiment
        entity, project, run_id = run.entity, run.project, run.id
        try:
            run.finish(exit_code=0 if status == "success" else 1)
        except Exception as exc:  # the run's data stays in its local folder for `wandb sync`
            warn(f"run not finished cleanly ({type(exc).__name__}: {str(exc).strip()[:300]})")
            return
        if self._update_workspace and status == "success" and not run.offline and not run.sweep_id:
            _publish_workspace(entity, project, run_id)


def _publish_workspace(entity: str, project: str, run_id: str) -> None:
    """Create or update the project's workspace with this run selected; one line either way, never a hang."""
    outcome: list[str] = []

    def work() -> None:
        try:
            from .wandb_workspace import select_run_in_workspace

            outcome.append(f"W&B workspace: {select_run_in_workspace(entity, project, run_id)}")
        except Exception as exc:  # a workspace is a convenience: report and move on
            outcome.append(f"W&B workspace not updated ({type(exc).__name__}: {str(exc).strip()[:300]})")

    # A daemon thread: an unresponsive server cannot keep the process alive past its results.
    thread = threading.Thread(target=work, name="wandb-workspace", daemon=True)
    thread.start()
    thread.join(WORKSPACE_TIMEOUT_S)
    print(outcome[0] if outcome else f"W&B workspace not updated (no answer in {WORKSPACE_TIMEOUT_S} s)", flush=True)


def build_wandb_logger(run_dir: Path, run_id: str, quiet: bool) -> EnvStepWandbLogger | None:
    """The W&B logger of the run in ``run_dir`` (its config.json is the W&B config), or None when W&B is off.

    A sweep agent's run, started before the config was resolved, is reused: its config gains the resolved
    fields (the sweep's own parameters stay as the sweep chose them, as W&B requires).
    """
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    run = active_run()
    if run is not None:
        run.config.update({key: value for key, value in config.items() if key not in run.config.keys()})
    else:
        run = start_run(run_id=run_id, project=project_name(config), config=config, run_dir=run_dir, quiet=quiet)
        if run is None:
            return None
    return EnvStepWandbLogger(run, run_dir / "videos")

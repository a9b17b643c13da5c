"""The processes of a data-parallel training as ``train.py`` sees them through Lightning's Trainer: which rank
this one is, whether fitting starts the others, how a rank other than 0 trains, and how rank 0 ends them.

Kept apart from ``utils.distributed`` (placement and the ranks' exchanges) because everything here works on a
``pytorch_lightning.Trainer``; nothing imports Lightning itself.
"""

from __future__ import annotations

import subprocess
from typing import Any

from utils.distributed import lost_rank
from utils.errors import UserError


def launch_rank(trainer: Any) -> int:
    """This process's global rank, from the variables of whatever started it (Lightning's launcher, torchrun,
    SLURM) as Lightning reads them; known before fitting forms the process group, as seeding needs."""
    return trainer.node_rank * trainer.num_devices + trainer.local_rank


def starts_ranks(trainer: Any) -> bool:
    """Whether fitting will start this machine's other ranks by re-running this process's command line."""
    strategy = trainer.strategy
    environment = getattr(strategy, "cluster_environment", None)
    return (trainer.num_devices > 1 and getattr(strategy, "launcher", None) is not None
            and environment is not None and not environment.creates_processes_externally)


def fit_other_rank(trainer: Any, agent: Any, interrupt: Any) -> None:
    """A rank other than 0 trains alongside rank 0, which reports how training ended: a signal, a failure
    every rank meets (a divergence), or a lost process; only an unexpected error is this rank's to show."""
    try:
        trainer.fit(agent)
    except (KeyboardInterrupt, SystemExit):
        if not interrupt.interrupted:
            raise
    except UserError:
        pass
    except RuntimeError as exc:
        if not lost_rank(exc):
            raise


def end_started_ranks(trainer: Any, failed: bool, timeout_s: float = 60.0) -> None:
    """Rank 0 returns after the ranks it started: they end with training (a stop included) once their last
    exchange is done; after a failure on rank 0 alone they would wait in theirs, so they are killed."""
    for proc in getattr(trainer.strategy.launcher, "procs", []):
        if failed:
            proc.kill()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def lost_rank_message(trainer: Any, exc: BaseException) -> str:
    """What to tell about a collective that failed because another rank's process is gone."""
    procs = getattr(trainer.strategy.launcher, "procs", [])
    ended = [f"rank {trainer.node_rank * trainer.num_devices + index} exited with status {proc.returncode}"
             for index, proc in enumerate(procs, start=1) if proc.poll() not in (None, 0)]
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return f"another training process ended unexpectedly ({'; '.join(ended) or first_line})"

"""Run folders: ``runs/<id>/`` with config, checkpoints, logs, videos and results; ``runs/@latest-run``.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted write never leaves a truncated config, checkpoint or results file behind. Imports no torch
at module level: play and error paths stay fast.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from utils.errors import UserError

RUNS_DIR = Path("runs")
LATEST = "@latest-run"
CHECKPOINT_FORMAT = "gymnasium-solver/1"
CHECKPOINT_NAMES = ("best", "last")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_UMASK = os.umask(0)
os.umask(_UMASK)


def new_run_id() -> str:
    """An 8-character lowercase id, W&B-style."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Call ``write(handle)`` on a temporary file next to ``path``, then move it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would make run files private to their creator
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), lambda f: f.write(text))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    atomic_write(Path(path), lambda f: torch.save(obj, f), "wb")


@dataclass(frozen=True)
class Run:
    """A run folder and the paths inside it."""

    run_id: str
    dir: Path

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def videos(self) -> Path:
        return self.dir / "videos"

    @property
    def config_path(self) -> Path:
        return self.dir / "config.json"

    @property
    def results_path(self) -> Path:
        return self.dir / "results.json"

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}.ckpt"

    def load_config_dict(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError:
            raise UserError(f"run '{self.run_id}' has no config.json at {self.config_path}") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"run '{self.run_id}': config.json is not valid JSON ({exc})") from None

    def best_or_last_checkpoint(self) -> Path:
        for name in ("best", "last"):
            if self.checkpoint(name).is_file():
                return self.checkpoint(name)
        raise UserError(f"run '{self.run_id}' has no checkpoint (looked for best.ckpt and last.ckpt in {self.checkpoints})")


def create_run(config_dict: dict[str, Any], run_id: str | None = None, runs_dir: Path = RUNS_DIR) -> Run:
    """Make ``runs/<id>/`` with its sub-folders and config.json, and point ``@latest-run`` at it."""
    run_id = run_id or new_run_id()
    run = Run(run_id, Path(runs_dir) / run_id)
    for folder in (run.checkpoints, run.logs, run.videos):
        folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.config_path, config_dict)
    point_latest(run)
    return run


def point_latest(run: Run) -> None:
    """Replace the ``@latest-run`` symlink atomically (a new link, then rename over the old one)."""
    link = run.dir.parent / LATEST
    tmp = run.dir.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(run.run_id, tmp)
    os.replace(tmp, link)


def list_runs(runs_dir: Path = RUNS_DIR) -> list[str]:
    """Run ids, newest first."""
    if not Path(runs_dir).is_dir():
        return []
    runs = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    return [p.name for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def resolve_run(run_id: str, runs_dir: Path = RUNS_DIR) -> Run:
    """A run by id, ``@latest-run`` or path; a missing one is a UserError listing recent runs."""
    runs_dir = Path(runs_dir)
    candidate = Path(run_id)
    if run_id == LATEST or run_id.startswith("@"):
        link = runs_dir / LATEST
        if not link.exists():
            raise UserError(f"no runs yet: {link} does not exist (train one with `python train.py`)")
        target = link.resolve()
        return Run(target.name, target)
    if candidate.is_dir() and (candidate / "config.json").exists():
        return Run(candidate.name, candidate)
    if (runs_dir / run_id).is_dir():
        return Run(run_id, runs_dir / run_id)
    recent = ", ".join(list_runs(runs_dir)[:5]) or "none"
    raise UserError(f"run '{run_id}' not found in {runs_dir}/ (recent runs: {recent}; or use @latest-run)")


def checkpoint_path(run: Run | None, checkpoint: str | None) -> Path:
    """``best``/``last`` inside ``run``, the run's best-else-last when None, or a path to a ``.ckpt`` file."""
    if checkpoint in CHECKPOINT_NAMES or checkpoint is None:
        if run is None:
            raise UserError("a run is needed to find its best or last checkpoint")
        return run.checkpoint(checkpoint) if checkpoint else run.best_or_last_checkpoint()
    path = Path(checkpoint)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {checkpoint} (give best, last or the path of a .ckpt file)")
    return path


def run_of_checkpoint(path: Path) -> Run | None:
    """The run folder holding ``path`` (``runs/<id>/checkpoints/x.ckpt``), if it is one."""
    run_dir = Path(path).resolve().parent.parent
    return Run(run_dir.name, run_dir) if (run_dir / "config.json").is_file() else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a corrupt or foreign file is a UserError."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # torch raises many types for truncated/garbage files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UserError(f"checkpoint {path} is corrupt or not a gymnasium-solver checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is not a gymnasium-solver checkpoint (format {CHECKPOINT_FORMAT})")
    return state

"""Run folders: ``runs/<id>/`` with config, checkpoints, logs, videos and results; ``runs/@latest-run``;
agents published to the Hugging Face Hub, named ``hf:user/name``.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted write never leaves a truncated config, checkpoint or results file behind. Imports no torch
at module level: play and error paths stay fast.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import re
import secrets
import socket
import string
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from utils.errors import UserError

RUNS_DIR = Path("runs")
LATEST = "@latest-run"
HF_PREFIX = "hf:"
CHECKPOINT_FORMAT = "gymnasium-solver/1"
CHECKPOINT_NAMES = ("best", "last")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_UMASK = os.umask(0)
os.umask(_UMASK)


def new_run_id() -> str:
    """An 8-character lowercase id, W&B-style."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


class RunWriteError(UserError):
    """A run file could not be written (disk full, permissions, a file where a folder should be)."""


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Call ``write(handle)`` on a temporary file next to ``path``, then move it over ``path``.

    A failure leaves ``path`` as it was (the old file, or none) and raises :class:`RunWriteError`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise RunWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would make run files private to their creator
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """A UserError, before any work, where ``path`` could not be written: its folder (made if missing)
    must take a new file, and ``path`` must not be a folder."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), lambda f: f.write(text))


def atomic_write_json(path: Path, data: Any) -> None:
    """Strict JSON: a NaN or infinity is a ValueError, never an unreadable ``Infinity`` in the file."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`, serialized in memory first: torch's own writer turns a
    failed write (a full disk) into an unreadable RuntimeError, a plain file write into a clear OSError."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(Path(path), lambda f: f.write(buffer.getbuffer()), "wb")


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
            data = json.loads(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"run '{self.run_id}' has no config.json at {self.config_path}") from None
        except ValueError as exc:  # bad JSON or UTF-8, or an integer too long to convert
            raise UserError(f"run '{self.run_id}': config.json is not valid JSON ({exc})") from None
        except OSError as exc:
            raise UserError(f"run '{self.run_id}': cannot read {self.config_path} ({exc.strerror or exc})") from None
        if not isinstance(data, dict):
            raise UserError(f"run '{self.run_id}': config.json must hold a mapping of config fields, "
                            f"got {type(data).__name__}")
        return data

    def best_or_last_checkpoint(self) -> Path:
        for name in ("best", "last"):
            if self.checkpoint(name).is_file():
                return self.checkpoint(name)
        raise UserError(f"run '{self.run_id}' has no checkpoint (looked for best.ckpt and last.ckpt in {self.checkpoints})")


def create_run(config_dict: dict[str, Any], run_id: str | None = None, runs_dir: Path = RUNS_DIR) -> Run:
    """Make ``runs/<id>/`` with its sub-folders and config.json, and point ``@latest-run`` at it."""
    runs_dir = Path(runs_dir)
    check_runs_dir(runs_dir)
    run_id = run_id or new_run_id()
    run = Run(run_id, runs_dir / run_id)
    try:
        for folder in (run.checkpoints, run.logs, run.videos):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunWriteError(f"cannot create the run folder {run.dir}: {exc.strerror or exc}") from None
    atomic_write_json(run.config_path, config_dict)
    point_latest(run)
    return run


def check_runs_dir(runs_dir: Path = RUNS_DIR) -> None:
    """The runs folder must be a folder (or not exist yet), and ``@latest-run`` in it a link this tool keeps."""
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UserError(f"{runs_dir} exists but is not a folder: move it away so runs can be written there")
    link = runs_dir / LATEST
    if link.exists() and not link.is_symlink():
        raise UserError(f"{link} is a real {'folder' if link.is_dir() else 'file'}, not the link this tool "
                        f"maintains: move it away (nothing in it is touched)")


def point_latest(run: Run) -> None:
    """Replace the ``@latest-run`` symlink atomically (a new link, then rename over the old one)."""
    link = run.dir.parent / LATEST
    tmp = run.dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(run.run_id, tmp)
        os.replace(tmp, link)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunWriteError(f"cannot point {link} at {run.run_id}: {exc.strerror or exc}") from None


def list_runs(runs_dir: Path = RUNS_DIR) -> list[str]:
    """Run ids, newest first."""
    if not Path(runs_dir).is_dir():
        return []
    runs = [p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    return [p.name for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]


def resolve_run(run_id: str, runs_dir: Path = RUNS_DIR) -> Run:
    """A run by id, ``@latest-run``, path or ``hf:user/name[@revision]``; a missing one is a UserError.

    A Hub agent is downloaded into the Hugging Face cache (once per revision; a cached one is reused
    offline) and its ``artifacts/`` folder is the run.
    """
    runs_dir = Path(runs_dir)
    if not run_id.strip():
        raise UserError(f"a run id is required: a run folder's name in {runs_dir}/, {LATEST}, or hf:user/name")
    if run_id.startswith(HF_PREFIX):
        from utils.hub.client import download_run

        return download_run(run_id[len(HF_PREFIX):])
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UserError(f"{runs_dir} exists but is not a folder, so it holds no runs")
    recent = ", ".join(list_runs(runs_dir)[:5]) or "none"
    if run_id.startswith("@"):
        if run_id != LATEST:
            raise UserError(f"unknown run alias {run_id!r}: the only alias is {LATEST} (recent runs: {recent})")
        link = runs_dir / LATEST
        if link.is_symlink() and not link.exists():
            raise UserError(f"{link} points at '{os.readlink(link)}', which no longer exists (recent runs: {recent})")
        if not link.exists():
            raise UserError(f"no runs yet: {link} does not exist (train one with `python train.py`)")
        if not link.is_symlink():
            raise UserError(f"{link} is a real folder, not the link this tool maintains: move it away")
        target = link.resolve()
        return Run(target.name, target)
    candidate = Path(run_id)
    try:
        if candidate.is_dir() and (candidate / "config.json").is_file():
            return Run(candidate.resolve().name, candidate)
        if "/" not in run_id and run_id not in (".", "..") and (runs_dir / run_id).is_dir():
            return Run(run_id, runs_dir / run_id)
    except OSError:  # a name too long for the filesystem, a symlink loop: no such run either way
        pass
    raise UserError(f"run '{run_id}' not found in {runs_dir}/ (recent runs: {recent}; or use {LATEST})")


class RunLock:
    """An exclusive lock on a run folder, held by the process that trains into it.

    ``flock`` locks are released by the kernel when their process ends, so a crash never leaves a stale
    lock; the lock file only says who holds it.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> with RunLock(Run("r", folder)):
    ...     RunLock(Run("r", folder)).acquire()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    utils.errors.UserError: run 'r' is in use by pid ...
    """

    def __init__(self, run: Run):
        self.run = run
        self.path = run.dir / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        except OSError as exc:
            raise RunWriteError(f"cannot lock run '{self.run.run_id}' ({self.path}): {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"run '{self.run.run_id}' is in use by {holder}; wait for it to end or stop it "
                            f"(the lock goes away with its process)") from None
        os.ftruncate(fd, 0)
        command = " ".join(["python", *sys.argv])[:300]
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')} "
                      f"({command})".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # the file stays (removing it would race with a new holder); its text goes
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def checkpoint_path(run: Run | None, checkpoint: str | None) -> Path:
    """``best``/``last`` inside ``run``, the run's best-else-last when None, or a path to a ``.ckpt`` file."""
    if checkpoint in CHECKPOINT_NAMES or checkpoint is None:
        if run is None:
            raise UserError("a run is needed to find its best or last checkpoint")
        return run.checkpoint(checkpoint) if checkpoint else run.best_or_last_checkpoint()
    path = Path(checkpoint)
    try:
        found = path.is_file()
    except OSError:  # a name too long for the filesystem
        found = False
    if not found:
        raise UserError(f"checkpoint not found: {checkpoint} (give best, last or the path of a .ckpt file)")
    return path


def run_of_checkpoint(path: Path) -> Run | None:
    """The run folder holding ``path`` (``runs/<id>/checkpoints/x.ckpt``), if it is one."""
    run_dir = Path(path).resolve().parent.parent
    return Run(run_dir.name, run_dir) if (run_dir / "config.json").is_file() else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check its structure; anything else is a UserError.

    A file that would need unpickling of Python objects (code execution) is refused, never loaded.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        raise UserError(f"checkpoint {path} is a folder, not a checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint not found: {path}") from None
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:  # the file asks to rebuild an arbitrary Python object: loading it could run code
            raise UserError(f"checkpoint {path} was not written by gymnasium-solver: it holds a Python object "
                            f"({found.group(1)}) that would have to be unpickled, which can run code, so it is "
                            f"not loaded") from None
        raise UserError(f"checkpoint {path} is corrupt (not a readable torch file)") from None
    except Exception as exc:  # torch raises many types for truncated/garbage files
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserError(f"checkpoint {path} is corrupt or not a gymnasium-solver checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is not a gymnasium-solver checkpoint (format {CHECKPOINT_FORMAT})")
    problem = _structure_problem(state, torch.Tensor)
    if problem:
        raise UserError(f"checkpoint {path} is damaged: {problem}")
    return state


def check_checkpoint_config(state: dict[str, Any], config: Any, source: str) -> None:
    """A checkpoint can only continue a run of the same env and algorithm."""
    saved = state.get("config", {})
    for name in ("env_id", "algo_id"):
        if name in saved and saved[name] != getattr(config, name):
            raise UserError(f"{source} is from a {saved[name]} run, not {getattr(config, name)}")


def _structure_problem(state: dict[str, Any], tensor_type: type) -> str | None:
    """What is wrong with a checkpoint dict's structure (keys and types this tool reads), or None."""
    policy = state.get("policy")
    if not isinstance(policy, dict) or not policy:
        return "'policy' must be a non-empty mapping of weights"
    bad = [key for key, value in policy.items() if not isinstance(value, tensor_type)]
    if bad:
        return f"policy entry {bad[0]!r} is not a tensor"
    if not all(bool(value.isfinite().all()) for value in policy.values() if value.is_floating_point()):
        return "the policy weights hold NaN or infinite values"
    counters = state.get("counters")
    names = ("env_steps", "updates", "grad_steps", "episodes")
    if not isinstance(counters, dict) or not all(
            isinstance(counters.get(name), int) and counters[name] >= 0 for name in names):
        return f"'counters' must map {', '.join(names)} to non-negative integers"
    if not isinstance(state.get("config"), dict):
        return "'config' must be a mapping of config fields"
    for key in ("normalization", "eval"):
        if not isinstance(state.get(key, {}), dict):
            return f"{key!r} must be a mapping"
    return None

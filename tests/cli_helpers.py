"""What the command-line tests share: running a script as a user would, its one-line error, run folders."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # a hang guard only


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment with the checkout importable and session logs off, plus ``extra``."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "VIBES_DISABLE_SESSION_LOGS": "1", **extra}


def run_script(script: str, *args: str, cwd: Path, env: dict[str, str] | None = None,
               **popen) -> subprocess.CompletedProcess:
    """``python <repo>/<script> <args>`` from ``cwd`` (environment: ``env``, else ``cli_env()``)."""
    return subprocess.run([sys.executable, str(REPO_ROOT / script), *args], cwd=cwd, env=env or cli_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, **popen)


def run_code(code: str, *args: str, cwd: Path, env: dict[str, str] | None = None,
             **popen) -> subprocess.CompletedProcess:
    """``python -c <code> <args>`` from ``cwd``, like ``run_script``."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env or cli_env(),
                          capture_output=True, text=True, timeout=TIMEOUT, **popen)


def one_error_line(result: subprocess.CompletedProcess, code: int = 2, expected: str = "") -> str:
    """The single ``error:`` line of a rejected command, after checking the exit code and that no
    traceback was printed; ``expected`` must appear in it."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (result.stdout, result.stderr)
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert result.returncode == code, (result.returncode, lines[0])
    return lines[0]


def latest_run(root: Path) -> Path:
    """The run folder ``root/runs/@latest-run`` points at."""
    return (root / "runs" / "@latest-run").resolve()


def only_run(root: Path) -> Path:
    """The one run folder under ``root/runs`` (fails if there are several)."""
    (run,) = [p for p in (root / "runs").iterdir() if p.is_dir() and not p.is_symlink()]
    return run


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root`` (or ``root`` itself, a file): content hash and mtime of files, link
    targets, folders. Equal snapshots mean nothing was written; run-folder lock files are left out."""
    def entry(path: Path) -> object:
        if path.is_symlink():
            return "-> " + os.readlink(path)
        if path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
        return "dir"

    if not root.exists() and not root.is_symlink():
        return {}
    if root.is_file() or root.is_symlink():
        return {".": entry(root)}
    return {path.relative_to(root).as_posix(): entry(path) for path in sorted(root.rglob("*"))
            if path.name != ".lock"}


def frame_count(path: Path) -> int:
    """Frames in a video file, read back with imageio."""
    import imageio.v2 as imageio

    with imageio.get_reader(path) as reader:
        return sum(1 for _ in reader)

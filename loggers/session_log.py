"""Session log files (``logs/<YYYYmmdd-HHMMSS>_<run_id>.log``) and quiet-able checkpoint messages.

A session log holds a banner, the resolved config and everything printed to stdout/stderr while the
session lasts (ANSI colours stripped), so a run can be read back after the terminal is gone.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

LOGS_DIR = Path("logs")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def env_flag(name: str) -> bool:
    """True when the environment variable is set to anything but empty, 0, false, no or off."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def log_checkpoint_load(message: str) -> None:
    """Print a checkpoint-load message unless VIBES_QUIET or VIBES_DISABLE_CHECKPOINT_LOGS is set."""
    if not (env_flag("VIBES_QUIET") or env_flag("VIBES_DISABLE_CHECKPOINT_LOGS")):
        print(message)


class TeeStream:
    """Writes to ``terminal`` as is and to ``log`` without ANSI escape codes.

    ``terminal`` is a public attribute so the live console table can route it through its display
    while its own redraws go to the real terminal only (they would flood the log otherwise).
    """

    def __init__(self, terminal: TextIO, log: TextIO):
        self.terminal = terminal
        self.log = log

    def write(self, text: str) -> int:
        self.terminal.write(text)
        self.log.write(_ANSI.sub("", text))
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.terminal.isatty()

    def fileno(self) -> int:
        return self.terminal.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.terminal, "encoding", "utf-8")


def _banner(run_id: str, config: dict[str, Any]) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"gymnasium-solver session {run_id} started {started}\n"
        f"command: {' '.join(sys.argv)}\n"
        f"cwd: {os.getcwd()}\n"
        f"python: {sys.version.split()[0]}\n"
        f"resolved config:\n{json.dumps(config, indent=2, default=str)}\n"
        f"{'-' * 100}\n"
    )


@contextmanager
def session_log(run_id: str, config: dict[str, Any], logs_dir: Path = LOGS_DIR) -> Iterator[Path | None]:
    """Tee stdout/stderr into a new session log for the duration; yields its path.

    No file and no tee when VIBES_DISABLE_SESSION_LOGS is set (yields None). An exception leaving the
    block is written to the log (with its traceback) before it propagates.
    """
    if env_flag("VIBES_DISABLE_SESSION_LOGS"):
        yield None
        return
    path = logs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}_{run_id}.log"
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
        # Line buffered: a crash loses at most the line being written.
        log = open(path, "w", encoding="utf-8", buffering=1)
    except OSError as exc:  # the session log is a convenience: never a reason not to train
        print(f"warning: no session log ({path}: {exc.strerror or exc})", file=sys.stderr)
        yield None
        return
    with log:
        log.write(_banner(run_id, config))
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = TeeStream(sys.stdout, log), TeeStream(sys.stderr, log)
        try:
            yield path
        except (Exception, KeyboardInterrupt):
            log.write(traceback.format_exc())
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = saved

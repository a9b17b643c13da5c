"""``runs/<id>/logs/metrics.csv``: ``env_steps`` then one column per metric, one row per env step logged.

Rows are appended and flushed as they come, so a crash loses nothing already logged. A second call for
the step just logged (the final evaluation, after the last update's row) merges into that row instead of
repeating the step. A metric that first appears later (eval/* after the first evaluation) widens the
header: the file is rewritten once, atomically, with the earlier rows padded, and appending resumes.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

from utils.runs import atomic_write

from .plots import METRICS_CSV, STEP_COLUMN


class CsvMetricsLogger(Logger):
    """Lightning logger writing every ``log_metrics`` call as one CSV row."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS_CSV
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._columns = [STEP_COLUMN]
        if self.path.is_file() and self.path.stat().st_size:
            # Resuming into an existing run folder: keep its columns and append.
            with open(self.path, newline="", encoding="utf-8") as handle:
                self._columns = next(csv.reader(handle))
        self._known = set(self._columns)
        self._file = None
        self._writer = None
        #: the last row written by this logger: (step, its offset in the file, its cells)
        self._last: tuple[Any, int, list[Any]] | None = None

    @property
    def name(self) -> str:
        return "csv"

    @property
    def version(self) -> str:
        return self.run_dir.name

    @property
    def save_dir(self) -> str:
        return str(self.path.parent)

    @property
    def log_dir(self) -> str:
        return str(self.path.parent)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The run's config.json already holds the hyperparameters."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        new = [key for key in metrics if key not in self._known]
        if new:
            self._widen(new)
        if self._writer is None:
            self._open()
        step = metrics.get("time/env_steps", "") if step is None else step
        row = [step, *(_cell(metrics.get(key, "")) for key in self._columns[1:])]
        if self._last is not None and self._last[0] == step:
            _, offset, previous = self._last
            row = [cell if cell != "" else old for cell, old in zip(row, previous)]
            self._file.truncate(offset)  # append mode: the merged row is written where the old one began
        else:
            offset = self._file.tell()
        self._writer.writerow(row)
        self._file.flush()
        self._last = (step, offset, row)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    def _open(self) -> None:
        fresh = not self.path.is_file() or not self.path.stat().st_size
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if fresh:
            self._writer.writerow(self._columns)

    def _widen(self, new: list[str]) -> None:
        """Rewrite the file under the widened header (temp file + os.replace), earlier rows padded."""
        self._close()
        self._columns += new
        self._known.update(new)
        if not self.path.is_file():
            return
        with open(self.path, newline="", encoding="utf-8") as src:
            rows = list(csv.reader(src))[1:]
        padding = [""] * len(new)

        def write(handle) -> None:
            writer = csv.writer(handle)
            writer.writerow(self._columns)
            writer.writerows(row + padding for row in rows[:-1])
            handle.flush()
            if self._last is not None:
                self._last = (self._last[0], handle.tell(), self._last[2] + padding)
            writer.writerows(row + padding for row in rows[-1:])

        atomic_write(self.path, write)


def _cell(value: Any) -> Any:
    """Plain numbers as they are (csv writes floats round-trip exact); tensors and numpy scalars as float."""
    return value if type(value) in (float, int, str) else float(value)

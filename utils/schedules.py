"""Hyperparameter schedules over training progress (env_steps / max_timesteps).

A schedulable value is a number (constant) or a string `lin_<start>` (linear from start to 0) or
`lin_<start>_<end>` (linear from start to end), e.g. `lin_0.001`, `lin_3e-4_1e-5`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from utils.errors import ConfigError

SCHEDULE_FORMS = "a number, 'lin_<start>' or 'lin_<start>_<end>' (e.g. 'lin_0.001', 'lin_3e-4_1e-5')"

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_LINEAR_RE = re.compile(rf"lin_({_NUMBER})(?:_({_NUMBER}))?")


@dataclass(frozen=True)
class Schedule:
    """A value that is constant or moves linearly from `start` to `end` as progress goes 0 -> 1."""

    start: float
    end: float
    kind: Literal["constant", "linear"] = "constant"

    def __call__(self, progress: float) -> float:
        """The value at `progress` in [0, 1]; progress outside that range is clamped."""
        if self.kind == "constant":
            return self.start
        p = min(max(progress, 0.0), 1.0)
        # Weighted sum rather than start + (end - start) * p so both ends come out exact.
        return self.start * (1.0 - p) + self.end * p


def is_schedule_string(value: object) -> bool:
    """Whether `value` is a linear schedule string such as 'lin_0.001' or 'lin_0.001_0.0001'."""
    return isinstance(value, str) and _LINEAR_RE.fullmatch(value.strip()) is not None


def parse_schedule(value: float | int | str) -> Schedule:
    """Parse a number, a numeric string or a `lin_...` string into a Schedule."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Schedule(float(value), float(value))
    if isinstance(value, str):
        text = value.strip()
        if match := _LINEAR_RE.fullmatch(text):
            start, end = match.group(1), match.group(2)
            return Schedule(float(start), float(end) if end is not None else 0.0, "linear")
        # YAML reads '3e-4' as a string, so numeric strings are constants too.
        if _NUMBER_RE.fullmatch(text):
            return Schedule(float(text), float(text))
    raise ConfigError(f"invalid schedule {value!r}: expected {SCHEDULE_FORMS}")

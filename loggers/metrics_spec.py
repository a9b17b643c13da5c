"""Display and sanity rules per metric, read from ``config/metrics.yaml``.

Pure Python + PyYAML so that scripts which only read specs stay fast to start.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "metrics.yaml"


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is shown and what range it is expected to stay in."""

    key: str
    description: str = ""
    precision: int = 3
    show: bool = True
    higher_is_better: bool | None = None
    min: float | None = None
    max: float | None = None
    why: str = ""
    highlight: str | None = None
    summary: bool = False
    section: str = ""

    @property
    def section_name(self) -> str:
        """The W&B workspace section the metric goes in: ``section``, else its namespace (``train``)."""
        return self.section or self.key.partition("/")[0]

    def violation(self, value: float) -> str | None:
        """The bound ``value`` breaks, as text (``"min 0.01"``), or None when it is in range or NaN."""
        if self.min is not None and value < self.min:
            return f"min {self.min:g}"
        if self.max is not None and value > self.max:
            return f"max {self.max:g}"
        return None

    def format(self, value: float) -> str:
        """``value`` at this metric's precision; tiny values in scientific notation, counters with commas."""
        if value != value:
            return "nan"
        if self.precision == 0 or (abs(value) >= 1e4 and float(value).is_integer()):
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 10 ** -self.precision:
            return f"{value:.2e}"
        return f"{value:,.{self.precision}f}"


class MetricsSpec:
    """All metric specs; unknown keys get the defaults, and keys sort in file order within a namespace."""

    def __init__(self, specs: dict[str, MetricSpec], defaults: MetricSpec):
        self._specs = dict(specs)
        self._defaults = defaults
        self._order = {key: index for index, key in enumerate(specs)}

    def __getitem__(self, key: str) -> MetricSpec:
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = replace(self._defaults, key=key)
        return spec

    def keys(self) -> list[str]:
        """Keys listed in the file, in file order."""
        return list(self._order)

    def sort_key(self, key: str) -> tuple[int, str]:
        """Listed metrics first, in file order, then unknown ones alphabetically."""
        return (self._order.get(key, len(self._order)), key)


_FIELDS = {f.name for f in fields(MetricSpec)} - {"key"}


def _spec(key: str, raw: Any, base: dict[str, Any], path: Path) -> MetricSpec:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: '{key}' must be a mapping of fields, got {raw!r}")
    unknown = set(raw) - _FIELDS
    if unknown:
        # A misspelt field would otherwise silently fall back to the default.
        raise ValueError(f"{path}: '{key}' has unknown field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")
    return MetricSpec(key=key, **{**base, **raw})


@lru_cache(maxsize=None)
def load_metrics_spec(path: Path = DEFAULT_PATH) -> MetricsSpec:
    """Parse the metrics YAML at ``path``; raises ValueError on unknown fields."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    defaults = _spec("defaults", data.get("defaults"), {}, path)
    base = {name: getattr(defaults, name) for name in _FIELDS}
    specs = {key: _spec(key, raw, base, path) for key, raw in (data.get("metrics") or {}).items()}
    return MetricsSpec(specs, defaults)

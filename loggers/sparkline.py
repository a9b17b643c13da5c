"""Unicode block sparklines (``▁▂▃▄▅▆▇█``) for a series of numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
_FLAT = BLOCKS[3]  # a constant series reads as level, not as "at the bottom"


def _bucket_means(values: Sequence[float], width: int) -> list[float]:
    """``values`` averaged into ``width`` contiguous buckets (NaNs ignored; an all-NaN bucket is NaN)."""
    n = len(values)
    means = []
    for i in range(width):
        bucket = [v for v in values[i * n // width : (i + 1) * n // width] if math.isfinite(v)]
        means.append(sum(bucket) / len(bucket) if bucket else math.nan)
    return means


def sparkline(values: Sequence[float], width: int | None = None) -> str:
    """One block character per value, scaled between the series' min and max.

    Longer series than ``width`` are averaged into ``width`` buckets, so the line spans the whole series.
    Non-finite values become spaces; a constant series is drawn at mid height.
    """
    if width is not None and len(values) > width:
        values = _bucket_means(values, width)
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    chars = []
    for v in values:
        if not math.isfinite(v):
            chars.append(" ")
        elif span == 0:
            chars.append(_FLAT)
        else:
            chars.append(BLOCKS[round((v - low) / span * (len(BLOCKS) - 1))])
    return "".join(chars)

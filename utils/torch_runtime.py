"""Process-wide torch settings every entry point applies the same way: threads and seeds; what the CPU offers."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import torch


def configure_torch(torch_threads: int) -> None:
    """Use ``torch_threads`` CPU threads (0 keeps torch's default)."""
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


#: /proc/cpuinfo flags of native bfloat16 arithmetic: x86's AVX512-BF16 and AMX, Arm's BF16
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_bfloat16(cpuinfo: str | None = None) -> bool | None:
    """Whether the CPU computes bfloat16 natively (``cpuinfo``: /proc/cpuinfo's text, read when not given);
    None where that cannot be told (no /proc/cpuinfo, or no flags line in it)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return None
    match = re.search(r"^(?:flags|Features)\s*:(.*)$", cpuinfo, re.MULTILINE)
    return None if match is None else not BF16_FLAGS.isdisjoint(match.group(1).split())

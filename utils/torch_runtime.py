"""Process-wide torch settings every entry point applies the same way: threads and seeds."""

from __future__ import annotations

import random

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

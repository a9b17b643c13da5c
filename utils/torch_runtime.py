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


def check_device(device: str) -> None:
    """``device: cuda`` on a machine without a usable CUDA GPU is an error, not a silent run on the CPU."""
    if device == "cuda" and not torch.cuda.is_available():
        from utils.errors import ConfigError

        raise ConfigError("device cuda: no CUDA GPU is available to torch here; use device cpu (or auto)")

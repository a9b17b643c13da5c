"""Shared pytest setup: make the repo importable and keep torch to one thread (faster for tiny models)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass

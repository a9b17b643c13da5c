#!/usr/bin/env python
"""Where a training update's time goes, and what each speed-up is worth.

    python scripts/profile_training.py CartPole-v1:ppo                 # breakdown per update
    python scripts/profile_training.py CartPole-v1:ppo --ablations     # each speed-up undone in turn
    python scripts/profile_training.py CartPole-v1:ppo --cprofile 30   # top functions by own time

Trains for ``--steps`` env steps without evaluation, timing the three phases of ``training_step``
(collect, returns, optimize) and what Lightning adds around them. Ablations run in alternation,
``--repeats`` times each, and report the median, so machine drift hits every variant alike.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from utils.config import load_config, parse_config_id  # noqa: E402
from utils.torch_runtime import configure_torch  # noqa: E402


def _undo_fast_tanh() -> None:
    import utils.policies

    utils.policies.ACTIVATIONS["tanh"] = torch.tanh


def _undo_raw_gradient_step() -> None:
    from agents.base import BaseAgent

    def gradient_step(self, loss):  # Lightning's manual-optimization API
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.max_grad_norm)
        optimizer.step()
        self.grad_steps += 1
        return grad_norm

    BaseAgent.gradient_step = gradient_step


def _undo_fused_adam() -> None:
    from agents.base import BaseAgent

    original = BaseAgent.configure_optimizers

    def configure_optimizers(self):
        optimizer = original(self)
        for group in optimizer.param_groups:
            group["fused"] = False
        return optimizer

    BaseAgent.configure_optimizers = configure_optimizers


ABLATIONS = {
    "baseline": ({}, None),
    "torch.tanh": ({}, _undo_fast_tanh),
    "manual_backward": ({}, _undo_raw_gradient_step),
    "unfused Adam": ({}, _undo_fused_adam),
    "sync vector env": ({"vectorization": "sync"}, None),
    "2 torch threads": ({"torch_threads": 2}, None),
}


def run_once(config_id: str, steps: int, overrides: dict, patch=None, profile: cProfile.Profile | None = None) -> dict:
    """Train once; returns env steps/s and milliseconds per update for each phase."""
    import pytorch_lightning as pl

    from agents import build_agent

    name, variant = parse_config_id(config_id)
    config = load_config(name, variant, {"max_timesteps": steps, "eval_freq": 0, "early_stop": False, **overrides})
    configure_torch(config.torch_threads)
    if patch:
        patch()
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    phases = {"collect": 0.0, "returns": 0.0, "optimize": 0.0, "training_step": 0.0}

    def timed(obj, attr, key):
        inner = getattr(obj, attr)

        def wrapper(*args):
            start = time.perf_counter()
            result = inner(*args)
            phases[key] += time.perf_counter() - start
            return result

        setattr(obj, attr, wrapper)

    timed(agent.collector, "collect", "collect")
    timed(agent, "compute_returns", "returns")
    timed(agent, "optimize", "optimize")
    timed(agent, "training_step", "training_step")
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0, accelerator="cpu", devices=1,
    )
    if profile:
        profile.enable()
    start = time.perf_counter()
    trainer.fit(agent)
    wall = time.perf_counter() - start
    if profile:
        profile.disable()
    updates = max(agent.updates, 1)
    per_update = {key: 1000 * value / updates for key, value in phases.items()}
    per_update["lightning"] = 1000 * wall / updates - per_update.pop("training_step")
    return {"sps": agent.env_steps / wall, **per_update}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config_id", nargs="?", default="CartPole-v1:ppo")
    parser.add_argument("--steps", type=int, default=51_200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--cprofile", type=int, metavar="N", help="print the top N functions by own time")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    if args.cprofile:
        profile = cProfile.Profile()
        print(run_once(args.config_id, args.steps, {}, profile=profile))
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)
        return
    names = list(ABLATIONS) if args.ablations else ["baseline"]
    rows: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:  # each variant in a fresh process: patches must not leak between them
            import json
            import subprocess

            code = (
                "import json, sys; sys.argv=['x']; import scripts.profile_training as p; "
                f"o, patch = p.ABLATIONS[{name!r}]; "
                f"print(json.dumps(p.run_once({args.config_id!r}, {args.steps}, o, patch)))"
            )
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True,
                cwd=Path(__file__).resolve().parents[1],
            )
            rows[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.config_id}, {args.steps} env steps, median of {args.repeats} (ms per update)")
    print(f"{'variant':<18}{'env steps/s':>12}{'collect':>9}{'returns':>9}{'optimize':>10}{'lightning':>11}")
    for name, results in rows.items():
        med = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(
            f"{name:<18}{med['sps']:>12,.0f}{med['collect']:>9.2f}{med['returns']:>9.2f}"
            f"{med['optimize']:>10.2f}{med['lightning']:>11.2f}"
        )


if __name__ == "__main__":
    main()

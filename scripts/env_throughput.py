#!/usr/bin/env python
"""Env steps/s of a config's training envs: raw random stepping vs rollout collection (policy included).

    python scripts/env_throughput.py ALE-Pong-v5:rgb_ppo
    python scripts/env_throughput.py ALE-Pong-v5:rgb_ppo ALE-Pong-v5:objects_ppo --n-envs 8 --torch-threads 1 2
    python scripts/env_throughput.py ALE-Pong-v5:rgb_ppo --precision 32-true bf16-mixed --accelerator gpu

For each config (any family) it builds the training vector env exactly as training does (twice: one for
each measurement) and the config's policy, then alternates, ``--rounds`` times: ``--rollouts`` rollouts'
worth of env steps with pre-sampled random actions (raw), and as many steps through
``RolloutCollector.collect`` (policy forward, sampling, buffer writes: collection), on the device and in the
precision that training would use (``--accelerator``, ``--precision``: bf16-mixed runs under the same
autocast as Lightning's). The table shows the medians and collection / raw, the share of the env's own
speed that training's collection keeps.
Alternating rounds lets machine load drift hit both columns alike. The CPU columns (this process's CPU
time per env step, its threads included: what a loaded machine cannot distort) show where the time goes;
they are "n/a" for subprocess envs, whose workers' CPU time is not this process's.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.cli import ArgumentParser, exit_with  # noqa: E402
from utils.errors import UserError  # noqa: E402


@dataclass
class Row:
    config_id: str
    n_envs: int
    torch_threads: int
    device: str
    precision: str
    env_class: str
    raw: float
    collect: float
    raw_cpu_us: float | None
    collect_cpu_us: float | None

    @property
    def ratio(self) -> float:
        return self.collect / self.raw


def measure(config_id: str, overrides: dict, torch_threads: int, rounds: int, rollouts: int) -> Row:
    """Median raw and collection env steps/s of one config (``overrides``: config fields)."""
    import torch
    from gymnasium.vector import AsyncVectorEnv

    from utils.config import load_config, parse_config_id
    from utils.distributed import resolve_placement
    from utils.environment import build_vec_env
    from utils.policies import build_policy
    from utils.rollouts import RolloutCollector
    from utils.torch_runtime import configure_torch, seed_everything

    name, variant = parse_config_id(config_id)
    config = load_config(name, variant, overrides)
    device = torch.device(resolve_placement(config).accelerator)
    dtype = torch.bfloat16 if config.precision == "bf16-mixed" else None
    configure_torch(torch_threads)
    seed_everything(config.seed)
    raw_envs = build_vec_env(config, config.n_envs)
    envs = build_vec_env(config, config.n_envs)
    try:
        policy = build_policy(config, envs.single_observation_space, envs.single_action_space).to(device)
        collector = RolloutCollector(envs, policy, config.n_steps, seed=config.seed)
        # Lightning's autocast for bf16-mixed, which training's collection runs under
        autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None, cache_enabled=False)
        raw_envs.reset(seed=config.seed + 1)
        raw_envs.action_space.seed(config.seed)
        actions = [raw_envs.action_space.sample() for _ in range(config.n_steps * rollouts)]
        steps = config.n_envs * config.n_steps * rollouts
        with autocast:
            collector.collect()  # warm-up: first calls pay for allocation and kernel selection
        for action in actions[: config.n_steps]:
            raw_envs.step(action)
        raw_rates, collect_rates, raw_cpu, collect_cpu = [], [], [], []
        for _ in range(rounds):
            start, cpu = time.perf_counter(), time.process_time()
            for action in actions:
                raw_envs.step(action)
            raw_rates.append(steps / (time.perf_counter() - start))
            raw_cpu.append((time.process_time() - cpu) / steps * 1e6)
            start, cpu = time.perf_counter(), time.process_time()
            with autocast:
                for _ in range(rollouts):
                    collector.collect()
            collect_rates.append(steps / (time.perf_counter() - start))
            collect_cpu.append((time.process_time() - cpu) / steps * 1e6)
        in_process = not isinstance(envs.unwrapped, AsyncVectorEnv)
        return Row(config_id, config.n_envs, torch_threads, device.type, config.precision,
                   type(envs.unwrapped).__name__, statistics.median(raw_rates), statistics.median(collect_rates),
                   statistics.median(raw_cpu) if in_process else None,
                   statistics.median(collect_cpu) if in_process else None)
    finally:
        raw_envs.close()
        envs.close()


def format_table(rows: list[Row]) -> str:
    header = ("config", "n_envs", "threads", "device", "precision", "vector env", "raw steps/s", "collect steps/s",
              "collect/raw", "raw CPU us/step", "collect CPU us/step")
    body = [(r.config_id, str(r.n_envs), str(r.torch_threads), r.device, r.precision, r.env_class, f"{r.raw:,.0f}",
             f"{r.collect:,.0f}", f"{r.ratio:.2f}", _us(r.raw_cpu_us), _us(r.collect_cpu_us)) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [header, tuple("-" * w for w in widths), *body]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in lines
    )


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def parse_args(argv: list[str] | None) -> object:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("config_ids", nargs="+", metavar="CONFIG_ID", help="e.g. ALE-Pong-v5:rgb_ppo")
    parser.add_argument("--n-envs", "--n_envs", dest="n_envs", type=int, help="envs (default: the config's n_envs)")
    parser.add_argument("--torch-threads", "--torch_threads", dest="torch_threads", type=int, nargs="+",
                        default=[1], help="torch threads to measure with, e.g. 1 2 (default 1)")
    parser.add_argument("--precision", nargs="+", default=[None], metavar="PRECISION",
                        help="measure in these precisions, e.g. 32-true bf16-mixed (default: the config's)")
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"),
                        help="where the policy runs (default: the config's accelerator, as training places it)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating raw/collect rounds (default 3)")
    parser.add_argument("--rollouts", type=int, default=2, help="rollouts per measurement (default 2)")
    args = parser.parse_strict(argv)
    for name in ("rounds", "rollouts"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be at least 1")
    if args.n_envs is not None and args.n_envs < 1:
        raise UserError("--n-envs must be at least 1")
    if any(threads < 1 for threads in args.torch_threads):
        raise UserError("--torch-threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        rows = []
        for config_id in args.config_ids:
            for precision in args.precision:
                overrides = {"n_envs": args.n_envs, "precision": precision, "accelerator": args.accelerator}
                overrides = {key: value for key, value in overrides.items() if value is not None}
                if args.n_envs:  # a smaller rollout must not trip over a minibatch size no update here uses
                    overrides["batch_size"] = 1.0
                for threads in args.torch_threads:
                    rows.append(measure(config_id, overrides, threads, args.rounds, args.rollouts))
                    print(f"measured {config_id} ({precision or 'its precision'}, {threads} torch thread(s))",
                          file=sys.stderr, flush=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    exit_with(main)

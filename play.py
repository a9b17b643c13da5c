#!/usr/bin/env python
"""Play a trained agent: ``python play.py --run-id @latest-run --episodes 5``.

Loads the run's best checkpoint (else its last) with the run's config and frozen normalization
statistics, and prints each episode's return. ``--run-id hf:user/name`` plays an agent published to the
Hugging Face Hub (needs the ``hub`` extra). Does not import Lightning.
"""

from __future__ import annotations

import argparse
import os
import sys

from utils.errors import UserError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Play a trained agent from a run folder.")
    parser.add_argument("--run-id", "--run_id", dest="run_id", default="@latest-run",
                        help="run id, @latest-run, or hf:user/name (an agent on the Hugging Face Hub)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes to play (default 5)")
    parser.add_argument("--checkpoint", choices=("best", "last"), help="which checkpoint (default: best, else last)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="deterministic", action="store_true", default=True,
                      help="take the most likely action (default)")
    mode.add_argument("--stochastic", dest="deterministic", action="store_false", help="sample actions")
    parser.add_argument("--render", action="store_true", help="open a window (needs a display)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first episode")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    return args


def play(args: argparse.Namespace) -> list[float]:
    from loggers.session_log import log_checkpoint_load
    from utils.runs import load_agent, resolve_run

    run = resolve_run(args.run_id)
    agent = load_agent(run, args.checkpoint, render_mode="human" if args.render else None)
    from utils.evaluation import evaluate_policy  # torch: only once there is something to play

    policy, envs = agent.policy, agent.envs
    steps = "?" if agent.env_steps is None else agent.env_steps
    log_checkpoint_load(f"loaded {agent.checkpoint} ({agent.config.config_id}, {steps} env steps)")
    returns: list[float] = []
    seed = args.seed
    for episode in range(1, args.episodes + 1):
        result = evaluate_policy(policy, envs, 1, deterministic=args.deterministic, seed=seed)
        seed = None  # later episodes continue the env's random stream
        returns.append(result.returns[0])
        print(f"episode {episode}: return {result.returns[0]:.2f}, length {result.lengths[0]}", flush=True)
    envs.close()
    if len(returns) > 1:
        mean = sum(returns) / len(returns)
        print(f"mean return over {len(returns)} episodes: {mean:.2f}")
    return returns


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        play(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    os.environ.setdefault("VIBES_DISABLE_SESSION_LOGS", "1")
    sys.exit(main())

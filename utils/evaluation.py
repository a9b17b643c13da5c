"""Policy evaluation: all episodes at once, in parallel envs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from utils.policies import ActorCritic


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))


def evaluate_policy(
    policy: ActorCritic,
    envs: VectorEnv,
    n_episodes: int,
    deterministic: bool = True,
    seed: int | None = None,
) -> EvalResult:
    """Run ``n_episodes`` episodes spread evenly over the envs and return their raw returns.

    Each env gets a fixed quota of episodes decided up front: taking the first ``n_episodes`` to finish
    would favour short episodes. Returns are in the order episodes finished.
    """
    n_envs = envs.num_envs
    quota = np.array([n_episodes // n_envs + (i < n_episodes % n_envs) for i in range(n_envs)])
    done_count = np.zeros(n_envs, dtype=int)
    returns: list[float] = []
    lengths: list[int] = []
    obs, _ = envs.reset(seed=seed)
    device = next(policy.parameters()).device
    while (done_count < quota).any():
        actions = policy.act(torch.as_tensor(obs, device=device), deterministic)
        obs, _, _, _, infos = envs.step(policy.head.to_env(actions))
        if "_episode" not in infos:
            continue
        finished = infos["_episode"] & (done_count < quota)
        returns.extend(float(r) for r in infos["episode"]["r"][finished])
        lengths.extend(int(n) for n in infos["episode"]["l"][finished])
        done_count += finished
    return EvalResult(returns, lengths)

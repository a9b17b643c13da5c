"""Reward scaling by the running spread of the discounted return, the way SB3's VecNormalize does it."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.wrappers.utils import RunningMeanStd


class NormalizeRewardByReturn(VectorWrapper, gym.utils.RecordConstructorArgs):
    """Divides rewards by the running standard deviation of the discounted return, then clips them.

    The return ``R <- gamma * R + r`` restarts after every episode end, termination *or* truncation, and is
    fed to the statistics at every step (SB3's ``VecNormalize(norm_reward=True)``, as in OpenAI baselines;
    what rl-zoo3's ``normalize: true`` means). Gymnasium's ``NormalizeReward`` differs in ways that change
    the scale a lot on time-limited tasks: it carries the return across truncations, so on Acrobot, where
    every early episode is cut at 500 steps, its return sits near ``-1 / (1 - gamma)`` and its spread
    shrinks. Under NEXT_STEP autoreset the reset step (reward 0, no action) touches neither the return nor
    the statistics. Set ``update_running_mean = False`` to freeze the statistics.

    >>> import gymnasium as gym
    >>> envs = NormalizeRewardByReturn(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), gamma=0.9)
    >>> _ = envs.reset(seed=0)
    >>> _, rewards, *_ = envs.step(np.array([0, 1]))
    >>> [round(float(r), 3) for r in rewards]  # R = 1 in both envs: the spread is still ~0, so rewards clip
    [10.0, 10.0]
    >>> envs.return_rms.count > 2
    True
    """

    def __init__(self, env: VectorEnv, gamma: float = 0.99, epsilon: float = 1e-8, clip: float = 10.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, gamma=gamma, epsilon=epsilon, clip=clip)
        VectorWrapper.__init__(self, env)
        self.gamma, self.epsilon, self.clip = gamma, epsilon, clip
        self.return_rms = RunningMeanStd(shape=())
        self.update_running_mean = True
        self._returns = np.zeros(self.num_envs)
        self._prev_done = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        self._returns[:] = 0.0
        self._prev_done[:] = False
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        active = ~self._prev_done
        self._returns[active] = self.gamma * self._returns[active] + rewards[active]
        if self.update_running_mean and active.any():
            self.return_rms.update(self._returns[active])
        self._prev_done = np.logical_or(terminated, truncated)
        self._returns[self._prev_done] = 0.0
        scaled = np.clip(rewards / np.sqrt(self.return_rms.var + self.epsilon), -self.clip, self.clip)
        return obs, scaled.astype(np.float32), terminated, truncated, info

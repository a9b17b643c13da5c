"""Tiny envs whose every step the test decides."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class ScriptedEnv(gym.Env):
    """Rewards from a script; the episode ends after ``length`` steps, by termination or by truncation."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, rewards: list[float], truncate: bool) -> None:
        self.rewards, self.truncate = rewards, truncate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        reward = self.rewards[self.t]
        self.t += 1
        done = self.t == len(self.rewards)
        return np.zeros(1, np.float32), reward, done and not self.truncate, done and self.truncate, {}

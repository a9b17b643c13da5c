"""Bandit-v0: a stateless multi-armed bandit, the smallest env a policy-gradient agent can be checked on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from utils.errors import ConfigError

BANDIT_ID = "Bandit-v0"
DEFAULT_N_ARMS = 10
DEFAULT_EPISODE_LENGTH = 100


#: more arms than any bandit experiment here needs; a typo beyond it would allocate gigabytes
MAX_ARMS = 100_000


def default_arm_means(n_arms: int) -> np.ndarray:
    """Evenly spaced means in [0, 1] (so the best arm, mean 1, is unique), in a fixed shuffled order so the
    best arm is not simply the last one."""
    return np.linspace(0.0, 1.0, n_arms)[np.random.default_rng(0).permutation(n_arms)]


class BanditEnv(gym.Env[np.ndarray, np.int64]):
    """Each step pulls one arm and pays its mean plus Gaussian noise; an episode is ``episode_length`` pulls, then
    truncation (never termination). The observation is a constant zero: a bandit has no state. The arm means are
    fixed per instance (``arm_means`` or :func:`default_arm_means`); the seed only drives the noise.

    >>> import gymnasium as gym
    >>> import gym_wrappers
    >>> env = gym.make("Bandit-v0")
    >>> float(env.unwrapped.arm_means.max()), env.spec.max_episode_steps, env.spec.reward_threshold
    (1.0, 100, 90.0)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        n_arms: int = DEFAULT_N_ARMS,
        arm_means: Sequence[float] | None = None,
        reward_std: float = 0.1,
        episode_length: int = DEFAULT_EPISODE_LENGTH,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ConfigError(f"{BANDIT_ID} has nothing to render; got render_mode={render_mode!r}")
        if arm_means is None:
            if not 2 <= n_arms <= MAX_ARMS:
                raise ConfigError(f"{BANDIT_ID} needs n_arms between 2 and {MAX_ARMS:,}, got {n_arms}")
            means = default_arm_means(n_arms)
        else:
            means = np.asarray(arm_means, dtype=np.float64)
            if means.ndim != 1 or means.size < 2:
                raise ConfigError(f"{BANDIT_ID} arm_means must list at least 2 numbers, got {arm_means!r}")
        if episode_length < 1 or reward_std < 0:
            raise ConfigError(f"{BANDIT_ID} needs episode_length >= 1 and reward_std >= 0")
        self.arm_means = means
        self.reward_std = float(reward_std)
        self.episode_length = int(episode_length)
        self.action_space = gym.spaces.Discrete(means.size)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self._pulls = 0

    @property
    def best_arm(self) -> int:
        return int(np.argmax(self.arm_means))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._pulls = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = self.arm_means[int(action)] + self.reward_std * self.np_random.standard_normal()
        self._pulls += 1
        # Truncated here as well as by the registered TimeLimit, so a directly constructed env and a non-default
        # episode_length end episodes too.
        truncated = self._pulls >= self.episode_length
        return np.zeros(1, dtype=np.float32), float(reward), False, truncated, {}


def register_bandit() -> None:
    """Register Bandit-v0 with gymnasium (idempotent). The threshold is 90% of the default bandit's optimal
    expected return, 100 pulls of the mean-1 arm."""
    if BANDIT_ID in gym.registry:
        return
    gym.register(
        id=BANDIT_ID,
        entry_point=f"{__name__}:BanditEnv",
        max_episode_steps=DEFAULT_EPISODE_LENGTH,
        reward_threshold=0.9 * DEFAULT_EPISODE_LENGTH * float(default_arm_means(DEFAULT_N_ARMS).max()),
    )

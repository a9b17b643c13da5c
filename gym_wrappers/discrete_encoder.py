"""Encode Discrete observations (FrozenLake, Taxi) as float vectors an MLP can take."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError

ENCODINGS = ("array", "binary", "onehot")


@EnvWrapperRegistry.register("DiscreteEncoder")
class DiscreteEncoder(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Turns a Discrete(n) observation into a float32 vector of the state's index (counted from the space's start).

    - ``"array"``: ``[index]``, shape (1,)
    - ``"binary"``: the index's bits, least significant first, shape (max(1, ceil(log2 n)),)
    - ``"onehot"``: 1 at the index, shape (n,)

    >>> import gymnasium as gym
    >>> env = DiscreteEncoder(gym.make("FrozenLake-v1"), encoding="binary")
    >>> env.observation(5)
    array([1., 0., 1., 0.], dtype=float32)
    >>> int(DiscreteEncoder(gym.make("FrozenLake-v1"), encoding="onehot").observation(5).argmax())
    5
    """

    def __init__(self, env: gym.Env, encoding: str = "onehot") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, encoding=encoding)
        gym.ObservationWrapper.__init__(self, env)
        if encoding not in ENCODINGS:
            raise ConfigError(f"DiscreteEncoder encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")
        space = env.observation_space
        if not isinstance(space, gym.spaces.Discrete):
            raise ConfigError(f"DiscreteEncoder needs a Discrete observation space, got {space}")
        self.encoding = encoding
        self._n = int(space.n)
        self._start = int(space.start)
        self._bits = max(1, (self._n - 1).bit_length())
        if encoding == "array":
            self.observation_space = gym.spaces.Box(0.0, float(self._n - 1), (1,), np.float32)
        else:
            size = self._bits if encoding == "binary" else self._n
            self.observation_space = gym.spaces.Box(0.0, 1.0, (size,), np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        index = int(observation) - self._start
        if self.encoding == "array":
            return np.array([index], dtype=np.float32)
        if self.encoding == "binary":
            return ((index >> np.arange(self._bits)) & 1).astype(np.float32)
        onehot = np.zeros(self._n, dtype=np.float32)
        onehot[index] = 1.0
        return onehot

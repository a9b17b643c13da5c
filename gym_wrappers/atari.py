"""Atari game-level wrappers: FIRE after reset (one env), and a lost life as the end of the learner's episode
(a vector wrapper for training only).

Neither imports ale_py: they read the action meanings and the ``lives`` info that ALE envs provide.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper

from utils.errors import ConfigError


class AtariFireReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Press FIRE once after every reset, as ale-py's native vector env does (``use_fire_reset``): games such as
    Breakout wait for it before the ball is served. The FIRE step's reward is not part of the episode.

    >>> import gymnasium as gym, ale_py
    >>> env = AtariFireReset(gym.make("ALE/Breakout-v5"))
    >>> env.fire_action, env.unwrapped.get_action_meanings()[env.fire_action]
    (1, 'FIRE')
    >>> obs, info = env.reset(seed=0)
    >>> info["episode_frame_number"]  # one step of 4 frames (v5's frame skip) has run
    4
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        meanings = action_meanings(env)
        if "FIRE" not in meanings:
            raise ConfigError(f"AtariFireReset needs a game with a FIRE action, got actions {meanings}")
        self.fire_action = meanings.index("FIRE")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.env.reset(seed=seed, options=options)
        obs, _, terminated, truncated, info = self.env.step(self.fire_action)
        if terminated or truncated:  # a game that ends on its first FIRE: start it again, without the press
            return self.env.reset(options=options)
        return obs, info


class AtariLifeLossTermination(VectorWrapper):
    """Training only: a lost life ends the learner's episode (``terminated``) without ending the game.

    The episode statistics recorded below this wrapper keep counting the whole game, and evaluation never
    uses it. Under NEXT_STEP autoreset the step after ``terminated`` is a reset step that the collector
    masks out; here the game goes on instead, so that step plays ``restart_action`` (FIRE where the game
    has it, which serves the next ball; else NOOP) whatever the policy chose, and reports reward 0, as a
    reset step does. Needs ``info["lives"]`` from the env (every ALE env provides it).

    >>> import gymnasium as gym, ale_py, numpy as np
    >>> from gymnasium.wrappers import RecordEpisodeStatistics
    >>> wrappers = [AtariFireReset, RecordEpisodeStatistics]
    >>> game = gym.make_vec("ALE/Breakout-v5", 1, vectorization_mode="sync", wrappers=wrappers)
    >>> envs = AtariLifeLossTermination(game, restart_action=1)  # 1: FIRE
    >>> _ = envs.reset(seed=0)
    >>> ends = []
    >>> for t in range(124):  # an idle paddle misses each ball; FIRE serves the next one
    ...     _, _, terminated, _, info = envs.step(np.zeros(1, dtype=np.int64))
    ...     ends += [t] if terminated[0] else []
    >>> ends  # 4 lost lives, then the game is over
    [23, 48, 73, 98, 123]
    >>> int(info["episode"]["l"][0])  # the statistics below count the whole game
    124
    """

    def __init__(self, env: VectorEnv, restart_action: int = 0) -> None:
        super().__init__(env)
        self.restart_action = int(restart_action)
        self._lives = np.zeros(self.num_envs, dtype=np.int64)
        self._restart = np.zeros(self.num_envs, dtype=bool)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._lives = _lives(info, self.num_envs)
        self._restart[:] = False
        return obs, info

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        restart = self._restart
        if restart.any():
            actions = np.where(restart, np.asarray(self.restart_action, dtype=np.asarray(actions).dtype), actions)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        lives = _lives(info, self.num_envs)
        lost = (lives < self._lives) & ~terminated & ~truncated
        self._lives = lives
        if restart.any():
            rewards = np.where(restart, 0, rewards)
        self._restart = lost
        return obs, rewards, terminated | lost, truncated, info


def action_meanings(env: gym.Env) -> list[str]:
    """The env's action names (``NOOP``, ``FIRE``, ...)."""
    get_meanings = getattr(env.unwrapped, "get_action_meanings", None)
    if get_meanings is None:
        raise ConfigError(f"{type(env.unwrapped).__name__} is not an Atari env (it has no action meanings)")
    return list(get_meanings())


def _lives(info: dict[str, Any], n_envs: int) -> np.ndarray:
    if "lives" not in info:
        raise ConfigError("AtariLifeLossTermination needs info['lives'] (an ALE env)")
    return np.asarray(info["lives"], dtype=np.int64).reshape(n_envs).copy()

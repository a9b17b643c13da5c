"""Reward shaping: a dense bonus for CartPole-v1, and potential-based shaping (MountainCar-v0, Taxi-v4).

All keep the env's own reward in ``info["original_reward"]`` (set once, so stacked shapers keep the true one).
"""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError


def _require_attributes(env: gym.Env, wrapper: str, attributes: tuple[str, ...], expected: str) -> None:
    # The shapers read the physics state, so a wrong env would fail later with an obscure AttributeError.
    if not all(hasattr(env.unwrapped, attribute) for attribute in attributes):
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        raise ConfigError(f"{wrapper} needs a {expected} env, got {env_id}")


@EnvWrapperRegistry.register("CartPoleV1_RewardShaper")
class CartPoleV1_RewardShaper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds a bonus for keeping the pole upright and the cart centred, each term in [0, its scale]:

    ``angle_reward_scale * (1 - |theta| / theta_threshold) + position_reward_scale * (1 - |x| / x_threshold)``

    >>> import gymnasium as gym
    >>> env = CartPoleV1_RewardShaper(gym.make("CartPole-v1"), angle_reward_scale=0.1)
    >>> _ = env.reset(seed=0)
    >>> _, reward, _, _, info = env.step(0)
    >>> info["original_reward"], round(reward, 3)
    (1.0, 1.078)
    """

    def __init__(self, env: gym.Env, angle_reward_scale: float = 1.0, position_reward_scale: float = 0.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, angle_reward_scale=angle_reward_scale, position_reward_scale=position_reward_scale
        )
        gym.Wrapper.__init__(self, env)
        _require_attributes(env, "CartPoleV1_RewardShaper", ("theta_threshold_radians", "x_threshold"), "CartPole")
        self.angle_reward_scale = float(angle_reward_scale)
        self.position_reward_scale = float(position_reward_scale)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        # The physics state, not obs: an inner observation wrapper (normalization, pixels) may have changed obs.
        unwrapped = self.env.unwrapped
        x, _, theta, _ = unwrapped.state
        upright = max(0.0, 1.0 - abs(theta) / unwrapped.theta_threshold_radians)
        centred = max(0.0, 1.0 - abs(x) / unwrapped.x_threshold)
        bonus = self.angle_reward_scale * upright + self.position_reward_scale * centred
        info.setdefault("original_reward", reward)
        return obs, float(reward) + float(bonus), terminated, truncated, info


class PotentialBasedRewardShaper(gym.Wrapper):
    """Potential-based shaping (Ng et al. 1999): ``reward += gamma * phi(s') - phi(s)``.

    Subclasses define ``potential()`` from the env's state. ``phi = 0`` once an episode terminates, so with
    ``gamma`` equal to the agent's discount the optimal policy is unchanged; truncation is not the end of
    the task, so a truncated state keeps its potential (the learner bootstraps it).
    """

    gamma: float

    def potential(self) -> float:
        """phi of the env's current state."""
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._potential = self.potential()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        next_potential = 0.0 if terminated else self.potential()
        shaping = self.gamma * next_potential - self._potential
        self._potential = next_potential
        info.setdefault("original_reward", reward)
        return obs, float(reward) + float(shaping), terminated, truncated, info


@EnvWrapperRegistry.register("MountainCarV0_RewardShaper")
class MountainCarV0_RewardShaper(PotentialBasedRewardShaper, gym.utils.RecordConstructorArgs):
    """Potential-based shaping (Ng et al. 1999): ``reward += gamma * phi(s') - phi(s)``.

    ``phi(s) = position_reward_scale * (sin(3x) + 1) / 2 + velocity_reward_scale * |v| / max_speed``
    (the track's height and the speed, each in [0, 1]), and ``phi = 0`` once the car reaches the goal, so with
    ``gamma`` equal to the agent's discount the optimal policy is unchanged.

    >>> import gymnasium as gym
    >>> env = MountainCarV0_RewardShaper(gym.make("MountainCar-v0"), gamma=1.0)
    >>> _ = env.reset(seed=0)
    >>> _, reward, _, _, info = env.step(2)
    >>> info["original_reward"], reward > -1.0  # pushing right from rest gains speed
    (-1.0, True)
    """

    def __init__(
        self,
        env: gym.Env,
        velocity_reward_scale: float = 10.0,
        position_reward_scale: float = 1.0,
        gamma: float = 0.99,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            velocity_reward_scale=velocity_reward_scale,
            position_reward_scale=position_reward_scale,
            gamma=gamma,
        )
        gym.Wrapper.__init__(self, env)
        _require_attributes(env, "MountainCarV0_RewardShaper", ("max_speed", "goal_position"), "MountainCar")
        self.velocity_reward_scale = float(velocity_reward_scale)
        self.position_reward_scale = float(position_reward_scale)
        self.gamma = float(gamma)
        self._potential = 0.0

    def potential(self) -> float:
        """phi of the env's current state."""
        position, velocity = self.env.unwrapped.state
        height = (math.sin(3.0 * position) + 1.0) / 2.0
        speed = abs(velocity) / self.env.unwrapped.max_speed
        return self.position_reward_scale * height + self.velocity_reward_scale * speed

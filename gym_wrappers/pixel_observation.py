"""Observe the rendered frame instead of (or next to) the env's own observation."""

from __future__ import annotations

import gymnasium as gym
from gymnasium.wrappers import AddRenderObservation

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError


@EnvWrapperRegistry.register("PixelObservationWrapper")
class PixelObservationWrapper(AddRenderObservation):
    """Observation = ``env.render()`` (uint8, H x W x 3); with ``pixels_only=False``, a Dict of the original
    observation under ``"state"`` and the frame under ``"pixels"``. The env must render ``rgb_array``.

    >>> import gymnasium as gym
    >>> env = PixelObservationWrapper(gym.make("CartPole-v1", render_mode="rgb_array"))
    >>> env.observation_space
    Box(0, 255, (400, 600, 3), uint8)
    >>> env = PixelObservationWrapper(gym.make("CartPole-v1", render_mode="rgb_array"), pixels_only=False)
    >>> sorted(env.observation_space.keys())
    ['pixels', 'state']
    """

    def __init__(self, env: gym.Env, pixels_only: bool = True) -> None:
        if env.render_mode != "rgb_array":
            raise ConfigError(
                f"PixelObservationWrapper needs render_mode='rgb_array', got {env.render_mode!r}; "
                "set `env_kwargs: {render_mode: rgb_array}` in the config"
            )
        # Recorded first so spec re-creation passes pixels_only, not the parent's render_only.
        gym.utils.RecordConstructorArgs.__init__(self, pixels_only=pixels_only)
        super().__init__(env, render_only=pixels_only)

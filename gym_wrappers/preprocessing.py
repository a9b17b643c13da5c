"""Gymnasium's image-observation preprocessing, registered by name for configs.

Each class is gymnasium's own wrapper with its arguments checked the way a YAML config gives them
(lists for tuples, a ConfigError naming the wrapper instead of an assertion). The usual pixel pipeline
for the Nature CNN (e.g. a stable-retro game) is::

    env_wrappers:
      - { id: ResizeObservation, shape: [84, 84] }   # resize first: cheaper than graying the full frame
      - { id: GrayscaleObservation }
    frame_stack: 4
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import wrappers

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError


def _positive_int(wrapper: str, name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{wrapper}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _image_space(wrapper: str, env: gym.Env, ndims: tuple[int, ...]) -> gym.spaces.Box:
    space = env.observation_space
    if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in ndims):
        raise ConfigError(f"{wrapper} needs uint8 image observations ({' or '.join(f'{n}-D' for n in ndims)}), "
                          f"got {space}")
    return space


@EnvWrapperRegistry.register("GrayscaleObservation")
class GrayscaleObservation(wrappers.GrayscaleObservation):
    """RGB frames (H, W, 3) to luminance (H, W), or (H, W, 1) with ``keep_dim=True``; uint8 stays uint8.

    >>> import gymnasium as gym
    >>> env = GrayscaleObservation(gym.make("CarRacing-v3"))
    >>> env.observation_space
    Box(0, 255, (96, 96), uint8)
    """

    def __init__(self, env: gym.Env, keep_dim: bool = False) -> None:
        space = _image_space("GrayscaleObservation", env, (3,))
        if space.shape[-1] != 3:
            raise ConfigError(f"GrayscaleObservation needs RGB frames (H, W, 3), got shape {space.shape}")
        if not isinstance(keep_dim, bool):
            raise ConfigError(f"GrayscaleObservation: keep_dim must be true or false, got {keep_dim!r}")
        super().__init__(env, keep_dim=keep_dim)


@EnvWrapperRegistry.register("ResizeObservation")
class ResizeObservation(wrappers.ResizeObservation):
    """Frames resized to ``shape`` = [height, width] with OpenCV's area interpolation; channels are kept.

    >>> import gymnasium as gym
    >>> env = ResizeObservation(gym.make("CarRacing-v3"), shape=[48, 64])
    >>> env.observation_space
    Box(0, 255, (48, 64, 3), uint8)
    """

    def __init__(self, env: gym.Env, shape: Sequence[int]) -> None:
        _image_space("ResizeObservation", env, (2, 3))
        if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) != 2:
            raise ConfigError(f"ResizeObservation: shape must be [height, width], got {shape!r}")
        size = tuple(_positive_int("ResizeObservation", "shape", side) for side in shape)
        super().__init__(env, shape=size)  # records shape as a tuple, which __init__ accepts too

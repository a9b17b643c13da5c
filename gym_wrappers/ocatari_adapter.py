"""OCAtari's object-centric Atari env as a well-behaved Gymnasium env, and the one way to build it.

``ocatari`` is imported only by :func:`make_ocatari` (the import takes seconds).
"""

from __future__ import annotations

import sys
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError


@EnvWrapperRegistry.register("OCAtariAdapter")
class OCAtariAdapter(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Fixes what OCAtari 2.2 (``obs_mode="obj"``) gets wrong, so it passes ``check_env``:

    - its ``step`` returns ``(obs, reward, truncated, terminated, info)``: the flags come back in Gymnasium's order;
    - its observations are int64 arrays while it declares float32: they come back as float32;
    - its observation is a ``(buffer_window_size, n)`` stack of the game's object slots (x, y of each, in
      pixels; 0 for an absent object): it comes back flat, a vector for an MLP;
    - it declares no render modes: the wrapped ALE env's metadata is used;
    - its ``reset(seed=...)`` leaves its own ``np_random`` unseeded: it is seeded (the ALE env always was).

    Build the env with :func:`make_ocatari`, which also avoids OCAtari's shared ``create_buffer_stacks`` default.

    >>> env = make_ocatari("ALE/Pong-v5")  # OCAtariAdapter(OCAtari(...))
    >>> env.observation_space
    Box(0.0, 255.0, (24,), float32)
    >>> obs, info = env.reset(seed=0)
    >>> obs.dtype, obs[:2].tolist()  # the player's paddle (x, y) in the newest of the 4 stacked frames
    (dtype('float32'), [140.0, 96.0])
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        ocatari_core = sys.modules.get("ocatari.core")
        if ocatari_core is None or not isinstance(env, ocatari_core.OCAtari) or env.obs_mode != "obj":
            raise ConfigError("OCAtariAdapter wraps an OCAtari env with obs_mode='obj' (obs_type: objects builds one)")
        gym.Wrapper.__init__(self, env)
        declared = env.observation_space
        self.observation_space = spaces.Box(
            low=declared.low.reshape(-1), high=declared.high.reshape(-1), dtype=np.float32
        )
        self.metadata = dict(env._env.metadata)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        gym.Env.reset(self.env.unwrapped, seed=seed)  # the super().reset(seed=seed) that OCAtari.reset omits
        obs, info = self.env.reset(seed=seed, options=options)
        return self._vector(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, truncated, terminated, info = self.env.step(action)  # OCAtari's order
        return self._vector(obs), float(reward), bool(terminated), bool(truncated), info

    @staticmethod
    def _vector(obs: Any) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32).reshape(-1)


def make_ocatari(env_id: str, render_mode: str | None = None, **game_kwargs: Any) -> OCAtariAdapter:
    """``OCAtariAdapter(OCAtari(env_id, ...))`` with RAM object extraction, no HUD objects, and a fresh
    ``create_buffer_stacks`` list (OCAtari's default list is shared and grows with each instance);
    ``game_kwargs`` go to ``gym.make`` (frameskip, repeat_action_probability, ...)."""
    try:
        from ocatari.core import OCAtari
    except ImportError:
        raise ConfigError(f"{env_id} with obs_type objects needs ocatari: pip install -e '.[atari]'") from None
    # obs_type="ram": the ALE env's own observation is discarded, and RAM is far cheaper to copy than a frame
    env = OCAtari(env_id, mode="ram", hud=False, obs_mode="obj", render_mode=render_mode,
                  create_buffer_stacks=[], obs_type="ram", **game_kwargs)
    return OCAtariAdapter(env)

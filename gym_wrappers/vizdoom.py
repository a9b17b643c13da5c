"""ViZDoom: the screen as the observation, and reward shaping from game variables.

Both read vizdoom's env (``env.unwrapped.game`` is its ``DoomGame``); vizdoom is imported only when a
shaper is built.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError


@EnvWrapperRegistry.register("VizDoom_ScreenObservation")
class VizDoom_ScreenObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """The ``screen`` of vizdoom's Dict observation, as it is (uint8, H x W x C; C = 1 for ``GRAY8``).

    With ``game_variables=True``, a flat float32 vector for an MLP instead: the screen's pixels scaled to
    [0, 1], then the scenario's game variables (its ``available_game_variables``, e.g. AMMO2, HEALTH).

    >>> import gymnasium as gym
    >>> from utils.config import load_config
    >>> from utils.env_families import family_for
    >>> config = load_config("VizDoom-Basic-v0", "ppo", {"env_wrappers": []})
    >>> doom = family_for(config.env_id).make_env(config)
    >>> VizDoom_ScreenObservation(doom).observation_space
    Box(0, 255, (120, 160, 3), uint8)
    >>> VizDoom_ScreenObservation(doom, game_variables=True).observation_space.shape  # 120 * 160 * 3 + AMMO2
    (57601,)
    >>> doom.close()
    """

    def __init__(self, env: gym.Env, game_variables: bool = False) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, game_variables=game_variables)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Dict) or "screen" not in space.spaces:
            raise ConfigError(f"VizDoom_ScreenObservation needs a VizDoom env (a Dict observation with a screen), "
                              f"got {space}")
        if not isinstance(game_variables, bool):
            raise ConfigError(f"VizDoom_ScreenObservation: game_variables must be true or false, got {game_variables!r}")
        self.game_variables = game_variables
        screen = space["screen"]
        if not game_variables:
            self.observation_space = screen
            return
        if "gamevariables" not in space.spaces:
            raise ConfigError("VizDoom_ScreenObservation: this scenario has no game variables "
                              "(set available_game_variables in its .cfg or env_kwargs)")
        variables = space["gamevariables"]
        n_pixels = int(np.prod(screen.shape))
        self.observation_space = gym.spaces.Box(
            low=np.concatenate([np.zeros(n_pixels, np.float32), variables.low]),
            high=np.concatenate([np.ones(n_pixels, np.float32), variables.high]),
            dtype=np.float32,
        )

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        screen = observation["screen"]
        if not self.game_variables:
            return screen
        pixels = screen.reshape(-1).astype(np.float32) / np.float32(255.0)
        return np.concatenate([pixels, observation["gamevariables"].astype(np.float32)])


#: the default shaping: +1 per kill, +0.01 per health point gained (-0.01 per point lost), -0.01 per round fired
DEFAULT_DELTAS = {"KILLCOUNT": 1.0, "HEALTH": 0.01, "SELECTED_WEAPON_AMMO": 0.01}


@EnvWrapperRegistry.register("VizDoom_RewardShaper")
class VizDoom_RewardShaper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds ``sum(scale * (v_now - v_before))`` over the game variables named in ``deltas`` (any vizdoom
    ``GameVariable``, read from the game whether or not the scenario lists it as available).

    The default, :data:`DEFAULT_DELTAS`, rewards kills, penalizes damage taken and ammunition spent: dense
    feedback for scenarios such as DeadlyCorridor and DefendTheCenter. It changes the task's objective
    (it is not potential-based); the env's own reward is kept in ``info["original_reward"]``, and episode
    returns in the logs are the scenario's own, recorded before this wrapper.

    >>> from utils.config import load_config
    >>> from utils.env_families import family_for
    >>> config = load_config("VizDoom-Basic-v0", "ppo", {"env_wrappers": []})
    >>> env = VizDoom_RewardShaper(family_for(config.env_id).make_env(config), deltas={"SELECTED_WEAPON_AMMO": 0.5})
    >>> _ = env.reset(seed=0)
    >>> ATTACK = 1  # Basic's Discrete actions: no-op, ATTACK, MOVE_RIGHT, MOVE_LEFT
    >>> steps = [env.step(ATTACK) for _ in range(2)]  # the shot leaves during the 2nd step (4 tics each)
    >>> [(float(info["original_reward"]), float(reward)) for _, reward, _, _, info in steps]  # -5 for a miss
    [(-4.0, -4.0), (-9.0, -9.5)]
    >>> env.close()
    """

    def __init__(self, env: gym.Env, deltas: Mapping[str, float] | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, deltas=deltas)
        gym.Wrapper.__init__(self, env)
        game = getattr(env.unwrapped, "game", None)
        if game is None or not hasattr(game, "get_game_variable"):
            raise ConfigError(f"VizDoom_RewardShaper needs a VizDoom env, got {type(env.unwrapped).__name__}")
        deltas = DEFAULT_DELTAS if deltas is None else deltas
        if not isinstance(deltas, Mapping) or not deltas:
            raise ConfigError(f"VizDoom_RewardShaper: deltas must map game variable names to scales, got {deltas!r}")
        variable_enum = importlib.import_module("vizdoom").GameVariable
        self._game = game
        self._variables = []
        self._scales = []
        for name, scale in deltas.items():
            variable = variable_enum.__members__.get(str(name).upper())
            if variable is None:
                close = difflib.get_close_matches(str(name).upper(), list(variable_enum.__members__), n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"VizDoom_RewardShaper: unknown game variable {name!r}{hint}")
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale):
                raise ConfigError(f"VizDoom_RewardShaper: the scale of {name} must be a finite number, got {scale!r}")
            self._variables.append(variable)
            self._scales.append(float(scale))
        self.deltas = dict(zip((v.name for v in self._variables), self._scales))
        self._values = np.zeros(len(self._variables))

    def _read(self) -> np.ndarray:
        return np.array([self._game.get_game_variable(variable) for variable in self._variables])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._values = self._read()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        values = self._read()
        bonus = float(np.dot(self._scales, values - self._values))
        self._values = values
        info.setdefault("original_reward", reward)
        return obs, float(reward) + bonus, terminated, truncated, info

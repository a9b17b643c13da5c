"""stable-retro: a Discrete action set of named button combinations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from gym_wrappers.registry import EnvWrapperRegistry
from utils.errors import ConfigError


@EnvWrapperRegistry.register("RetroDiscreteActions")
class RetroDiscreteActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """``Discrete(len(combos))``: action ``i`` holds down the buttons named in ``combos[i]`` (``[]`` is no-op),
    instead of the console's ``MultiBinary`` pad where most of the 2**12 presses are useless.

    Button names are the console's (``env.unwrapped.buttons``; Genesis: B A MODE START UP DOWN LEFT RIGHT
    C Y X Z, NES: B SELECT START UP DOWN LEFT RIGHT A).

    >>> import stable_retro
    >>> env = RetroDiscreteActions(stable_retro.make("Airstriker-Genesis-v0", render_mode="rgb_array"),
    ...                            combos=[[], ["LEFT"], ["RIGHT"], ["LEFT", "B"]])
    >>> env.action_space, env.action(3).tolist()
    (Discrete(4), [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    >>> env.close()  # one emulator per process: close it before making another
    """

    def __init__(self, env: gym.Env, combos: Sequence[Sequence[str]]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, combos=combos)
        gym.ActionWrapper.__init__(self, env)
        buttons = getattr(env.unwrapped, "buttons", None)
        if buttons is None or not isinstance(env.action_space, gym.spaces.MultiBinary):
            raise ConfigError(f"RetroDiscreteActions needs a stable-retro env with MultiBinary buttons, "
                              f"got action space {env.action_space}")
        if isinstance(combos, (str, bytes)) or not isinstance(combos, Sequence) or not combos:
            raise ConfigError(f"RetroDiscreteActions: combos must be a non-empty list of button lists, got {combos!r}")
        names = [name for name in buttons if name]
        table = np.zeros((len(combos), len(buttons)), dtype=np.int8)
        for row, combo in zip(table, combos):
            if isinstance(combo, (str, bytes)) or not isinstance(combo, Sequence):
                raise ConfigError(f"RetroDiscreteActions: each combo is a list of button names, got {combo!r}")
            for name in combo:
                if name not in names:
                    raise ConfigError(f"RetroDiscreteActions: unknown button {name!r}; this console has "
                                      f"{', '.join(names)}")
                row[buttons.index(name)] = 1
        self.combos = [list(combo) for combo in combos]
        self._table = table
        self.action_space = gym.spaces.Discrete(len(combos))

    def action(self, action: Any) -> np.ndarray:
        return self._table[int(action)].copy()

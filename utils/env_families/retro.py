"""stable-retro console games: ``Retro/<Game>-<System>`` (e.g. ``Retro/Airstriker-Genesis``).

stable-retro's own names end in ``-v0`` and are not registered with gymnasium; this family maps them.
libretro allows one emulator per process, so every vector env of this family (training, evaluation,
play) runs one env per worker process, started by a fork server (a fresh interpreter, so nothing the
main process holds, an emulator included, is inherited). The main process only ever holds the one env
that ``check_env_config`` builds and closes before training.

Envs are headless (``rgb_array``; stable-retro's default opens a window). Emulators are deterministic
and step one frame (1/60 s) at a time, so the family adds ALE v5's time structure, set in ``env_kwargs``
with ALE's names: ``frameskip`` (default 4: each action is held 4 frames, rewards summed, the observation
the max of the last two frames), ``repeat_action_probability`` (default 0.25: sticky actions, per frame)
and, since stable-retro never truncates an episode, ``max_episode_steps`` (default 4500 agent steps,
5 minutes of play at frameskip 4, retro's own baselines' limit). Episode lengths count agent steps. The
other ``env_kwargs`` go to ``stable_retro.make`` (``state``, ``scenario``, ``players``, and
``use_restricted_actions``/``obs_type`` by name). Games have no registered reward threshold: set
``reward_threshold`` in the config to make early stopping mean something.
"""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import MaxAndSkipObservation, RecordEpisodeStatistics, StickyAction, TimeLimit

from utils.env_families.base import EnvFamily
from utils.errors import ConfigError

PREFIX = "Retro/"
#: ALE v5's frame skip and sticky-action probability
DEFAULT_FRAMESKIP = 4
DEFAULT_REPEAT_ACTION_PROBABILITY = 0.25
#: 5 minutes of play at frameskip 4 (60 frames per second): the limit of retro's own baselines
DEFAULT_MAX_EPISODE_STEPS = 4500
#: env_kwargs that take a stable-retro enum, given by member name in YAML
_ENUM_KWARGS = {"use_restricted_actions": "Actions", "obs_type": "Observations"}


def _retro() -> Any:
    return importlib.import_module("stable_retro")


class RetroFamily(EnvFamily):
    name = "retro"
    prefixes = (PREFIX,)
    extra = "retro"
    module = "stable_retro"
    async_context = "forkserver"

    def check(self, config: Any) -> None:
        self.require_extra(config.env_id)
        if config.obs_type is not None:
            raise ConfigError(f"obs_type applies to Atari (ALE/...) environments; for {config.env_id} use "
                              "env_kwargs: {obs_type: ram} for RAM observations")
        game = game_name(config.env_id)
        data = _retro().data
        try:
            data.get_romfile_path(game, data.Integrations.ALL)
        except FileNotFoundError:
            raise ConfigError(
                f"{config.env_id} needs its ROM, which stable-retro does not ship: put the ROM file in a folder "
                f"DIR and run `python -m stable_retro.import DIR`") from None
        retro_kwargs(config)
        states = data.list_states(game, data.Integrations.ALL)
        if config.env_kwargs.get("state") is not None and config.env_kwargs["state"] not in states:
            # stable-retro would fail with an obscure TypeError or AttributeError
            raise ConfigError(f"env_kwargs.state {config.env_kwargs['state']!r} is not a saved state of "
                              f"{config.env_id} (states: {', '.join(states) or 'none'})")
        for key in ("scenario", "info"):  # a missing one would silently give no rewards and no game over
            name = config.env_kwargs.get(key)
            if key in config.env_kwargs and not (isinstance(name, str) and (
                    Path(name).is_file() if name.endswith(".json") else data.get_file_path(
                        game, f"{name}.json", data.Integrations.ALL))):
                raise ConfigError(f"env_kwargs.{key} must name a {key} of {config.env_id} (a .json file of its "
                                  f"data folder, without the extension) or the path of a .json file, got {name!r}")

    def reward_threshold(self, config: Any) -> float | None:
        return None

    def make_env(self, config: Any, render_mode: str | None = None) -> gym.Env:
        """One game (headless unless ``render_mode='human'`` is asked for) with sticky actions, frame skip,
        a time limit and episode statistics."""
        retro = _retro()
        kwargs, timing = retro_kwargs(config)
        try:
            env = retro.make(game_name(config.env_id), inttype=retro.data.Integrations.ALL,
                             render_mode=render_mode or "rgb_array", **kwargs)
        except (TypeError, ValueError, FileNotFoundError) as exc:
            raise ConfigError(f"bad env_kwargs for {config.env_id}: {exc}") from None
        if timing.repeat_action_probability > 0:
            env = StickyAction(env, timing.repeat_action_probability)  # per frame, inside the skip, as ALE
        if timing.frameskip > 1:
            env = MaxAndSkipObservation(env, timing.frameskip)
        return RecordEpisodeStatistics(TimeLimit(env, timing.max_episode_steps))

    def native_vec(self, config: Any, n_envs: int) -> VectorEnv | None:
        return None


def game_name(env_id: str) -> str:
    """stable-retro's name for ``Retro/<Game>-<System>``; an unknown game is a ConfigError naming close ones."""
    data = _retro().data
    games = data.list_games(data.Integrations.ALL)
    name = env_id.removeprefix(PREFIX)
    for candidate in (name, f"{name}-v0"):
        if candidate in games:
            return candidate
    ours = [PREFIX + re.sub(r"-v0$", "", game) for game in games]
    close = difflib.get_close_matches(env_id, ours, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(f"unknown stable-retro game '{env_id}'{hint}; ids are Retro/<Game>-<System>, "
                      "e.g. Retro/Airstriker-Genesis")


@dataclass(frozen=True)
class Timing:
    """The time structure the family adds to a game (see the module docstring)."""

    frameskip: int = DEFAULT_FRAMESKIP
    repeat_action_probability: float = DEFAULT_REPEAT_ACTION_PROBABILITY
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS


def retro_kwargs(config: Any) -> tuple[dict[str, Any], Timing]:
    """``stable_retro.make``'s kwargs from ``env_kwargs`` (enums by name), and the family's own settings."""
    retro = _retro()
    kwargs = dict(config.env_kwargs)
    kwargs.pop("render_mode", None)  # the family decides: headless unless play --render asks
    own = {name: kwargs.pop(name) for name in Timing.__dataclass_fields__ if name in kwargs}
    for name in ("frameskip", "max_episode_steps"):
        value = own.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"env_kwargs.{name} must be an integer >= 1, got {value!r}")
    probability = own.get("repeat_action_probability", 0.0)
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability < 1:
        raise ConfigError(f"env_kwargs.repeat_action_probability must be in [0, 1), got {probability!r}")
    for key, enum_name in _ENUM_KWARGS.items():
        if key in kwargs:
            enum = getattr(retro, enum_name)
            value = kwargs[key]
            member = enum.__members__.get(str(value).upper()) if isinstance(value, str) else None
            if member is None:
                choices = ", ".join(name.lower() for name in enum.__members__)
                raise ConfigError(f"env_kwargs.{key} must be one of {choices}, got {value!r}")
            kwargs[key] = member
    return kwargs, Timing(**own)

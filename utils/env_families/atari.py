"""Atari through ale-py (``ALE/<Game>-v5``), with ``obs_type`` rgb (the default), ram or objects.

- rgb: ale-py's native C++ vector env (``AtariVectorEnv``) with the standard preprocessing: 84x84 grayscale,
  frame skip 4 with max-pooling, 4 stacked frames, up to 30 no-ops and FIRE after reset. ``make_env`` builds
  the same observations in Python (``AtariPreprocessing`` + ``FrameStackObservation``) for rendering, play
  and custom wrappers, so one policy runs on both.
- ram: the console's 128 bytes of RAM (uint8; the network scales them to [0, 1]).
- objects: OCAtari's object positions, a flat float32 vector (``gym_wrappers.ocatari_adapter``).

``env_kwargs`` take the native env's names (:class:`AtariOptions`). Episode statistics, evaluation and
results are always whole games scored by the game itself: ``reward_clipping`` and ``episodic_life`` act on
the training envs only (:meth:`AtariFamily.training_wrappers`). ale-py and ocatari are imported lazily.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, RecordEpisodeStatistics
from gymnasium.wrappers.vector import ClipReward
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics

from utils.env_families.base import EnvFamily, env_spec
from utils.errors import ConfigError


@dataclass(frozen=True)
class AtariOptions:
    """The Atari family's ``env_kwargs``, with ale-py's native vector env's names and defaults (v5's
    sticky actions, frame skip and time limit come from the env's registration)."""

    repeat_action_probability: float = 0.25  # sticky actions: chance to repeat the previous action, per frame
    frameskip: int = 4  # frames per step (rgb max-pools the last two)
    full_action_space: bool = False  # all 18 actions instead of the game's minimal set
    max_num_frames_per_episode: int = 108_000  # truncate a game after this many frames (30 minutes)
    use_fire_reset: bool = True  # press FIRE after each reset in games that have it
    reward_clipping: bool = True  # training only: clip rewards to [-1, 1]
    episodic_life: bool = False  # training only: a lost life ends the learner's episode (the game goes on)
    # rgb only
    noop_max: int = 30  # up to this many no-op frames after reset
    img_height: int = 84
    img_width: int = 84
    grayscale: bool = True  # false: RGB frames
    stack_num: int = 4  # frames stacked per observation


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AtariOptions))
_RGB_ONLY = frozenset({"noop_max", "img_height", "img_width", "grayscale", "stack_num"})
_GAME_KWARGS = ("repeat_action_probability", "frameskip", "full_action_space", "max_num_frames_per_episode")


#: the integer options' ranges: beyond them a step takes minutes or a frame stack gigabytes
_OPTION_RANGES = {
    "frameskip": (1, 100), "max_num_frames_per_episode": (1, 10**7), "img_height": (1, 1024),
    "img_width": (1, 1024), "stack_num": (1, 64), "noop_max": (0, 10_000),
}

class AtariFamily(EnvFamily):
    name = "atari"
    prefixes = ("ALE/",)
    extra = "atari"
    module = "ale_py"

    def check(self, config: Any) -> None:
        self.require_extra(config.env_id)
        _register_ale()
        env_spec(config.env_id)
        obs_type = obs_type_of(config)
        self.options(config)
        if obs_type == "objects":
            _require_ocatari_game(config.env_id)
        if obs_type == "rgb" and config.frame_stack > 1:
            raise ConfigError(
                "obs_type rgb frames are already stacked (env_kwargs.stack_num, default 4): leave frame_stack at 1"
            )

    def reward_threshold(self, config: Any) -> float | None:
        return None  # ALE registers none; a config sets its own

    def options(self, config: Any) -> AtariOptions:
        """The config's env_kwargs as :class:`AtariOptions`; unknown keys and bad values are ConfigErrors."""
        _register_ale()
        kwargs = dict(config.env_kwargs)
        kwargs.pop("render_mode", None)
        obs_type = obs_type_of(config)
        unknown = sorted(set(kwargs) - set(OPTION_NAMES))
        if unknown:
            raise ConfigError(
                f"{config.env_id}: unknown env_kwargs {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(OPTION_NAMES)}"
            )
        misplaced = sorted(set(kwargs) & _RGB_ONLY) if obs_type != "rgb" else []
        if misplaced:
            names = ", ".join(map(repr, misplaced))
            raise ConfigError(f"{config.env_id}: env_kwargs {names} apply to obs_type rgb only")
        registered = {key: value for key, value in env_spec(config.env_id).kwargs.items() if key in _GAME_KWARGS}
        values = {**registered, **kwargs}
        for f in fields(AtariOptions):
            if f.name in values:
                values[f.name] = _checked(f.name, values[f.name], type(f.default))
        options = AtariOptions(**values)
        if not 0.0 <= options.repeat_action_probability <= 1.0:
            raise ConfigError(
                f"env_kwargs.repeat_action_probability must be in [0, 1], got {options.repeat_action_probability}"
            )
        for name, (low, high) in _OPTION_RANGES.items():
            if not low <= getattr(options, name) <= high:
                raise ConfigError(f"env_kwargs.{name} must be between {low} and {high:,}, got {getattr(options, name)}")
        return options

    def make_env(self, config: Any, render_mode: str | None = None) -> gym.Env:
        """One env whose observations match :meth:`native_vec`'s, with the game's own scores recorded."""
        _register_ale()
        options = self.options(config)
        render_mode = render_mode or config.env_kwargs.get("render_mode")
        game = {name: getattr(options, name) for name in _GAME_KWARGS}
        obs_type = obs_type_of(config)
        if obs_type == "objects":
            from gym_wrappers.ocatari_adapter import make_ocatari

            env = _fire_reset(make_ocatari(config.env_id, render_mode, **game), options)
        elif obs_type == "ram":
            env = _fire_reset(gym.make(config.env_id, obs_type="ram", render_mode=render_mode, **game), options)
        else:
            # AtariPreprocessing skips frames itself (max-pooling the last two), so the ALE env must not
            game["frameskip"] = 1
            env = _fire_reset(gym.make(config.env_id, render_mode=render_mode, **game), options)
            env = AtariPreprocessing(
                env,
                noop_max=options.noop_max,
                frame_skip=options.frameskip,
                screen_size=(options.img_width, options.img_height),
                grayscale_obs=options.grayscale,
                terminal_on_life_loss=False,
            )
            # the native env starts a game with zero frames in the stack, not copies of the first one
            env = FrameStackObservation(env, options.stack_num, padding_type="zero")
        return RecordEpisodeStatistics(env)

    def native_vec(self, config: Any, n_envs: int) -> VectorEnv | None:
        """ale-py's C++ vector env for rgb (None for ram and objects), with unclipped rewards and whole games."""
        if obs_type_of(config) != "rgb":
            return None
        _register_ale()
        options = self.options(config)
        native = {name: getattr(options, name) for name in (*_GAME_KWARGS, "use_fire_reset", *sorted(_RGB_ONLY))}
        envs = gym.make_vec(
            config.env_id, n_envs, vectorization_mode="vector_entry_point",
            reward_clipping=False, episodic_life=False, life_loss_info=False, **native,
        )
        return VectorRecordEpisodeStatistics(envs)

    def training_wrappers(self, config: Any, envs: VectorEnv) -> VectorEnv:
        """Life-loss termination (``episodic_life``) and reward clipping (``reward_clipping``) for training,
        above the episode statistics, so those stay whole games and real scores."""
        from gym_wrappers.atari import AtariLifeLossTermination

        options = self.options(config)
        if options.episodic_life:
            meanings = _action_meanings(config.env_id, options.full_action_space)
            fire = options.use_fire_reset and "FIRE" in meanings
            envs = AtariLifeLossTermination(envs, restart_action=meanings.index("FIRE" if fire else "NOOP"))
        if options.reward_clipping:
            envs = ClipReward(envs, min_reward=-1.0, max_reward=1.0)
        return envs


def obs_type_of(config: Any) -> str:
    """The config's obs_type; rgb when unset (what ALE envs observe by default)."""
    return config.obs_type or "rgb"


def _register_ale() -> None:
    import ale_py  # registers the ALE/... ids with gymnasium

    # no banner on stderr: an error line that follows must be the only line there
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)


def _fire_reset(env: gym.Env, options: AtariOptions) -> gym.Env:
    from gym_wrappers.atari import AtariFireReset, action_meanings

    return AtariFireReset(env) if options.use_fire_reset and "FIRE" in action_meanings(env) else env


@lru_cache(maxsize=None)
def _action_meanings(env_id: str, full_action_space: bool) -> tuple[str, ...]:
    env = gym.make(env_id, full_action_space=full_action_space)
    try:
        return tuple(env.unwrapped.get_action_meanings())
    finally:
        env.close()


def _checked(name: str, value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (bool, int or float), or a ConfigError; ints are accepted for floats."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        article = "an" if kind is int else "a"
        raise ConfigError(f"env_kwargs.{name} must be {article} {kind.__name__}, got {value!r}")
    return kind(value)


def _require_ocatari_game(env_id: str) -> None:
    """OCAtari is installed and covers the game, checked without importing it (the import takes seconds)."""
    spec = importlib.util.find_spec("ocatari")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{env_id} with obs_type objects needs ocatari: pip install -e '.[atari]'")
    game = env_id.split("/", 1)[1].split("-", 1)[0]
    if not (Path(spec.submodule_search_locations[0]) / "ram" / f"{game.lower()}.py").exists():
        raise ConfigError(f"OCAtari has no object extraction for {game}: use obs_type rgb or ram")

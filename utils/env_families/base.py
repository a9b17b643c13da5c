"""What an environment family provides: how to build one env of it, and optionally a native vector env.

The default family is plain Gymnasium (``gym.make`` of a registered id). Families with their own id
scheme or package (Atari, stable-retro, VizDoom) subclass :class:`EnvFamily` in a module of this
package and are listed in ``utils.env_families.FAMILIES``; ``utils.environment`` dispatches once, by id.
"""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import RecordEpisodeStatistics
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics

from utils.errors import ConfigError


class EnvFamily:
    """A family of environments: Gymnasium's registry by default.

    ``make_env`` returns one env with episode statistics recorded where the returns are the game's own
    (before any shaping, clipping or normalization); ``utils.environment`` adds the config's registry
    wrappers and frame stacking on top. ``native_vec`` may return a faster batched implementation for
    configs that need neither.
    """

    name = "gymnasium"
    #: env ids of this family start with one of these
    prefixes: tuple[str, ...] = ()
    #: pip extra that installs the family's package, and the module that extra provides
    extra: str | None = None
    module: str | None = None
    #: multiprocessing start method for async vector envs (None: the platform's default)
    async_context: str | None = None

    def matches(self, env_id: str) -> bool:
        return bool(self.prefixes) and env_id.startswith(self.prefixes)

    def require_extra(self, env_id: str) -> None:
        """A ConfigError naming the pip command when the family's package is not installed."""
        if self.module and importlib.util.find_spec(self.module) is None:
            raise ConfigError(f"{env_id} needs the {self.extra} extra: pip install -e '.[{self.extra}]'")

    def check(self, config: Any) -> None:
        """Reject what cannot work for this family (missing extra, ROM or scenario; bad obs_type) in one line."""
        self.require_extra(config.env_id)
        if config.obs_type is not None:
            raise ConfigError(f"obs_type applies to Atari (ALE/...) environments, not {config.env_id}")
        env_spec(config.env_id)
        check_env_kwargs_render_mode(config)

    def reward_threshold(self, config: Any) -> float | None:
        """The threshold registered for the env (the config's own takes precedence, in the caller)."""
        threshold = env_spec(config.env_id).reward_threshold
        return None if threshold is None else float(threshold)

    def make_env(self, config: Any, render_mode: str | None = None) -> gym.Env:
        """One env with its episode statistics recorded."""
        kwargs = dict(config.env_kwargs)
        render_mode = render_mode or kwargs.pop("render_mode", None)
        kwargs.pop("render_mode", None)
        if render_mode is not None:
            check_render_mode(config.env_id, render_mode)
        try:
            env = gym.make(config.env_id, render_mode=render_mode, **kwargs)
        except (TypeError, ValueError, KeyError) as exc:
            if not kwargs and not isinstance(exc, TypeError):
                raise  # not the config's doing
            raise ConfigError(f"bad env_kwargs for {config.env_id}: {exc}") from None
        return RecordEpisodeStatistics(env)

    def native_vec(self, config: Any, n_envs: int) -> VectorEnv | None:
        """The env's own batched implementation with episode statistics, or None to use N copies of make_env."""
        entry_point = env_spec(config.env_id).vector_entry_point
        if entry_point is None or "jax" in str(entry_point).lower():  # JAX-based entry points need JAX
            return None
        try:
            envs = gym.make_vec(config.env_id, n_envs, vectorization_mode="vector_entry_point", **config.env_kwargs)
        except TypeError as exc:
            raise ConfigError(f"bad env_kwargs for {config.env_id}: {exc}") from None
        return VectorRecordEpisodeStatistics(envs)

    def training_wrappers(self, config: Any, envs: VectorEnv) -> VectorEnv:
        """Wrappers for the training envs only, applied above the episode statistics (e.g. Atari's reward
        clipping): what they change is seen by the learner, never by the statistics or evaluation."""
        return envs


def check_env_kwargs_render_mode(config: Any) -> None:
    """``env_kwargs.render_mode`` serves pixel observations (``rgb_array``); a window is play.py's to open."""
    render_mode = config.env_kwargs.get("render_mode")
    if render_mode == "human":
        raise ConfigError("env_kwargs.render_mode: human would open a window for every training env; "
                          "watch an agent with python play.py --render human")
    if render_mode is not None:
        check_render_mode(config.env_id, str(render_mode))


def check_render_mode(env_id: str, render_mode: str) -> None:
    """A ConfigError where the env does not list ``render_mode`` (``gym.make`` would only warn, and the
    env then fail or render nothing)."""
    creator = env_spec(env_id).entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    modes = getattr(creator, "metadata", {}).get("render_modes")
    if modes is not None and render_mode not in modes:
        raise ConfigError(f"{env_id} cannot render {render_mode!r} frames (its render modes: "
                          f"{', '.join(modes) or 'none'})")


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """Gymnasium's spec for ``env_id``; an unknown id is a ConfigError naming the closest ones."""
    try:
        return gym.spec(env_id)
    except gym.error.Error as exc:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown environment '{env_id}'{hint}: {exc}") from None

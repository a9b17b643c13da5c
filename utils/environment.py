"""Build vectorized Gymnasium environments from a config.

Every vector env built here uses ``AutoresetMode.NEXT_STEP`` (gymnasium's default): the step after an
episode ends resets that sub-env, returns the reset observation with reward 0, and ignores the action.
The collector masks those steps out, and they are not counted as env steps (an episode of length L costs
L env steps, as with SB3's same-step resets); the observation returned with ``terminated``/``truncated``
is the episode's real final observation, so a time-limited episode is bootstrapped from its value.

Episode statistics (``info["episode"]``, ``info["_episode"]``) are recorded *before* any reward shaping
or normalization, so ``ep_rew_mean`` is always the environment's own return, comparable to its
reward threshold.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers import FrameStackObservation, RecordEpisodeStatistics
from gymnasium.wrappers.vector import NormalizeObservation
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics

import gym_wrappers  # noqa: F401  (registers the project's wrappers and Bandit-v0)
from gym_wrappers import EnvWrapperRegistry
from gym_wrappers.return_normalization import NormalizeRewardByReturn
from utils.errors import ConfigError


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """Gymnasium's spec for ``env_id``; an unknown id is a ConfigError naming the closest ones."""
    try:
        return gym.spec(env_id)
    except gym.error.Error as exc:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown environment '{env_id}'{hint}: {exc}") from None


def reward_threshold(config: Any) -> float | None:
    """The config's reward threshold, else the one gymnasium registers for the env."""
    if config.reward_threshold is not None:
        return float(config.reward_threshold)
    threshold = env_spec(config.env_id).reward_threshold
    return None if threshold is None else float(threshold)


def _uses_native_vector_env(config: Any, render_mode: str | None) -> bool:
    """Whether the env's own batched implementation can replace N copies of the single env.

    It cannot host per-env wrappers or frame stacking, and JAX-based entry points need JAX.
    """
    if config.vectorization != "auto" or config.env_wrappers or config.frame_stack > 1 or render_mode:
        return False
    entry_point = env_spec(config.env_id).vector_entry_point
    return entry_point is not None and "jax" not in str(entry_point).lower()


def make_env_fn(config: Any, render_mode: str | None = None) -> Callable[[], gym.Env]:
    """A thunk that builds one env: base env, episode statistics, registry wrappers, frame stack."""

    kwargs = dict(config.env_kwargs)
    render_mode = render_mode or kwargs.pop("render_mode", None)

    def thunk() -> gym.Env:
        try:
            env = gym.make(config.env_id, render_mode=render_mode, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"bad env_kwargs for {config.env_id}: {exc}") from None
        env = RecordEpisodeStatistics(env)
        env = EnvWrapperRegistry.apply(env, config.env_wrappers)
        if config.frame_stack > 1:
            env = FrameStackObservation(env, config.frame_stack)
        return env

    return thunk


def check_env_config(config: Any) -> None:
    """Build (and close) one env, so a bad env id, env_kwargs or wrapper is reported before training
    imports Lightning and starts workers."""
    if config.obs_type is not None and not config.env_id.startswith("ALE/"):
        raise ConfigError(f"obs_type applies to Atari (ALE/...) environments, not {config.env_id}")
    make_env_fn(config)().close()


def build_vec_env(
    config: Any,
    n_envs: int,
    *,
    training: bool = True,
    render_mode: str | None = None,
) -> VectorEnv:
    """Build ``n_envs`` vectorized copies of the config's env.

    Training envs update observation/reward normalization statistics; evaluation and play envs
    (``training=False``) normalize observations with frozen statistics (load them with
    :func:`load_normalization_state`) and report raw rewards.
    """
    env_spec(config.env_id)  # clear error for unknown ids before any worker starts
    if _uses_native_vector_env(config, render_mode):
        try:
            envs = gym.make_vec(
                config.env_id, n_envs, vectorization_mode="vector_entry_point", **config.env_kwargs
            )
        except TypeError as exc:
            raise ConfigError(f"bad env_kwargs for {config.env_id}: {exc}") from None
        envs = VectorRecordEpisodeStatistics(envs)
    else:
        fns = [make_env_fn(config, render_mode) for _ in range(n_envs)]
        if config.vectorization == "async" and n_envs > 1:
            envs = AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
        else:
            envs = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode != AutoresetMode.NEXT_STEP:
        raise RuntimeError(f"{config.env_id}: expected NEXT_STEP autoreset, got {mode}")
    if config.normalize_obs:
        envs = NormalizeObservation(envs)
        envs.update_running_mean = training
    if config.normalize_reward and training:
        envs = NormalizeRewardByReturn(envs, gamma=config.gamma)
    return envs


#: (checkpoint key, wrapper class, its running-statistics attribute) of each normalization wrapper
_NORMALIZERS = (("obs", NormalizeObservation, "obs_rms"), ("reward", NormalizeRewardByReturn, "return_rms"))


def _find_wrapper(envs: VectorEnv, cls: type) -> Any | None:
    env = envs
    while env is not None:
        if isinstance(env, cls):
            return env
        env = getattr(env, "env", None)
    return None


def normalization_state(envs: VectorEnv) -> dict[str, dict[str, Any]]:
    """Running statistics of the env's normalization wrappers, as checkpoint-safe lists."""
    state: dict[str, dict[str, Any]] = {}
    for key, cls, attr in _NORMALIZERS:
        wrapper = _find_wrapper(envs, cls)
        if wrapper is not None:
            rms = getattr(wrapper, attr)
            state[key] = {
                "mean": np.asarray(rms.mean).tolist(),
                "var": np.asarray(rms.var).tolist(),
                "count": float(rms.count),
            }
    return state


def load_normalization_state(envs: VectorEnv, state: dict[str, dict[str, Any]]) -> None:
    """Restore statistics saved by :func:`normalization_state` into the matching wrappers."""
    for key, cls, attr in _NORMALIZERS:
        wrapper = _find_wrapper(envs, cls)
        if wrapper is not None and key in state:
            rms = getattr(wrapper, attr)
            rms.mean = np.asarray(state[key]["mean"], dtype=np.float64)
            rms.var = np.asarray(state[key]["var"], dtype=np.float64)
            rms.count = float(state[key]["count"])

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

from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers import FrameStackObservation
from gymnasium.wrappers.vector import NormalizeObservation

import gym_wrappers  # noqa: F401  (registers the project's wrappers and Bandit-v0)
from gym_wrappers import EnvWrapperRegistry
from gym_wrappers.return_normalization import NormalizeRewardByReturn
from utils.env_families import env_spec, family_for

__all__ = ["build_vec_env", "check_env_config", "env_spec", "load_normalization_state", "make_env_fn",
           "normalization_state", "reward_threshold", "running_statistics"]


def reward_threshold(config: Any) -> float | None:
    """The config's reward threshold, else the one registered for the env."""
    if config.reward_threshold is not None:
        return float(config.reward_threshold)
    return family_for(config.env_id).reward_threshold(config)


def make_env_fn(config: Any, render_mode: str | None = None) -> Callable[[], gym.Env]:
    """A thunk that builds one env: the family's env (with episode statistics), registry wrappers, frame stack."""
    family = family_for(config.env_id)

    def thunk() -> gym.Env:
        env = family.make_env(config, render_mode)
        env = EnvWrapperRegistry.apply(env, config.env_wrappers)
        if config.frame_stack > 1:
            env = FrameStackObservation(env, config.frame_stack)
        return env

    return thunk


def check_env_config(config: Any) -> None:
    """Check the env's family requirements and build (and close) one env, so a bad env id, env_kwargs or
    wrapper is reported before training imports Lightning and starts workers."""
    family_for(config.env_id).check(config)
    make_env_fn(config)().close()


def build_vec_env(
    config: Any,
    n_envs: int,
    *,
    training: bool = True,
    render_mode: str | None = None,
) -> VectorEnv:
    """Build ``n_envs`` vectorized copies of the config's env.

    The env's own batched implementation is used when ``vectorization: auto``, the family has one, and the
    config needs no per-env wrappers, frame stacking or rendering. Training envs get the family's
    training-only wrappers (Atari: reward clipping, life loss as episode end) and update
    observation/reward normalization statistics; evaluation and play envs (``training=False``) normalize
    observations with frozen statistics (load them with :func:`load_normalization_state`) and report raw
    rewards.
    """
    family = family_for(config.env_id)
    family.check(config)  # a clear error before any worker starts
    native_ok = config.vectorization == "auto" and not config.env_wrappers and config.frame_stack == 1
    envs = family.native_vec(config, n_envs) if native_ok and not render_mode else None
    if envs is None:
        fns = [make_env_fn(config, render_mode) for _ in range(n_envs)]
        if (config.vectorization == "async" and n_envs > 1) or family.async_context is not None:
            envs = AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP, context=family.async_context)
        else:
            envs = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode != AutoresetMode.NEXT_STEP:
        raise RuntimeError(f"{config.env_id}: expected NEXT_STEP autoreset, got {mode}")
    if training:
        envs = family.training_wrappers(config, envs)
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


def running_statistics(envs: VectorEnv) -> dict[str, Any]:
    """The live running statistics (gymnasium ``RunningMeanStd``) of the env's normalization wrappers, by key."""
    found = {key: _find_wrapper(envs, cls) for key, cls, _ in _NORMALIZERS}
    return {key: getattr(found[key], attr) for key, _, attr in _NORMALIZERS if found[key] is not None}


def normalization_state(envs: VectorEnv) -> dict[str, dict[str, Any]]:
    """Running statistics of the env's normalization wrappers, as checkpoint-safe lists."""
    return {
        key: {"mean": np.asarray(rms.mean).tolist(), "var": np.asarray(rms.var).tolist(), "count": float(rms.count)}
        for key, rms in running_statistics(envs).items()
    }


def load_normalization_state(envs: VectorEnv, state: dict[str, dict[str, Any]]) -> None:
    """Restore statistics saved by :func:`normalization_state` into the matching wrappers; statistics of
    another shape, or not finite, are a ValueError (a checkpoint of another env, or a damaged one)."""
    for key, cls, attr in _NORMALIZERS:
        wrapper = _find_wrapper(envs, cls)
        if wrapper is not None and key in state:
            rms = getattr(wrapper, attr)
            mean = np.asarray(state[key]["mean"], dtype=np.float64)
            var = np.asarray(state[key]["var"], dtype=np.float64)
            if mean.shape != np.shape(rms.mean) or var.shape != np.shape(rms.var):
                raise ValueError(f"{key} statistics of shape {mean.shape}, expected {np.shape(rms.mean)}")
            if not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()):
                raise ValueError(f"{key} statistics are not finite")
            rms.mean, rms.var, rms.count = mean, var, float(state[key]["count"])

"""Bandit-v0: registration, rewards, episode boundaries, gymnasium compatibility."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gym_wrappers  # noqa: F401  (registers Bandit-v0)
from gym_wrappers.bandit import BanditEnv, default_arm_means, register_bandit
from utils.errors import ConfigError


def test_registered_with_threshold_and_episode_length() -> None:
    spec = gym.spec("Bandit-v0")
    assert spec.reward_threshold == pytest.approx(90.0)  # 90% of 100 pulls of the mean-1 arm
    assert spec.max_episode_steps == 100


def test_registration_is_idempotent() -> None:
    register_bandit()
    assert gym.spec("Bandit-v0").reward_threshold == pytest.approx(90.0)


def test_default_arm_means_are_spread_with_a_unique_best_arm_and_fixed() -> None:
    means = gym.make("Bandit-v0").unwrapped.arm_means
    np.testing.assert_allclose(np.sort(means), np.linspace(0.0, 1.0, 10))
    assert means.argmax() != 9  # shuffled, so "always pull the last arm" is not a free win
    np.testing.assert_array_equal(means, default_arm_means(10))
    other = gym.make("Bandit-v0").unwrapped
    other.reset(seed=123)
    np.testing.assert_array_equal(other.arm_means, means)  # the seed drives the noise only


def test_rewards_average_to_the_arm_means() -> None:
    env = BanditEnv(episode_length=10_000)
    env.reset(seed=0)
    pulls = 2_000
    for arm, mean in enumerate(env.arm_means):
        rewards = [env.step(arm)[1] for _ in range(pulls)]
        assert np.mean(rewards) == pytest.approx(mean, abs=4 * 0.1 / np.sqrt(pulls))
        assert np.std(rewards) == pytest.approx(0.1, rel=0.1)
        env.reset()


def test_best_arm_return_clears_the_threshold_and_random_play_does_not() -> None:
    env = gym.make("Bandit-v0")
    env.reset(seed=0)
    best = sum(env.step(env.unwrapped.best_arm)[1] for _ in range(100))
    env.reset(seed=0)
    random_return = sum(env.step(env.action_space.sample())[1] for _ in range(100))
    assert best > env.spec.reward_threshold > random_return


def test_episode_truncates_after_100_pulls_and_never_terminates() -> None:
    env = gym.make("Bandit-v0")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0])
    for pull in range(1, 101):
        obs, _, terminated, truncated, _ = env.step(0)
        assert not terminated
        assert truncated == (pull == 100)
        assert env.observation_space.contains(obs)


def test_episode_length_kwarg_truncates_a_directly_built_env() -> None:
    env = BanditEnv(episode_length=3)
    env.reset(seed=0)
    assert [env.step(0)[3] for _ in range(3)] == [False, False, True]


def test_same_seed_same_rewards() -> None:
    def rewards(seed: int) -> list[float]:
        env = gym.make("Bandit-v0")
        env.reset(seed=seed)
        return [env.step(arm % 10)[1] for arm in range(20)]

    assert rewards(7) == rewards(7)
    assert rewards(7) != rewards(8)


def test_custom_arm_means_set_the_action_space() -> None:
    env = gym.make("Bandit-v0", arm_means=[0.2, 0.9, 0.5], reward_std=0.0)
    env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(3)
    assert env.unwrapped.best_arm == 1
    assert env.step(1)[1] == pytest.approx(0.9)


@pytest.mark.parametrize(
    "kwargs", [{"n_arms": 1}, {"arm_means": [1.0]}, {"episode_length": 0}, {"reward_std": -1.0}]
)
def test_bad_kwargs_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        BanditEnv(**kwargs)


def test_check_env_passes() -> None:
    check_env(gym.make("Bandit-v0").unwrapped, skip_render_check=True)


def test_sync_vector_env() -> None:
    envs = gym.make_vec("Bandit-v0", 4, vectorization_mode="sync")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, 1)
    assert envs.single_action_space == gym.spaces.Discrete(10)
    obs, rewards, terminated, truncated, _ = envs.step(np.array([0, 1, 2, 3]))
    assert rewards.shape == (4,)
    assert not terminated.any() and not truncated.any()
    envs.close()

"""TaxiV4_RewardShaper: potential-based shaping that leaves Taxi's optimal policy and reported reward alone."""

from __future__ import annotations

import doctest

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gym_wrappers import DiscreteEncoder, EnvWrapperRegistry, TaxiV4_RewardShaper, taxi
from gym_wrappers.taxi import maze_distances
from utils.config import load_config
from utils.environment import make_env_fn
from utils.errors import ConfigError

SOUTH, NORTH, EAST, WEST, PICKUP, DROPOFF = range(6)


def shaper_at(state: tuple[int, int, int, int], **kwargs) -> TaxiV4_RewardShaper:
    """A shaper whose Taxi starts in ``state`` = (row, col, passenger location, destination)."""
    env = TaxiV4_RewardShaper(gym.make("Taxi-v4"), **kwargs)
    env.reset(seed=0)
    env.unwrapped.s = env.unwrapped.encode(*state)
    env._potential = env.potential()
    return env


def test_registered_by_name_with_its_parameters() -> None:
    assert "TaxiV4_RewardShaper" in EnvWrapperRegistry.names()
    env = EnvWrapperRegistry.build(gym.make("Taxi-v4"), {"id": "TaxiV4_RewardShaper", "gamma": 0.9, "scale": 0.5})
    assert isinstance(env, TaxiV4_RewardShaper)
    assert (env.gamma, env.scale) == (0.9, 0.5)


@pytest.mark.filterwarnings("ignore::UserWarning")  # check_env's "is different from the unwrapped version"
def test_check_env_passes_and_spec_recreates_the_wrapper() -> None:
    env = TaxiV4_RewardShaper(gym.make("Taxi-v4"), gamma=0.9, scale=0.5)
    check_env(env, skip_render_check=True)
    recreated = gym.make(env.spec)
    assert isinstance(recreated, TaxiV4_RewardShaper)
    assert (recreated.gamma, recreated.scale) == (0.9, 0.5)


def test_rejects_an_env_that_is_not_taxi() -> None:
    with pytest.raises(ConfigError, match="TaxiV4_RewardShaper needs a Taxi env, got CartPole-v1"):
        TaxiV4_RewardShaper(gym.make("CartPole-v1"))


def test_maze_distances_go_around_the_walls() -> None:
    # locs: 0 = R (0, 0), 1 = G (0, 4), 2 = Y (4, 0), 3 = B (4, 3); walls between columns 1|2 in rows 0-1,
    # and 0|1 and 2|3 in rows 3-4
    distances = maze_distances(gym.make("Taxi-v4").unwrapped)
    assert distances.shape == (4, 5, 5)
    assert [distances[i][loc] for i, loc in enumerate([(0, 0), (0, 4), (4, 0), (4, 3)])] == [0, 0, 0, 0]
    assert distances[0, 0, 2] == 6  # (0, 2) -> R: down to row 2, across, back up (Manhattan: 2)
    assert distances[3, 4, 0] == 7  # Y -> B: out of Y's dead end first (Manhattan: 3)
    assert distances.max() == 8 < TaxiV4_RewardShaper.carry_bonus  # so a legal pick-up always pays
    assert (distances == maze_distances(gym.make("Taxi-v4", is_rainy=True).unwrapped)).all()


def test_potential_is_minus_the_distance_to_the_passenger_then_a_bonus_minus_the_distance_to_the_destination() -> None:
    assert shaper_at((2, 2, 0, 3)).potential() == -4.0  # passenger waiting at R
    assert shaper_at((2, 2, 4, 3)).potential() == 10.0 - 3.0  # aboard, destination B
    assert shaper_at((2, 2, 4, 3), scale=0.5).potential() == 0.5 * 7.0


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (WEST, -1.0 + 1.0),  # towards R
        (EAST, -1.0 - 1.0),  # away
        (NORTH, -1.0 - 1.0),  # closer as the crow flies, but a detour: the wall between columns 1|2 in rows 0-1
        (PICKUP, -10.0),
        (DROPOFF, -10.0),
    ],
)
def test_moves_towards_the_target_pay_and_illegal_actions_keep_their_penalty(action: int, expected: float) -> None:
    env = shaper_at((2, 2, 0, 3), gamma=1.0)
    _, reward, terminated, _, info = env.step(action)
    assert reward == pytest.approx(expected)
    assert not terminated


def test_a_legal_pickup_pays_the_bonus_less_the_distance_left() -> None:
    env = shaper_at((0, 0, 0, 3), gamma=0.99)  # at the passenger; destination B is 7 moves away
    _, reward, _, _, info = env.step(PICKUP)
    assert info["original_reward"] == -1
    assert reward == pytest.approx(-1.0 + 0.99 * (10.0 - 7.0) - 0.0)


def test_the_dropoff_ends_at_potential_zero() -> None:
    env = shaper_at((4, 3, 4, 3), gamma=0.99)  # aboard, at the destination
    _, reward, terminated, _, info = env.step(DROPOFF)
    assert terminated
    assert info["original_reward"] == 20
    assert reward == pytest.approx(20.0 - 10.0)


def test_shaping_telescopes_over_an_episode() -> None:
    # With gamma = 1 the shaped return is the env's return minus phi(s0) (plus phi(s_T) when truncated).
    env = TaxiV4_RewardShaper(gym.make("Taxi-v4"), gamma=1.0)
    env.reset(seed=3)
    start = env.potential()
    rng = np.random.default_rng(0)
    shaped = original = 0.0
    terminated = truncated = False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(6)))
        shaped += reward
        original += info["original_reward"]
    end = 0.0 if terminated else env.potential()
    assert shaped == pytest.approx(original + end - start)


def test_the_optimal_policy_is_unchanged() -> None:
    # Ng et al.: Q_shaped(s, a) = Q(s, a) - phi(s), so every state keeps its greedy actions.
    gamma = 0.99
    env = TaxiV4_RewardShaper(gym.make("Taxi-v4"), gamma=gamma)
    env.reset(seed=0)
    unwrapped = env.unwrapped
    n_states, n_actions = unwrapped.observation_space.n, unwrapped.action_space.n
    phi = np.empty(n_states)
    for state in range(n_states):
        unwrapped.s = state
        phi[state] = env.potential()
    next_state = np.empty((n_states, n_actions), dtype=int)
    reward = np.empty((n_states, n_actions))
    done = np.empty((n_states, n_actions), dtype=bool)
    for state in range(n_states):
        for action in range(n_actions):
            ((_, next_state[state, action], reward[state, action], done[state, action]),) = unwrapped.P[state][action]
    shaped = reward + np.where(done, 0.0, gamma * phi[next_state]) - phi[:, None]

    def q_values(rewards: np.ndarray) -> np.ndarray:
        q = np.zeros((n_states, n_actions))
        for _ in range(2000):
            q = rewards + gamma * np.where(done, 0.0, q.max(axis=1)[next_state])
        return q

    q, q_shaped = q_values(reward), q_values(shaped)
    np.testing.assert_allclose(q_shaped, q - phi[:, None], atol=1e-6)
    def greedy(values: np.ndarray) -> np.ndarray:  # each state's best actions, up to ties within 1e-6
        return values >= values.max(axis=1, keepdims=True) - 1e-6

    assert (greedy(q) == greedy(q_shaped)).all()


def test_reads_the_env_state_under_an_observation_wrapper() -> None:
    env = TaxiV4_RewardShaper(DiscreteEncoder(gym.make("Taxi-v4"), encoding="onehot"), gamma=1.0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (500,)
    state = tuple(int(i) for i in env.unwrapped.decode(env.unwrapped.s))
    assert env.potential() == shaper_at(state).potential()


def test_episode_statistics_report_the_envs_own_reward() -> None:
    # As a config lists it: the statistics recorder sits below the shaper.
    config = load_config(
        "Taxi-v4", "ppo",
        {"env_wrappers": [{"id": "DiscreteEncoder", "encoding": "onehot"}, {"id": "TaxiV4_RewardShaper"}]},
    )
    env = make_env_fn(config)()
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    original = 0.0
    while True:
        _, _, terminated, truncated, info = env.step(int(rng.integers(6)))
        original += info["original_reward"]
        if terminated or truncated:
            break
    assert info["episode"]["r"] == pytest.approx(original)


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(taxi).failed == 0

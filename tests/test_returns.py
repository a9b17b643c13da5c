"""Returns and advantages (utils/returns.py) on trajectories worked out by hand.

Layout reminder (NEXT_STEP autoreset): ``values[t]`` is V(obs[t]); when step ``t`` ends an episode,
``obs[t + 1]`` is that episode's *final* observation and step ``t + 1`` is the masked reset step (reward 0).
So a truncated episode bootstraps from ``values[t + 1]``, a terminated one from 0, and the step at the end
of the rollout bootstraps from ``last_values``.
"""

from __future__ import annotations

import numpy as np
import pytest

from utils.returns import compute_gae, compute_mc_returns, episode_returns

F, T_ = False, True


def col(*rows):
    """A (T, 1) float array from a list of per-step numbers."""
    return np.array(rows, dtype=np.float64)[:, None]


def bcol(*rows):
    return np.array(rows, dtype=bool)[:, None]


# --------------------------------------------------------------------------------------------------------
# compute_gae


def test_gae_terminated_episode_does_not_bootstrap():
    # One env, 4 steps; the episode terminates at t=2, t=3 is the masked reset step.
    # gamma=0.9, lambda=0.8 -> gamma*lambda = 0.72
    rewards = col(1, 1, 1, 0)
    values = col(0.5, 0.4, 0.3, 0.9)  # values[3] = V(final obs of the terminated episode): must NOT be used
    last_values = np.array([5.0])
    terminated = bcol(F, F, T_, F)
    truncated = bcol(F, F, F, F)
    adv, ret = compute_gae(rewards, values, last_values, terminated, truncated, 0.9, 0.8)
    # deltas: t3 = 0 + 0.9*5.0 - 0.9            = 3.6   (rollout end: bootstrapped from last_values)
    #         t2 = 1 + 0 (terminated) - 0.3     = 0.7
    #         t1 = 1 + 0.9*0.3 - 0.4            = 0.87
    #         t0 = 1 + 0.9*0.4 - 0.5            = 0.86
    # advantages: A3 = 3.6
    #             A2 = 0.7                       (the episode ended: no decay from t3)
    #             A1 = 0.87 + 0.72*0.7   = 1.374
    #             A0 = 0.86 + 0.72*1.374 = 1.84928
    np.testing.assert_allclose(adv[:, 0], [1.84928, 1.374, 0.7, 3.6], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-6)
    np.testing.assert_allclose(ret[:, 0], [2.34928, 1.774, 1.0, 4.5], rtol=1e-6)


def test_gae_truncated_episode_bootstraps_from_the_final_observation_value():
    # The episode is truncated (time limit) at t=1; obs[2] is its final observation, so values[2] = 10.0
    # is what the truncated step bootstraps from. t=2 is the masked reset step, t=3 starts a new episode
    # that is cut by the end of the rollout (bootstrapped from last_values = 2.0).
    rewards = col(1, 2, 0, 3)
    values = col(0.5, 0.6, 10.0, 0.7)
    last_values = np.array([2.0])
    terminated = bcol(F, F, F, F)
    truncated = bcol(F, T_, F, F)
    adv, ret = compute_gae(rewards, values, last_values, terminated, truncated, 0.9, 0.8)
    # deltas: t3 = 3 + 0.9*2.0 - 0.7   = 4.1
    #         t1 = 2 + 0.9*10.0 - 0.6  = 10.4   (bootstrapped: truncation is not termination)
    #         t0 = 1 + 0.9*0.6 - 0.5   = 1.04
    # advantages: A3 = 4.1;  A1 = 10.4 (episode ended, nothing flows back from t2/t3)
    #             A0 = 1.04 + 0.72*10.4 = 8.528
    valid = [0, 1, 3]  # t=2 is masked out by the collector, its value is irrelevant
    np.testing.assert_allclose(adv[valid, 0], [8.528, 10.4, 4.1], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-6)


def test_gae_on_several_envs_at_once_matches_each_env_alone():
    # Column 0: the terminated trajectory above; column 1: the truncated one.
    rewards = np.hstack([col(1, 1, 1, 0), col(1, 2, 0, 3)])
    values = np.hstack([col(0.5, 0.4, 0.3, 0.9), col(0.5, 0.6, 10.0, 0.7)])
    last_values = np.array([5.0, 2.0])
    terminated = np.hstack([bcol(F, F, T_, F), bcol(F, F, F, F)])
    truncated = np.hstack([bcol(F, F, F, F), bcol(F, T_, F, F)])
    adv, ret = compute_gae(rewards, values, last_values, terminated, truncated, 0.9, 0.8)
    assert adv.shape == ret.shape == (4, 2)
    np.testing.assert_allclose(adv[:, 0], [1.84928, 1.374, 0.7, 3.6], rtol=1e-6)
    np.testing.assert_allclose(adv[[0, 1, 3], 1], [8.528, 10.4, 4.1], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-6)


def test_gae_rollout_end_bootstraps_from_last_values():
    # No episode ends: 2 steps, gamma=0.5, lambda=1 -> decay 0.5
    rewards = col(1, 1)
    values = col(0.0, 0.0)
    adv, ret = compute_gae(rewards, values, np.array([4.0]), bcol(F, F), bcol(F, F), 0.5, 1.0)
    # A1 = 1 + 0.5*4 - 0 = 3;  A0 = (1 + 0.5*0 - 0) + 0.5*3 = 2.5
    np.testing.assert_allclose(adv[:, 0], [2.5, 3.0])
    np.testing.assert_allclose(ret[:, 0], [2.5, 3.0])
    # last_values matter: with 0 the rollout end is not bootstrapped
    adv0, _ = compute_gae(rewards, values, np.array([0.0]), bcol(F, F), bcol(F, F), 0.5, 1.0)
    np.testing.assert_allclose(adv0[:, 0], [1.5, 1.0])


def test_gae_lambda_zero_is_the_one_step_td_error():
    rewards = col(1, 2, 3)
    values = col(1.0, 2.0, 3.0)
    adv, _ = compute_gae(rewards, values, np.array([4.0]), bcol(F, F, F), bcol(F, F, F), 0.5, 0.0)
    # delta_t = r_t + 0.5*V(t+1) - V(t): 1+1-1 = 1, 2+1.5-2 = 1.5, 3+2-3 = 2
    np.testing.assert_allclose(adv[:, 0], [1.0, 1.5, 2.0])


def _discounted_mc_minus_value(rewards, values, last_values, terminated, truncated, gamma):
    """Reference: per env, walk each episode and sum discounted rewards, bootstrapping truncations and
    the rollout end; the step after a done is the masked reset step and starts a fresh sum."""
    n_steps, n_envs = rewards.shape
    next_values = np.concatenate([values[1:], last_values[None]])
    out = np.zeros_like(rewards)
    for e in range(n_envs):
        for t in range(n_steps):
            total, discount = 0.0, 1.0
            k = t
            while True:
                total += discount * rewards[k, e]
                if terminated[k, e]:
                    break
                if truncated[k, e] or k == n_steps - 1:
                    total += discount * gamma * next_values[k, e]
                    break
                discount *= gamma
                k += 1
            out[t, e] = total - values[t, e]
    return out


def test_gae_with_lambda_one_is_the_discounted_monte_carlo_return_minus_the_value():
    # Hand-sized case: gamma=0.5, one env, terminated at t=1, then masked t=2, then t=3 until rollout end.
    rewards = col(2, 4, 0, 8)
    values = col(1.0, 1.0, 1.0, 1.0)
    terminated, truncated = bcol(F, T_, F, F), bcol(F, F, F, F)
    adv, ret = compute_gae(rewards, values, np.array([6.0]), terminated, truncated, 0.5, 1.0)
    # G0 = 2 + 0.5*4 = 4 -> A0 = 3;  G1 = 4 -> A1 = 3;  G3 = 8 + 0.5*6 = 11 -> A3 = 10
    np.testing.assert_allclose(adv[[0, 1, 3], 0], [3.0, 3.0, 10.0])
    np.testing.assert_allclose(ret[[0, 1, 3], 0], [4.0, 4.0, 11.0])

    # Random trajectories with dones scattered over 3 envs.
    rng = np.random.default_rng(0)
    shape = (40, 3)
    rewards = rng.normal(size=shape)
    values = rng.normal(size=shape)
    last_values = rng.normal(size=3)
    terminated = rng.random(shape) < 0.1
    truncated = (rng.random(shape) < 0.1) & ~terminated
    adv, _ = compute_gae(rewards, values, last_values, terminated, truncated, 0.97, 1.0)
    expected = _discounted_mc_minus_value(rewards, values, last_values, terminated, truncated, 0.97)
    # valid steps only: the masked reset steps are not trained on
    valid = np.ones(shape, dtype=bool)
    valid[1:] = ~(terminated | truncated)[:-1]
    np.testing.assert_allclose(adv[valid], expected[valid], rtol=1e-5, atol=1e-6)  # decay factors are float32 internally


def test_gae_accepts_float32_rollout_arrays():
    # The agent passes torch-backed float32 arrays; output stays float32 and equal to the float64 result.
    rng = np.random.default_rng(1)
    rewards, values = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    last = rng.normal(size=2)
    term, trunc = rng.random((8, 2)) < 0.2, np.zeros((8, 2), dtype=bool)
    adv64, _ = compute_gae(rewards, values, last, term, trunc, 0.99, 0.95)
    adv32, ret32 = compute_gae(rewards.astype(np.float32), values.astype(np.float32), last.astype(np.float32),
                               term, trunc, 0.99, 0.95)
    assert adv32.dtype == np.float32 and ret32.dtype == np.float32
    np.testing.assert_allclose(adv32, adv64, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------------------
# compute_mc_returns


def test_mc_reward_to_go_without_baseline_treats_every_cut_as_the_end():
    # Column 0: truncated at t=2, masked reset at t=3, new episode t=4..5 cut by the rollout end.
    # Column 1: terminated at t=2, same shape otherwise. gamma = 0.5
    rewards = np.hstack([col(1, 2, 3, 0, 4, 5), col(1, 2, 3, 0, 4, 5)])
    terminated = np.hstack([bcol(F, F, F, F, F, F), bcol(F, F, T_, F, F, F)])
    truncated = np.hstack([bcol(F, F, T_, F, F, F), bcol(F, F, F, F, F, F)])
    returns = compute_mc_returns(rewards, terminated, truncated, 0.5)
    # G2 = 3;  G1 = 2 + 0.5*3 = 3.5;  G0 = 1 + 0.5*3.5 = 2.75
    # G5 = 5;  G4 = 4 + 0.5*5 = 6.5   (no bootstrap at the rollout end)
    for env in (0, 1):
        np.testing.assert_allclose(returns[[0, 1, 2, 4, 5], env], [2.75, 3.5, 3.0, 6.5, 5.0])


def test_mc_reward_to_go_with_baseline_bootstraps_truncation_and_rollout_end_only():
    rewards = np.hstack([col(1, 2, 3, 0, 4, 5), col(1, 2, 3, 0, 4, 5)])
    terminated = np.hstack([bcol(F, F, F, F, F, F), bcol(F, F, T_, F, F, F)])
    truncated = np.hstack([bcol(F, F, T_, F, F, F), bcol(F, F, F, F, F, F)])
    # values[3] = 8: V(final observation) of the episode that ended at t=2
    values = np.hstack([col(0, 0, 0, 8, 0, 0), col(0, 0, 0, 8, 0, 0)])
    last_values = np.array([10.0, 10.0])
    returns = compute_mc_returns(rewards, terminated, truncated, 0.5, values, last_values)
    # Truncated column: G2 = 3 + 0.5*8 = 7;  G1 = 2 + 0.5*7 = 5.5;  G0 = 1 + 0.5*5.5 = 3.75
    np.testing.assert_allclose(returns[[0, 1, 2], 0], [3.75, 5.5, 7.0])
    # Terminated column: no bootstrap from values[3]: G2 = 3, G1 = 3.5, G0 = 2.75
    np.testing.assert_allclose(returns[[0, 1, 2], 1], [2.75, 3.5, 3.0])
    # Rollout end (both columns): G5 = 5 + 0.5*10 = 10;  G4 = 4 + 0.5*10 = 9
    np.testing.assert_allclose(returns[[4, 5], 0], [9.0, 10.0])
    np.testing.assert_allclose(returns[[4, 5], 1], [9.0, 10.0])


def test_mc_with_baseline_does_not_bootstrap_a_last_step_that_terminates():
    rewards = col(1, 1)
    returns = compute_mc_returns(rewards, bcol(F, T_), bcol(F, F), 0.5, col(0, 0), np.array([100.0]))
    # G1 = 1 (terminated: last_values ignored); G0 = 1 + 0.5*1 = 1.5
    np.testing.assert_allclose(returns[:, 0], [1.5, 1.0])
    # A last step cut by its time limit bootstraps from last_values (= V(final obs)): G1 = 1 + 0.5*100 = 51
    returns = compute_mc_returns(rewards, bcol(F, F), bcol(F, T_), 0.5, col(0, 0), np.array([100.0]))
    np.testing.assert_allclose(returns[:, 0], [26.5, 51.0])


def test_mc_returns_equal_gae_returns_with_lambda_one():
    # With a baseline, MC returns and GAE(lambda=1)'s returns are both the bootstrapped discounted return.
    rng = np.random.default_rng(2)
    shape = (30, 4)
    rewards, values = rng.normal(size=shape), rng.normal(size=shape)
    last_values = rng.normal(size=4)
    terminated = rng.random(shape) < 0.1
    truncated = (rng.random(shape) < 0.1) & ~terminated
    valid = np.ones(shape, dtype=bool)
    valid[1:] = ~(terminated | truncated)[:-1]
    mc = compute_mc_returns(rewards, terminated, truncated, 0.9, values, last_values)
    _, gae_returns = compute_gae(rewards, values, last_values, terminated, truncated, 0.9, 1.0)
    np.testing.assert_allclose(mc[valid], gae_returns[valid], rtol=1e-5, atol=1e-6)  # decay factors are float32 internally


# --------------------------------------------------------------------------------------------------------
# episode_returns (mc:episode)


def test_episode_returns_are_constant_over_each_segment():
    # One env: episode A at t=0..2 (already running at t=0), masked reset at t=3, episode B at t=4..6.
    rtg = col(3, 2, 1, 9, 5, 4, 3)
    valid = bcol(T_, T_, T_, F, T_, T_, T_)
    out = episode_returns(rtg, valid)
    np.testing.assert_allclose(out[[0, 1, 2], 0], [3, 3, 3])  # the return from A's first step
    np.testing.assert_allclose(out[[4, 5, 6], 0], [5, 5, 5])  # B starts after the masked step


def test_episode_returns_segment_starts_after_masked_step_at_rollout_start_and_per_env():
    rtg = np.hstack([
        col(7, 6, 5, 4, 3, 2),  # env 0: masked reset at t=0 -> segment starts at t=1
        col(1, 2, 3, 4, 5, 6),  # env 1: masked at t=2 and t=4 -> segments [0,1], [3], [5]
    ])
    valid = np.hstack([bcol(F, T_, T_, T_, T_, T_), bcol(T_, T_, F, T_, F, T_)])
    out = episode_returns(rtg, valid)
    np.testing.assert_allclose(out[1:, 0], [6, 6, 6, 6, 6])
    np.testing.assert_allclose(out[[0, 1, 3, 5], 1], [1, 1, 4, 6])
    assert out.shape == rtg.shape and out.dtype == rtg.dtype
    # the input is not modified
    np.testing.assert_allclose(rtg[:, 1], [1, 2, 3, 4, 5, 6])


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_episode_returns_of_reward_to_go_are_the_whole_episode_return(gamma):
    # 3 steps of reward 1 terminated, masked, then 2 steps cut by the rollout end.
    rewards = col(1, 1, 1, 0, 1, 1)
    terminated, truncated = bcol(F, F, T_, F, F, F), bcol(F, F, F, F, F, F)
    valid = bcol(T_, T_, T_, F, T_, T_)
    out = episode_returns(compute_mc_returns(rewards, terminated, truncated, gamma), valid)
    first = 1 + gamma + gamma**2  # G0 of episode A
    second = 1 + gamma  # G of episode B's first step
    np.testing.assert_allclose(out[[0, 1, 2, 4, 5], 0], [first] * 3 + [second] * 2)

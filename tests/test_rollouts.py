"""Rollout collection (utils/rollouts.py): NEXT_STEP masking, dtypes, episode statistics, minibatches."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import RecordEpisodeStatistics

from utils.config import load_config
from utils.environment import build_vec_env
from utils.policies import build_policy
from utils.rollouts import RolloutCollector, TrainingBatch


class CounterEnv(gym.Env):
    """uint8 observations ``[step, 200, 255]``; reward ``step + 1`` at each step; terminates after 3 steps."""

    metadata = {"render_modes": []}
    observation_space = spaces.Box(0, 255, (3,), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return np.array([self.t, 200, 255], dtype=np.uint8)

    def step(self, action):
        self.t += 1
        return self._obs(), float(self.t), self.t >= 3, False, {}


def counter_envs(n_envs: int) -> SyncVectorEnv:
    return SyncVectorEnv(
        [lambda: RecordEpisodeStatistics(CounterEnv()) for _ in range(n_envs)],
        autoreset_mode=AutoresetMode.NEXT_STEP,
    )


def cartpole(n_envs=2, n_steps=200, **overrides):
    config = load_config("CartPole-v1", "ppo", {"n_envs": n_envs, "n_steps": n_steps, "batch_size": 32,
                                                **overrides})
    envs = build_vec_env(config, n_envs)
    policy = build_policy(config, envs.single_observation_space, envs.single_action_space)
    return config, envs, policy


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _expected_valid(rollout, prev_done):
    done = (rollout.terminated | rollout.truncated).numpy()
    expected = np.empty_like(done)
    expected[0] = ~prev_done
    expected[1:] = ~done[:-1]
    return expected


def test_cartpole_valid_mask_is_false_exactly_on_the_step_after_each_done():
    _, envs, policy = cartpole(n_envs=2, n_steps=200)
    collector = RolloutCollector(envs, policy, 200, seed=0)
    rollout = collector.collect()
    assert rollout.obs.shape == (200, 2, 4) and rollout.actions.shape == (200, 2)
    done = (rollout.terminated | rollout.truncated).numpy()
    assert done.sum() >= 4  # a random CartPole policy ends episodes every ~20 steps
    valid = rollout.valid.numpy()
    np.testing.assert_array_equal(valid, _expected_valid(rollout, np.zeros(2, dtype=bool)))
    # the masked steps are the NEXT_STEP resets: reward 0, and the observation after them is a fresh
    # reset state (CartPole resets every coordinate to within +-0.05)
    rewards = rollout.rewards.numpy()
    assert (rewards[~valid] == 0).all() and (rewards[valid] == 1).all()
    t_idx, e_idx = np.nonzero(~valid)
    for t, e in zip(t_idx, e_idx):
        after = rollout.obs[t + 1, e] if t + 1 < 200 else collector._obs[e]
        assert after.abs().max() <= 0.05
        # obs at the masked step is the finished episode's final observation: out of bounds or at the limit
        final = rollout.obs[t, e]
        assert final[0].abs() > 2.4 or final[2].abs() > 12 * 2 * np.pi / 360
    envs.close()


def test_cartpole_valid_mask_carries_over_between_rollouts():
    _, envs, policy = cartpole(n_envs=2, n_steps=50)
    collector = RolloutCollector(envs, policy, 50, seed=1)
    for _ in range(6):
        before = collector._prev_done.copy()
        rollout = collector.collect()
        np.testing.assert_array_equal(rollout.valid.numpy(), _expected_valid(rollout, before))
    envs.close()


def test_cartpole_recorded_episode_returns_equal_the_episode_lengths_in_the_buffer():
    _, envs, policy = cartpole(n_envs=2, n_steps=300)
    collector = RolloutCollector(envs, policy, 300, seed=3)
    rollout = collector.collect()
    done = (rollout.terminated | rollout.truncated).numpy()
    valid = rollout.valid.numpy()
    # Episode lengths read from the buffer, in the order the collector records them (time, then env).
    starts = np.zeros(2, dtype=int)
    lengths_from_buffer = []
    for t in range(300):
        for e in range(2):
            if not valid[t, e]:
                starts[e] = t + 1
            if done[t, e]:
                lengths_from_buffer.append(t - starts[e] + 1)
    assert len(lengths_from_buffer) >= 5
    assert collector.episodes == len(lengths_from_buffer)
    assert list(collector.episode_lengths) == lengths_from_buffer
    # CartPole pays 1 per step: an episode's return is its length
    assert list(collector.episode_returns) == [float(n) for n in lengths_from_buffer]
    envs.close()


def test_rollout_keeps_uint8_observations_and_follows_next_step_layout():
    envs = counter_envs(2)
    policy = build_policy(load_config("CartPole-v1", "ppo"), envs.single_observation_space, envs.single_action_space)
    collector = RolloutCollector(envs, policy, 8, seed=0)
    rollout = collector.collect()
    assert rollout.obs.dtype == torch.uint8
    # Each episode: obs 0,1,2 (steps paying 1,2,3; terminated on the third), then the masked reset step
    # whose observation is the final one (3).
    np.testing.assert_array_equal(rollout.obs[:, 0, 0].numpy(), [0, 1, 2, 3, 0, 1, 2, 3])
    np.testing.assert_array_equal(rollout.obs[:, 1].numpy(), rollout.obs[:, 0].numpy())
    assert (rollout.obs[:, :, 1] == 200).all() and (rollout.obs[:, :, 2] == 255).all()
    np.testing.assert_array_equal(rollout.valid[:, 0].numpy(), [1, 1, 1, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(rollout.rewards[:, 0].numpy(), [1, 2, 3, 0, 1, 2, 3, 0])
    # env steps are transitions: 2 envs x 2 episodes x 3 steps, the 4 reset steps not counted
    assert rollout.n_transitions == 12 == sum(collector.episode_lengths)
    np.testing.assert_array_equal(rollout.terminated[:, 0].numpy(), [0, 0, 1, 0, 0, 0, 1, 0])
    assert list(collector.episode_returns) == [6.0] * 4 and list(collector.episode_lengths) == [3] * 4
    # flat(): time and env merged, masked steps dropped
    flat_obs = rollout.flat("obs")
    assert flat_obs.dtype == torch.uint8 and flat_obs.shape == (12, 3)
    np.testing.assert_array_equal(sorted(flat_obs[:, 0].tolist()), [0] * 4 + [1] * 4 + [2] * 4)
    assert rollout.flat("actions").shape == (12,)
    envs.close()


def test_rollout_log_probs_and_values_match_the_policy():
    _, envs, policy = cartpole(n_envs=2, n_steps=20)
    collector = RolloutCollector(envs, policy, 20, seed=0)
    rollout = collector.collect()
    log_probs, _, values = policy.evaluate_actions(rollout.obs.flatten(0, 1), rollout.actions.flatten(0, 1))
    torch.testing.assert_close(log_probs.detach(), rollout.log_probs.flatten(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(values.detach(), rollout.values.flatten(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rollout.last_values, policy(collector._obs)[1].detach())
    envs.close()


class FrameEnv(gym.Env):
    """Random uint8 frames ``(4, 36, 36)`` (the smallest the Nature CNN takes); episodes of 5 steps."""

    metadata = {"render_modes": []}
    observation_space = spaces.Box(0, 255, (4, 36, 36), np.uint8)
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample(), 1.0, self.t >= 5, False, {}


def frame_envs_and_cnn(**overrides) -> tuple[SyncVectorEnv, torch.nn.Module]:
    """Two FrameEnvs and a CNN policy for them (``overrides``: config fields)."""
    envs = SyncVectorEnv([lambda: RecordEpisodeStatistics(FrameEnv()) for _ in range(2)],
                         autoreset_mode=AutoresetMode.NEXT_STEP)
    config = load_config("CartPole-v1", "ppo", {"policy": "cnn", **overrides})
    return envs, build_policy(config, envs.single_observation_space, envs.single_action_space)


def test_cnn_rollout_takes_values_in_the_acting_pass_and_they_match_the_policy():
    envs, policy = frame_envs_and_cnn()
    assert policy.shared_trunk
    collector = RolloutCollector(envs, policy, 12, seed=0)
    rollout = collector.collect()
    assert rollout.obs.dtype == torch.uint8
    log_probs, _, values = policy.evaluate_actions(rollout.obs.flatten(0, 1), rollout.actions.flatten(0, 1))
    torch.testing.assert_close(log_probs.detach(), rollout.log_probs.flatten(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(values.detach(), rollout.values.flatten(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rollout.last_values, policy(collector._obs)[1].detach())
    envs.close()


# --------------------------------------------------------------------------------------------------------
# TrainingBatch


def _batch(n: int) -> TrainingBatch:
    return TrainingBatch(obs=torch.arange(n).float().unsqueeze(-1), advantages=torch.arange(n).float())


def test_minibatch_sizes_cover_every_sample_once():
    batch = _batch(250)
    assert len(batch) == 250
    minibatches = list(batch.minibatches(64, generator=torch.Generator().manual_seed(0)))
    assert [len(mb) for mb in minibatches] == [64, 64, 64, 58]
    seen = torch.cat([mb.advantages for mb in minibatches])
    assert sorted(seen.long().tolist()) == list(range(250))
    for mb in minibatches:  # fields stay aligned after shuffling
        torch.testing.assert_close(mb.obs.squeeze(-1), mb.advantages)
    assert not torch.equal(seen, torch.arange(250).float())  # shuffled


@pytest.mark.parametrize("batch_size", [250, 1000])
def test_a_minibatch_at_least_the_batch_is_the_batch_itself(batch_size):
    batch = _batch(250)
    minibatches = list(batch.minibatches(batch_size))
    assert len(minibatches) == 1 and minibatches[0] is batch


def test_minibatches_are_reproducible_with_a_generator_and_attribute_access():
    batch = _batch(10)
    a = [mb.advantages.tolist() for mb in batch.minibatches(4, generator=torch.Generator().manual_seed(3))]
    b = [mb.advantages.tolist() for mb in batch.minibatches(4, generator=torch.Generator().manual_seed(3))]
    assert a == b and [len(x) for x in a] == [4, 4, 2]
    with pytest.raises(AttributeError):
        batch.returns


# --------------------------------------------------------------------------------------------------------
# precision bf16-mixed: training's collection and update run under Lightning's autocast (no cast cache)


def _lightning_autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)


def test_bf16_rollout_log_probs_are_the_updates_so_the_first_ratio_is_one():
    envs, policy = frame_envs_and_cnn(precision="bf16-mixed")
    collector = RolloutCollector(envs, policy, 12, seed=0)
    with _lightning_autocast():
        rollout = collector.collect()
        obs, actions = rollout.obs.flatten(0, 1), rollout.actions.flatten(0, 1)
        log_probs, _, values = policy.evaluate_actions(obs, actions)  # as the update does: gradients, one batch
    assert log_probs.dtype == values.dtype == torch.float32
    # bit-identical where oneDNN gives each sample the same arithmetic at any batch size (AVX512-BF16 here);
    # 1e-3 leaves room for kernels that differ with the batch, far below a bfloat16 log-prob step (0.008)
    torch.testing.assert_close(log_probs.detach(), rollout.log_probs.flatten(), rtol=0, atol=1e-3)
    torch.testing.assert_close(values.detach(), rollout.values.flatten(), rtol=0, atol=1e-3)
    # and it is bfloat16 arithmetic: close to float32's, not equal to it
    fp32_log_probs = policy.evaluate_actions(obs, actions)[0].detach()
    difference = (fp32_log_probs - rollout.log_probs.flatten()).abs()
    assert 0 < difference.max() < 0.05
    envs.close()


def test_bf16_rollouts_see_each_update_of_the_weights():
    # the rollout casts each weight once: the next rollout must cast the updated weights again
    envs, policy = frame_envs_and_cnn(precision="bf16-mixed")
    collector = RolloutCollector(envs, policy, 6, seed=0)
    with _lightning_autocast():
        collector.collect()
        with torch.no_grad():
            policy.trunk[0].weight.mul_(3.0)  # an update, between two rollouts of one training step
        rollout = collector.collect()
        values = policy.evaluate_actions(rollout.obs.flatten(0, 1), rollout.actions.flatten(0, 1))[2]
    torch.testing.assert_close(values.detach(), rollout.values.flatten(), rtol=0, atol=1e-3)
    envs.close()


def test_mlp_heads_stay_float32_under_autocast():
    _, envs, policy = cartpole(n_envs=2, n_steps=16, precision="bf16-mixed")
    obs = torch.randn(5, 4)
    with _lightning_autocast():
        params, values = policy(obs)
        actor = policy.actor(obs)
    assert params.dtype == values.dtype == actor.dtype == torch.float32
    torch.testing.assert_close(actor, params)
    envs.close()

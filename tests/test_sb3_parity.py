"""Our PPO against Stable-Baselines3's, piece by piece, on identical inputs.

Same weights must give the same action logits and values, one PPO update on the same rollout must leave the
same weights, and GAE with truncation bootstrapping must give the same advantages once the layouts (our
NEXT_STEP reset rows, SB3's same-step resets) are lined up. What is left to differ between the two
implementations is then only the random streams.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

sb3 = pytest.importorskip("stable_baselines3", reason="needs the bench extra: pip install -e '.[bench]'")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _bench_worker import sb3_ppo_kwargs  # noqa: E402
from agents.ppo import PPO  # noqa: E402
from scripted_envs import ScriptedEnv  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.returns import compute_gae  # noqa: E402
from utils.rollouts import TrainingBatch  # noqa: E402


@pytest.fixture(scope="module")
def config():
    return load_config("CartPole-v1", "ppo", {"n_envs": 2, "batch_size": 64, "normalize_advantages": "batch"})


def copy_sb3_weights(model, policy) -> None:
    """Load SB3's separate actor/critic MLPs into our stacked towers."""
    extractor = model.policy.mlp_extractor
    pi = [m for m in extractor.policy_net if isinstance(m, torch.nn.Linear)]
    vf = [m for m in extractor.value_net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        policy.input_layer.weight.copy_(torch.cat([pi[0].weight, vf[0].weight]))
        policy.input_layer.bias.copy_(torch.cat([pi[0].bias, vf[0].bias]))
        for i, (weight, bias) in enumerate(zip(policy.hidden_weights, policy.hidden_biases)):
            weight.copy_(torch.stack([pi[i + 1].weight.T, vf[i + 1].weight.T]))
            bias.copy_(torch.stack([pi[i + 1].bias, vf[i + 1].bias]).unsqueeze(1))
        policy.policy_layer.load_state_dict(model.policy.action_net.state_dict())
        policy.value_layer.load_state_dict(model.policy.value_net.state_dict())


def make_pair(config):
    from stable_baselines3.common.env_util import make_vec_env

    torch.manual_seed(0)
    model = sb3.PPO("MlpPolicy", make_vec_env("CartPole-v1", config.n_envs, seed=0), seed=0, **sb3_ppo_kwargs(config))
    agent = PPO(config)
    copy_sb3_weights(model, agent.policy)
    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=1e-3, eps=config.optimizer_eps)
    agent.optimizers = lambda: SimpleNamespace(optimizer=optimizer)  # no Trainer: hand the agent its optimizer
    return model, agent


def test_initialization_matches_sb3(config):
    """Orthogonal gains sqrt(2) / 0.01 / 1 and zero biases: the weight spectra and the biases agree."""
    model, agent = make_pair(config)
    fresh = PPO(config).policy
    ours = fresh.policy_layer.weight
    theirs = model.policy.action_net.weight
    # an orthogonal matrix of gain g has all singular values equal to g
    torch.testing.assert_close(torch.linalg.svdvals(ours), torch.linalg.svdvals(theirs), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(torch.linalg.svdvals(fresh.value_layer.weight), torch.full((1,), 1.0))
    for tower in range(2):
        weight = fresh.hidden_weights[0][tower]
        torch.testing.assert_close(torch.linalg.svdvals(weight), torch.full((64,), 2**0.5), atol=1e-5, rtol=1e-5)
    assert all(not b.any() for name, b in fresh.named_parameters() if "bias" in name)
    assert model.policy.optimizer.defaults["eps"] == agent.config.optimizer_eps == 1e-5


def test_same_weights_give_sb3s_logits_and_values(config):
    model, agent = make_pair(config)
    obs = torch.randn(64, 4)
    with torch.no_grad():
        dist = model.policy.get_distribution(obs)
        theirs_values = model.policy.predict_values(obs).flatten()
        logits, values = agent.policy(obs)
    torch.testing.assert_close(logits.log_softmax(-1), dist.distribution.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values, theirs_values, atol=1e-5, rtol=1e-5)


def test_one_update_leaves_sb3s_weights(config):
    """20 epochs over one full-batch rollout (CartPole's zoo setting): the same final network."""
    model, agent = make_pair(config)
    buffer = model.rollout_buffer
    rng = np.random.default_rng(1)
    obs = torch.as_tensor(rng.normal(size=(buffer.buffer_size, buffer.n_envs, 4)), dtype=torch.float32)
    with torch.no_grad():
        actions, values, log_probs = model.policy(obs.reshape(-1, 4))
    buffer.reset()
    buffer.observations[:] = obs.numpy()
    buffer.actions[:] = actions.reshape(buffer.buffer_size, buffer.n_envs, 1).numpy()
    buffer.values[:] = values.reshape(buffer.buffer_size, buffer.n_envs).numpy()
    buffer.log_probs[:] = log_probs.reshape(buffer.buffer_size, buffer.n_envs).numpy()
    buffer.rewards[:] = rng.normal(size=(buffer.buffer_size, buffer.n_envs))
    buffer.episode_starts[:] = rng.random((buffer.buffer_size, buffer.n_envs)) < 0.1
    buffer.full = True
    buffer.compute_returns_and_advantage(torch.zeros(buffer.n_envs), np.zeros(buffer.n_envs, dtype=bool))
    batch = TrainingBatch(
        obs=obs.reshape(-1, 4), actions=actions.reshape(-1), old_log_probs=log_probs.reshape(-1),
        old_values=values.reshape(-1), advantages=torch.as_tensor(buffer.advantages.reshape(-1)),
        returns=torch.as_tensor(buffer.returns.reshape(-1)),
    )
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(None, []))
    model._current_progress_remaining = 1.0
    model.train()
    stats = agent.optimize(batch)
    assert stats["n_minibatches_done"] == config.n_epochs
    with torch.no_grad():
        theirs_logits = model.policy.get_distribution(obs.reshape(-1, 4)).distribution.logits
        theirs_values = model.policy.predict_values(obs.reshape(-1, 4)).flatten()
        logits, values = agent.policy(obs.reshape(-1, 4))
    torch.testing.assert_close(logits.log_softmax(-1), theirs_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(values, theirs_values, atol=1e-4, rtol=1e-4)


def test_gae_with_truncation_matches_sb3_across_layouts():
    """One env, episodes ending by termination and by truncation, laid out both ways.

    SB3: the reset happens within the ending step; a truncated step's reward gets + gamma * V(final obs).
    Ours: the ending step is followed by a masked reset row whose observation is the final one.
    """
    gamma, lam = 0.98, 0.8
    rng = np.random.default_rng(2)
    # transitions: (reward, value of its obs, terminated, truncated, value of the final obs if it ends)
    ends = {4: "terminated", 9: "truncated", 15: "terminated"}
    n = 20
    rewards = rng.normal(size=n).astype(np.float32)
    values = rng.normal(size=n).astype(np.float32)
    final_values = {t: np.float32(rng.normal()) for t in ends}
    last_value = np.float32(rng.normal())

    from stable_baselines3.common.buffers import RolloutBuffer
    from gymnasium import spaces

    buffer = RolloutBuffer(n, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), gae_lambda=lam, gamma=gamma, n_envs=1)
    buffer.rewards[:, 0] = rewards + np.array([gamma * final_values[t] if ends.get(t) == "truncated" else 0.0
                                               for t in range(n)], dtype=np.float32)
    buffer.values[:, 0] = values
    buffer.episode_starts[:, 0] = [t > 0 and (t - 1) in ends for t in range(n)]
    buffer.compute_returns_and_advantage(torch.tensor([last_value]), np.zeros(1, dtype=bool))

    rows = []  # ours: (reward, value, terminated, truncated, valid)
    for t in range(n):
        rows.append((rewards[t], values[t], ends.get(t) == "terminated", ends.get(t) == "truncated", True))
        if t in ends:
            rows.append((0.0, final_values[t], False, False, False))
    r, v, term, trunc, valid = (np.array(column)[:, None] for column in zip(*rows))
    advantages, returns = compute_gae(r.astype(np.float32), v.astype(np.float32), np.array([last_value]),
                                      term.astype(bool), trunc.astype(bool), gamma, lam)
    valid = valid[:, 0].astype(bool)
    np.testing.assert_allclose(advantages[valid, 0], buffer.advantages[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns[valid, 0], buffer.returns[:, 0], rtol=1e-5, atol=1e-5)


def test_reward_normalization_matches_sb3s_vecnormalize():
    """Our NEXT_STEP wrapper and VecNormalize see the same episodes (one env's end by termination, the
    other's by truncation, at the same steps so that both sides have seen the same returns at each step):
    the same scaled rewards on every real step."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from gym_wrappers.return_normalization import NormalizeRewardByReturn

    makers = [lambda: ScriptedEnv([1.0, -2.0, 0.5], False), lambda: ScriptedEnv([3.0, 1.0, -1.0], True)]
    theirs = VecNormalize(DummyVecEnv(makers), norm_obs=False, gamma=0.9)
    theirs.reset()
    theirs_rewards = [[], []]
    for _ in range(12):
        _, rewards, _, _ = theirs.step(np.zeros(2, dtype=int))
        for e in range(2):
            theirs_rewards[e].append(float(rewards[e]))

    ours = NormalizeRewardByReturn(gym.vector.SyncVectorEnv(makers), gamma=0.9)
    ours.reset(seed=0)
    ours_rewards = [[], []]
    prev_done = np.zeros(2, dtype=bool)
    while len(ours_rewards[0]) < 12:  # 12 real steps; the NEXT_STEP reset steps come on top
        _, rewards, terminated, truncated, _ = ours.step(np.zeros(2, dtype=int))
        for e in range(2):
            if not prev_done[e]:
                ours_rewards[e].append(float(rewards[e]))
        prev_done = terminated | truncated
    np.testing.assert_allclose(ours_rewards, theirs_rewards, rtol=1e-5)
    assert ours.return_rms.count == pytest.approx(theirs.ret_rms.count)
    np.testing.assert_allclose(ours.return_rms.var, theirs.ret_rms.var, rtol=1e-6)

"""Every config shipped in config/environments loads, builds its envs and policy, and collects a rollout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from utils.config import PPOConfig, REINFORCEConfig, list_config_ids, load_config, parse_config_id
from utils.env_families import family_for
from utils.environment import build_vec_env, reward_threshold
from utils.errors import ConfigError
from utils.policies import build_policy
from utils.returns import compute_gae
from utils.rollouts import RolloutCollector

CONFIG_IDS = list_config_ids()
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "environments"
SMALL = {"n_envs": 2, "n_steps": 4, "batch_size": 1.0}  # keep the rollout tiny; batch = the whole rollout


def require_family_package(config) -> None:
    """Skip (naming the extra) when the config's env family needs a package that is not installed."""
    family = family_for(config.env_id)
    if family.module is not None:
        pytest.importorskip(family.module, reason=f"needs the {family.extra} extra: pip install -e '.[{family.extra}]'")


def test_the_expected_configs_are_shipped():
    for config_id in ("Bandit-v0:ppo", "Bandit-v0:reinforce", "CartPole-v1:ppo", "CartPole-v1:reinforce",
                      "Pendulum-v1:ppo", "LunarLander-v3:ppo"):
        assert config_id in CONFIG_IDS
    assert len(CONFIG_IDS) == len(set(CONFIG_IDS))


@pytest.mark.parametrize("config_id", CONFIG_IDS)
def test_shipped_config_loads_with_a_consistent_resolved_config(config_id):
    name, variant = parse_config_id(config_id)
    config = load_config(name, variant)
    assert config.config_id == config_id
    assert isinstance(config, {"ppo": PPOConfig, "reinforce": REINFORCEConfig}[config.algo_id])
    assert isinstance(config.batch_size, int) and 1 <= config.batch_size <= config.rollout_size
    assert config.max_timesteps >= config.rollout_size
    require_family_package(config)
    threshold = reward_threshold(config)
    if family_for(config.env_id).name == "gymnasium":
        # gymnasium's envs register a threshold, so "solved" and early stopping mean something
        assert threshold is not None and np.isfinite(threshold)
    else:
        # console games and most VizDoom scenarios have no defined "solved" score: those runs go to their budget
        assert threshold is None or np.isfinite(threshold)


@pytest.mark.parametrize("config_id", CONFIG_IDS)
def test_shipped_config_builds_envs_and_policy_and_collects_a_rollout(config_id):
    torch.manual_seed(0)
    name, variant = parse_config_id(config_id)
    config = load_config(name, variant, SMALL)
    require_family_package(config)
    try:
        family_for(config.env_id).check(config)
    except ConfigError as exc:  # a ROM that stable-retro does not ship: a one-line how-to instead
        assert "python -m stable_retro.import DIR" in str(exc)
        return
    envs = build_vec_env(config, 2)
    eval_envs = build_vec_env(config, 2, training=False)
    try:
        assert envs.num_envs == 2
        assert envs.single_observation_space == eval_envs.single_observation_space
        policy = build_policy(config, envs.single_observation_space, envs.single_action_space)
        collector = RolloutCollector(envs, policy, config.n_steps, seed=config.seed)
        rollout = collector.collect()
        obs_shape = envs.single_observation_space.shape
        assert rollout.obs.shape == (4, 2, *obs_shape)
        assert rollout.valid[0].all()
        for name in ("log_probs", "values", "rewards", "last_values"):
            assert torch.isfinite(getattr(rollout, name)).all(), name
        if not isinstance(envs.single_action_space, spaces.Box):  # (a Gaussian density may exceed 1)
            assert (rollout.log_probs <= 1e-6).all()
        # the actions the policy takes are valid for the env
        for action in policy.head.to_env(rollout.actions.flatten(0, 1)):
            assert envs.single_action_space.contains(np.asarray(action, dtype=envs.single_action_space.dtype))
        adv, ret = compute_gae(rollout.rewards.numpy(), rollout.values.numpy(), rollout.last_values.numpy(),
                               rollout.terminated.numpy(), rollout.truncated.numpy(), config.gamma,
                               config.gae_lambda)
        assert np.isfinite(adv).all() and np.isfinite(ret).all()
    finally:
        envs.close()
        eval_envs.close()


# rl-baselines3-zoo, hyperparams/ppo.yml, on top of SB3's PPO defaults ("normalize: true" is VecNormalize of
# observations and rewards; SB3 normalizes advantages per minibatch and uses a 64-64 tanh actor and critic).
SB3_PPO_DEFAULTS = {
    "policy_lr": 3e-4, "n_steps": 2048, "batch_size": 64, "n_epochs": 10, "gamma": 0.99, "gae_lambda": 0.95,
    "clip_range": 0.2, "clip_range_vf": None, "normalize_advantages": "batch", "ent_coef": 0.0, "vf_coef": 0.5,
    "max_grad_norm": 0.5, "target_kl": None, "hidden_dims": (64, 64), "activation": "tanh",
    "optimizer_eps": 1e-5, "weight_decay": 0.0, "normalize_obs": False, "normalize_reward": False,
}
RL_ZOO = {
    "CartPole-v1:ppo": {"n_envs": 8, "max_timesteps": 100_000, "n_steps": 32, "batch_size": 256,
                        "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0,
                        "policy_lr": "lin_0.001", "clip_range": "lin_0.2"},
    "Acrobot-v1:ppo": {"normalize_obs": True, "normalize_reward": True, "n_envs": 16, "max_timesteps": 1_000_000,
                       "n_steps": 256, "gae_lambda": 0.94, "gamma": 0.99, "n_epochs": 4, "ent_coef": 0.0},
    "LunarLander-v3:ppo": {"n_envs": 16, "max_timesteps": 1_000_000, "n_steps": 1024, "batch_size": 64,
                           "gae_lambda": 0.98, "gamma": 0.999, "n_epochs": 4, "ent_coef": 0.01},
}


def _says_rl_zoo(config_id: str) -> bool:
    name, _ = parse_config_id(config_id)
    return "rl-zoo3" in (CONFIG_DIR / f"{name}.yaml").read_text()


def test_every_config_that_cites_rl_zoo_is_checked_against_it():
    assert {cid for cid in CONFIG_IDS if _says_rl_zoo(cid) and cid.endswith(":ppo")} == set(RL_ZOO)


@pytest.mark.parametrize("config_id", sorted(RL_ZOO))
def test_rl_zoo_configs_mean_what_the_zoo_means(config_id):
    config = load_config(*parse_config_id(config_id))
    expected = {**SB3_PPO_DEFAULTS, **RL_ZOO[config_id]}
    assert {key: getattr(config, key) for key in expected} == expected
    assert config.optimizer in ("adam", "adamw") and config.weight_decay == 0.0  # AdamW without decay is Adam
    assert config.policy == "mlp" and not config.env_wrappers and config.frame_stack == 1


def test_cartpole_ppo_schedules_decay_linearly_to_zero():
    config = load_config("CartPole-v1", "ppo")
    # the schedules decay linearly from those values to 0 over training
    assert config.schedule("policy_lr")(0.0) == pytest.approx(0.001)
    assert config.schedule("policy_lr")(0.5) == pytest.approx(0.0005)
    assert config.schedule("clip_range")(0.0) == pytest.approx(0.2)
    assert config.schedule("clip_range")(1.0) == pytest.approx(0.0)

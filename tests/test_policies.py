"""Actor-critic networks (utils/policies.py): shapes, tower independence, CNN layouts, build_policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from utils.config import load_config
from utils.distributions import make_action_head
from utils.errors import ConfigError
from utils.policies import CNNActorCritic, MLPActorCritic, build_policy


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def mlp(obs_dim=4, n_actions=2, hidden=(64, 64), activation="tanh"):
    return MLPActorCritic(obs_dim, make_action_head(spaces.Discrete(n_actions)), hidden, activation)


@pytest.mark.parametrize("hidden", [(32,), (64, 64), (16, 32, 8)])
def test_mlp_output_shapes(hidden):
    policy = mlp(obs_dim=4, n_actions=3, hidden=hidden)
    params, values = policy(torch.randn(10, 4))
    assert params.shape == (10, 3)
    assert values.shape == (10,)
    assert params.dtype == values.dtype == torch.float32


def test_mlp_flattens_multidimensional_observations_and_scales_uint8():
    policy = MLPActorCritic(6, make_action_head(spaces.Discrete(2)), (8,), "relu")
    obs = torch.randint(0, 256, (5, 2, 3), dtype=torch.uint8)
    params, values = policy(obs)
    assert params.shape == (5, 2) and values.shape == (5,)
    # uint8 is scaled to [0, 1] inside the network
    params_f, values_f = policy(obs.float() / 255.0)
    torch.testing.assert_close(params, params_f)
    torch.testing.assert_close(values, values_f)


def test_mlp_empty_hidden_dims_is_a_config_error():
    with pytest.raises(ConfigError, match="hidden_dims"):
        mlp(hidden=())


def test_mlp_initialisation_starts_near_uniform_policy():
    # Policy layer gain 0.01: initial logits are tiny, so the initial policy is close to uniform.
    policy = mlp(obs_dim=4, n_actions=4)
    params, _ = policy(torch.randn(100, 4))
    assert params.abs().max() < 0.1


def _grads(loss, params):
    return torch.autograd.grad(loss, params, allow_unused=True)


@pytest.mark.parametrize("hidden", [(16,), (16, 16), (16, 12, 8)])
def test_mlp_actor_and_critic_towers_are_independent(hidden):
    first = hidden[0]
    policy = mlp(obs_dim=4, n_actions=3, hidden=hidden)
    obs = torch.randn(32, 4)

    def tower_grads(output_index):
        out = policy(obs)[output_index]
        names = ["input_layer.weight", "input_layer.bias", "policy_layer.weight", "value_layer.weight"]
        params = dict(policy.named_parameters())
        tensors = [params[n] for n in names] + list(policy.hidden_weights) + list(policy.hidden_biases)
        grads = _grads(out.square().sum(), tensors)
        return dict(zip(names, grads[:4])), grads[4 : 4 + len(policy.hidden_weights)], grads[4 + len(policy.hidden_weights) :]

    # Value output: no gradient reaches the actor tower (tower 0) or the policy layer.
    g, hidden_w, hidden_b = tower_grads(1)
    assert g["policy_layer.weight"] is None or g["policy_layer.weight"].abs().max() == 0
    assert g["input_layer.weight"][:first].abs().max() == 0
    assert g["input_layer.bias"][:first].abs().max() == 0
    assert g["input_layer.weight"][first:].abs().max() > 0  # ...but the critic's own tower learns
    assert g["value_layer.weight"].abs().max() > 0
    for w, b in zip(hidden_w, hidden_b):
        assert w[0].abs().max() == 0 and b[0].abs().max() == 0
        assert w[1].abs().max() > 0

    # Policy output: no gradient reaches the critic tower (tower 1) or the value layer.
    g, hidden_w, hidden_b = tower_grads(0)
    assert g["value_layer.weight"] is None or g["value_layer.weight"].abs().max() == 0
    assert g["input_layer.weight"][first:].abs().max() == 0
    assert g["input_layer.bias"][first:].abs().max() == 0
    assert g["input_layer.weight"][:first].abs().max() > 0
    assert g["policy_layer.weight"].abs().max() > 0
    for w, b in zip(hidden_w, hidden_b):
        assert w[1].abs().max() == 0 and b[1].abs().max() == 0
        assert w[0].abs().max() > 0


def test_mlp_stacked_towers_equal_two_plain_mlps():
    # The stacked evaluation computes exactly what two separate nn.Sequential towers would.
    hidden = (8, 6)
    policy = mlp(obs_dim=4, n_actions=2, hidden=hidden, activation="tanh")
    obs = torch.randn(5, 4)
    params, values = policy(obs)
    W, b = policy.input_layer.weight, policy.input_layer.bias
    outs = []
    for tower in range(2):
        h = torch.tanh(obs @ W[tower * 8 : (tower + 1) * 8].T + b[tower * 8 : (tower + 1) * 8])
        h = torch.tanh(h @ policy.hidden_weights[0][tower] + policy.hidden_biases[0][tower])
        outs.append(h)
    torch.testing.assert_close(params, policy.policy_layer(outs[0]))
    torch.testing.assert_close(values, policy.value_layer(outs[1]).squeeze(-1))


def test_actor_only_path_matches_the_full_forward_and_act_samples_from_it():
    policy = mlp(obs_dim=4, n_actions=3)
    obs = torch.randn(16, 4)
    params, _ = policy(obs)
    torch.testing.assert_close(policy.actor(obs), params)
    actions = policy.act(obs)
    assert actions.shape == (16,) and actions.dtype == torch.int64
    torch.testing.assert_close(policy.act(obs, deterministic=True), params.argmax(-1))
    log_probs, entropy, values = policy.evaluate_actions(obs, actions.clone())
    assert log_probs.requires_grad and entropy.shape == (16,) and values.shape == (16,)
    torch.testing.assert_close(policy.head.log_prob(params, actions.clone()), log_probs)


# --------------------------------------------------------------------------------------------------------
# CNN


def test_cnn_on_channels_first_uint8_frames():
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    policy = CNNActorCritic(space.shape, make_action_head(spaces.Discrete(6)))
    assert policy.channels_last is False
    assert policy.trunk[0].in_channels == 4
    obs = torch.from_numpy(np.stack([space.sample() for _ in range(3)]))
    params, values = policy(obs)
    assert params.shape == (3, 6) and values.shape == (3,)
    torch.testing.assert_close(policy(obs.float() / 255.0)[0], params)


def test_cnn_on_channel_last_frames_equals_the_transposed_channel_first_network():
    hwc = CNNActorCritic((84, 84, 3), make_action_head(spaces.Discrete(4)))
    chw = CNNActorCritic((3, 84, 84), make_action_head(spaces.Discrete(4)))
    assert hwc.channels_last is True and hwc.trunk[0].in_channels == 3
    chw.load_state_dict(hwc.state_dict())
    obs = torch.randint(0, 256, (2, 84, 84, 3), dtype=torch.uint8)
    params, values = hwc(obs)
    assert params.shape == (2, 4) and values.shape == (2,)
    params_ref, values_ref = chw(obs.permute(0, 3, 1, 2))
    torch.testing.assert_close(params, params_ref)
    torch.testing.assert_close(values, values_ref)


def test_cnn_on_stacked_channel_last_frames():
    # FrameStackObservation over (H, W, C) frames gives (K, H, W, C): K*C input channels.
    stacked = CNNActorCritic((4, 84, 84, 3), make_action_head(spaces.Discrete(2)))
    flat = CNNActorCritic((12, 84, 84), make_action_head(spaces.Discrete(2)))
    assert stacked.trunk[0].in_channels == 12
    flat.load_state_dict(stacked.state_dict())
    obs = torch.randint(0, 256, (2, 4, 84, 84, 3), dtype=torch.uint8)
    # channel order: frame-major, then colour: (B, K, H, W, C) -> (B, K, C, H, W) -> (B, K*C, H, W)
    ref_obs = obs.permute(0, 1, 4, 2, 3).reshape(2, 12, 84, 84)
    torch.testing.assert_close(stacked(obs)[0], flat(ref_obs)[0])


def test_cnn_on_grayscale_2d_frames():
    policy = CNNActorCritic((84, 84), make_action_head(spaces.Discrete(3)))
    params, values = policy(torch.randint(0, 256, (2, 84, 84), dtype=torch.uint8))
    assert params.shape == (2, 3) and values.shape == (2,)


def test_cnn_rejects_vector_observations():
    with pytest.raises(ConfigError, match="image observations"):
        CNNActorCritic((8,), make_action_head(spaces.Discrete(2)))


# --------------------------------------------------------------------------------------------------------
# build_policy


def test_build_policy_mlp_from_config():
    config = load_config("CartPole-v1", "ppo", {"hidden_dims": "32,16", "activation": "relu"})
    policy = build_policy(config, spaces.Box(-1, 1, (4,), np.float32), spaces.Discrete(2))
    assert isinstance(policy, MLPActorCritic)
    assert policy.input_layer.weight.shape == (2 * 32, 4)
    assert policy.hidden_weights[0].shape == (2, 32, 16)
    assert policy.policy_layer.out_features == 2


def test_build_policy_cnn_from_config():
    config = load_config("CartPole-v1", "ppo", {"policy": "cnn"})
    policy = build_policy(config, spaces.Box(0, 255, (84, 84, 3), np.uint8), spaces.Discrete(5))
    assert isinstance(policy, CNNActorCritic)
    assert policy(torch.zeros(1, 84, 84, 3, dtype=torch.uint8))[0].shape == (1, 5)


def test_build_policy_on_a_discrete_observation_space_hints_the_discrete_encoder():
    config = load_config("CartPole-v1", "ppo")
    with pytest.raises(ConfigError, match="DiscreteEncoder"):
        build_policy(config, spaces.Discrete(16), spaces.Discrete(4))


def test_build_policy_on_an_unsupported_action_space_is_a_config_error():
    config = load_config("CartPole-v1", "ppo")
    with pytest.raises(ConfigError):
        build_policy(config, spaces.Box(-1, 1, (4,), np.float32), spaces.Text(3))


def test_an_mlp_too_big_to_allocate_is_a_config_error_before_allocation():
    config = load_config("CartPole-v1", "ppo", {"hidden_dims": "65536,65536,65536"})
    with pytest.raises(ConfigError, match=r"the MLP would have 8,590,\d{3},\d{3} weights .* at most 100,000,000"):
        build_policy(config, spaces.Box(-1, 1, (4,), np.float32), spaces.Discrete(2))


def test_images_too_small_for_the_nature_cnn_are_a_config_error():
    config = load_config("CartPole-v1", "ppo", {"policy": "cnn"})
    with pytest.raises(ConfigError, match=r"at least 36x36 pixels; the observations are 35x40"):
        build_policy(config, spaces.Box(0, 255, (35, 40, 3), np.uint8), spaces.Discrete(2))
    assert isinstance(build_policy(config, spaces.Box(0, 255, (36, 36, 1), np.uint8), spaces.Discrete(2)),
                      CNNActorCritic)

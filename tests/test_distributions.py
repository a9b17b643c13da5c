"""Action heads (utils/distributions.py) against torch.distributions, one per action space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch.distributions import Bernoulli, Categorical, Independent, Normal

from utils.distributions import (
    BernoulliHead,
    CategoricalHead,
    GaussianHead,
    MultiCategoricalHead,
    make_action_head,
)
from utils.errors import ConfigError

BATCH = 7


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------------------------------------
# dispatch


@pytest.mark.parametrize(
    "space, cls",
    [
        (spaces.Discrete(3), CategoricalHead),
        (spaces.MultiDiscrete([3, 4]), MultiCategoricalHead),
        (spaces.MultiBinary(5), BernoulliHead),
        (spaces.Box(-1.0, 1.0, (2,), np.float32), GaussianHead),
    ],
)
def test_make_action_head_dispatches_on_the_space_type(space, cls):
    assert type(make_action_head(space)) is cls


@pytest.mark.parametrize(
    "space",
    [
        spaces.Text(5),
        spaces.Dict({"a": spaces.Discrete(2)}),
        spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))),
    ],
)
def test_unsupported_action_space_is_a_config_error_naming_the_supported_ones(space):
    with pytest.raises(ConfigError, match="supported are Discrete, MultiDiscrete, MultiBinary and Box"):
        make_action_head(space)


def test_multidiscrete_with_2d_nvec_is_a_config_error():
    with pytest.raises(ConfigError, match="1-D"):
        make_action_head(spaces.MultiDiscrete([[2, 3], [4, 5]]))


# --------------------------------------------------------------------------------------------------------
# Discrete


def test_categorical_log_prob_and_entropy_match_torch():
    head = make_action_head(spaces.Discrete(5))
    assert head.n_params == 5 and head.action_shape == ()
    logits = torch.randn(BATCH, 5) * 3
    actions = torch.randint(0, 5, (BATCH,))
    log_prob, entropy = head.log_prob_entropy(logits, actions)
    reference = Categorical(logits=logits)
    torch.testing.assert_close(log_prob, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())
    assert log_prob.shape == entropy.shape == (BATCH,)


def test_categorical_sample_shape_dtype_and_mode():
    head = make_action_head(spaces.Discrete(4))
    logits = torch.randn(BATCH, 4)
    sample = head.sample(logits)
    assert sample.shape == (BATCH,) and sample.dtype == torch.int64 == head.action_dtype
    assert ((sample >= 0) & (sample < 4)).all()
    torch.testing.assert_close(head.sample(logits, deterministic=True), logits.argmax(-1))


def test_categorical_sampling_frequencies_match_softmax_probabilities():
    head = make_action_head(spaces.Discrete(3))
    logits = torch.tensor([0.0, 1.0, 2.0])
    probs = logits.softmax(-1)  # [0.090, 0.245, 0.665]
    torch.manual_seed(123)
    samples = head.sample(logits.expand(20_000, 3))
    freq = torch.bincount(samples, minlength=3).float() / len(samples)
    torch.testing.assert_close(freq, probs, atol=0.015, rtol=0)


def test_discrete_with_nonzero_start_maps_actions_for_the_env():
    space = spaces.Discrete(3, start=-1)  # env actions -1, 0, 1
    head = make_action_head(space)
    actions = torch.tensor([0, 1, 2])  # the head works with 0-based indices
    env_actions = head.to_env(actions)
    np.testing.assert_array_equal(env_actions, [-1, 0, 1])
    assert all(space.contains(int(a)) for a in env_actions)
    # start 0 is passed through unchanged
    np.testing.assert_array_equal(make_action_head(spaces.Discrete(3)).to_env(actions), [0, 1, 2])


# --------------------------------------------------------------------------------------------------------
# MultiDiscrete


def test_multicategorical_log_prob_and_entropy_match_a_product_of_categoricals():
    nvec = [3, 4, 2]
    head = make_action_head(spaces.MultiDiscrete(nvec))
    assert head.n_params == 9 and head.action_shape == (3,)
    params = torch.randn(BATCH, 9) * 2
    actions = torch.stack([torch.randint(0, n, (BATCH,)) for n in nvec], dim=-1)
    log_prob, entropy = head.log_prob_entropy(params, actions)
    chunks = params.split(nvec, dim=-1)
    ref_log_prob = sum(Categorical(logits=c).log_prob(actions[:, i]) for i, c in enumerate(chunks))
    ref_entropy = sum(Categorical(logits=c).entropy() for c in chunks)
    torch.testing.assert_close(log_prob, ref_log_prob)
    torch.testing.assert_close(entropy, ref_entropy)


def test_multicategorical_sample_shape_mode_and_start():
    space = spaces.MultiDiscrete([3, 4], start=[1, -2])
    head = make_action_head(space)
    params = torch.randn(BATCH, 7)
    sample = head.sample(params)
    assert sample.shape == (BATCH, 2) and sample.dtype == torch.int64
    assert (sample[:, 0] < 3).all() and (sample[:, 1] < 4).all() and (sample >= 0).all()
    mode = head.sample(params, deterministic=True)
    torch.testing.assert_close(mode, torch.stack([params[:, :3].argmax(-1), params[:, 3:].argmax(-1)], -1))
    env_actions = head.to_env(mode)
    np.testing.assert_array_equal(env_actions, mode.numpy() + np.array([1, -2]))
    assert all(space.contains(a) for a in env_actions)


# --------------------------------------------------------------------------------------------------------
# MultiBinary


def test_bernoulli_log_prob_and_entropy_match_torch():
    head = make_action_head(spaces.MultiBinary(5))
    assert head.n_params == 5 and head.action_shape == (5,)
    logits = torch.randn(BATCH, 5) * 3
    actions = torch.bernoulli(torch.full((BATCH, 5), 0.5))
    log_prob, entropy = head.log_prob_entropy(logits, actions)
    reference = Independent(Bernoulli(logits=logits), 1)
    torch.testing.assert_close(log_prob, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())


def test_bernoulli_on_a_2d_multibinary_space():
    head = make_action_head(spaces.MultiBinary([2, 3]))
    assert head.n_params == 6 and head.action_shape == (2, 3)
    logits = torch.randn(BATCH, 6)
    sample = head.sample(logits)
    assert sample.shape == (BATCH, 2, 3) and sample.dtype == torch.float32
    log_prob, entropy = head.log_prob_entropy(logits, sample)
    reference = Independent(Bernoulli(logits=logits.view(BATCH, 2, 3)), 2)
    torch.testing.assert_close(log_prob, reference.log_prob(sample))
    torch.testing.assert_close(entropy, reference.entropy())


def test_bernoulli_sample_mode_frequencies_and_env_dtype():
    space = spaces.MultiBinary(3)
    head = make_action_head(space)
    logits = torch.tensor([-2.0, 0.5, 3.0])
    mode = head.sample(logits.expand(4, 3), deterministic=True)
    torch.testing.assert_close(mode, torch.tensor([[0.0, 1.0, 1.0]] * 4))
    torch.manual_seed(5)
    samples = head.sample(logits.expand(20_000, 3))
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(samples.mean(0), logits.sigmoid(), atol=0.015, rtol=0)
    env_actions = head.to_env(samples[:5])
    assert env_actions.dtype == np.int8
    assert all(space.contains(a) for a in env_actions)


# --------------------------------------------------------------------------------------------------------
# Box


def test_gaussian_log_prob_and_entropy_match_independent_normal():
    head = make_action_head(spaces.Box(-1.0, 1.0, (3,), np.float32))
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([-0.5, 0.0, 0.7]))
    mean = torch.randn(BATCH, 3)
    actions = torch.randn(BATCH, 3) * 2
    log_prob, entropy = head.log_prob_entropy(mean, actions)
    reference = Independent(Normal(mean, head.log_std.exp().expand(BATCH, 3)), 1)
    torch.testing.assert_close(log_prob, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())
    assert entropy.shape == (BATCH,)


def test_gaussian_log_std_gets_gradients_and_has_its_initial_value():
    head = GaussianHead(spaces.Box(-1.0, 1.0, (2,), np.float32), log_std_init=-1.0)
    torch.testing.assert_close(head.log_std.data, torch.tensor([-1.0, -1.0]))
    log_prob, entropy = head.log_prob_entropy(torch.zeros(4, 2), torch.ones(4, 2))
    (log_prob.sum() + entropy.sum()).backward()
    assert head.log_std.grad is not None and head.log_std.grad.abs().sum() > 0


def test_gaussian_sample_shape_mode_and_spread():
    head = make_action_head(spaces.Box(-1.0, 1.0, (2,), np.float32))
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([np.log(0.5), np.log(2.0)]))
    mean = torch.tensor([[0.3, -4.0]])
    torch.testing.assert_close(head.sample(mean, deterministic=True), mean)
    torch.manual_seed(7)
    samples = head.sample(mean.expand(20_000, 2))
    assert samples.shape == (20_000, 2) and samples.dtype == torch.float32
    torch.testing.assert_close(samples.mean(0), mean[0], atol=0.05, rtol=0)
    torch.testing.assert_close(samples.std(0), torch.tensor([0.5, 2.0]), atol=0.05, rtol=0)


def test_gaussian_on_a_2d_box_keeps_the_action_shape():
    head = make_action_head(spaces.Box(-1.0, 1.0, (2, 3), np.float32))
    assert head.n_params == 6 and head.action_shape == (2, 3)
    params = torch.randn(BATCH, 6)
    sample = head.sample(params)
    assert sample.shape == (BATCH, 2, 3)
    log_prob, _ = head.log_prob_entropy(params, sample)
    reference = Independent(Normal(params, torch.ones(6)), 1).log_prob(sample.reshape(BATCH, 6))
    torch.testing.assert_close(log_prob, reference)


def test_box_to_env_clips_to_the_bounds_while_the_stored_action_is_unclipped():
    space = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    head = make_action_head(space)
    actions = torch.tensor([[5.0, -3.0], [-7.0, 0.5], [1.0, 9.0]])
    stored = actions.clone()
    env_actions = head.to_env(actions)
    np.testing.assert_array_equal(env_actions, [[2.0, 0.0], [-2.0, 0.5], [1.0, 1.0]])
    assert all(space.contains(a.astype(np.float32)) for a in env_actions)
    torch.testing.assert_close(actions, stored)  # the buffer's copy is untouched
    # the log-probability is that of the unclipped action, not the clipped one
    mean = torch.zeros(3, 2)
    log_prob, _ = head.log_prob_entropy(mean, actions)
    ref = Independent(Normal(mean, torch.ones(3, 2)), 1).log_prob(stored)
    torch.testing.assert_close(log_prob, ref)

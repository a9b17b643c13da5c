"""PPO and REINFORCE losses on hand-checked numbers."""

import math

import torch

from agents.ppo import policy_shift, ppo_loss
from agents.reinforce import reinforce_loss


def test_ppo_policy_loss_clips_the_ratio_on_the_side_the_advantage_pushes():
    # ratios e^0.5 = 1.6487 (A = +1) and e^-0.5 = 0.6065 (A = -1), clip_range 0.2:
    #   A=+1: min(1.6487, 1.2) = 1.2;   A=-1: min(-0.6065, -0.8) = -0.8
    #   policy_loss = -mean(1.2, -0.8) = -0.2
    log_probs = torch.tensor([0.5, -0.5])
    old = torch.zeros(2)
    adv = torch.tensor([1.0, -1.0])
    zeros = torch.zeros(2)
    loss, terms, log_ratio = ppo_loss(log_probs, old, adv, zeros, zeros, zeros, zeros, 0.2, None, 0.5, 0.0)
    assert math.isclose(terms[0].item(), -0.2, abs_tol=1e-6)
    assert math.isclose(loss.item(), -0.2, abs_tol=1e-6)
    torch.testing.assert_close(log_ratio, torch.tensor([0.5, -0.5]))


def test_ppo_unclipped_inside_the_trust_region_and_gradient_flows():
    log_probs = torch.tensor([0.1], requires_grad=True)
    zeros = torch.zeros(1)
    loss, terms, _ = ppo_loss(log_probs, zeros, torch.tensor([2.0]), zeros, zeros, zeros, zeros, 0.2, None, 0.5, 0.0)
    # ratio e^0.1 = 1.10517 inside [0.8, 1.2]: loss = -2 * 1.10517
    assert math.isclose(terms[0].item(), -2 * math.exp(0.1), rel_tol=1e-6)
    loss.backward()
    assert math.isclose(log_probs.grad.item(), -2 * math.exp(0.1), rel_tol=1e-6)


def test_ppo_value_loss_entropy_and_coefficients():
    zeros = torch.zeros(2)
    values = torch.tensor([1.0, 3.0])
    returns = torch.tensor([0.0, 0.0])
    entropy = torch.tensor([0.5, 0.7])
    loss, terms, _ = ppo_loss(zeros, zeros, zeros, values, zeros, returns, entropy, 0.2, None, 0.5, 0.1)
    # value_loss = mean(1, 9) = 5; entropy = 0.6; loss = 0 + 0.5 * 5 - 0.1 * 0.6 = 2.44
    torch.testing.assert_close(terms, torch.tensor([0.0, 5.0, 0.6]))
    assert math.isclose(loss.item(), 2.44, rel_tol=1e-6)


def test_ppo_value_clipping_keeps_predictions_near_the_rollout_values():
    zeros = torch.zeros(1)
    # old value 1.0, new 3.0, clip_range_vf 0.5 -> clipped prediction 1.5; return 0 -> loss 2.25
    _, terms, _ = ppo_loss(zeros, zeros, zeros, torch.tensor([3.0]), torch.tensor([1.0]), zeros, zeros, 0.2, 0.5, 0.5, 0.0)
    assert math.isclose(terms[1].item(), 2.25, rel_tol=1e-6)


def test_policy_shift_approx_kl_and_clip_fraction():
    log_ratio = torch.tensor([0.0, 0.3, -0.3, 0.1])
    kl, clip_fraction = policy_shift(log_ratio, 0.2).tolist()
    expected_kl = sum(math.exp(x) - 1 - x for x in log_ratio.tolist()) / 4
    assert math.isclose(kl, expected_kl, rel_tol=1e-5)
    # |e^0.3 - 1| = 0.35 and |e^-0.3 - 1| = 0.26 exceed 0.2; 0 and e^0.1 - 1 = 0.105 do not
    assert clip_fraction == 0.5


def test_reinforce_loss_with_and_without_baseline():
    log_probs = torch.tensor([-1.0, -2.0])
    adv = torch.tensor([3.0, -1.0])
    entropy = torch.tensor([0.4, 0.6])
    returns = torch.tensor([1.0, 2.0])
    loss, terms = reinforce_loss(log_probs, adv, entropy, None, returns, 0.5, 0.1)
    # policy_loss = -mean(-3, 2) = 0.5; no value term; loss = 0.5 - 0.1 * 0.5 = 0.45
    torch.testing.assert_close(terms, torch.tensor([0.5, 0.0, 0.5]))
    assert math.isclose(loss.item(), 0.45, rel_tol=1e-6)
    values = torch.tensor([0.0, 0.0])
    loss, terms = reinforce_loss(log_probs, adv, entropy, values, returns, 0.5, 0.1)
    # value_loss = mean(1, 4) = 2.5; loss = 0.45 + 0.5 * 2.5 = 1.7
    assert math.isclose(terms[1].item(), 2.5, rel_tol=1e-6)
    assert math.isclose(loss.item(), 1.7, rel_tol=1e-6)

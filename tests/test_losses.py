"""PPO and REINFORCE losses on hand-checked numbers."""

import math

import pytest
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


# --------------------------------------------------------------------------------------------------------
# Advantage normalization inside PPO's update


def _captured_minibatch_advantages(mode: str, monkeypatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run one PPO update (2 epochs x 2 minibatches of 64) and return the advantages ppo_loss saw."""
    from types import SimpleNamespace

    import agents.ppo
    from agents.ppo import PPO
    from utils.config import load_config
    from utils.rollouts import TrainingBatch

    config = load_config("CartPole-v1", "ppo", {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 2,
                                                "normalize_advantages": mode})
    agent = PPO(config)
    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=1e-4)
    agent.optimizers = lambda: SimpleNamespace(optimizer=optimizer)  # no Trainer needed for one update
    seen: list[torch.Tensor] = []
    real_loss = agents.ppo.ppo_loss

    def spy(log_probs, old_log_probs, advantages, *rest):
        seen.append(advantages.detach().clone())
        return real_loss(log_probs, old_log_probs, advantages, *rest)

    monkeypatch.setattr(agents.ppo, "ppo_loss", spy)
    gen = torch.Generator().manual_seed(0)
    n = 128
    advantages = 5.0 + 3.0 * torch.randn(n, generator=gen)
    batch = TrainingBatch(obs=torch.randn(n, 4, generator=gen), actions=torch.randint(0, 2, (n,), generator=gen),
                          old_log_probs=torch.full((n,), -0.69), old_values=torch.zeros(n),
                          advantages=advantages, returns=torch.zeros(n))
    agent.optimize(batch)
    return advantages, seen


def test_batch_mode_normalizes_each_minibatch_to_mean_0_std_1(monkeypatch):
    advantages, seen = _captured_minibatch_advantages("batch", monkeypatch)
    assert len(seen) == 4 and all(len(mb) == 64 for mb in seen)
    for mb in seen:
        assert abs(mb.mean().item()) < 1e-5 and abs(mb.std().item() - 1.0) < 1e-4
    # not one standardization of the whole batch: that would leave each minibatch's mean off 0
    whole = (advantages - advantages.mean()) / advantages.std()
    assert not any(torch.isclose(whole, value).any() for value in seen[0][:5])


@pytest.mark.parametrize("mode", ["rollout", "off"])
def test_rollout_and_off_modes_leave_minibatch_advantages_as_given(mode, monkeypatch):
    # "rollout" normalized them once when the batch was built (compute_returns); the update does not again
    advantages, seen = _captured_minibatch_advantages(mode, monkeypatch)
    assert len(seen) == 4
    epoch = torch.cat(seen[:2]).sort().values
    torch.testing.assert_close(epoch, advantages.sort().values)

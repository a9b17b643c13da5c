"""Proximal Policy Optimization (Schulman et al., 2017), clipped-surrogate variant."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from agents.base import BaseAgent
from utils.returns import compute_gae
from utils.rollouts import Rollout, TrainingBatch


def ppo_loss(
    log_probs: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    entropy: Tensor,
    clip_range: float,
    clip_range_vf: float | None,
    vf_coef: float,
    ent_coef: float,
) -> tuple[Tensor, Tensor]:
    """PPO's loss and its statistics ``[policy_loss, value_loss, entropy, approx_kl, clip_fraction]``.

    The value loss is the mean squared error to the returns; with ``clip_range_vf`` the new value
    prediction is first kept within that distance of the rollout's (SB3's value clipping). approx_kl is
    the low-variance estimator ``E[(r - 1) - log r]`` (Schulman, "Approximating KL divergence").
    """
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range))
    policy_loss = -surrogate.mean()
    if clip_range_vf is not None:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    value_loss = F.mse_loss(values, returns)
    entropy_mean = entropy.mean()
    loss = policy_loss + vf_coef * value_loss - ent_coef * entropy_mean
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip_range).float().mean()
        stats = torch.stack([policy_loss, value_loss, entropy_mean, approx_kl, clip_fraction])
    return loss, stats


class PPO(BaseAgent):
    """PPO: GAE advantages, ``n_epochs`` passes of shuffled minibatches over each rollout."""

    stat_names = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")

    def __init__(self, config):
        super().__init__(config)
        self.clip_range = config.schedule("clip_range")
        self.clip_range_vf = None if config.clip_range_vf is None else config.schedule("clip_range_vf")

    def compute_returns(self, rollout: Rollout) -> TrainingBatch:
        advantages, returns = compute_gae(
            rollout.rewards.numpy(),
            rollout.values.numpy(),
            rollout.last_values.numpy(),
            rollout.terminated.numpy(),
            rollout.truncated.numpy(),
            self.config.gamma,
            self.config.gae_lambda,
        )
        valid = rollout.valid.flatten()
        return TrainingBatch(
            obs=rollout.flat("obs"),
            actions=rollout.flat("actions"),
            old_log_probs=rollout.flat("log_probs"),
            old_values=rollout.flat("values"),
            advantages=self.rollout_advantages(torch.from_numpy(advantages).flatten()[valid]),
            returns=torch.from_numpy(returns).flatten()[valid],
        )

    def optimize(self, batch: TrainingBatch) -> dict[str, float]:
        config, progress = self.config, self.progress
        lr = self.set_learning_rate()
        clip_range = self.clip_range(progress)
        clip_range_vf = None if self.clip_range_vf is None else self.clip_range_vf(progress)
        vf_coef, ent_coef = self.vf_coef(progress), self.ent_coef(progress)
        batch = TrainingBatch({key: value.to(self.device) for key, value in batch.items()})
        totals = torch.zeros(len(self.stat_names) + 1, device=self.device)
        n_steps = 0
        early_stop = False
        for _ in range(config.n_epochs):
            for mb in batch.minibatches(config.batch_size):
                log_probs, entropy, values = self.policy.evaluate_actions(mb.obs, mb.actions)
                loss, stats = ppo_loss(
                    log_probs, mb.old_log_probs, self.batch_advantages(mb.advantages), values,
                    mb.old_values, mb.returns, entropy, clip_range, clip_range_vf, vf_coef, ent_coef,
                )
                # SB3's rule: stop this update once the policy moved too far from the rollout's.
                if config.target_kl is not None and stats[3].item() > 1.5 * config.target_kl:
                    early_stop = True
                    break
                grad_norm = self.gradient_step(loss)
                totals += torch.cat([stats, grad_norm.detach().view(1)])
                n_steps += 1
            if early_stop:
                break
        means = (totals / max(n_steps, 1)).tolist()
        result = dict(zip((*self.stat_names, "grad_norm"), means))
        result.update(lr=lr, clip_range=clip_range, ent_coef=ent_coef, n_minibatches_done=n_steps)
        return result

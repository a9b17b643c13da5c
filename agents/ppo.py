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
) -> tuple[Tensor, Tensor, Tensor]:
    """PPO's loss, its detached terms ``[policy_loss, value_loss, entropy]`` and the log-ratio.

    The value loss is the mean squared error to the returns; with ``clip_range_vf`` the new value
    prediction is first kept within that distance of the rollout's (SB3's value clipping).
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
    return loss, torch.stack([policy_loss, value_loss, entropy_mean]).detach(), log_ratio.detach()


def policy_shift(log_ratio: Tensor, clip_range: float) -> Tensor:
    """How far the policy moved from the rollout's: ``[approx_kl, clip_fraction]``.

    approx_kl is the low-variance estimator ``E[(r - 1) - log r]`` (Schulman, "Approximating KL
    divergence"); clip_fraction is the share of samples whose ratio left ``1 +- clip_range``.
    """
    ratio = log_ratio.exp()
    return torch.stack([((ratio - 1.0) - log_ratio).mean(), ((ratio - 1.0).abs() > clip_range).float().mean()])


class PPO(BaseAgent):
    """PPO: GAE advantages, ``n_epochs`` passes of shuffled minibatches over each rollout.

    approx_kl and clip_fraction are averaged over every sample of every minibatch of the update (SB3
    averages clip_fraction the same way, approx_kl over the last epoch only), computed once from the saved
    log-ratios rather than once per gradient step. With
    ``target_kl``, SB3's rule ends the update at the first minibatch whose approx_kl exceeds
    1.5 x target_kl (data-parallel: whose approx_kl averaged over the ranks does).
    """

    def __init__(self, config, rank: int = 0):
        super().__init__(config, rank)
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
        batch = batch.to(self.device)
        terms, grad_norms, log_ratios = [], [], []
        for mb in batch.epochs(config.n_epochs, config.batch_size, self.update_stop):
            log_probs, entropy, values = self.policy.evaluate_actions(mb.obs, mb.actions)
            loss, loss_terms, log_ratio = ppo_loss(
                log_probs, mb.old_log_probs, self.batch_advantages(mb.advantages), values,
                mb.old_values, mb.returns, entropy, clip_range, clip_range_vf, vf_coef, ent_coef,
            )
            log_ratios.append(log_ratio)
            # every rank must take the same decision: it stops on the ranks' mean approx_kl
            if config.target_kl is not None and self.mean_over_ranks(policy_shift(log_ratio, clip_range)[0]) > (
                    1.5 * config.target_kl):
                break
            grad_norms.append(self.gradient_step(loss))
            terms.append(loss_terms)
        stats = self.mean_stats(("policy_loss", "value_loss", "entropy"), terms)
        approx_kl, clip_fraction = (policy_shift(torch.cat(log_ratios), clip_range).tolist() if log_ratios
                                    else [float("nan")] * 2)  # stopped before the first minibatch
        stats.update(approx_kl=approx_kl, clip_fraction=clip_fraction)
        stats.update(self.mean_stats(("grad_norm",), grad_norms))
        stats.update(lr=lr, clip_range=clip_range, ent_coef=ent_coef, n_minibatches_done=len(grad_norms))
        return stats

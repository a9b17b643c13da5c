"""REINFORCE (Williams, 1992) with Monte-Carlo returns and an optional learned baseline."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from agents.base import BaseAgent
from utils.returns import compute_mc_returns, episode_returns
from utils.rollouts import Rollout, TrainingBatch


def reinforce_loss(
    log_probs: Tensor,
    advantages: Tensor,
    entropy: Tensor,
    values: Tensor | None,
    returns: Tensor,
    vf_coef: float,
    ent_coef: float,
) -> tuple[Tensor, Tensor]:
    """Policy-gradient loss ``-E[log pi(a|s) * A]`` (+ baseline regression) and its statistics
    ``[policy_loss, value_loss, entropy]``."""
    policy_loss = -(log_probs * advantages).mean()
    entropy_mean = entropy.mean()
    loss = policy_loss - ent_coef * entropy_mean
    if values is not None:
        value_loss = F.mse_loss(values, returns)
        loss = loss + vf_coef * value_loss
    else:
        value_loss = torch.zeros(())
    return loss, torch.stack([policy_loss, value_loss, entropy_mean]).detach()


class REINFORCE(BaseAgent):
    """REINFORCE: returns are reward-to-go (``mc:rtg``) or whole-episode (``mc:episode``); with
    ``use_baseline`` the advantage is the return minus a learned value, otherwise the return itself."""

    @staticmethod
    def loss_leaves_parameters_unused(config) -> bool:
        return not config.use_baseline  # the value head, trained by nothing but the baseline's loss

    def compute_returns(self, rollout: Rollout) -> TrainingBatch:
        config = self.config
        values = rollout.values.numpy() if config.use_baseline else None
        last_values = rollout.last_values.numpy() if config.use_baseline else None
        returns = compute_mc_returns(
            rollout.rewards.numpy(),
            rollout.terminated.numpy(),
            rollout.truncated.numpy(),
            config.gamma,
            values,
            last_values,
        )
        if config.returns_type == "mc:episode":
            returns = episode_returns(returns, rollout.valid.numpy())
        valid = rollout.valid.flatten()
        returns_t = torch.from_numpy(returns).flatten()[valid]
        old_values = rollout.flat("values")
        advantages = returns_t - old_values if config.use_baseline else returns_t
        return TrainingBatch(
            obs=rollout.flat("obs"),
            actions=rollout.flat("actions"),
            old_values=old_values,
            advantages=self.rollout_advantages(advantages),
            returns=returns_t,
        )

    def optimize(self, batch: TrainingBatch) -> dict[str, float]:
        config, progress = self.config, self.progress
        lr = self.set_learning_rate()
        vf_coef, ent_coef = self.vf_coef(progress), self.ent_coef(progress)
        batch = batch.to(self.device)
        terms, grad_norms = [], []
        for mb in batch.epochs(config.n_epochs, config.batch_size, self.update_stop):
            log_probs, entropy, values = self.policy.evaluate_actions(mb.obs, mb.actions)
            loss, loss_terms = reinforce_loss(
                log_probs, self.batch_advantages(mb.advantages), entropy,
                values if config.use_baseline else None, mb.returns, vf_coef, ent_coef,
            )
            grad_norms.append(self.gradient_step(loss))
            terms.append(loss_terms)
        stats = self.mean_stats(("policy_loss", "value_loss", "entropy"), terms)
        stats.update(self.mean_stats(("grad_norm",), grad_norms))
        stats.update(lr=lr, ent_coef=ent_coef, n_minibatches_done=len(grad_norms))
        return stats

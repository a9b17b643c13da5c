"""The LightningModule shared by all algorithms.

One ``training_step`` is one update, and reads like the papers: collect a rollout, compute returns
and advantages, optimize. Subclasses provide the last two. Optimization is manual (Lightning's advice
for RL): the data is produced by the agent itself, and one rollout feeds many gradient steps.

Metrics of the latest update are left in ``self.metrics`` (namespaced keys, see config/metrics.yaml)
for the callbacks to evaluate, log and checkpoint; nothing here calls ``self.log``, whose per-call
cost would be paid inside the hot loop.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from utils.config import Config
from utils.environment import build_vec_env, load_normalization_state, normalization_state
from utils.errors import ConfigError, UserError
from utils.policies import build_policy, load_policy_weights
from utils.rollouts import Rollout, RolloutCollector, StopRequested, TrainingBatch
from utils.runs import check_checkpoint_config

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def explained_variance(predictions: Tensor, targets: Tensor) -> float:
    """1 - Var(targets - predictions) / Var(targets): 1 is perfect, 0 no better than the mean."""
    var = targets.var()
    return float("nan") if var == 0 else float(1 - (targets - predictions).var() / var)


class TrainingDiverged(UserError):
    """A loss or gradient became NaN or infinite; the weights of the step that caused it were not applied."""


def normalize(advantages: Tensor) -> Tensor:
    if len(advantages) < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


class BaseAgent(pl.LightningModule):
    """Collects rollouts from vectorized envs and updates an actor-critic policy from them."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.automatic_optimization = False
        #: set (by a signal handler, from any thread) to end training within a step: checked by the rollout
        #: loop at every env step and by the update loop at every minibatch
        self.stop_requested = threading.Event()
        self.train_envs = build_vec_env(config, config.n_envs, training=True)
        self.policy = build_policy(
            config, self.train_envs.single_observation_space, self.train_envs.single_action_space
        )
        self.collector = RolloutCollector(self.train_envs, self.policy, config.n_steps, seed=config.seed,
                                          stop=self.stop_requested)
        self.policy_lr = config.schedule("policy_lr")
        self.ent_coef = config.schedule("ent_coef")
        self.vf_coef = config.schedule("vf_coef")
        self.env_steps = 0
        self.updates = 0
        self.grad_steps = 0
        self.metrics: dict[str, float] = {}
        self.best_train_reward = float("-inf")
        self._fit_started = time.perf_counter()
        self._steps_at_fit_start = 0
        self._resume_optimizer_state: dict | None = None

    # -- progress -------------------------------------------------------------------------------
    @property
    def progress(self) -> float:
        """Fraction of the training budget spent, in env steps: what the schedules are a function of."""
        return min(1.0, self.env_steps / self.config.max_timesteps)

    @property
    def budget_spent(self) -> bool:
        return self.env_steps >= self.config.max_timesteps

    # -- Lightning plumbing ---------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        cls = OPTIMIZERS[self.config.optimizer]
        kwargs: dict[str, Any] = {"lr": self.policy_lr(self.progress), "weight_decay": self.config.weight_decay}
        if cls is not torch.optim.SGD:
            # fused: one kernel for all parameters instead of a dozen small ops per tensor
            kwargs.update(eps=self.config.optimizer_eps, fused=True)
        return cls(self.policy.parameters(), **kwargs)

    def train_dataloader(self) -> Iterator[int]:
        """One item per update until the budget is spent: the agent makes its own data, the loader only paces it.

        How many updates that takes is not known ahead (a rollout's env steps are its transitions, which
        the masked reset steps are not), and Lightning fetches an item ahead, so ``training_step`` also
        stops the trainer at the update that spends the budget.
        """
        while not self.budget_spent:
            yield self.updates

    def on_fit_start(self) -> None:
        self._fit_started = time.perf_counter()
        self._steps_at_fit_start = self.env_steps
        if self._resume_optimizer_state is not None:
            try:
                self.optimizers().optimizer.load_state_dict(self._resume_optimizer_state)
            except (KeyError, ValueError, TypeError, RuntimeError) as exc:
                raise ConfigError(f"the checkpoint's optimizer state does not fit: {str(exc).splitlines()[0]}") from None
            self._resume_optimizer_state = None

    def training_step(self, batch: Any, batch_idx: int) -> None:
        try:
            rollout = self.collector.collect()
        except StopRequested:  # the partial rollout is dropped; the last complete update stands
            self.trainer.should_stop = True
            return
        # Env steps are transitions, as SB3 and episode lengths count them: the masked reset steps of
        # NEXT_STEP autoreset (a reset, no action taken) are not, so each episode costs its length.
        self.env_steps += rollout.n_transitions
        training_batch = self.compute_returns(rollout)
        stats = self.optimize(training_batch)
        self.updates += 1
        self._record_metrics(training_batch, stats)
        if self.budget_spent:
            self.trainer.should_stop = True

    # -- the algorithm --------------------------------------------------------------------------
    def compute_returns(self, rollout: Rollout) -> TrainingBatch:
        """Returns and advantages of the rollout's valid steps."""
        raise NotImplementedError

    def optimize(self, batch: TrainingBatch) -> dict[str, float]:
        """Gradient steps on the batch; returns the update's statistics (logged as ``train/<name>``)."""
        raise NotImplementedError

    @staticmethod
    def mean_stats(names: tuple[str, ...], rows: list[Tensor]) -> dict[str, float]:
        """Means of per-step statistic tensors, read back once per update (NaN when there were none)."""
        if not rows:
            return dict.fromkeys(names, float("nan"))
        means = torch.stack(rows).reshape(len(rows), -1).mean(0).tolist()
        return dict(zip(names, means))

    def gradient_step(self, loss: Tensor) -> Tensor:
        """Backward, clip the global gradient norm, step; returns the norm before clipping.

        A non-finite gradient norm (from a NaN or infinite loss, or an overflow) raises
        :class:`TrainingDiverged` before the optimizer steps, so the weights stay those of the last good step.
        Calls torch directly rather than ``manual_backward``/``LightningOptimizer.step``: their hooks
        cost ~0.2 ms per call, 15% of a CartPole gradient step, and buy nothing for fp32 on one device.
        """
        optimizer = self.optimizers().optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        try:
            grad_norm = torch.nn.utils.clip_grad_norm_(
                self.policy.parameters(), self.config.max_grad_norm, error_if_nonfinite=True)
        except RuntimeError:
            raise TrainingDiverged(
                f"training diverged at {self.env_steps:,} env steps (update {self.updates + 1}): the loss was "
                f"{loss.item():.4g} and its gradient norm is not finite; the step was not applied, and last.ckpt "
                f"keeps the last good weights (try a lower policy_lr or max_grad_norm)") from None
        optimizer.step()
        self.grad_steps += 1
        return grad_norm

    def set_learning_rate(self) -> float:
        lr = self.policy_lr(self.progress)
        for group in self.optimizers().optimizer.param_groups:
            group["lr"] = lr
        return lr

    def batch_advantages(self, advantages: Tensor) -> Tensor:
        """Per-minibatch normalization when ``normalize_advantages: batch`` (what SB3's PPO does)."""
        return normalize(advantages) if self.config.normalize_advantages == "batch" else advantages

    def rollout_advantages(self, advantages: Tensor) -> Tensor:
        """Once-per-rollout normalization when ``normalize_advantages: rollout``."""
        return normalize(advantages) if self.config.normalize_advantages == "rollout" else advantages

    # -- metrics --------------------------------------------------------------------------------
    def _record_metrics(self, batch: TrainingBatch, stats: dict[str, float]) -> None:
        collector = self.collector
        elapsed = time.perf_counter() - self._fit_started
        metrics = {f"train/{key}": value for key, value in stats.items()}
        if collector.episode_returns:
            mean_return = float(np.mean(collector.episode_returns))
            self.best_train_reward = max(self.best_train_reward, mean_return)
            metrics["train/ep_rew_mean"] = mean_return
            metrics["train/ep_rew_best"] = self.best_train_reward
            metrics["train/ep_len_mean"] = float(np.mean(collector.episode_lengths))
        metrics["train/explained_variance"] = explained_variance(batch.old_values, batch.returns)
        metrics.update(
            {
                "time/env_steps": self.env_steps,
                "time/updates": self.updates,
                "time/grad_steps": self.grad_steps,
                "time/episodes": collector.episodes,
                "time/elapsed_s": elapsed,
                "time/fps": (self.env_steps - self._steps_at_fit_start) / max(elapsed, 1e-9),
            }
        )
        self.metrics = metrics

    # -- checkpoint state -----------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """Everything needed to resume, as types ``torch.load(weights_only=True)`` accepts."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizers().optimizer.state_dict() if self._trainer is not None else None,
            "normalization": normalization_state(self.train_envs),
            "counters": {
                "env_steps": self.env_steps,
                "updates": self.updates,
                "grad_steps": self.grad_steps,
                "episodes": self.collector.episodes,
            },
            "best_train_reward": self.best_train_reward,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": _numpy_rng_state(),
                "python": random.getstate(),
            },
        }

    def load_training_state(self, state: dict[str, Any], source: str = "the checkpoint") -> None:
        """Restore a :meth:`training_state`; the optimizer's part is loaded when fitting starts.

        The checkpoint must come from a run of the same env and algorithm, with a network of the same shape.
        """
        check_checkpoint_config(state, self.config, source)
        load_policy_weights(self.policy, state["policy"], source)
        self._resume_optimizer_state = _checked_optimizer_state(state.get("optimizer"), self.policy, source)
        part = "normalization statistics"
        try:
            load_normalization_state(self.train_envs, state.get("normalization", {}))
            part = "counters"
            counters = state["counters"]
            self.env_steps = int(counters["env_steps"])
            self.updates = int(counters["updates"])
            self.grad_steps = int(counters["grad_steps"])
            self.collector.episodes = int(counters["episodes"])
            self.best_train_reward = float(state.get("best_train_reward", float("-inf")))
            part = "random generator states"
            rng = state.get("rng")
            if rng:
                torch.set_rng_state(rng["torch"])
                np.random.set_state(("MT19937", np.asarray(rng["numpy"][0], dtype=np.uint32), *rng["numpy"][1:]))
                random.setstate(_as_tuples(rng["python"]))
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError):
            raise ConfigError(f"{source} is damaged: its {part} cannot be restored") from None


def _checked_optimizer_state(state: Any, policy: torch.nn.Module, source: str) -> dict | None:
    """The saved optimizer state if it matches the policy's parameters (count and shapes), else a ConfigError."""
    if state is None:
        return None
    params = list(policy.parameters())
    try:
        ids = [i for group in state["param_groups"] for i in group["params"]]
        moments = [value for slot in state["state"].values() for value in slot.values()
                   if isinstance(value, Tensor) and value.dim() > 0]
        fits = len(ids) == len(params) and all(
            tuple(state["state"][i][key].shape) == tuple(p.shape)
            for i, p in zip(ids, params) if i in state["state"]
            for key, value in state["state"][i].items() if isinstance(value, Tensor) and value.dim() > 0)
        finite = all(bool(m.isfinite().all()) for m in moments)
    except (KeyError, TypeError, AttributeError):
        raise ConfigError(f"{source} is damaged: its optimizer state is not an optimizer's state_dict") from None
    if not fits:
        raise ConfigError(f"{source} does not fit: its optimizer state is for other parameters than this policy's")
    if not finite:
        raise ConfigError(f"{source} is damaged: its optimizer state holds NaN or infinite values")
    return state


def _numpy_rng_state() -> list:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return [keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _as_tuples(value: Any) -> Any:
    """random.setstate wants the tuples that a round trip through lists may have turned into lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value

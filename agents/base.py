"""The LightningModule shared by all algorithms.

One ``training_step`` is one update, and reads like the papers: collect a rollout, compute returns
and advantages, optimize. Subclasses provide the last two. Optimization is manual (Lightning's advice
for RL): the data is produced by the agent itself, and one rollout feeds many gradient steps.

Metrics of the latest update are left in ``self.metrics`` (namespaced keys, see config/metrics.yaml)
for the callbacks to evaluate, log and checkpoint; nothing here calls ``self.log``, whose per-call
cost would be paid inside the hot loop.

Data-parallel training (``devices * num_nodes > 1``, Lightning's DDP strategy): every rank runs this module
on its own envs. After each rollout the ranks exchange their env steps, stop requests, normalization
statistics and finished episodes (``utils.distributed``), so counters, schedules, the budget and the
metrics are global; DDP averages the gradients in each backward pass; after the callbacks (rank 0's
evaluation may end training) the ranks agree on whether to stop. One process pays for none of it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from utils.config import Config
from utils.distributed import RankGroup, StatisticsSync, interleave, rank_seed, state_digest
from utils.environment import build_vec_env, load_normalization_state, normalization_state, running_statistics
from utils.errors import ConfigError, UserError
from utils.policies import build_policy, load_policy_weights
from utils.rollouts import Rollout, RolloutCollector, StopRequested, TrainingBatch
from utils.runs import check_checkpoint_config
from utils.torch_runtime import configure_torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
EPISODE_WINDOW = 100  # train/ep_rew_mean and ep_len_mean: means over the newest episodes of all ranks
RANK_ZERO_FIELDS = frozenset({"wandb", "wandb_project"})  # only rank 0 logs: a W&B sweep sets them there alone


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

    def __init__(self, config: Config, rank: int = 0):
        """``rank``: this process's rank in data-parallel training (its envs are seeded apart by it)."""
        super().__init__()
        self.config = config
        self.rank = rank
        self.automatic_optimization = False
        #: set (by a signal handler, from any thread) to end training within a step: checked by the rollout
        #: loop at every env step and by the update loop at every minibatch (in one process)
        self.stop_requested = threading.Event()
        self.train_envs = build_vec_env(config, config.n_envs, training=True)
        self.policy = build_policy(
            config, self.train_envs.single_observation_space, self.train_envs.single_action_space
        )
        self.collector = RolloutCollector(self.train_envs, self.policy, config.n_steps,
                                          seed=rank_seed(config.seed, rank), stop=self.stop_requested)
        #: the other ranks, in data-parallel training (set when fitting starts); None in one process
        self.ranks: RankGroup | None = None
        self._statistics_sync: StatisticsSync | None = None
        #: each rank's state_digest (weights, normalization statistics) at the end of data-parallel training
        self.rank_digests: list[str] = []
        self.policy_lr = config.schedule("policy_lr")
        self.ent_coef = config.schedule("ent_coef")
        self.vf_coef = config.schedule("vf_coef")
        self.env_steps = 0
        self.updates = 0
        self.grad_steps = 0
        self.episodes = 0
        self.episode_returns: deque[float] = deque(maxlen=EPISODE_WINDOW)
        self.episode_lengths: deque[int] = deque(maxlen=EPISODE_WINDOW)
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
        if self._resume_optimizer_state is not None:
            try:
                self.optimizers().optimizer.load_state_dict(self._resume_optimizer_state)
            except (KeyError, ValueError, TypeError, RuntimeError) as exc:
                raise ConfigError(f"the checkpoint's optimizer state does not fit: {str(exc).splitlines()[0]}") from None
            self._resume_optimizer_state = None
        if self.trainer.world_size > 1:
            self._join_ranks()
        self._fit_started = time.perf_counter()
        self._steps_at_fit_start = self.env_steps

    def training_step(self, batch: Any, batch_idx: int) -> None:
        episodes_before = self.collector.episodes
        try:
            rollout: Rollout | None = self.collector.collect()
        except StopRequested:  # the partial rollout is dropped; the last complete update stands
            rollout = None
        # Env steps are transitions, as SB3 and episode lengths count them: the masked reset steps of
        # NEXT_STEP autoreset (a reset, no action taken) are not, so each episode costs its length.
        transitions = 0 if rollout is None else rollout.n_transitions
        returns, lengths = self.collector.latest_episodes(self.collector.episodes - episodes_before)
        stop = rollout is None or self.stop_requested.is_set()
        if self.ranks is not None:  # from here on, every rank decides alike
            transitions, stop, returns, lengths = self._exchange_rollout(transitions, stop, returns, lengths)
        self.episodes += len(returns)
        self.episode_returns.extend(returns)
        self.episode_lengths.extend(lengths)
        if stop:
            self.trainer.should_stop = True
            return
        self.env_steps += transitions
        training_batch = self.compute_returns(rollout)
        stats = self.optimize(training_batch)
        self.updates += 1
        self._record_metrics(training_batch, stats)
        if self.budget_spent:
            self.trainer.should_stop = True

    def on_train_end(self) -> None:
        # after the callbacks' (last.ckpt is written): evidence that the ranks stayed in step
        if self.ranks is not None:
            self.rank_digests = self.ranks.gather(
                state_digest(self.policy.state_dict(), normalization_state(self.train_envs)))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # after every callback, rank 0's evaluation (early stop) included: all ranks stop together or none
        if self.ranks is not None:
            should_stop, stop_requested = self.ranks.sum([self.trainer.should_stop, self.stop_requested.is_set()])
            self.trainer.should_stop = bool(should_stop)
            if stop_requested:
                self.stop_requested.set()

    # -- data-parallel training -----------------------------------------------------------------
    def _join_ranks(self) -> None:
        """Check that the ranks train one config, each as the rank it was seeded for, then give every rank
        rank 0's weights, optimizer state, counters and normalization statistics (a resumed run's, say)."""
        configure_torch(self.config.torch_threads)  # Lightning's launcher set cores / processes threads instead
        ranks = self.ranks = RankGroup(self.device)
        joined = ranks.gather((self.rank, {k: v for k, v in self.config.to_dict().items() if k not in RANK_ZERO_FIELDS}))
        for rank, (seeded_as, config) in enumerate(joined):
            if seeded_as != rank:
                raise ConfigError(f"a process set up as rank {seeded_as} joined as rank {rank}: the launcher's "
                                  f"rank variables disagree with Lightning's")
            differing = sorted(key for key in joined[0][1] if joined[0][1][key] != config.get(key))
            if differing:
                name = differing[0]
                raise ConfigError(f"rank {rank} trains {name}={config.get(name)!r} but rank 0 {name}="
                                  f"{joined[0][1][name]!r}: start every rank with the same command")
        state = None
        if ranks.rank == 0:
            state = self.training_state()
            del state["rng"]  # each rank keeps its own random streams
        state = ranks.broadcast(state)
        if ranks.rank != 0:
            load_policy_weights(self.policy, state["policy"], "rank 0's state")
            self.optimizers().optimizer.load_state_dict(state["optimizer"])
            self._load_counters_and_statistics(state, "rank 0's state")
            if self.updates:  # a resumed run: don't replay the random streams of its start
                torch.manual_seed(rank_seed(self.config.seed + self.updates, self.rank))
        self._statistics_sync = StatisticsSync(running_statistics(self.train_envs))

    def _exchange_rollout(self, transitions: int, stop: bool, returns: list[float],
                          lengths: list[int]) -> tuple[int, bool, list[float], list[int]]:
        """One exchange after each rollout: every rank's transitions, stop requests, normalization statistics
        and (when any rank finished one) episodes. Returns the total transitions, whether any rank stops
        (then all do), and all ranks' new episodes."""
        ranks, sync = self.ranks, self._statistics_sync
        assert ranks is not None and sync is not None
        totals = ranks.sum(np.concatenate([[transitions, stop, len(returns)], sync.contribution()]))
        sync.apply(totals[3:], ranks.world_size)
        if totals[1]:
            self.stop_requested.set()  # a signal to any rank stops them all, as it would one process
        if totals[2]:
            gathered = ranks.gather((returns, lengths))
            returns = interleave([rank_returns for rank_returns, _ in gathered])
            lengths = interleave([rank_lengths for _, rank_lengths in gathered])
        return int(totals[0]), bool(totals[1]), returns, lengths

    @property
    def update_stop(self) -> threading.Event | None:
        """What ends an update between two minibatches: a stop request in one process; nothing when ranks
        train together (each minibatch's gradients are averaged over all of them: they stop after the update)."""
        return self.stop_requested if self.ranks is None else None

    def mean_over_ranks(self, value: Tensor) -> float:
        """A scalar averaged over the ranks (itself in one process): for decisions every rank must share."""
        return value.item() if self.ranks is None else float(self.ranks.mean([value.item()])[0])

    # -- the algorithm --------------------------------------------------------------------------
    @staticmethod
    def loss_leaves_parameters_unused(config: Config) -> bool:
        """Whether some policy parameters get no gradient from the loss (DDP must then look for them)."""
        return False

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
        In one process it calls torch directly rather than ``manual_backward``/``LightningOptimizer.step``:
        their hooks cost ~0.2 ms per call, 15% of a CartPole gradient step, and buy nothing for fp32 on one
        device. Data-parallel, the backward goes through ``manual_backward`` so DDP averages the gradients;
        every rank then clips the same norm and takes the same step.
        """
        optimizer = self.optimizers().optimizer
        optimizer.zero_grad(set_to_none=True)
        if self.ranks is None:
            loss.backward()
        else:  # through the DDP strategy, which all-reduces the gradients during the backward pass
            self.manual_backward(loss)
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
        elapsed = time.perf_counter() - self._fit_started
        stats = {**stats, "explained_variance": explained_variance(batch.old_values, batch.returns)}
        if self.ranks is not None:  # each rank's losses, KL, ...: their mean
            stats = dict(zip(stats, self.ranks.mean(list(stats.values())).tolist()))
        metrics = {f"train/{key}": value for key, value in stats.items()}
        if self.episode_returns:
            mean_return = float(np.mean(self.episode_returns))
            self.best_train_reward = max(self.best_train_reward, mean_return)
            metrics["train/ep_rew_mean"] = mean_return
            metrics["train/ep_rew_best"] = self.best_train_reward
            metrics["train/ep_len_mean"] = float(np.mean(self.episode_lengths))
        metrics.update(
            {
                "time/env_steps": self.env_steps,
                "time/updates": self.updates,
                "time/grad_steps": self.grad_steps,
                "time/episodes": self.episodes,
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
                "episodes": self.episodes,
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
        self._load_counters_and_statistics(state, source)
        try:
            rng = state.get("rng")
            if rng:
                torch.set_rng_state(rng["torch"])
                np.random.set_state(("MT19937", np.asarray(rng["numpy"][0], dtype=np.uint32), *rng["numpy"][1:]))
                random.setstate(_as_tuples(rng["python"]))
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError):
            raise ConfigError(f"{source} is damaged: its random generator states cannot be restored") from None

    def _load_counters_and_statistics(self, state: dict[str, Any], source: str) -> None:
        part = "normalization statistics"
        try:
            load_normalization_state(self.train_envs, state.get("normalization", {}))
            part = "counters"
            counters = state["counters"]
            self.env_steps = int(counters["env_steps"])
            self.updates = int(counters["updates"])
            self.grad_steps = int(counters["grad_steps"])
            self.episodes = int(counters["episodes"])
            self.best_train_reward = float(state.get("best_train_reward", float("-inf")))
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

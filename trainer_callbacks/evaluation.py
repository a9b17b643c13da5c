"""Periodic deterministic evaluation on separate envs, and the reward threshold early stop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytorch_lightning as pl

from agents.base import BaseAgent
from utils.environment import build_vec_env, load_normalization_state, normalization_state
from utils.errors import ConfigError
from utils.evaluation import EvalResult, evaluate_policy

MAX_EVAL_ENVS = 32


@dataclass
class EvalRecord:
    """What evaluations found so far; ``improved`` is True right after a new best."""

    best_reward: float | None = None
    last_reward: float | None = None
    last_env_steps: int | None = None
    solved_at_env_steps: int | None = None
    improved: bool = False
    history: list[tuple[int, float]] = field(default_factory=list)

    def state_dict(self) -> dict:
        return {
            "best_reward": self.best_reward,
            "last_reward": self.last_reward,
            "last_env_steps": self.last_env_steps,
            "solved_at_env_steps": self.solved_at_env_steps,
            "history": [list(item) for item in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; values of the wrong type are a ConfigError."""
        try:
            self.best_reward = _optional(float, state.get("best_reward"))
            self.last_reward = _optional(float, state.get("last_reward"))
            self.last_env_steps = _optional(int, state.get("last_env_steps"))
            self.solved_at_env_steps = _optional(int, state.get("solved_at_env_steps"))
            self.history = [(int(s), float(r)) for s, r in state.get("history", [])]
        except (TypeError, ValueError):
            raise ConfigError("the checkpoint's evaluation record is damaged") from None


def _optional(kind: type, value):
    return None if value is None else kind(value)


class EvaluationCallback(pl.Callback):
    """Every ``eval_freq`` env steps (and once at the end), run ``eval_episodes`` episodes in parallel
    envs with the current policy and frozen copies of the training normalization statistics.

    Adds ``eval/*`` metrics to the agent's metrics for this update; stops training once the mean
    reward reaches ``reward_threshold`` when ``early_stop`` is set.
    """

    def __init__(self, config, reward_threshold: float | None, record: EvalRecord | None = None):
        self.config = config
        self.reward_threshold = reward_threshold
        self.record = record or EvalRecord()
        self.envs = None
        self.next_eval = self._next_eval_after(self.record.last_env_steps or 0)

    def _next_eval_after(self, env_steps: int) -> int | None:
        freq = self.config.eval_freq
        return None if freq <= 0 else (env_steps // freq + 1) * freq

    def setup(self, trainer: pl.Trainer, pl_module: BaseAgent, stage: str) -> None:
        n_envs = min(self.config.eval_episodes, MAX_EVAL_ENVS)
        self.envs = build_vec_env(self.config, n_envs, training=False)
        self.envs.reset(seed=self.config.seed + 100_000)

    def teardown(self, trainer: pl.Trainer, pl_module: BaseAgent, stage: str) -> None:
        if self.envs is not None:
            self.envs.close()
            self.envs = None

    def on_train_batch_end(self, trainer: pl.Trainer, agent: BaseAgent, outputs, batch, batch_idx: int) -> None:
        self.record.improved = False
        if self.next_eval is not None and agent.env_steps >= self.next_eval and not agent.stop_requested.is_set():
            self.evaluate(trainer, agent)

    def on_train_end(self, trainer: pl.Trainer, agent: BaseAgent) -> None:
        # a stopped run ends now: its final evaluation could take longer than the user is willing to wait
        if self.record.last_env_steps != agent.env_steps and not agent.stop_requested.is_set():
            self.evaluate(trainer, agent)

    def evaluate(self, trainer: pl.Trainer, agent: BaseAgent) -> EvalResult:
        load_normalization_state(self.envs, normalization_state(agent.train_envs))
        was_training = agent.policy.training
        agent.policy.eval()
        started = time.perf_counter()
        result = evaluate_policy(
            agent.policy, self.envs, self.config.eval_episodes, deterministic=self.config.eval_deterministic
        )
        agent.policy.train(was_training)
        self._record(agent, result)
        agent.metrics["eval/duration_s"] = time.perf_counter() - started
        if (
            self.config.early_stop
            and self.reward_threshold is not None
            and result.mean_return >= self.reward_threshold
        ):
            trainer.should_stop = True
        return result

    def _record(self, agent: BaseAgent, result: EvalResult) -> None:
        record, reward = self.record, result.mean_return
        record.improved = record.best_reward is None or reward > record.best_reward
        if record.improved:
            record.best_reward = reward
        record.last_reward = reward
        record.last_env_steps = agent.env_steps
        record.history.append((agent.env_steps, reward))
        if (
            record.solved_at_env_steps is None
            and self.reward_threshold is not None
            and reward >= self.reward_threshold
        ):
            record.solved_at_env_steps = agent.env_steps
        self.next_eval = self._next_eval_after(agent.env_steps)
        agent.metrics.update(
            {
                "eval/ep_rew_mean": reward,
                "eval/ep_rew_std": result.std_return,
                "eval/ep_len_mean": result.mean_length,
                "eval/ep_rew_best": record.best_reward,
            }
        )

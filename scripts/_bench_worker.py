"""One measured training run, in its own process, for scripts/benchmark.py.

    python scripts/_bench_worker.py SIDE CONFIG_ID OVERRIDES_JSON OUT_JSON

SIDE is ``ours`` (the project's ``train``), ``sb3`` (stable_baselines3.PPO with the config's
hyperparameters) or ``reference`` (scripts/reference_ppo.py); OVERRIDES_JSON holds the config overrides
(seed, max_timesteps, eval_freq); ``FORCED_OVERRIDES`` go on top of them. Each side imports only what it needs, so the peak RSS and start-up time in
the row are its own. Every side's wall clock starts just before training (after imports and construction),
includes evaluations, and stops when training returns; time spent in evaluations is accumulated separately
so training throughput can be reported without it.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

_PROCESS_STARTED = time.perf_counter()
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from utils.config import Config, load_config, parse_config_id  # noqa: E402  (needs the repo on sys.path)
from utils.errors import UserError  # noqa: E402

#: Settings every measured run gets, whatever its config says: videos render and encode in a background
#: thread that competes with training for the CPU (and SB3's side records none), so they would distort
#: wall times and throughput.
FORCED_OVERRIDES: dict[str, Any] = {"video_freq": "off"}


def run_config(config_id: str, overrides: dict[str, Any]) -> Config:
    """The config of one measured run: ``config_id`` with ``overrides``, then ``FORCED_OVERRIDES``."""
    return load_config(*parse_config_id(config_id), {**overrides, **FORCED_OVERRIDES})


@dataclass
class EvalClock:
    """Training start, time spent evaluating, and ``(env_steps, mean reward, seconds since start)`` per eval."""

    started: float = 0.0
    eval_s: float = 0.0
    history: list[tuple[int, float, float]] = field(default_factory=list)

    def start(self) -> None:
        self.started = time.perf_counter()

    def record(self, env_steps: int, reward: float, eval_began: float) -> None:
        now = time.perf_counter()
        self.eval_s += now - eval_began
        self.history.append((int(env_steps), float(reward), now - self.started))


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_row(side: str, config: Config, env_steps: int, wall_s: float, clock: EvalClock,
             threshold: float | None) -> dict[str, Any]:
    """The run's measurements, the same keys for every side; ``solve_*`` are None when never solved."""
    solved = next(((s, t) for s, r, t in clock.history if threshold is not None and r >= threshold), None)
    return {
        "side": side,
        "config_id": config.config_id,
        "env_id": config.env_id,
        "algo_id": config.algo_id,
        "seed": config.seed,
        "processes": config.world_size,
        "env_steps": env_steps,
        "wall_s": wall_s,
        "eval_s": clock.eval_s,
        "train_sps": env_steps / max(wall_s - clock.eval_s, 1e-9),
        "sps": env_steps / max(wall_s, 1e-9),
        "solved": solved is not None,
        "solved_at_steps": solved[0] if solved else None,
        "solve_s": solved[1] if solved else None,
        "final_eval_reward": clock.history[-1][1] if clock.history else None,
        "reward_threshold": threshold,
        "peak_rss_mb": peak_rss_mb(),
        "setup_s": clock.started - _PROCESS_STARTED,
        "eval_history": clock.history,
    }


# -- this project ---------------------------------------------------------------------------------------
def run_ours(config: Config) -> dict[str, Any] | None:
    """``train(config, quiet=True)``, with its evaluation and training timed by wrapping them; side
    ``ours xN`` for N training processes. None in a training process other than rank 0.

    The clock starts when training does (``BaseAgent.on_fit_start``, once the training processes have joined):
    starting the other ranks and forming their process group is start-up, as imports are.
    """
    import pytorch_lightning as pl

    from agents.base import BaseAgent
    from train import train
    from trainer_callbacks import EvaluationCallback

    clock = EvalClock()
    fit_began = 0.0
    evaluate, fit, on_fit_start = EvaluationCallback.evaluate, pl.Trainer.fit, BaseAgent.on_fit_start

    def timed_evaluate(callback: EvaluationCallback, trainer: pl.Trainer, agent: Any) -> Any:
        began = time.perf_counter()
        result = evaluate(callback, trainer, agent)
        clock.record(agent.env_steps, result.mean_return, began)
        return result

    def timed_fit(trainer: pl.Trainer, *args: Any, **kwargs: Any) -> Any:
        nonlocal fit_began
        fit_began = time.perf_counter()  # train() starts its own wall clock right before this call
        return fit(trainer, *args, **kwargs)

    def timed_on_fit_start(agent: BaseAgent) -> None:
        on_fit_start(agent)
        clock.start()

    EvaluationCallback.evaluate = timed_evaluate
    pl.Trainer.fit = timed_fit
    BaseAgent.on_fit_start = timed_on_fit_start
    # With devices > 1, Lightning's launcher re-runs this worker's command line for the other ranks:
    # the same training, so relaunchable; they train alongside rank 0 and return None (no row).
    results = train(config, quiet=True, relaunchable=True)
    if results is None:
        return None
    side = "ours" if config.world_size == 1 else f"ours x{config.world_size}"
    return make_row(side, config, results["total_timesteps"], results["wall_time_s"] - (clock.started - fit_began),
                    clock, results["reward_threshold"])


# -- Stable-Baselines3 ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SB3Schedule:
    """One of our schedules as SB3 calls it: with progress *remaining*, which goes 1 -> 0."""

    schedule: Callable[[float], float]

    def __call__(self, progress_remaining: float) -> float:
        return self.schedule(1.0 - progress_remaining)


def sb3_value(config: Config, name: str) -> float | SB3Schedule:
    schedule = config.schedule(name)
    return schedule.start if schedule.kind == "constant" else SB3Schedule(schedule)


def sb3_ppo_kwargs(config: Config) -> dict[str, Any]:
    """Keyword arguments for ``stable_baselines3.PPO`` doing what our PPO does with ``config``."""
    import torch
    from torch import nn

    if config.algo_id != "ppo":
        raise UserError(f"{config.config_id}: only PPO configs can be compared with SB3, not {config.algo_id}")
    if config.policy != "mlp":
        raise UserError(f"{config.config_id}: only the mlp policy is translated to SB3, not {config.policy}")
    for name in ("ent_coef", "vf_coef"):
        if config.schedule(name).kind != "constant":
            raise UserError(f"{config.config_id}: SB3's PPO takes a constant {name}, got {getattr(config, name)!r}")
    if config.normalize_advantages == "rollout" and config.n_minibatches > 1:
        raise UserError(f"{config.config_id}: SB3's PPO normalizes advantages per minibatch; with "
                        f"{config.n_minibatches} minibatches set normalize_advantages: batch to compare")
    activations = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    optimizer_kwargs: dict[str, float] = {"weight_decay": config.weight_decay}
    if config.optimizer != "sgd":
        optimizer_kwargs["eps"] = config.optimizer_eps
    return {
        "n_steps": config.n_steps,
        "batch_size": config.batch_size,
        "n_epochs": config.n_epochs,
        "gamma": config.gamma,
        "gae_lambda": config.gae_lambda,
        "learning_rate": sb3_value(config, "policy_lr"),
        "clip_range": sb3_value(config, "clip_range"),
        "clip_range_vf": None if config.clip_range_vf is None else sb3_value(config, "clip_range_vf"),
        "ent_coef": config.schedule("ent_coef").start,
        "vf_coef": config.schedule("vf_coef").start,
        "max_grad_norm": config.max_grad_norm,
        # SB3 normalizes per minibatch, as "batch" does ("rollout" is the same with one minibatch).
        "normalize_advantage": config.normalize_advantages != "off",
        "target_kl": config.target_kl,
        "policy_kwargs": {
            "net_arch": {"pi": list(config.hidden_dims), "vf": list(config.hidden_dims)},
            "activation_fn": activations[config.activation],
            "optimizer_class": optimizers[config.optimizer],
            "optimizer_kwargs": optimizer_kwargs,
        },
        "device": "cpu",
    }


def sb3_vec_env(config: Config, n_envs: int, seed: int, training: bool) -> Any:
    """A DummyVecEnv of envs built by our ``make_env_fn`` (same env_kwargs and wrappers); VecNormalize if set."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from utils.environment import make_env_fn

    envs = make_vec_env(make_env_fn(config), n_envs, seed=seed, vec_env_cls=DummyVecEnv)
    if config.normalize_obs or config.normalize_reward:
        envs = VecNormalize(envs, training=training, norm_obs=config.normalize_obs,
                            norm_reward=config.normalize_reward and training, gamma=config.gamma)
    return envs


def run_sb3(config: Config) -> dict[str, Any]:
    """SB3 PPO, evaluated with SB3's own EvalCallback and StopTrainingOnRewardThreshold on our protocol.

    SB3's EvalCallback counts vector steps and so evaluates in the middle of a rollout, before that
    rollout's update; ours evaluates after the first update at or past each multiple of ``eval_freq``, and
    once more at the end. Here SB3 evaluates at exactly those points (on rollout start, which follows the
    previous update, and on training end), so both sides are scored at the same env steps with the same
    number of updates behind them.
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold

    from utils.environment import reward_threshold

    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    clock = EvalClock()

    class AlignedEvalCallback(EvalCallback):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, eval_freq=1, **kwargs)  # eval_freq=1: evaluate whenever asked
            self.next_eval = config.eval_freq
            self.keep_going = True
            self.last_eval_steps: int | None = None

        def _on_step(self) -> bool:
            return self.keep_going  # a stop decided at an evaluation ends the rollout at its first step

        def _on_rollout_start(self) -> None:
            if self.next_eval and self.num_timesteps >= self.next_eval:
                self.evaluate_now()

        def _on_training_end(self) -> None:
            if self.keep_going and self.last_eval_steps != self.num_timesteps:
                self.evaluate_now()

        def evaluate_now(self) -> None:
            began = time.perf_counter()
            self.keep_going = super()._on_step()
            clock.record(self.num_timesteps, self.last_mean_reward, began)
            self.last_eval_steps = self.num_timesteps
            if self.next_eval:
                self.next_eval = (self.num_timesteps // config.eval_freq + 1) * config.eval_freq

    threshold = reward_threshold(config)
    model = PPO("MlpPolicy", sb3_vec_env(config, config.n_envs, config.seed, training=True),
                seed=config.seed, verbose=0, **sb3_ppo_kwargs(config))
    stop = None
    if config.early_stop and threshold is not None:
        stop = StopTrainingOnRewardThreshold(threshold, verbose=0)
    callback = AlignedEvalCallback(
        sb3_vec_env(config, 1, config.seed + 100_000, training=False),
        callback_on_new_best=stop,
        n_eval_episodes=config.eval_episodes,
        deterministic=config.eval_deterministic,
        verbose=0,
        warn=False,
    )
    clock.start()
    model.learn(total_timesteps=config.max_timesteps, callback=callback)
    wall_s = time.perf_counter() - clock.started
    # A stop decided at an evaluation lands one vector step into the next rollout: report the evaluated step.
    env_steps = model.num_timesteps if callback.keep_going else callback.last_eval_steps
    return make_row("sb3", config, env_steps, wall_s, clock, threshold)


# -- the pure-PyTorch reference -------------------------------------------------------------------------
def run_reference(config: Config) -> dict[str, Any]:
    """scripts/reference_ppo.py with the config's seed, step budget and evaluation frequency."""
    import torch

    from reference_ppo import Hyperparams, ReferencePPO

    torch.set_num_threads(1)
    clock = EvalClock()
    agent = ReferencePPO(Hyperparams(seed=config.seed, max_steps=config.max_timesteps, eval_freq=config.eval_freq))
    clock.start()
    result = agent.train()
    clock.eval_s, clock.history = result["eval_s"], result["eval_history"]
    return make_row("reference", config, result["env_steps"], result["wall_s"], clock,
                    agent.hp.reward_threshold)


RUNNERS: dict[str, Callable[[Config], dict[str, Any] | None]] = {
    "ours": run_ours, "sb3": run_sb3, "reference": run_reference,
}


def main(argv: list[str]) -> int:
    side, config_id, overrides, out_path = argv
    config = run_config(config_id, json.loads(overrides))
    row = RUNNERS[side](config)
    if row is not None:  # rank 0 of several training processes writes it
        Path(out_path).write_text(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

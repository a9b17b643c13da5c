#!/usr/bin/env python
"""A minimal pure-PyTorch PPO on CartPole-v1: the yardstick the project's PPO is timed against.

It does the same work as the config ``CartPole-v1:ppo`` (rl-zoo3's hyperparameters): 8 native vectorized
envs x 32 steps, one minibatch of 256, 20 epochs, separate 64-64 tanh actor and critic, linearly decaying
learning rate and clip range, truncation bootstrapped, a batched deterministic evaluation of 10 episodes
every 5,000 env steps, and a stop at the first evaluation >= 475. It imports nothing from the project.

    python scripts/reference_ppo.py [--seed 42] [--max-steps 100000]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Hyperparams:
    """CartPole-v1:ppo's values; ``lr`` and ``clip_range`` decay linearly to 0 over ``max_steps``."""

    env_id: str = "CartPole-v1"
    n_envs: int = 8
    n_steps: int = 32
    batch_size: int = 256
    n_epochs: int = 20
    gamma: float = 0.98
    gae_lambda: float = 0.8
    lr: float = 1e-3
    clip_range: float = 0.2
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5
    hidden: int = 64
    eval_freq: int = 5_000
    eval_episodes: int = 10
    reward_threshold: float = 475.0
    max_steps: int = 100_000
    seed: int = 42


def mlp(n_in: int, hidden: int, n_out: int, out_gain: float) -> nn.Sequential:
    """A 2-hidden-layer tanh MLP with SB3/CleanRL's orthogonal initialization."""
    layers = [nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out)]
    for layer, gain in zip(layers[::2], (math.sqrt(2), math.sqrt(2), out_gain)):
        nn.init.orthogonal_(layer.weight, gain)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def gae(rewards: Tensor, values: Tensor, terminated: Tensor, done: Tensor, gamma: float, lam: float) -> Tensor:
    """GAE advantages of a ``(T, N)`` rollout; ``values`` is ``(T + 1, N)``, V of obs[t] and of the last obs.

    Under NEXT_STEP autoreset obs[t + 1] after an episode's last step is its real final observation, so a
    truncated step bootstraps from it; the reset step that follows is masked out by the caller.
    """
    deltas = rewards + gamma * values[1:] * (1.0 - terminated) - values[:-1]
    decay = gamma * lam * (1.0 - done)
    advantages = torch.empty_like(deltas)
    running = torch.zeros_like(deltas[0])
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + decay[t] * running
        advantages[t] = running
    return advantages


def evaluate(actor: nn.Module, envs: gym.vector.VectorEnv) -> float:
    """Mean return of one deterministic episode per env, all envs stepped together."""
    obs, _ = envs.reset()
    returns = np.zeros(envs.num_envs)
    running = np.ones(envs.num_envs, dtype=bool)
    with torch.inference_mode():
        while running.any():
            actions = actor(torch.from_numpy(obs)).argmax(-1).numpy()
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += rewards * running
            running &= ~(terminated | truncated)
    return float(returns.mean())


class ReferencePPO:
    """Owns the envs, networks and rollout buffers; :meth:`train` runs until solved or out of steps."""

    def __init__(self, hp: Hyperparams):
        self.hp = hp
        torch.manual_seed(hp.seed)
        self.envs = gym.make_vec(hp.env_id, hp.n_envs, vectorization_mode="vector_entry_point")
        self.eval_envs = gym.make_vec(hp.env_id, hp.eval_episodes, vectorization_mode="vector_entry_point")
        self.eval_envs.reset(seed=hp.seed + 100_000)
        n_obs = self.envs.single_observation_space.shape[0]
        n_actions = int(self.envs.single_action_space.n)
        self.actor = mlp(n_obs, hp.hidden, n_actions, 0.01)
        self.critic = mlp(n_obs, hp.hidden, 1, 1.0)
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = torch.optim.Adam(self.params, lr=hp.lr, eps=hp.adam_eps, fused=True)
        shape = (hp.n_steps, hp.n_envs)
        self.obs = torch.zeros(hp.n_steps + 1, hp.n_envs, n_obs)  # the last row is the bootstrap obs
        self.actions = torch.zeros(shape, dtype=torch.long)
        self.rewards = torch.zeros(shape)
        self.terminated = torch.zeros(shape)
        self.done = torch.zeros(shape)
        self.valid = torch.zeros(shape, dtype=torch.bool)
        obs, _ = self.envs.reset(seed=hp.seed)
        self.obs[-1] = torch.from_numpy(obs)
        self.prev_done = np.zeros(hp.n_envs, dtype=bool)

    def collect(self) -> None:
        """Fill the buffers with ``n_steps`` vector steps; only the actor runs per step."""
        # Rows are written through numpy views: cheaper than torch indexing for rows this small.
        obs, actions, rewards, terminated, done, valid = (
            t.numpy() for t in (self.obs, self.actions, self.rewards, self.terminated, self.done, self.valid)
        )
        obs[0] = obs[-1]
        with torch.inference_mode():
            for t in range(self.hp.n_steps):
                probs = self.actor(torch.from_numpy(obs[t])).softmax(-1)
                actions[t] = torch.multinomial(probs, 1).squeeze(1).numpy()
                next_obs, step_rewards, step_terminated, truncated, _ = self.envs.step(actions[t])
                obs[t + 1] = next_obs
                rewards[t] = step_rewards
                terminated[t] = step_terminated
                valid[t] = ~self.prev_done  # the step after an episode's end only resets the env
                self.prev_done = step_terminated | truncated
                done[t] = self.prev_done

    def batch(self) -> dict[str, Tensor]:
        """Values, old log-probs and advantages in one batched pass; valid steps only, flattened."""
        hp = self.hp
        # no_grad, not inference_mode: these tensors are saved for backward by every gradient step.
        with torch.no_grad():
            values = self.critic(self.obs).squeeze(-1)
            advantages = gae(self.rewards, values, self.terminated, self.done, hp.gamma, hp.gae_lambda)
            obs = self.obs[:-1]
            log_probs = self.actor(obs).log_softmax(-1).gather(-1, self.actions.unsqueeze(-1)).squeeze(-1)
            valid = self.valid
            advantages, returns = advantages[valid], (advantages + values[:-1])[valid]
            return {
                "obs": obs[valid],
                "actions": self.actions[valid].unsqueeze(-1),
                "log_probs": log_probs[valid],
                "advantages": (advantages - advantages.mean()) / (advantages.std() + 1e-8),
                "returns": returns,
            }

    def update(self, data: dict[str, Tensor], progress: float) -> None:
        hp = self.hp
        clip = hp.clip_range * (1.0 - progress)
        for group in self.optimizer.param_groups:
            group["lr"] = hp.lr * (1.0 - progress)
        n = len(data["obs"])
        for _ in range(hp.n_epochs):
            order = torch.randperm(n) if n > hp.batch_size else None
            for start in range(0, n, hp.batch_size):
                mb = data if order is None else {k: v[order[start : start + hp.batch_size]] for k, v in data.items()}
                self.gradient_step(mb, clip)

    def gradient_step(self, mb: dict[str, Tensor], clip: float) -> None:
        log_probs = self.actor(mb["obs"]).log_softmax(-1).gather(-1, mb["actions"]).squeeze(-1)
        ratio = (log_probs - mb["log_probs"]).exp()
        advantages = mb["advantages"]
        policy_loss = -torch.min(advantages * ratio, advantages * ratio.clamp(1.0 - clip, 1.0 + clip)).mean()
        value_loss = (self.critic(mb["obs"]).squeeze(-1) - mb["returns"]).square().mean()
        loss = policy_loss + self.hp.vf_coef * value_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, self.hp.max_grad_norm, foreach=True)
        self.optimizer.step()

    def train(self) -> dict[str, Any]:
        """Train until the first evaluation >= threshold or ``max_steps``; returns timings and evals."""
        hp = self.hp
        steps_per_rollout = hp.n_envs * hp.n_steps
        env_steps, next_eval, eval_s = 0, hp.eval_freq, 0.0
        history: list[tuple[int, float, float]] = []  # (env_steps, reward, seconds since start)
        solved_at = None
        started = time.perf_counter()
        while env_steps < hp.max_steps and solved_at is None:
            self.collect()
            env_steps += steps_per_rollout
            self.update(self.batch(), min(1.0, env_steps / hp.max_steps))
            if env_steps >= next_eval or env_steps >= hp.max_steps:
                eval_started = time.perf_counter()
                reward = evaluate(self.actor, self.eval_envs)
                now = time.perf_counter()
                eval_s += now - eval_started
                history.append((env_steps, reward, now - started))
                next_eval = (env_steps // hp.eval_freq + 1) * hp.eval_freq
                if reward >= hp.reward_threshold:
                    solved_at = env_steps
        wall_s = time.perf_counter() - started
        return {"env_steps": env_steps, "wall_s": wall_s, "eval_s": eval_s, "eval_history": history}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=Hyperparams.seed)
    parser.add_argument("--max-steps", type=int, default=Hyperparams.max_steps)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = ReferencePPO(Hyperparams(seed=args.seed, max_steps=args.max_steps)).train()
    steps, wall, eval_s = result["env_steps"], result["wall_s"], result["eval_s"]
    solved = next(((s, t) for s, r, t in result["eval_history"] if r >= Hyperparams.reward_threshold), None)
    print(f"env steps/s: {steps / (wall - eval_s):,.0f} training only, {steps / wall:,.0f} including eval")
    if solved:
        print(f"solved at {solved[0]:,} env steps, {solved[1]:.2f} s")
    else:
        print(f"not solved in {steps:,} env steps ({wall:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rollout collection: step the vector env with the policy and fill one preallocated buffer.

The buffer holds ``(n_steps, n_envs, ...)`` tensors allocated once; observations keep the env's dtype
(uint8 frames stay uint8). There is no separate next-observation array: under NEXT_STEP autoreset the
observation after step ``t`` is ``obs[t + 1]`` (or ``last_obs``), including an episode's final one.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import Tensor

from utils.errors import ConfigError
from utils.policies import ActorCritic

_TORCH_DTYPES = {np.dtype(np.float64): torch.float32, np.dtype(np.bool_): torch.uint8}


class StopRequested(Exception):
    """Raised by :meth:`RolloutCollector.collect` when its stop event is set mid-rollout."""


@dataclass
class Rollout:
    """One rollout; ``valid`` is False on the masked reset steps that must not be trained on."""

    obs: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor
    valid: Tensor
    last_values: Tensor

    @property
    def n_transitions(self) -> int:
        """Env steps taken in the rollout: its valid steps (a masked reset step takes no action)."""
        return int(self.valid.sum())

    def flat(self, name: str) -> Tensor:
        """A field with time and env dimensions merged, valid steps only."""
        tensor = getattr(self, name)
        return tensor.flatten(0, 1)[self.valid.flatten()]


class RolloutCollector:
    """Steps ``envs`` with a policy for ``n_steps`` per env and returns the filled buffer.

    It keeps the current observations between rollouts, and the env's episode statistics (raw
    returns and lengths, recorded before any shaping or normalization) in ``episode_returns``.
    """

    def __init__(self, envs: VectorEnv, policy: ActorCritic, n_steps: int, seed: int, stats_window: int = 100,
                 stop: threading.Event | None = None):
        self.envs = envs
        self.stop = stop or threading.Event()
        self.policy = policy
        self.n_steps = n_steps
        self.n_envs = envs.num_envs
        space = envs.single_observation_space
        obs_dtype = _TORCH_DTYPES.get(np.dtype(space.dtype), torch.from_numpy(np.zeros(0, space.dtype)).dtype)
        head = policy.head
        shape = (n_steps, self.n_envs)
        check_memory(n_steps * self.n_envs * int(np.prod(space.shape)) * obs_dtype.itemsize,
                     f"the rollout buffer of n_envs * n_steps = {self.n_envs} * {n_steps} observations of shape "
                     f"{tuple(space.shape)}")
        self.rollout = Rollout(
            obs=torch.zeros(*shape, *space.shape, dtype=obs_dtype),
            actions=torch.zeros(*shape, *head.action_shape, dtype=head.action_dtype),
            log_probs=torch.zeros(shape),
            values=torch.zeros(shape),
            rewards=torch.zeros(shape),
            terminated=torch.zeros(shape, dtype=torch.bool),
            truncated=torch.zeros(shape, dtype=torch.bool),
            valid=torch.zeros(shape, dtype=torch.bool),
            last_values=torch.zeros(self.n_envs),
        )
        self._obs_np = self.rollout.obs.numpy()
        self._rewards_np = self.rollout.rewards.numpy()
        self._terminated_np = self.rollout.terminated.numpy()
        self._truncated_np = self.rollout.truncated.numpy()
        self._valid_np = self.rollout.valid.numpy()
        obs, _ = envs.reset(seed=seed)
        self._obs = torch.zeros(self.n_envs, *space.shape, dtype=obs_dtype)
        self._obs.numpy()[:] = obs
        self._prev_done = np.zeros(self.n_envs, dtype=bool)
        self.episode_returns: deque[float] = deque(maxlen=stats_window)
        self.episode_lengths: deque[int] = deque(maxlen=stats_window)
        self.episodes = 0

    def collect(self) -> Rollout:
        """Run ``n_steps`` vector steps with the current policy.

        With separate actor and critic networks (the MLP) each step runs only the actor; values, the
        bootstrap values and the actions' log-probabilities come from one batched pass over the whole
        rollout afterwards (the policy does not change during a rollout, so they are the same numbers, for
        a fraction of the per-call overhead). With a shared trunk (the CNN) the actor already pays for the
        values, so each step keeps them and only the bootstrap values take another pass.
        """
        buf, envs, policy, head = self.rollout, self.envs, self.policy, self.policy.head
        obs = self._obs
        device = next(policy.parameters()).device
        stop, shared = self.stop, policy.shared_trunk
        with rollout_mode(device):
            for t in range(self.n_steps):
                if stop.is_set():
                    raise StopRequested
                self._obs_np[t] = obs.numpy()
                if shared:
                    params, values = policy(obs.to(device))
                    actions = head.sample(params)
                    buf.log_probs[t] = head.log_prob(params, actions)
                    buf.values[t] = values
                else:
                    actions = head.sample(policy.actor(obs.to(device)))
                next_obs, rewards, terminated, truncated, infos = envs.step(head.to_env(actions))
                buf.actions[t] = actions
                self._rewards_np[t] = rewards
                self._terminated_np[t] = terminated
                self._truncated_np[t] = truncated
                self._valid_np[t] = ~self._prev_done
                self._prev_done = terminated | truncated
                obs.numpy()[:] = next_obs
                if "_episode" in infos:
                    self._record_episodes(infos)
            if shared:
                buf.last_values[:] = policy(obs.to(device))[1]
            else:
                all_obs = torch.cat([buf.obs.flatten(0, 1), obs]).to(device)
                params, values = policy(all_obs)
                n = buf.values.numel()
                buf.log_probs.view(-1)[:] = head.log_prob(params[:n], buf.actions.flatten(0, 1).to(device))
                buf.values.view(-1)[:] = values[:n]
                buf.last_values[:] = values[n:]
        return buf

    def latest_episodes(self, n: int) -> tuple[list[float], list[int]]:
        """Returns and lengths of the ``n`` newest recorded episodes (at most the statistics window's worth)."""
        n = min(n, len(self.episode_returns))
        if n <= 0:
            return [], []
        return list(self.episode_returns)[-n:], list(self.episode_lengths)[-n:]

    def _record_episodes(self, infos: dict) -> None:
        done = infos["_episode"]
        returns = infos["episode"]["r"][done]
        lengths = infos["episode"]["l"][done]
        self.episode_returns.extend(float(r) for r in returns)
        self.episode_lengths.extend(int(n) for n in lengths)
        self.episodes += len(returns)


class TrainingBatch(dict):
    """Named, equally long tensors (obs, actions, advantages, ...) of the valid steps of a rollout."""

    def __len__(self) -> int:
        return len(next(iter(self.values())))

    def __getattr__(self, name: str) -> Tensor:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device: torch.device | str) -> "TrainingBatch":
        return TrainingBatch({key: value.to(device) for key, value in self.items()})

    def epochs(self, n_epochs: int, batch_size: int, stop: threading.Event | None = None):
        """``n_epochs`` passes of :meth:`minibatches`, as one stream (one loop, one ``break``); it ends early,
        between two minibatches, once ``stop`` is set."""
        for _ in range(n_epochs):
            for minibatch in self.minibatches(batch_size):
                if stop is not None and stop.is_set():
                    return
                yield minibatch

    def minibatches(self, batch_size: int, generator: torch.Generator | None = None):
        """Shuffled minibatches of ``batch_size`` (the last may be smaller); the whole batch when it fits."""
        n = len(self)
        if batch_size >= n:  # full-batch gradient: order is irrelevant, skip the gather
            yield self
            return
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield TrainingBatch({key: value[index] for key, value in self.items()})


@contextmanager
def rollout_mode(device: torch.device) -> Iterator[None]:
    """No gradients for a rollout: ``torch.inference_mode``, or under autocast (precision bf16-mixed)
    ``torch.no_grad`` with an autocast that casts each weight once for the whole rollout.

    Lightning's autocast keeps no casts, rightly: an update changes the weights between two forward passes.
    A rollout does not, and on a rollout step's small batch the casts are a large share of a forward pass.
    Autocast keeps no casts under inference_mode, hence no_grad there. The casts are dropped at the end,
    so no update ever sees them.
    """
    if not torch.is_autocast_enabled(device.type):
        with torch.inference_mode():
            yield
        return
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.get_autocast_dtype(device.type),
                                             cache_enabled=True):
            yield
    finally:
        torch.clear_autocast_cache()


def check_memory(n_bytes: int, what: str) -> None:
    """A ConfigError when ``what`` would need more than 80% of this machine's memory (a clear line, not an OOM kill)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that reports it
        return
    if n_bytes > 0.8 * total:
        raise ConfigError(f"{what} needs {n_bytes / 2**30:.1f} GiB, more than this machine can hold "
                          f"({total / 2**30:.1f} GiB): lower n_envs or n_steps")

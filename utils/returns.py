"""Returns and advantages of a rollout, as pure functions over ``(T, N)`` arrays (time, env).

Layout (gymnasium's NEXT_STEP autoreset): ``rewards[t]``, ``terminated[t]`` and ``truncated[t]`` come
from the step taken at ``t``; ``values[t]`` is V(obs[t]); the value of the observation *after* step ``t``
is ``values[t + 1]``, or ``last_values`` after the last step. When step ``t`` ends an episode, obs[t + 1]
is that episode's final observation (the reset happens on the next step, which the collector masks out),
so a truncated episode is bootstrapped from ``values[t + 1]`` and a terminated one from zero.
"""

from __future__ import annotations

import numpy as np


def _next_values(values: np.ndarray, last_values: np.ndarray) -> np.ndarray:
    return np.concatenate([values[1:], last_values[None]], axis=0)


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    last_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimation (Schulman et al., 2016): ``(advantages, returns)``.

    ``returns = advantages + values`` are the critic's targets (TD(lambda) returns).
    """
    not_terminated = 1.0 - terminated.astype(np.float32)
    not_done = 1.0 - (terminated | truncated).astype(np.float32)
    deltas = rewards + gamma * _next_values(values, last_values) * not_terminated - values
    decay = gamma * gae_lambda * not_done
    advantages = np.zeros_like(deltas)
    running = np.zeros_like(deltas[0])
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + decay[t] * running
        advantages[t] = running
    return advantages, advantages + values


def compute_mc_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    values: np.ndarray | None = None,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """Discounted reward-to-go ``G_t = r_t + gamma * G_{t+1}`` within each episode.

    With ``values`` (a learned baseline) an episode cut by a time limit or by the end of the rollout is
    bootstrapped from the value of the observation where it was cut; without, the cut is treated as
    the episode's end (classic Monte Carlo).
    """
    not_done = 1.0 - (terminated | truncated).astype(np.float32)
    if values is None:
        bootstrap = np.zeros_like(rewards)
    else:
        bootstrap = _next_values(values, last_values) * (truncated & ~terminated)
        bootstrap[-1] = np.where(terminated[-1], 0.0, last_values)
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * (not_done[t] * running + bootstrap[t])
        returns[t] = running
    return returns


def episode_returns(reward_to_go: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Vanilla REINFORCE's returns: every step carries the return from its episode segment's first step.

    ``valid`` is False on the collector's masked reset steps; a segment starts at the first valid step
    of the rollout or after a masked step (a segment already running when the rollout began starts at
    ``t = 0``).
    """
    out = np.empty_like(reward_to_go)
    current = reward_to_go[0].copy()
    for t in range(len(reward_to_go)):
        starts = valid[t] & ((~valid[t - 1]) if t > 0 else True)
        current = np.where(starts, reward_to_go[t], current)
        out[t] = current
    return out

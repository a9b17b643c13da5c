"""A trained policy outside training: load it from a run's checkpoint, and play episodes with it.

What ``play.py``, the inspector and the training videos share, so a checkpoint loads and plays the same
way everywhere: the run's config, weights loaded with ``weights_only``, evaluation envs built by
``utils.environment`` with the checkpoint's normalization statistics frozen. No Lightning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from utils.config import Config, config_from_dict
from utils.environment import build_vec_env, load_normalization_state
from utils.errors import UserError
from utils.policies import ActorCritic, build_policy, load_policy_weights
from utils.runs import CHECKPOINT_NAMES, Run, checkpoint_path, load_checkpoint
from utils.torch_runtime import configure_torch

@dataclass
class LoadedAgent:
    """A policy with a checkpoint's weights (in eval mode) and a 1-env evaluation vector env for it, whose
    normalization statistics are the checkpoint's, frozen."""

    config: Config
    policy: ActorCritic
    envs: VectorEnv
    checkpoint: Path
    env_steps: int | None
    #: the checkpoint's normalization statistics (``utils.environment.normalization_state``'s form)
    normalization: dict[str, Any]

    def close(self) -> None:
        self.envs.close()


def load_agent_for_play(run: Run | None, checkpoint: str | None = None, render_mode: str | None = None) -> LoadedAgent:
    """Load a checkpoint (``best``, ``last``, a path, or None for best-else-last) into its run's policy,
    with an evaluation env rendering in ``render_mode``.

    The config is the run's ``config.json``; a checkpoint given by path brings its own (every checkpoint
    holds the config it was trained with), so a ``.ckpt`` file copied anywhere still plays.
    """
    path = checkpoint_path(run, checkpoint)
    state = load_checkpoint(path)
    by_path = checkpoint not in CHECKPOINT_NAMES and checkpoint is not None
    if by_path and isinstance(state.get("config"), dict):
        config = config_from_dict(state["config"])
    elif run is not None:
        config = config_from_dict(run.load_config_dict())
    else:
        raise UserError(f"checkpoint {path} holds no config and is not inside a run folder")
    configure_torch(config.torch_threads)
    envs = build_vec_env(config, 1, training=False, render_mode=render_mode)
    normalization = state.get("normalization", {})
    try:
        policy = build_policy(config, envs.single_observation_space, envs.single_action_space)
        load_policy_weights(policy, state["policy"], f"checkpoint {path}")
        try:
            load_normalization_state(envs, normalization)
        except (TypeError, ValueError, KeyError) as exc:
            raise UserError(f"checkpoint {path} is damaged: its normalization statistics ({exc})") from None
    except BaseException:
        envs.close()
        raise
    policy.eval()
    steps = state.get("counters", {}).get("env_steps")
    return LoadedAgent(config, policy, envs, path, None if steps is None else int(steps), normalization)


@dataclass
class EpisodeResult:
    """One episode's score (the env's own return, before any shaping) and length; ``complete`` is False
    when it was cut at ``max_steps``."""

    score: float
    length: int
    complete: bool


def render_frame(envs: VectorEnv) -> np.ndarray:
    """The first sub-env's rgb frame (H, W, 3) uint8; an env that renders none is a UserError."""
    frames = envs.render()
    frame = frames[0] if frames else None
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3:
        raise UserError(f"the env returned no rgb frame from render() (got {type(frame).__name__})")
    return frame


def play_episode(
    policy: ActorCritic,
    envs: VectorEnv,
    *,
    deterministic: bool = True,
    seed: int | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    max_steps: int | None = None,
) -> EpisodeResult:
    """Play one episode in a 1-env vector env (NEXT_STEP autoreset: the episode's last step is its last).

    ``on_frame`` receives the rendered frame of every state: the first one and one after each step
    (``length + 1`` frames). ``seed`` reseeds the env; None continues its random stream.
    """
    obs, _ = envs.reset(seed=seed)
    if on_frame is not None:
        on_frame(render_frame(envs))
    device = next(policy.parameters()).device
    length, score = 0, 0.0
    while max_steps is None or length < max_steps:
        actions = policy.act(torch.as_tensor(obs, device=device), deterministic)
        obs, rewards, terminated, truncated, infos = envs.step(policy.head.to_env(actions))
        length += 1
        score += float(rewards[0])
        if on_frame is not None:
            on_frame(render_frame(envs))
        if terminated[0] or truncated[0]:
            if "_episode" in infos and infos["_episode"][0]:
                score = float(infos["episode"]["r"][0])
            return EpisodeResult(score, length, True)
    return EpisodeResult(score, length, False)

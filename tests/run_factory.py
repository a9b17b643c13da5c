"""Run folders for tests without training: a config, an untrained policy saved as best.ckpt (and last.ckpt),
and ``GsDot-v0``, a tiny env with small rgb frames and named actions for pixel-observation configs."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from utils.config import Config, PPOConfig
from utils.environment import build_vec_env
from utils.policies import build_policy
from utils.runs import CHECKPOINT_FORMAT, Run, atomic_torch_save, create_run

DOT_ID = "GsDot-v0"
DOT_FRAME = (48, 64)  # rendered frame height, width
DOT_EPISODE = 12  # steps before the time limit


class DotEnv(gym.Env):
    """A dot on a line of 64 pixels: NOOP/LEFT/RIGHT move it; reward -|distance to the centre| / 32;
    terminated at an edge, truncated after 12 steps by the time limit. Renders 48x64 rgb frames."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 63.0, (1,), np.float32)
        self.action_space = spaces.Discrete(3)
        self.x = 32

    def get_action_meanings(self) -> list[str]:
        return ["NOOP", "LEFT", "RIGHT"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = int(self.np_random.integers(24, 40))
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x += (0, -4, 4)[int(action)]
        terminated = not 0 < self.x < 63
        self.x = int(np.clip(self.x, 0, 63))
        return np.array([self.x], np.float32), -abs(self.x - 32) / 32, terminated, False, {}

    def render(self):
        frame = np.full((*DOT_FRAME, 3), 255, np.uint8)
        frame[20:28, max(self.x - 4, 0):self.x + 4] = (220, 40, 40)
        return frame


if DOT_ID not in gym.registry:
    gym.register(DOT_ID, entry_point=DotEnv, max_episode_steps=DOT_EPISODE)


def dot_pixels_config(**overrides) -> PPOConfig:
    """GsDot-v0 seen through PixelObservationWrapper, two frames stacked, with the CNN policy."""
    values = dict(env_id=DOT_ID, project_id="GsDot-v0", variant="pixels", policy="cnn", frame_stack=2,
                  env_kwargs={"render_mode": "rgb_array"}, env_wrappers=[{"id": "PixelObservationWrapper"}],
                  n_envs=2, n_steps=16, batch_size=32, gamma=0.9, gae_lambda=0.8)
    return PPOConfig(**{**values, **overrides})


def make_run(root: Path, config: Config, run_id: str = "testrun1", env_steps: int = 1234,
             normalization: dict | None = None, seed: int = 0) -> Run:
    """``root/runs/<run_id>`` with config.json and an untrained policy as best.ckpt and last.ckpt."""
    run = create_run(config.to_dict(), run_id=run_id, runs_dir=Path(root) / "runs")
    envs = build_vec_env(config, 1, training=False)
    torch.manual_seed(seed)
    policy = build_policy(config, envs.single_observation_space, envs.single_action_space)
    envs.close()
    state = {"format": CHECKPOINT_FORMAT, "run_id": run_id, "config": config.to_dict(),
             "policy": policy.state_dict(), "normalization": normalization or {},
             "counters": {"env_steps": env_steps, "updates": 1, "grad_steps": 1, "episodes": 0}}
    for name in ("best", "last"):
        atomic_torch_save(state, run.checkpoint(name))
    return run

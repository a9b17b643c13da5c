"""One episode of a trained agent, step by step, with everything the policy and critic said about it:
what ``inspector.py`` shows, as plain data (no UI), so it can be tested and reused.

:func:`record_episode` plays one episode from a run's checkpoint (as ``play.py`` does: the same loading,
the same evaluation env with frozen normalization) and keeps, per step, the rendered frame, the observation
the policy saw, the action with its label, the action distribution (probabilities, or mean and std for
continuous actions), the value estimate, the reward, the cumulative return, the discounted return-to-go,
the GAE advantage, and the terminated/truncated flags.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from utils.config import Config
from utils.errors import ConfigError, UserError
from utils.playback import LoadedAgent, load_agent_for_play, render_frame
from utils.returns import compute_gae, compute_mc_returns
from utils.runs import Run
from utils.videos import headless_rendering

#: an inspected episode stops after this many steps
MAX_INSPECT_STEPS = 5_000
#: gymnasium's NormalizeReward epsilon: training divided rewards by sqrt(var + this)
_REWARD_EPS = 1e-8


@dataclass(frozen=True)
class PngImage:
    """An image kept PNG-compressed: a 600x400 frame is ~5 KB instead of 720 KB, so whole episodes fit."""

    data: bytes
    width: int
    height: int

    @classmethod
    def encode(cls, array: np.ndarray) -> PngImage:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=1)
        return cls(buffer.getvalue(), int(array.shape[1]), int(array.shape[0]))

    def array(self) -> np.ndarray:
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(self.data)))

    def save(self, path: Path) -> Path:
        Path(path).write_bytes(self.data)
        return Path(path)


@dataclass
class StepRecord:
    """One step: the state's frame and observation, what the agent did and what it got."""

    step: int
    frame: PngImage | None  # the rendered state in which the action was chosen
    observation: np.ndarray  # what the policy saw (after normalization), as given to it
    observation_images: list[PngImage]  # image observations: one image per stacked frame; else empty
    action: np.ndarray  # as sent to the env
    action_label: str
    distribution: dict[str, np.ndarray]  # "probs" (one per label), or "mean" and "std" per dimension
    value: float
    reward: float
    cumulative_return: float = 0.0
    return_to_go: float = 0.0  # discounted, within the recorded episode
    advantage: float = 0.0  # GAE(gamma, lambda) with the critic's values
    terminated: bool = False
    truncated: bool = False


@dataclass
class EpisodeRecord:
    """A recorded episode and the facts needed to read it."""

    run_id: str
    config: Config
    checkpoint: Path
    env_steps: int | None  # training env steps of the checkpoint
    seed: int
    deterministic: bool
    action_labels: list[str]  # one per entry of a step's ``distribution["probs"]``, or per action dimension
    action_space_kind: str  # Discrete, MultiDiscrete, MultiBinary or Box
    steps: list[StepRecord]
    final_frame: PngImage | None  # the state after the last step
    last_value: float  # V of the final observation (a truncated episode is bootstrapped from it)
    reward_scale: float  # what training multiplied rewards by (normalize_reward), applied for GAE
    score: float | None  # the env's own episode return (before any shaping), None if cut at max_steps
    renders: bool
    notes: list[str] = field(default_factory=list)

    @property
    def continuous(self) -> bool:
        """A Box action space: its distribution is a mean and a std per dimension."""
        return self.action_space_kind == "Box"

    @property
    def discrete(self) -> bool:
        """A Discrete action space: each action has a label (its meaning, or its index)."""
        return self.action_space_kind == "Discrete"

    def taken(self, t: int) -> list[bool]:
        """Which entries of step ``t``'s ``probs`` the action took (discrete kinds; all False for Box)."""
        action, n = np.asarray(self.steps[t].action).ravel(), len(self.action_labels)
        if self.discrete:
            return [label == self.steps[t].action_label for label in self.action_labels]
        if self.action_space_kind == "MultiDiscrete":
            chosen = {f"d{d}={int(a)}" for d, a in enumerate(action)}
            return [label in chosen for label in self.action_labels]
        if self.action_space_kind == "MultiBinary":
            return [bool(a) for a in action]
        return [False] * n

    @property
    def total_reward(self) -> float:
        return self.steps[-1].cumulative_return if self.steps else 0.0

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per step (the step table, and the CSV export)."""
        rows = []
        for s in self.steps:
            row: dict[str, Any] = {"step": s.step, "action": _format_action(s.action)}
            if self.discrete:
                row["label"] = s.action_label
            if self.continuous:
                for i, label in enumerate(self.action_labels):
                    row[f"mean[{label}]"] = float(s.distribution["mean"][i])
                    row[f"std[{label}]"] = float(s.distribution["std"][i])
            else:
                for label, p in zip(self.action_labels, s.distribution["probs"]):
                    row[f"p[{label}]"] = float(p)
            row.update(value=s.value, reward=s.reward, cumulative_return=s.cumulative_return,
                       return_to_go=s.return_to_go, advantage=s.advantage,
                       terminated=s.terminated, truncated=s.truncated)
            rows.append(row)
        return rows

    def write_csv(self, path: Path) -> Path:
        rows = self.rows()
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["step"])
            writer.writeheader()
            writer.writerows(rows)
        return Path(path)


def record_episode(
    run: Run | None,
    checkpoint: str | None = None,
    seed: int = 0,
    deterministic: bool = True,
    max_steps: int = MAX_INSPECT_STEPS,
) -> EpisodeRecord:
    """Play one episode of ``run``'s agent (``checkpoint``: best, last, a path, or None for best-else-last)
    from ``seed`` and record every step. Stochastic actions are drawn from torch's generator seeded with
    ``seed`` (and restored afterwards), so the same arguments give the same episode."""
    agent, notes = load_for_inspection(run, checkpoint)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return _record(agent, run, seed, deterministic, max_steps, notes)
    finally:
        agent.close()


def load_for_inspection(run: Run | None, checkpoint: str | None = None) -> tuple[LoadedAgent, list[str]]:
    """The agent with an env rendering ``rgb_array`` frames (headless), or without frames, and a note,
    where the env cannot render (Bandit-v0)."""
    headless_rendering()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium's warning about an unsupported render mode
            return load_agent_for_play(run, checkpoint, render_mode="rgb_array"), []
    except ConfigError as exc:
        return load_agent_for_play(run, checkpoint), [f"no frames: the env cannot render rgb_array ({exc})"]


def _record(agent: LoadedAgent, run: Run | None, seed: int, deterministic: bool, max_steps: int,
            notes: list[str]) -> EpisodeRecord:
    config, policy, envs = agent.config, agent.policy, agent.envs
    renders = envs.render_mode == "rgb_array"
    head = policy.head
    labels = action_labels(envs.single_action_space, envs)
    images = config.policy == "cnn"
    obs, _ = envs.reset(seed=seed)
    frame = _frame(envs) if renders else None
    steps: list[StepRecord] = []
    score = None
    for t in range(max_steps):
        with torch.inference_mode():
            params, value = policy(torch.as_tensor(obs))
            action = head.sample(params, deterministic)
            distribution = {key: v[0].cpu().numpy().astype(np.float64) for key, v in head.describe(params).items()}
        env_action = head.to_env(action)
        next_obs, reward, terminated, truncated, infos = envs.step(env_action)
        steps.append(StepRecord(
            step=t, frame=frame, observation=np.array(obs[0]),
            observation_images=[PngImage.encode(image) for image in observation_images(obs[0])] if images else [],
            action=np.asarray(env_action[0]),
            action_label=action_label(env_action[0], envs.single_action_space, labels),
            distribution=distribution, value=float(value[0]), reward=float(reward[0]),
            terminated=bool(terminated[0]), truncated=bool(truncated[0]),
        ))
        frame = _frame(envs) if renders else None
        obs = next_obs
        if terminated[0] or truncated[0]:
            if "_episode" in infos and infos["_episode"][0]:
                score = float(infos["episode"]["r"][0])
            break
    else:
        notes.append(f"the episode was cut after {max_steps:,} steps")
    with torch.inference_mode():
        last_value = float(policy(torch.as_tensor(obs))[1][0])
    scale = reward_scale(config, agent.normalization)
    _fill_returns(steps, config.gamma, config.gae_lambda, last_value, scale)
    if config.algo_id == "reinforce" and not getattr(config, "use_baseline", False):
        notes.append("REINFORCE without a baseline never trains its critic: values and advantages are meaningless")
    return EpisodeRecord(
        run_id=run.run_id if run is not None else agent.checkpoint.stem, config=config, checkpoint=agent.checkpoint,
        env_steps=agent.env_steps, seed=seed, deterministic=deterministic, action_labels=labels,
        action_space_kind=type(envs.single_action_space).__name__, steps=steps, final_frame=frame,
        last_value=last_value, reward_scale=scale, score=score, renders=renders, notes=notes,
    )


def _frame(envs: Any) -> PngImage:
    return PngImage.encode(render_frame(envs))


def _fill_returns(steps: list[StepRecord], gamma: float, gae_lambda: float, last_value: float, scale: float) -> None:
    """Cumulative return, discounted return-to-go and GAE advantages of the recorded steps, in place."""
    if not steps:
        return
    rewards = np.array([[s.reward] for s in steps], dtype=np.float64)
    values = np.array([[s.value] for s in steps], dtype=np.float64)
    terminated = np.array([[s.terminated] for s in steps])
    truncated = np.array([[s.truncated] for s in steps])
    rtg = compute_mc_returns(rewards, terminated, truncated, gamma)
    advantages, _ = compute_gae(rewards * scale, values, np.array([last_value]), terminated, truncated,
                                gamma, gae_lambda)
    for s, total, g, a in zip(steps, np.cumsum(rewards[:, 0]), rtg[:, 0], advantages[:, 0]):
        s.cumulative_return, s.return_to_go, s.advantage = float(total), float(g), float(a)


def reward_scale(config: Config, normalization: dict[str, Any]) -> float:
    """The factor training's reward normalization applied (1 without ``normalize_reward``): the critic's
    values are in those units, so GAE uses rewards scaled by it."""
    stats = normalization.get("reward")
    if not config.normalize_reward or not stats:
        return 1.0
    return float(1.0 / np.sqrt(float(np.asarray(stats["var"])) + _REWARD_EPS))


def action_labels(space: spaces.Space, envs: Any = None) -> list[str]:
    """Names for the entries of the action distribution: the env's action meanings where it has them
    (Atari's ``get_action_meanings()``), else indices; ``d<i>=<k>`` for MultiDiscrete, one per dimension
    for MultiBinary and Box."""
    if isinstance(space, spaces.Discrete):
        meanings = _action_meanings(envs)
        if meanings is not None and len(meanings) == space.n:
            return [str(m) for m in meanings]
        return [str(space.start + i) for i in range(space.n)]
    if isinstance(space, spaces.MultiDiscrete):
        return [f"d{d}={int(space.start[d]) + k}" for d, n in enumerate(space.nvec) for k in range(int(n))]
    return [f"a{i}" for i in range(int(np.prod(space.shape)))]


def _action_meanings(envs: Any) -> list[str] | None:
    try:
        meanings = envs.call("get_action_meanings")[0]
    except Exception:  # most envs have none
        return None
    return list(meanings) if isinstance(meanings, (list, tuple)) else None


def action_label(action: Any, space: spaces.Space, labels: list[str]) -> str:
    """The taken action in words: its meaning for Discrete, else its values."""
    if isinstance(space, spaces.Discrete):
        return labels[int(action) - int(space.start)]
    return _format_action(np.asarray(action))


def _format_action(action: np.ndarray) -> str | int:
    if action.ndim == 0:
        return int(action) if np.issubdtype(action.dtype, np.integer) else f"{float(action):.4g}"
    values = [f"{v:.4g}" if np.issubdtype(action.dtype, np.floating) else str(int(v)) for v in action.ravel()]
    return "[" + ", ".join(values) + "]"


def observation_images(obs: np.ndarray) -> list[np.ndarray]:
    """The images an image observation holds, as uint8 (H, W) or (H, W, 3): one per stacked frame.

    Layouts as the CNN policy reads them: (H, W), (H, W, C), (C, H, W) and stacked (K, H, W, C). Float
    observations (normalized ones) are stretched to 0-255 for display.
    """
    x = np.asarray(obs)
    if x.dtype != np.uint8:
        low, high = float(x.min()), float(x.max())
        x = ((x - low) / (high - low or 1.0) * 255).astype(np.uint8)
    if x.ndim == 2:
        return [x]
    if x.ndim == 4:
        return [image for frame in x for image in _channels_last_images(frame)]
    if x.ndim == 3:
        if x.shape[-1] in (1, 3, 4) and x.shape[0] not in (1, 3, 4):
            return _channels_last_images(x)
        return list(x)  # channels first: (C, H, W), e.g. a stack of gray frames
    raise UserError(f"not an image observation: shape {obs.shape}")


def _channels_last_images(x: np.ndarray) -> list[np.ndarray]:
    if x.shape[-1] == 3:
        return [x]
    return [x[..., c] for c in range(x.shape[-1])]


def describe_env(agent: LoadedAgent) -> str:
    """The env's spaces, action labels and wrapper chain (vector wrappers outside, the sub-env inside)."""
    envs = agent.envs
    lines = [f"observation space: {envs.single_observation_space}", f"action space: {envs.single_action_space}"]
    if isinstance(envs.single_action_space, (spaces.Discrete, spaces.MultiDiscrete)):
        lines.append(f"actions: {', '.join(action_labels(envs.single_action_space, envs))}")
    vector_chain = []
    env = envs
    while env is not None:
        vector_chain.append(type(env).__name__)
        inner = getattr(env, "env", None)
        env = inner if inner is not env else None
    lines.append(f"vector env: {' > '.join(vector_chain)}")
    sub_envs = getattr(_innermost(envs), "envs", None)
    if sub_envs:
        lines.append(f"each env: {sub_envs[0]}")
    fps = envs.metadata.get("render_fps")
    if fps:
        lines.append(f"render fps: {fps}")
    return "\n".join(lines)


def _innermost(envs: Any) -> Any:
    while getattr(envs, "env", None) is not None:
        envs = envs.env
    return envs


def describe_network(policy: torch.nn.Module) -> str:
    """The module printout and parameter counts (per top-level part and in total)."""
    lines = [str(policy), ""]
    total = sum(p.numel() for p in policy.parameters())
    for name, child in policy.named_children():
        count = sum(p.numel() for p in child.parameters())
        if count:
            lines.append(f"{name}: {count:,} parameters")
    own = sum(p.numel() for p in policy.parameters(recurse=False))
    if own:
        lines.append(f"(own parameters): {own:,}")
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    lines.append(f"total: {total:,} parameters ({trainable:,} trainable)")
    return "\n".join(lines)

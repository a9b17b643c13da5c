"""The model card (README.md) of a published agent: Hub metadata (library, tags, a ``model-index``
evaluation result the Hub shows on the model page) and a body with the evaluation, the training outcome,
and the commands that play and reproduce the agent.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from loggers.plots import METRICS_CSV, PLOT_NAME
from utils.errors import UserError

LIBRARY_NAME = "gymnasium-solver"
ARTIFACTS = "artifacts"
VIDEO_NAME = "replay.mp4"


@dataclass(frozen=True)
class Evaluation:
    """Episode returns of a checkpoint, played like ``play.py --episodes N --seed S`` plays it."""

    returns: list[float]
    lengths: list[int]
    seed: int
    deterministic: bool
    checkpoint: str
    env_steps: int | None

    @property
    def mean(self) -> float:
        return sum(self.returns) / len(self.returns)

    @property
    def std(self) -> float:
        """Population standard deviation, as numpy's default (and SB3's evaluate_policy) reports it."""
        return (sum((r - self.mean) ** 2 for r in self.returns) / len(self.returns)) ** 0.5

    @property
    def metric_value(self) -> str:
        """The model-index value, in the form the Hub's RL leaderboards read."""
        return f"{self.mean:.2f} +/- {self.std:.2f}"


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(", ", ": "))  # JSON is YAML flow style: the CLI parses it
    return str(value)


def reproduce_command(config: dict[str, Any]) -> str | None:
    """``python train.py <config id> --seed=S --field=value...`` for the fields that differ from the shipped
    config; None when the config id is not a shipped config."""
    from utils.config import load_config

    try:
        shipped = load_config(config["project_id"], config["variant"]).to_dict()
    except (UserError, KeyError):
        return None
    changed = {key: value for key, value in config.items() if key != "seed" and shipped.get(key) != value}
    args = [f"{config['project_id']}:{config['variant']}", f"--seed={config['seed']}"]
    args += [f"--{key}={_cli_value(value)}" for key, value in changed.items()]
    return "python train.py " + " ".join(shlex.quote(arg) for arg in args)


def play_command(repo_id: str, evaluation: Evaluation) -> str:
    mode = "" if evaluation.deterministic else " --stochastic"
    return (f"python play.py --run-id hf:{repo_id} --checkpoint {evaluation.checkpoint} "
            f"--episodes {len(evaluation.returns)} --seed {evaluation.seed}{mode}")


def card_metadata(repo_id: str, config: dict[str, Any], evaluation: Evaluation):
    """The card's YAML header as huggingface_hub's ModelCardData."""
    from huggingface_hub import EvalResult, ModelCardData

    env_id, algo_id = config["env_id"], config["algo_id"]
    result = EvalResult(
        task_type="reinforcement-learning",
        task_name="reinforcement-learning",
        dataset_type=env_id,
        dataset_name=env_id,
        metric_type="mean_reward",
        metric_name="mean_reward",
        metric_value=evaluation.metric_value,
    )
    return ModelCardData(
        library_name=LIBRARY_NAME,
        tags=[env_id, "reinforcement-learning", "deep-reinforcement-learning", algo_id, LIBRARY_NAME],
        model_name=repo_id.split("/")[-1],
        eval_results=[result],
    )


def _training_lines(results: dict[str, Any] | None) -> list[str]:
    if not results:
        return ["- no results.json: the run ended before writing one"]
    lines = [f"- status: {results.get('status', 'unknown')}, {results.get('total_timesteps', 0):,} env steps"
             f" in {results.get('wall_time_s', 0):.1f} s"]
    if results.get("solved_at_timestep") is not None:
        lines.append(f"- solved (evaluation mean >= {results.get('reward_threshold')}) at "
                     f"{results['solved_at_timestep']:,} env steps")
    for key, label in (("best_eval_reward", "best"), ("final_eval_reward", "final")):
        if results.get(key) is not None:
            lines.append(f"- {label} evaluation during training: {results[key]:.2f}")
    return lines


def model_card(
    repo_id: str,
    config: dict[str, Any],
    results: dict[str, Any] | None,
    evaluation: Evaluation,
    video_url: str | None,
    has_plot: bool = False,
) -> str:
    """README.md for the repo: metadata header, then what the agent is, how well it plays and how to use it."""
    env_id, algo = config["env_id"], config["algo_id"]
    config_id = f"{config.get('project_id', env_id)}:{config.get('variant', algo)}"
    n = len(evaluation.returns)
    mode = "deterministic" if evaluation.deterministic else "stochastic"
    steps = f" after {evaluation.env_steps:,} env steps" if evaluation.env_steps is not None else ""
    reproduce = reproduce_command(config)
    lines = [
        "---",
        card_metadata(repo_id, config, evaluation).to_yaml(),
        "---",
        "",
        f"# {algo.upper()} agent for {env_id}",
        "",
        f"A {algo.upper()} agent for the Gymnasium environment `{env_id}`, trained with {LIBRARY_NAME} "
        f"(config `{config_id}`, seed {config.get('seed')}).",
        "",
    ]
    if video_url:
        lines += [f'<video controls autoplay loop muted src="{video_url}"></video>', ""]
    lines += [
        "## Evaluation",
        "",
        f"Mean reward **{evaluation.metric_value}** over {n} {mode} episodes of checkpoint "
        f"`{evaluation.checkpoint}.ckpt`{steps}, seed {evaluation.seed}.",
        "",
        "Episode returns: " + ", ".join(f"{r:g}" for r in evaluation.returns),
        "",
        "## Training",
        "",
        *_training_lines(results),
        "",
        "## Play it",
        "",
        f"With {LIBRARY_NAME} installed with its `hub` extra (`pip install -e \".[hub]\"`), this downloads the "
        + ("agent and plays the episodes above, printing the same returns:" if evaluation.deterministic else
           "agent and plays episodes from the same starts (actions are sampled, so returns vary):"),
        "",
        "```bash",
        play_command(repo_id, evaluation),
        "```",
        "",
        "## Reproduce it",
        "",
    ]
    if reproduce:
        lines += ["```bash", reproduce, "```", ""]
    else:
        lines += [f"`{config_id}` is not a shipped config: train with the fields in `{ARTIFACTS}/config.json`.", ""]
    lines += [
        "## Files",
        "",
        f"- `{ARTIFACTS}/config.json`: the resolved training config",
        f"- `{ARTIFACTS}/checkpoints/*.ckpt`: weights, optimizer and normalization statistics; they load with "
        "`torch.load(path, weights_only=True)`",
        f"- `{ARTIFACTS}/{METRICS_CSV.as_posix()}`: one row per update, one column per metric",
        f"- `{ARTIFACTS}/results.json`: what the run achieved",
    ]
    if has_plot:
        lines.append(f"- `{ARTIFACTS}/{PLOT_NAME}`: the learning curve")
    if video_url:
        lines.append(f"- `{VIDEO_NAME}`: an evaluation episode")
    return "\n".join(lines) + "\n"

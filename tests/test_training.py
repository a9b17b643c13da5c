"""End-to-end training: run folders, checkpoints, results, resume, normalization, Ctrl-C, Bandit solve.

Runs are short (a few thousand env steps) and in-process except for the Ctrl-C test, which needs a real
signal. Every test works in its own temporary directory: ``runs/`` is relative to the working directory.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import play
import train
from cli_helpers import only_run
from utils.config import load_config
from utils.environment import build_vec_env
from utils.policies import build_policy

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    return tmp_path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def metrics_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "logs" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def train_cartpole_ppo(extra=()) -> int:
    return train.main(["CartPole-v1:ppo", "--max-steps", "2048", "-q", "--eval_freq", "1024", *extra])


def logged_steps(run: Path) -> list[int]:
    return [int(float(row["env_steps"])) for row in metrics_rows(run)]


def eval_points(steps: list[int], eval_freq: int) -> list[int]:
    """Where evaluations fall given the env steps after each update: the first update at or past each
    multiple of eval_freq, and the last update."""
    points, next_eval = [], eval_freq
    for step in steps:
        if step >= next_eval:
            points.append(step)
            next_eval = (step // eval_freq + 1) * eval_freq
    return points if points and points[-1] == steps[-1] else [*points, steps[-1]]


def assert_stopped_at_budget(steps: list[int], budget: int, rollout: int) -> None:
    """One logged row per update, each adding at most a rollout's worth of env steps (the masked reset
    steps are not env steps), and training stopped at the first update that reached the budget."""
    increments = np.diff([0, *steps])
    assert (increments > 0).all() and (increments <= rollout).all()
    assert steps[-2] < budget <= steps[-1]


# --------------------------------------------------------------------------------------------------------
# A short PPO run and what it leaves behind


def test_short_ppo_run_writes_a_complete_run_folder(workdir):
    assert train_cartpole_ppo() == 0
    run = only_run(workdir)

    # runs/@latest-run -> the run
    latest = workdir / "runs" / "@latest-run"
    assert latest.is_symlink() and latest.resolve() == run.resolve()

    # config.json: the resolved config
    config = read_json(run / "config.json")
    assert config["env_id"] == "CartPole-v1" and config["algo_id"] == "ppo"
    assert config["max_timesteps"] == 2048 and config["eval_freq"] == 1024
    assert isinstance(config["batch_size"], int) and config["batch_size"] == 256

    # folders
    assert (run / "checkpoints" / "best.ckpt").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "videos").is_dir()

    # metrics CSV: one row per update (rollouts of 8 envs x 32 steps), env_steps and train/* columns
    csvs = list((run / "logs").glob("*.csv"))
    assert csvs, "no metrics CSV in logs/"
    rows = metrics_rows(run)
    columns = rows[0].keys()
    assert "env_steps" in columns
    for name in ("train/policy_loss", "train/value_loss", "train/entropy", "train/approx_kl", "train/lr"):
        assert name in columns
    steps = logged_steps(run)
    assert_stopped_at_budget(steps, 2048, 256)
    # a random CartPole policy ends an episode every ~20 steps: each one's reset step is not an env step
    assert steps[0] < 256
    entropies = [float(row["train/entropy"]) for row in rows]
    assert all(0 < e <= np.log(2) + 1e-6 for e in entropies)  # two actions: entropy in (0, ln 2]
    # policy_lr lin_0.001 decays with progress
    lrs = [float(row["train/lr"]) for row in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < 0.001
    # evaluation rows carry their wall time; other rows leave it empty
    durations = {int(float(row["env_steps"])): row["eval/duration_s"] for row in rows}
    eval_steps = [step for step, _ in read_json(run / "results.json")["eval_history"]]
    assert {step for step, value in durations.items() if value} == set(eval_steps) and len(eval_steps) == 2
    assert all(0 < float(durations[step]) < 600 for step in eval_steps)

    # results.json
    results = read_json(run / "results.json")
    assert results["env_id"] == "CartPole-v1"
    assert results["algo_id"] == "ppo"
    assert results["seed"] == 42
    assert results["run_id"] == run.name
    assert results["status"] == "completed"
    assert results["total_timesteps"] == steps[-1]
    assert results["wall_time_s"] > 0
    assert results["solved_at_timestep"] is None
    assert results["reward_threshold"] == 475.0
    history = results["eval_history"]
    assert [step for step, _ in history] == eval_points(steps, 1024)
    assert results["final_eval_reward"] == history[-1][1]
    assert results["best_eval_reward"] == max(reward for _, reward in history)
    assert 8 <= results["best_eval_reward"] <= 500  # CartPole episodes last 8..500 steps


def test_checkpoints_load_without_lightning_and_hold_everything_to_resume(workdir):
    assert train_cartpole_ppo() == 0
    run = only_run(workdir)
    last = load_ckpt(run / "checkpoints" / "last.ckpt")
    for key in ("policy", "optimizer", "normalization", "counters", "rng", "config"):
        assert key in last, key
    steps = logged_steps(run)
    assert last["counters"]["env_steps"] == steps[-1] == read_json(run / "results.json")["total_timesteps"]
    assert last["counters"]["updates"] == len(steps)
    # n_epochs 20, one minibatch per rollout (its <= 256 transitions fit one batch of 256)
    assert last["counters"]["grad_steps"] == len(steps) * 20
    assert last["counters"]["episodes"] > 0
    assert last["config"] == read_json(run / "config.json")
    assert last["optimizer"]["state"] and last["optimizer"]["param_groups"]
    assert isinstance(last["rng"]["torch"], torch.Tensor)
    assert last["normalization"] == {}  # CartPole:ppo normalizes nothing

    # the policy weights fit a freshly built policy
    config = load_config("CartPole-v1", "ppo")
    envs = build_vec_env(config, 1, training=False)
    policy = build_policy(config, envs.single_observation_space, envs.single_action_space)
    policy.load_state_dict(last["policy"])
    envs.close()

    best = load_ckpt(run / "checkpoints" / "best.ckpt")
    results = read_json(run / "results.json")
    # best.ckpt was written at the best evaluation
    best_step = max(results["eval_history"], key=lambda item: item[1])[0]
    assert best["counters"]["env_steps"] == best_step
    assert best["eval"]["best_reward"] == results["best_eval_reward"]


def test_same_seed_gives_the_same_run(workdir, tmp_path_factory, monkeypatch):
    assert train_cartpole_ppo(["--eval_freq", "2048"]) == 0
    first = only_run(workdir)
    other = tmp_path_factory.mktemp("again")
    monkeypatch.chdir(other)
    assert train_cartpole_ppo(["--eval_freq", "2048"]) == 0
    second = only_run(other)
    assert first.name != second.name
    a, b = read_json(first / "results.json"), read_json(second / "results.json")
    assert a["eval_history"] == b["eval_history"]
    wa = load_ckpt(first / "checkpoints" / "last.ckpt")["policy"]
    wb = load_ckpt(second / "checkpoints" / "last.ckpt")["policy"]
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"returns_type": "mc:episode", "use_baseline": "true"}],
    ids=["rtg", "episode-baseline"],
)
def test_short_reinforce_run(workdir, overrides):
    config = load_config("CartPole-v1", "reinforce", {"max_timesteps": 8192, "eval_freq": 4096, **overrides})
    results = train.train(config, quiet=True)
    run = only_run(workdir)
    assert read_json(run / "results.json") == json.loads(json.dumps(results))  # (tuples become lists)
    assert results["algo_id"] == "reinforce" and results["status"] == "completed"
    steps = logged_steps(run)
    assert_stopped_at_budget(steps, 8192, 2048)  # rollouts of 8 envs x 256 steps
    assert results["total_timesteps"] == steps[-1]
    assert [step for step, _ in results["eval_history"]] == eval_points(steps, 4096)
    last = load_ckpt(run / "checkpoints" / "last.ckpt")
    assert last["counters"]["env_steps"] == steps[-1] and last["counters"]["updates"] == len(steps)
    assert last["config"]["returns_type"] == config.returns_type
    rows = metrics_rows(run)
    assert all(np.isfinite(float(row["train/policy_loss"])) for row in rows)
    if config.use_baseline:
        assert float(rows[-1]["train/value_loss"]) > 0
    else:
        assert float(rows[-1]["train/value_loss"]) == 0


# --------------------------------------------------------------------------------------------------------
# Resume


def test_resume_continues_the_step_counter_in_the_same_run_folder(workdir):
    assert train_cartpole_ppo() == 0
    run = only_run(workdir)
    first_last = load_ckpt(run / "checkpoints" / "last.ckpt")

    assert train.main(["--resume", "@latest-run", "--max-steps", "4096", "-q"]) == 0
    assert only_run(workdir) == run  # no new run folder
    results = read_json(run / "results.json")
    assert results["run_id"] == run.name
    # the metrics CSV continues where it stopped
    steps = logged_steps(run)
    first_end = first_last["counters"]["env_steps"]
    assert first_end in steps and steps.index(first_end) == first_last["counters"]["updates"] - 1
    assert_stopped_at_budget(steps, 4096, 256)
    assert results["total_timesteps"] == steps[-1]
    # the evaluation record continues (eval_freq 1024 comes from the saved config): the first run's final
    # evaluation, then the resumed run's on the same rule
    first_evals = eval_points(steps[: steps.index(first_end) + 1], 1024)
    resumed_evals = [s for s in eval_points(steps, 1024) if s > first_end]
    assert [step for step, _ in results["eval_history"]] == first_evals + resumed_evals
    assert results["best_eval_reward"] == max(r for _, r in results["eval_history"])
    assert read_json(run / "config.json")["max_timesteps"] == 4096

    last = load_ckpt(run / "checkpoints" / "last.ckpt")
    assert last["counters"]["env_steps"] == steps[-1]
    assert last["counters"]["updates"] == len(steps)
    assert last["counters"]["grad_steps"] == len(steps) * 20
    assert last["counters"]["episodes"] > first_last["counters"]["episodes"]
    # training went on from the saved weights (they changed)
    assert any(not torch.equal(last["policy"][k], first_last["policy"][k]) for k in last["policy"])


def test_resume_a_missing_run_is_a_clean_error(workdir, capsys):
    assert train.main(["--resume", "nope", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err


# --------------------------------------------------------------------------------------------------------
# Observation normalization


def test_normalization_stats_are_checkpointed_and_used_by_play(workdir, monkeypatch):
    from gymnasium.wrappers.vector import NormalizeObservation

    import utils.playback

    assert train_cartpole_ppo(["--normalize_obs", "true"]) == 0
    run = only_run(workdir)
    for name in ("best", "last"):
        stats = load_ckpt(run / "checkpoints" / f"{name}.ckpt")["normalization"]["obs"]
        assert stats["count"] > 1000  # every observation seen by the 8 training envs updates it
        assert len(stats["mean"]) == len(stats["var"]) == 4
        assert np.any(np.abs(stats["mean"]) > 1e-4)
        assert not np.allclose(stats["var"], 1.0)
    last_stats = load_ckpt(run / "checkpoints" / "last.ckpt")["normalization"]["obs"]
    best_stats = load_ckpt(run / "checkpoints" / "best.ckpt")["normalization"]["obs"]

    seen = []
    real_play_episode = utils.playback.play_episode

    def spy(policy, envs, **kwargs):
        wrapper = envs
        while not isinstance(wrapper, NormalizeObservation):
            wrapper = wrapper.env
        result = real_play_episode(policy, envs, **kwargs)
        seen.append((wrapper.update_running_mean, np.array(wrapper.obs_rms.mean), float(wrapper.obs_rms.count)))
        return result

    monkeypatch.setattr(utils.playback, "play_episode", spy)
    returns = play.play(play.parse_args(["--run-id", "@latest-run", "--episodes", "2", "--checkpoint", "last"]))
    assert len(returns) == 2 and all(r >= 8 for r in returns)
    assert len(seen) == 2
    for update, mean, count in seen:
        assert update is False  # frozen: playing does not move the statistics
        np.testing.assert_allclose(mean, last_stats["mean"])
        assert count == last_stats["count"]

    seen.clear()
    play.play(play.parse_args(["--run-id", run.name, "--episodes", "1"]))  # best.ckpt by default
    np.testing.assert_allclose(seen[0][1], best_stats["mean"])


# --------------------------------------------------------------------------------------------------------
# Ctrl-C


def test_ctrl_c_saves_last_checkpoint_and_results_and_exits_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "VIBES_DISABLE_SESSION_LOGS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "train.py"), "CartPole-v1:ppo", "--max-steps", "1000000", "-q"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait until updates are being logged (the SIGINT handler is installed when fitting starts);
        # the deadline only guards against a hang.
        deadline = time.monotonic() + 180
        metrics = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list((tmp_path / "runs").glob("*/logs/metrics.csv")) if (tmp_path / "runs").is_dir() else []
            if found and len(found[0].read_text().splitlines()) >= 3:
                metrics = found[0]
                break
            time.sleep(0.2)
        assert metrics is not None, f"training never started: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    run = metrics.parent.parent
    results = read_json(run / "results.json")
    assert results["status"] == "interrupted"
    assert 0 < results["total_timesteps"] < 1_000_000
    last = load_ckpt(run / "checkpoints" / "last.ckpt")
    assert last["counters"]["env_steps"] == results["total_timesteps"]
    assert last["counters"]["env_steps"] in logged_steps(run)  # stopped at an update boundary


# --------------------------------------------------------------------------------------------------------
# The default config


def test_default_bandit_ppo_solves(workdir):
    assert train.main(["-q"]) == 0
    run = only_run(workdir)
    results = read_json(run / "results.json")
    assert results["config_id"] == "Bandit-v0:ppo"
    assert results["status"] == "solved"
    assert results["best_eval_reward"] >= 90.0
    assert results["solved_at_timestep"] is not None
    assert results["solved_at_timestep"] == results["total_timesteps"] <= 20_000  # early stop at the solve

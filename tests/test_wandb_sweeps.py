"""W&B sweeps: train.py launched the way ``wandb agent`` launches it (wandb's own agent code builds the
command, environment and parameter file from the shipped sweep spec), the merge of the sweep's parameters
over the config, its errors, and the validity of the shipped sweep specs."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loggers.metrics_spec import load_metrics_spec
from utils.config import load_config, merge_sweep_parameters, normalize_option_names, parse_config_id
from utils.config.coercion import coerce_field
from utils.config.overrides import SETTABLE_FIELDS
from utils.config.schema import ALL_FIELD_TYPES
from utils.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
SWEEPS = sorted((REPO_ROOT / "config" / "sweeps").glob("*.yaml"))
DISTRIBUTIONS = {"uniform", "int_uniform", "log_uniform_values", "q_uniform", "q_log_uniform_values", "normal",
                 "log_normal", "categorical", "constant"}


# -- the merge (pure: no wandb needed) ----------------------------------------------------------------------


def test_sweep_parameters_override_the_config_with_coercion_and_batch_size_resolved_after():
    merged = merge_sweep_parameters({"n_envs": "4"}, {"_wandb": {}, "policy_lr": "lin_0.0005", "batch_size": 0.5,
                                                      "early_stop": False, "hidden_dims": [32, 32]})
    config = load_config("CartPole-v1", "ppo", merged)
    assert config.policy_lr == "lin_0.0005" and config.schedule("policy_lr").start == 0.0005
    assert config.n_envs == 4 and config.batch_size == 64  # 0.5 of the 4 x 32 rollout, not of the YAML's 8 x 32
    assert config.early_stop is False and config.hidden_dims == (32, 32)


def test_unknown_or_bad_sweep_parameters_are_one_clear_error():
    with pytest.raises(ConfigError, match=r"^unknown sweep parameter 'polcy_lr' \(did you mean 'policy_lr'\?\)"):
        merge_sweep_parameters({}, {"polcy_lr": 0.001})
    with pytest.raises(ConfigError, match=r"^unknown sweep parameter 'variant'"):
        merge_sweep_parameters({}, {"variant": "ppo"})
    with pytest.raises(ConfigError, match=r"^sweep parameter n_envs must be an integer, got 'many'$"):
        merge_sweep_parameters({}, {"n_envs": "many"})
    with pytest.raises(ConfigError, match=r"^sweep parameter policy_lr='lin_0.001' disagrees with --policy_lr=3e-4"):
        merge_sweep_parameters({"policy_lr": "3e-4"}, {"policy_lr": "lin_0.001"})
    # the same value both ways, as the agent passes it, is no conflict
    assert merge_sweep_parameters({"early_stop": "False", "n_envs": "8"}, {"early_stop": False, "n_envs": 8}) == {
        "early_stop": False, "n_envs": 8}


def test_a_boolean_field_alone_means_true_and_never_swallows_the_config_id():
    assert normalize_option_names(["--wandb", "CartPole-v1:ppo", "--early-stop", "False", "--normalize_obs"]) == [
        "--wandb=true", "CartPole-v1:ppo", "--early_stop", "False", "--normalize_obs=true"]
    assert normalize_option_names(["--early_stop=False", "--wandb", "no"]) == ["--early_stop=False", "--wandb", "no"]


# -- the shipped sweep specs --------------------------------------------------------------------------------


def check_value(name: str, value: Any) -> None:
    coerce_field(f"{name}", value, ALL_FIELD_TYPES[name])


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_sweep_specs_are_valid_and_name_real_config_fields(path):
    spec = yaml.safe_load(path.read_text())
    assert spec["program"] == "train.py" and (REPO_ROOT / spec["program"]).is_file()
    assert spec["method"] in {"grid", "random", "bayes"}
    assert spec["metric"] == {"name": "eval/ep_rew_mean", "goal": "maximize"}
    assert spec["metric"]["name"] in load_metrics_spec().keys()
    assert set(spec) <= {"program", "name", "description", "method", "metric", "parameters", "early_terminate",
                         "command", "project", "entity", "run_cap"}
    # the command runs the python on PATH (an activated venv) with the agent's --field=value arguments
    command = spec["command"]
    assert command[:3] == ["${env}", "${interpreter}", "${program}"] and command[-1] == "${args}"
    config_id = next(arg for arg in command[3:-1] if not arg.startswith("-"))
    base = load_config(*parse_config_id(config_id))
    for name, param in spec["parameters"].items():
        assert name in SETTABLE_FIELDS and name in base.to_dict(), f"{path.name}: {name} is not a field of {config_id}"
        kinds = {"value", "values", "distribution"} & set(param)
        assert len(kinds) == 1, f"{path.name}: {name} needs one of value, values or distribution"
        if "value" in param:
            check_value(name, param["value"])
        elif "values" in param:
            assert param["values"] and all(check_value(name, v) is None for v in param["values"])
        else:
            assert param["distribution"] in DISTRIBUTIONS and param["min"] < param["max"]
            check_value(name, param["min"])
            check_value(name, param["max"])
    if spec["method"] == "grid":
        assert all("distribution" not in param for param in spec["parameters"].values())
    if spec["method"] == "bayes":
        terminate = spec["early_terminate"]
        assert terminate["type"] == "hyperband" and terminate["min_iter"] >= 1 and terminate["eta"] >= 2
    # every combination at its extremes is a valid config (e.g. batch fractions of the rollout)
    for values in extremes(spec["parameters"]):
        load_config(*parse_config_id(config_id), merge_sweep_parameters({}, values))


def extremes(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    def ends(param: dict[str, Any]) -> list[Any]:
        if "value" in param:
            return [param["value"]]
        if "values" in param:
            return [param["values"][0], param["values"][-1]]
        return [param["min"], param["max"]]

    return [{name: ends(param)[i % len(ends(param))] for name, param in parameters.items()} for i in (0, 1)]


def test_bayes_spec_early_terminates_and_grid_spec_is_small():
    grid = yaml.safe_load((REPO_ROOT / "config" / "sweeps" / "cartpole_ppo_grid.yaml").read_text())
    sizes = [len(param.get("values", [None])) for param in grid["parameters"].values()]
    assert 1 < math.prod(sizes) <= 16
    bayes = yaml.safe_load((REPO_ROOT / "config" / "sweeps" / "cartpole_ppo_bayes.yaml").read_text())
    assert bayes["method"] == "bayes" and bayes["early_terminate"]["type"] == "hyperband"


# -- a sweep run launched as the agent launches it ------------------------------------------------------------


@pytest.fixture
def agent_launch(tmp_path, monkeypatch):
    """``launch(args, spec=...)``: what wandb's agent does for one run of the sweep (its own code builds the
    command from the spec, writes the parameter file and sets the environment), then runs it offline."""
    wandb_agent = pytest.importorskip("wandb.wandb_agent", reason="needs the wandb extra: pip install -e '.[wandb]'")
    import subprocess

    monkeypatch.chdir(tmp_path)
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_PROJECT",
                 "WANDB_ENTITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep001")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    (tmp_path / "wandb_dir").mkdir()

    def launch(args: dict[str, Any], run_id: str = "sweeprun1",
               spec: str = "cartpole_ppo_grid.yaml") -> subprocess.CompletedProcess:
        launched = {}

        class CaptureProcess:  # stands in for wandb's AgentProcess, which would Popen the command
            def __init__(self, command=None, env=None, **_):
                launched.update(command=command, env=env)

        monkeypatch.setattr(wandb_agent, "AgentProcess", CaptureProcess)
        agent = wandb_agent.Agent(api=None, queue=None, sweep_id="sweep001")
        agent._sweep_command = yaml.safe_load((REPO_ROOT / "config" / "sweeps" / spec).read_text())["command"]
        # the real agent runs in the repo root with program "train.py"; here runs/ goes to the temporary folder
        agent._command_run({"type": "run", "run_id": run_id, "program": str(REPO_ROOT / "train.py"),
                            "args": {name: {"value": value} for name, value in args.items()}})
        env = {**launched["env"], "WANDB_MODE": "offline", "VIBES_DISABLE_SESSION_LOGS": "1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{launched['env']['PATH']}"}
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            env[name] = str(tmp_path / name.lower())
        launch.command = launched["command"]
        return subprocess.run(launched["command"], env=env, capture_output=True, text=True, timeout=300)

    return launch


def test_agent_launch_merges_the_sweep_parameters_and_logs_the_run(agent_launch, tmp_path):
    from wandb_offline import config, finished_run, history

    result = agent_launch({"policy_lr": "lin_0.0005", "batch_size": 0.5, "early_stop": False,
                           "max_timesteps": 2048})
    # what ${args} expanded to, with the python on PATH as the interpreter
    assert agent_launch.command == [
        "/usr/bin/env", "python", str(REPO_ROOT / "train.py"), "CartPole-v1:ppo", "-q",
        "--policy_lr=lin_0.0005", "--batch_size=0.5", "--early_stop=False", "--max_timesteps=2048"]
    assert result.returncode == 0, result.stderr

    # the run folder is named by the agent's run id, and its config is the YAML's with the sweep's values
    latest = (tmp_path / "runs" / "@latest-run").resolve()
    assert latest.name == "sweeprun1"
    resolved = json.loads((latest / "config.json").read_text())
    expected = load_config("CartPole-v1", "ppo", {"policy_lr": "lin_0.0005", "batch_size": 0.5, "early_stop": False,
                                                  "max_timesteps": 2048, "wandb": True}).to_dict()
    assert resolved == expected
    assert resolved["batch_size"] == 128 and resolved["early_stop"] is False and resolved["n_epochs"] == 20
    results = json.loads((latest / "results.json").read_text())
    assert results["total_timesteps"] >= 2048  # early_stop off: the whole budget

    # the W&B run: the sweep's own values as it chose them, every other field as resolved
    records = finished_run(tmp_path / "wandb_dir", "sweeprun1")
    (header,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert header.sweep_id == "sweep001"
    logged = config(records)
    assert {k: logged[k] for k in ("policy_lr", "batch_size", "early_stop", "max_timesteps")} == {
        "policy_lr": "lin_0.0005", "batch_size": 0.5, "early_stop": False, "max_timesteps": 2048}
    assert {k: v for k, v in logged.items() if k != "batch_size"} == {
        k: v for k, v in resolved.items() if k != "batch_size"}
    evals = [[row["time/env_steps"], row["eval/ep_rew_mean"]] for row in history(records) if "eval/ep_rew_mean" in row]
    assert evals == results["eval_history"]


def test_agent_launch_with_an_unknown_parameter_fails_with_one_line(agent_launch, tmp_path):
    result = agent_launch({"polcy_lr": 0.001})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: unknown option --polcy_lr (did you mean --policy_lr?)"
    assert not (tmp_path / "runs").exists()


def test_sweep_parameter_file_alone_is_checked_too(tmp_path, monkeypatch, capsys):
    """The parameters reach train.py through wandb.config even when the command drops ${args}."""
    wandb = pytest.importorskip("wandb", reason="needs the wandb extra: pip install -e '.[wandb]'")
    import train

    monkeypatch.chdir(tmp_path)
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "wandb_dir").mkdir()
    params = tmp_path / "params.yaml"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep001")
    monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", str(params))
    for run_id, values, message in (
        ("bad00001", {"polcy_lr": 0.001}, "error: unknown sweep parameter 'polcy_lr' (did you mean 'policy_lr'?); "
                                          "sweep parameters are config fields (python train.py --help lists them)"),
        ("bad00002", {"batch_size": 2.5}, "CartPole-v1.yaml, variant 'ppo' (overridden: batch_size=2.5): batch_size "
                                          "must be an integer >= 1 "
                                          "or a fraction in (0, 1], got 2.5"),
        ("bad00003", {"gamma": "high"}, "error: sweep parameter gamma must be a finite number, got 'high'"),
    ):
        monkeypatch.setenv("WANDB_RUN_ID", run_id)
        wandb.teardown()  # wandb reads its environment once per process: a real agent starts a new one per run
        params.write_text(yaml.safe_dump({"wandb_version": 1, **{k: {"value": v} for k, v in values.items()}}))
        assert train.main(["CartPole-v1:ppo", "-q"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and line.endswith(message.removeprefix("error: "))
    assert not (tmp_path / "runs").exists()
    assert train.main(["--resume", "@latest-run", "--wandb_sweep"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: a W&B sweep run starts a new run: drop --resume"

"""The command lines: bad input is one clear ``error:`` line on stderr (exit 2, no traceback); play works.

Everything runs as a subprocess from a temporary directory, as a user would run it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_helpers import one_error_line, run_code, run_script

# --------------------------------------------------------------------------------------------------------
# train.py


def test_unknown_env(tmp_path):
    result = run_script("train.py", "Foo-v0:ppo", cwd=tmp_path)
    line = one_error_line(result)
    assert result.returncode == 2
    assert "Foo-v0" in line and "CartPole-v1" in line  # lists the available configs
    assert not (tmp_path / "runs").exists()  # nothing created for a rejected command


def test_unknown_env_close_to_a_known_one_suggests_it(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v2:ppo", cwd=tmp_path))
    assert "did you mean 'CartPole-v1'" in line


def test_unknown_variant_lists_the_variants(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:foo", cwd=tmp_path))
    assert "'foo'" in line
    assert "ppo" in line and "reinforce" in line


def test_missing_variant_explains_the_form(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1", cwd=tmp_path))
    assert "<env>:<variant>" in line and "CartPole-v1:ppo" in line


def test_unknown_override_suggests_the_closest_field(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--polcy_lr", "0.1", cwd=tmp_path))
    assert "--polcy_lr" in line and "--policy_lr" in line


def test_bad_override_value_names_the_field_and_the_rule(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--n_envs", "-1", cwd=tmp_path))
    assert "n_envs" in line and ">= 1" in line and "-1" in line


def test_non_numeric_override_value(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--gamma", "abc", cwd=tmp_path))
    assert "gamma" in line and "abc" in line


def test_override_without_value(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--n_envs", cwd=tmp_path))
    assert "--n_envs" in line and "needs a value" in line


def test_bad_env_kwargs_are_reported_before_training(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--env_kwargs", "{foo: 1}", cwd=tmp_path))
    assert "env_kwargs" in line and "foo" in line


def test_unknown_env_wrapper_lists_the_registered_ones(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--env_wrappers", "[{id: Nope}]", cwd=tmp_path))
    assert "Nope" in line and "DiscreteEncoder" in line


def test_obs_type_outside_atari_is_rejected(tmp_path):
    line = one_error_line(run_script("train.py", "CartPole-v1:ppo", "--obs_type", "ram", cwd=tmp_path))
    assert "obs_type" in line and "ALE/" in line and "CartPole-v1" in line


def test_resume_with_no_runs(tmp_path):
    line = one_error_line(run_script("train.py", "--resume", "@latest-run", cwd=tmp_path))
    assert "no runs" in line


@pytest.mark.parametrize("script", ["train.py", "play.py"])
def test_help(tmp_path, script):
    result = run_script(script, "--help", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage:")
    for option in (["--max-steps", "--resume", "-q"] if script == "train.py" else ["--run-id", "--episodes"]):
        assert option in result.stdout


# Every documented form of an override trains with it applied, whatever its position among the flags.

FAST = ["--max-steps", "256", "--eval_freq", "0", "--eval_episodes", "2", "-q"]


@pytest.mark.parametrize("argv, expected", [
    (["--config_id", "Bandit-v0:ppo", "--policy_lr", "0.002"], {"config_id": "Bandit-v0:ppo", "policy_lr": 0.002}),
    (["--config-id=Bandit-v0:reinforce", "--policy_lr=0.02"], {"algo_id": "reinforce", "policy_lr": 0.02}),
    (["-q", "--n_envs", "4"], {"config_id": "Bandit-v0:ppo", "n_envs": 4}),  # the default config
    (["--n_envs=4", "Bandit-v0:reinforce"], {"algo_id": "reinforce", "n_envs": 4}),  # override before the config
    (["Bandit-v0:ppo", "--seed", "7", "--n_steps=16"], {"seed": 7, "n_steps": 16}),
    (["--seed=7", "Bandit-v0:ppo", "--max_steps", "300"], {"seed": 7, "max_timesteps": 300}),
    (["Bandit-v0:ppo", "--early_stop=False", "--normalize_obs=True"], {"early_stop": False, "normalize_obs": True}),
    (["Bandit-v0:ppo", "--early_stop", "false", "--normalize-obs", "yes"], {"early_stop": False, "normalize_obs": True}),
    (["--normalize_obs", "Bandit-v0:ppo", "--early_stop"], {"normalize_obs": True, "early_stop": True}),  # alone: true
    (["Bandit-v0:ppo", "--hidden_dims=[128,128]"], {"hidden_dims": [128, 128]}),
    (["Bandit-v0:ppo", "--hidden_dims", "128,128"], {"hidden_dims": [128, 128]}),
    (["Bandit-v0:ppo", "--hidden-dims", "[32, 16]"], {"hidden_dims": [32, 16]}),
    (["Bandit-v0:ppo", "--policy_lr=lin_0.0005", "--batch_size=0.5"], {"policy_lr": "lin_0.0005", "batch_size": 128}),
    (["Bandit-v0:ppo", "--env_kwargs", "{n_arms: 5}"], {"env_kwargs": {"n_arms": 5}}),
])
def test_every_override_form_is_applied(tmp_path, monkeypatch, argv, expected):
    import train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    # FAST goes first, so the form under test is also checked after flags and overrides
    assert train.main([*FAST, *argv]) == 0
    saved = json.loads((tmp_path / "runs" / "@latest-run" / "config.json").read_text())
    saved["config_id"] = f"{saved['project_id']}:{saved['variant']}"
    assert {key: saved[key] for key in expected} == expected


def test_resume_takes_overrides_after_the_run_id(tmp_path, monkeypatch):
    import train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    assert train.main(["Bandit-v0:ppo", *FAST]) == 0
    run_id = (tmp_path / "runs" / "@latest-run").resolve().name
    assert train.main(["--resume", "@latest-run", "--n_envs", "16", "--max-steps", "1024", "-q"]) == 0
    saved = json.loads((tmp_path / "runs" / run_id / "config.json").read_text())
    assert (saved["n_envs"], saved["max_timesteps"]) == (16, 1024)
    results = json.loads((tmp_path / "runs" / run_id / "results.json").read_text())
    assert results["total_timesteps"] >= 1024


@pytest.mark.parametrize("argv, expected", [
    (["CartPole-v1:ppo", "--polcy_lr", "0.1"], "unknown option --polcy_lr (did you mean --policy_lr?)"),
    (["CartPole-v1:ppo", "--polcy-lr=0.1"], "unknown option --polcy-lr (did you mean --policy_lr?)"),
    (["--n", "4"], "unknown option --n "),
    (["CartPole-v1:ppo", "--n_envs"], "--n_envs needs a value: --n_envs VALUE or --n_envs=VALUE"),
    (["CartPole-v1:ppo", "--normalize_obs=maybe"], "--normalize_obs must be true or false, got 'maybe'"),
    (["CartPole-v1:ppo", "extra"], "unexpected argument 'extra'"),
    (["CartPole-v1:ppo", "--config_id", "Acrobot-v1:ppo"], "two configs given"),
    (["CartPole-v1:ppo", "--variant", "x"], "unknown option --variant"),
    (["CartPole-v1:ppo", "--max-steps", "10", "--max_timesteps", "20"], "--max-steps 10 and --max_timesteps 20 disagree"),
    (["CartPole-v1:ppo", "--env_kwargs", "{a: [1"], "argument --env_kwargs: cannot parse '{a: [1' as a YAML list"),
])
def test_bad_command_lines_are_one_line_errors(argv, expected):
    import train
    from utils.errors import UserError

    with pytest.raises(UserError) as info:
        args, overrides = train.parse_args(argv)
        train.resolve_config(args, overrides)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_list_prints_every_config_with_algo_budget_and_description(tmp_path):
    result = run_script("train.py", "--list", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["config", "algo", "budget", "description"]
    rows = {line.split()[0]: line for line in lines[1:]}
    from utils.config import list_config_ids

    assert sorted(rows) == sorted(list_config_ids())
    assert rows["CartPole-v1:ppo"].split()[1:3] == ["ppo", "100k"]
    assert rows["CartPole-v1:reinforce"].split()[1:3] == ["reinforce", "300k"]
    assert all(len(row.split()) > 3 for row in rows.values())  # every shipped config describes itself


def test_list_and_help_import_no_torch(tmp_path):
    code = ("import sys, train; train.main(['--list']); "
            "print(sorted(m for m in ('torch', 'gymnasium', 'pytorch_lightning') if m in sys.modules))")
    result = run_code(code, cwd=tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_every_field_with_its_meaning_and_default(tmp_path):
    from utils.config import field_default, field_help, schema_fields

    text = " ".join(run_script("train.py", "--help", cwd=tmp_path).stdout.split())
    for name in schema_fields():
        if name == "variant":
            assert "--variant" not in text
            continue
        assert f"--{name} " in text
        assert f"{' '.join(field_help(name).split())} (default: {field_default(name)})" in text


# --------------------------------------------------------------------------------------------------------
# play.py


def test_play_with_a_missing_run_id(tmp_path):
    (tmp_path / "runs" / "abc12345").mkdir(parents=True)
    line = one_error_line(run_script("play.py", "--run-id", "nope1234", cwd=tmp_path))
    assert "nope1234" in line and "abc12345" in line  # names the missing run and lists existing ones


def test_play_with_no_runs_at_all(tmp_path):
    line = one_error_line(run_script("play.py", cwd=tmp_path))
    assert "no runs" in line


def _fake_run(root: Path, run_id: str = "fake0001") -> Path:
    from utils.config import load_config

    run = root / "runs" / run_id
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(load_config("CartPole-v1", "ppo").to_dict()))
    return run


def test_play_with_a_corrupt_checkpoint(tmp_path):
    run = _fake_run(tmp_path)
    (run / "checkpoints" / "best.ckpt").write_bytes(b"\x00garbage\xff" * 100)
    line = one_error_line(run_script("play.py", "--run-id", "fake0001", cwd=tmp_path))
    assert "corrupt" in line and "best.ckpt" in line


def test_play_with_a_run_without_checkpoints(tmp_path):
    _fake_run(tmp_path)
    line = one_error_line(run_script("play.py", "--run-id", "fake0001", cwd=tmp_path))
    assert "no checkpoint" in line


def test_play_with_bad_episodes_is_a_usage_error(tmp_path):
    result = run_script("play.py", "--episodes", "0", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--episodes must be at least 1" in result.stderr


def test_play_a_real_short_run_prints_one_line_per_episode(tmp_path, monkeypatch):
    import train  # trained in-process (Lightning's import is paid once per test session), played as a user would

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    assert train.main(["CartPole-v1:ppo", "--max-steps", "1024", "--eval_freq", "1024", "-q"]) == 0
    result = run_script("play.py", "--run-id", "@latest-run", "--episodes", "3", "--seed", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    episodes = re.findall(r"^episode (\d+): return ([\d.]+)", result.stdout, flags=re.M)
    assert [int(i) for i, _ in episodes] == [1, 2, 3]
    returns = [float(r) for _, r in episodes]
    assert all(8 <= r <= 500 for r in returns)  # CartPole: 1 per step, 8..500 steps
    mean = re.search(r"mean return over 3 episodes: ([\d.]+)", result.stdout)
    assert mean and float(mean.group(1)) == pytest.approx(sum(returns) / 3, abs=0.01)
    # Again through play.main: a deterministic policy with the same seed plays the same episodes, and
    # the whole play path (checkpoint, env, policy, evaluation) never imports Lightning.
    code = (
        "import sys, play\n"
        "code = play.main(['--run-id', '@latest-run', '--episodes', '3', '--seed', '0'])\n"
        "print('LIGHTNING' if 'pytorch_lightning' in sys.modules else 'NO-LIGHTNING')\n"
        "sys.exit(code)\n"
    )
    again = run_code(code, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert re.findall(r"^episode (\d+): return ([\d.]+)", again.stdout, flags=re.M) == episodes
    assert again.stdout.strip().endswith("NO-LIGHTNING")


def test_importing_play_does_not_import_lightning(tmp_path):
    code = "import sys, play; assert 'pytorch_lightning' not in sys.modules and 'lightning' not in sys.modules"
    result = run_code(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script, args", [("train.py", ["--list"]), ("train.py", ["--help"]), ("play.py", ["--help"])])
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, script, args):
    """``train.py --list | head -1``: no BrokenPipeError traceback; status 141, as Unix tools end on SIGPIPE
    (argparse's --help ignores a failed write itself: 0)."""
    import subprocess
    import sys

    from cli_helpers import REPO_ROOT, TIMEOUT, cli_env

    process = subprocess.Popen([sys.executable, str(REPO_ROOT / script), *args], cwd=tmp_path, env=cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # before the command writes: its first write finds no reader
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert stderr == "" and process.returncode == (0 if "--help" in args else 141)

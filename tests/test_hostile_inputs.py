"""Hostile input, as a determined user would give it: broken config files, odd CLI values, tampered or
mismatched runs and checkpoints, a broken ``runs/`` folder, signals and a full disk.

Every case runs the real command line in a subprocess and asserts: the exit status, exactly one
``error:`` line on stderr and no traceback, and that the good run folder present beforehand is
byte-identical afterwards (for inputs that are rejected, nothing may change).
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from cli_helpers import REPO_ROOT, TIMEOUT, cli_env, latest_run, one_error_line, run_code, run_script, snapshot

#: train.py with its config folder pointed at a temporary one (first argument)
TRAIN_WITH_CONFIG_DIR = ("import sys, pathlib, utils.config.loading as loading; "
                         "loading.DEFAULT_CONFIG_DIR = pathlib.Path(sys.argv[1]); "
                         "import train; sys.exit(train.main(sys.argv[2:]))")


def run_cli(script: str, args: list[str], cwd: Path, config_dir: Path | None = None,
            env: dict[str, str | None] | None = None, **popen) -> subprocess.CompletedProcess:
    """``script`` with ``args``; ``env`` changes the environment (None removes a variable)."""
    environment = {key: value for key, value in cli_env(**(env or {})).items() if value is not None}
    if config_dir is None:
        return run_script(script, *args, cwd=cwd, env=environment, **popen)
    return run_code(TRAIN_WITH_CONFIG_DIR, str(config_dir), *args, cwd=cwd, env=environment, **popen)


# --------------------------------------------------------------------------------------------------------
# A good run, trained once; each case works on its own copy.


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    import train

    root = tmp_path_factory.mktemp("template")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        os.environ["VIBES_DISABLE_SESSION_LOGS"] = "1"
        assert train.main(["Bandit-v0:ppo", "--max-steps", "512", "--eval_freq", "256", "--early_stop", "false",
                           "-q"]) == 0
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture
def work(template, tmp_path) -> Path:
    root = tmp_path / "work"
    shutil.copytree(template, root, symlinks=True)
    return root


def edit_checkpoint(edit: Callable[[dict], None], name: str = "last") -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = latest_run(root) / "checkpoints" / f"{name}.ckpt"
        state = torch.load(path, weights_only=True)
        edit(state)
        torch.save(state, path)
    return setup


def write_file(relative: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / relative.replace("RUN", latest_run(root).name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_file():
            path.unlink()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return setup


class Evil:
    """Pickles into a call of os.system: loading it with full unpickling would run a command."""

    def __reduce__(self):
        return os.system, ("touch PWNED",)


def _tamper(state: dict) -> None:
    state["extra"] = Evil()


def _nan_weights(state: dict) -> None:
    first = next(iter(state["policy"]))
    state["policy"][first] = torch.full_like(state["policy"][first], float("nan"))


def _break_latest_link(root: Path) -> None:
    link = root / "runs" / "@latest-run"
    link.unlink()
    link.symlink_to("gone1234")


def _latest_is_a_folder(root: Path) -> None:
    link = root / "runs" / "@latest-run"
    link.unlink()
    link.mkdir()


def _runs_is_a_file(root: Path) -> None:
    shutil.rmtree(root / "runs")
    (root / "runs").write_text("not a folder")


def _only_best(root: Path) -> None:
    (latest_run(root) / "checkpoints" / "last.ckpt").unlink()


# --------------------------------------------------------------------------------------------------------
# The table.


@dataclass
class Case:
    id: str
    args: list[str]
    expected: str
    script: str = "train.py"
    code: int = 2
    setup: Callable[[Path], None] | None = None
    config_files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)  # changes to cli_env() (None removes a variable)
    extra: str | None = None  # the pip extra the script needs (its module is EXTRA_MODULES[extra])


EXTRA_MODULES = {"inspector": "gradio", "hub": "huggingface_hub", "wandb": "wandb_workspaces"}


GOOD_YAML = "env_id: Bandit-v0\nppo: {algo_id: ppo, max_timesteps: 256}\n"
CASES = [
    # -- command-line values
    Case("unknown env_id override", ["Bandit-v0:ppo", "--env_id", "Foo-v9"], "unknown environment 'Foo-v9'"),
    Case("env_id of another family", ["Bandit-v0:ppo", "--env_id", "CartPole"], "unknown environment 'CartPole'"),
    Case("negative seed", ["Bandit-v0:ppo", "--seed", "-1"], "seed must be >= 0, got -1"),
    Case("seed beyond numpy's range", ["Bandit-v0:ppo", "--seed", "99999999999"], "seed must be <= 4,294,967,295"),
    Case("float seed", ["Bandit-v0:ppo", "--seed", "1.5"], "seed must be an integer, got '1.5'"),
    Case("absurd torch_threads", ["Bandit-v0:ppo", "--torch_threads", "100000"], "torch_threads must be <= 256"),
    Case("absurd n_envs", ["Bandit-v0:ppo", "--n_envs", "1000000"], "n_envs must be <= 4,096"),
    Case("rollout larger than memory", ["CartPole-v1:ppo", "--n_envs", "4096", "--n_steps", "10000000"],
         "lower n_envs or n_steps"),
    Case("infinite learning rate", ["Bandit-v0:ppo", "--policy_lr", "inf"], "override --policy_lr must be a number"),
    Case("NaN learning rate", ["Bandit-v0:ppo", "--policy_lr=nan"], "override --policy_lr must be a number"),
    Case("overflowing schedule", ["Bandit-v0:ppo", "--policy_lr", "lin_1e999"], "policy_lr must be finite"),
    Case("negative learning rate", ["Bandit-v0:ppo", "--policy_lr", "-0.1"], "policy_lr must be > 0"),
    Case("gamma above 1", ["Bandit-v0:ppo", "--gamma", "2"], "gamma must be in (0, 1]"),
    Case("infinite gamma", ["Bandit-v0:ppo", "--gamma", "1e999"], "gamma must be a finite number"),
    Case("NaN reward threshold", ["Bandit-v0:ppo", "--reward_threshold", "nan"], "reward_threshold must be a finite"),
    Case("zero batch", ["Bandit-v0:ppo", "--batch_size", "0"], "batch_size must be an integer >= 1 or a fraction"),
    Case("batch above rollout", ["Bandit-v0:ppo", "--batch_size", "1e9"], "is larger than the rollout"),
    Case("fraction above 1", ["Bandit-v0:ppo", "--batch_size", "2.5"], "batch_size must be an integer >= 1 or a"),
    Case("empty hidden_dims", ["Bandit-v0:ppo", "--hidden_dims", "[]"], "hidden_dims must be 1 to 32 layer sizes"),
    Case("negative layer", ["Bandit-v0:ppo", "--hidden_dims", "64,-1"], "hidden_dims must be 1 to 32 layer sizes"),
    Case("words for hidden_dims", ["Bandit-v0:ppo", "--hidden_dims", "big"], "hidden_dims must be a list of integers"),
    Case("unknown env kwarg", ["Bandit-v0:ppo", "--env_kwargs", "{foo: 1}"], "bad env_kwargs for Bandit-v0"),
    Case("env_kwargs not a mapping", ["Bandit-v0:ppo", "--env_kwargs", "[1]"], "env_kwargs must be a mapping"),
    Case("unparsable env_kwargs", ["Bandit-v0:ppo", "--env_kwargs", "{a: [1"], "cannot parse '{a: [1'"),
    Case("unknown wrapper", ["Bandit-v0:ppo", "--env_wrappers", "[{id: Nope}]"], "unknown env wrapper id 'Nope'"),
    Case("wrappers not a list", ["Bandit-v0:ppo", "--env_wrappers", "{id: Nope}"], "env_wrappers must be a list"),
    Case("bad wrapper parameter", ["CartPole-v1:ppo", "--env_wrappers", "[{id: CartPoleV1_RewardShaper, x: 1}]"],
         "bad parameters for env wrapper 'CartPoleV1_RewardShaper'"),
    Case("obs_type outside Atari", ["Bandit-v0:ppo", "--obs_type", "ram"], "obs_type applies to Atari"),
    Case("unknown accelerator", ["Bandit-v0:ppo", "--accelerator", "tpu"],
         "--accelerator must be one of cpu, gpu, auto; got 'tpu'"),
    Case("gpu without a GPU", ["Bandit-v0:ppo", "--accelerator", "gpu"], "torch finds no CUDA GPU",
         env={"CUDA_VISIBLE_DEVICES": ""}),
    Case("the old device option", ["Bandit-v0:ppo", "--device", "cuda"], "unknown option --device (renamed: use "
         "--accelerator)"),
    Case("the old device field in a file", ["Mine:ppo"], "unknown field 'device' (did you mean 'accelerator'?)",
         config_files={"Mine.yaml": GOOD_YAML + "device: cpu\n"}),
    Case("fp16 precision", ["Bandit-v0:ppo", "--precision", "16-mixed"],
         "--precision must be one of 32-true, bf16-mixed; got '16-mixed'"),
    Case("empty precision", ["Bandit-v0:ppo", "--precision", ""], "--precision must be one of 32-true, bf16-mixed"),
    Case("true-bf16 precision", ["Bandit-v0:ppo", "--precision", "bf16-true"],
         "--precision must be one of 32-true, bf16-mixed; got 'bf16-true'"),
    Case("zero devices", ["Bandit-v0:ppo", "--devices", "0"], "devices must be >= 1, got 0"),
    Case("negative devices", ["Bandit-v0:ppo", "--devices", "-1"], "devices must be >= 1, got -1"),
    Case("words for devices", ["Bandit-v0:ppo", "--devices", "abc"], "--devices must be an integer, got 'abc'"),
    Case("fractional devices", ["Bandit-v0:ppo", "--devices", "1.5"], "--devices must be an integer, got '1.5'"),
    Case("absurd devices", ["Bandit-v0:ppo", "--devices", "99999"], "devices must be <= 1,024"),
    Case("more CPU processes than cores", ["Bandit-v0:ppo", "--devices", "1024", "--accelerator", "cpu"],
         "devices 1024 on the CPU: this machine gives this process"),
    Case("zero nodes", ["Bandit-v0:ppo", "--num_nodes", "0"], "num_nodes must be >= 1, got 0"),
    Case("nodes without a rendezvous", ["Bandit-v0:ppo", "--num-nodes", "2"], "num_nodes 2: set MASTER_ADDR",
         env={"MASTER_ADDR": None, "SLURM_JOB_NODELIST": None}),
    Case("absurd frame stack", ["Bandit-v0:ppo", "--frame_stack", "1000"], "frame_stack must be <= 64"),
    Case("zero budget", ["Bandit-v0:ppo", "--max-steps", "0"], "max_timesteps must be >= 1"),
    Case("words for budget", ["Bandit-v0:ppo", "--max-steps", "lots"], "max_timesteps must be an integer"),
    Case("variant as a field", ["Bandit-v0:ppo", "--variant", "x"], "unknown option --variant"),
    Case("abbreviated option", ["Bandit-v0:ppo", "--n_env", "2"], "unknown option --n_env (did you mean --n_envs?)"),
    Case("option without value", ["Bandit-v0:ppo", "--gamma"], "--gamma needs a value"),
    Case("two configs", ["Bandit-v0:ppo", "--config_id", "CartPole-v1:ppo"], "two configs given"),
    Case("stray positional", ["Bandit-v0:ppo", "CartPole-v1:ppo"], "unexpected argument 'CartPole-v1:ppo'"),
    Case("underscore config id", ["Bandit-v0_ppo"], "must have the form '<env>:<variant>'"),
    Case("unknown variant", ["Bandit-v0:dqn"], "no variant 'dqn'"),
    # -- --resume
    Case("empty resume id", ["--resume", ""], "a run id is required"),
    Case("unknown alias", ["--resume", "@best-run"], "unknown run alias '@best-run'"),
    Case("unknown run", ["--resume", "nope1234"], "run 'nope1234' not found"),
    Case("a Hub agent resumed in place", ["--resume", "hf:alice/agent"], "is a published agent"),
    Case("path traversal as run id", ["--resume", "../runs"], "run '../runs' not found"),
    Case("config that is not the run's", ["--resume", "@latest-run", "CartPole-v1:ppo"],
         "continues run '"),
    Case("non-finite override on resume", ["--resume", "@latest-run", "--policy_lr=inf"], "--policy_lr must be"),
    Case("changed network on resume", ["--resume", "@latest-run", "--hidden_dims", "32,32"],
         "does not fit the config's network"),
    Case("changed algorithm on resume", ["--resume", "@latest-run", "--algo_id", "reinforce"],
         "is from a ppo run, not reinforce"),
    Case("another env's checkpoint", ["--resume", "@latest-run"], "is from a CartPole-v1 run, not Bandit-v0",
         setup=edit_checkpoint(lambda s: s["config"].update(env_id="CartPole-v1"))),
    Case("checkpoint without weights", ["--resume", "@latest-run"], "'policy' must be a non-empty mapping",
         setup=edit_checkpoint(lambda s: s.pop("policy"))),
    Case("checkpoint with a missing weight", ["--resume", "@latest-run"], "does not fit the config's network: it lacks",
         setup=edit_checkpoint(lambda s: s["policy"].pop(next(iter(s["policy"]))))),
    Case("counters of the wrong type", ["--resume", "@latest-run"], "'counters' must map env_steps",
         setup=edit_checkpoint(lambda s: s["counters"].update(env_steps="many"))),
    Case("NaN weights", ["--resume", "@latest-run"], "the policy weights hold NaN", setup=edit_checkpoint(_nan_weights)),
    Case("foreign optimizer state", ["--resume", "@latest-run"], "its optimizer state",
         setup=edit_checkpoint(lambda s: s.update(optimizer={"state": {}, "param_groups": [{"params": [0]}]}))),
    Case("damaged rng state", ["--resume", "@latest-run"], "its random generator states cannot be restored",
         setup=edit_checkpoint(lambda s: s["rng"].update(numpy=[1, 2]))),
    Case("damaged eval record", ["--resume", "@latest-run"], "evaluation record is damaged",
         setup=edit_checkpoint(lambda s: s["eval"].update(history=[["x", "y"]]))),
    Case("pickled code in a checkpoint", ["--resume", "@latest-run"], "holds a Python object (posix.system)",
         setup=edit_checkpoint(_tamper)),
    Case("garbage checkpoint", ["--resume", "@latest-run"], "is corrupt",
         setup=write_file("runs/RUN/checkpoints/last.ckpt", b"\x00garbage\xff" * 50)),
    Case("truncated checkpoint", ["--resume", "@latest-run"], "is corrupt",
         setup=lambda root: (latest_run(root) / "checkpoints" / "last.ckpt").write_bytes(
             (latest_run(root) / "checkpoints" / "last.ckpt").read_bytes()[:500])),
    Case("missing last.ckpt", ["--resume", "@latest-run"], "checkpoint not found", setup=_only_best),
    Case("config.json holding null", ["--resume", "@latest-run"], "config.json must hold a mapping",
         setup=write_file("runs/RUN/config.json", "null")),
    Case("config.json holding a number", ["--resume", "@latest-run"], "config.json must hold a mapping",
         setup=write_file("runs/RUN/config.json", "5")),
    Case("config.json with Infinity", ["--resume", "@latest-run"], "finite",
         setup=lambda root: write_file("runs/RUN/config.json", (latest_run(root) / "config.json").read_text().replace(
             '"gamma": 0.99', '"gamma": Infinity'))(root)),
    Case("config.json not JSON", ["--resume", "@latest-run"], "config.json is not valid JSON",
         setup=write_file("runs/RUN/config.json", b"\xff{")),
    Case("config.json with a typo", ["--resume", "@latest-run"], "unknown field 'gama'",
         setup=lambda root: write_file("runs/RUN/config.json", (latest_run(root) / "config.json").read_text().replace(
             '"gamma"', '"gama"'))(root)),
    Case("dangling @latest-run", ["--resume", "@latest-run"], "points at 'gone1234', which no longer exists",
         setup=_break_latest_link),
    Case("@latest-run is a folder", ["Bandit-v0:ppo"], "@latest-run is a real folder", setup=_latest_is_a_folder),
    Case("runs is a file", ["Bandit-v0:ppo"], "runs exists but is not a folder", setup=_runs_is_a_file),
    # -- play.py
    Case("play: empty run id", ["--run-id", ""], "a run id is required", script="play.py"),
    Case("play: dangling @latest-run", [], "no longer exists", script="play.py", setup=_break_latest_link),
    Case("play: runs is a file", [], "runs exists but is not a folder", script="play.py", setup=_runs_is_a_file),
    Case("play: tampered checkpoint", ["--checkpoint", "best"], "holds a Python object", script="play.py",
         setup=edit_checkpoint(_tamper, "best")),
    Case("play: missing checkpoint", ["--checkpoint", "last"], "checkpoint not found", script="play.py",
         setup=_only_best),
    Case("play: config.json null", [], "config.json must hold a mapping", script="play.py",
         setup=write_file("runs/RUN/config.json", "null")),
    Case("play: changed network", [], "does not fit the config's network", script="play.py",
         setup=lambda root: write_file("runs/RUN/config.json", (latest_run(root) / "config.json").read_text().replace(
             '"hidden_dims": [\n    64,\n    64\n  ]', '"hidden_dims": [\n    8\n  ]'))(root)),
    # -- config files (the config folder pointed at a temporary one)
    Case("unknown env_id in a file", ["Mine:ppo"], "unknown environment 'Nope-v0'",
         config_files={"Mine.yaml": "env_id: Nope-v0\nppo: {algo_id: ppo}\n"}),
    Case("inherits a list", ["Mine:fast"], "inherits must name one variant",
         config_files={"Mine.yaml": GOOD_YAML + "fast: {inherits: [ppo]}\n"}),
    Case("misspelt mapping field", ["Mine:ppo"], "unknown field 'env_kwarg' (did you mean 'env_kwargs'?)",
         config_files={"Mine.yaml": GOOD_YAML + "env_kwarg: {n_arms: 3}\n"}),
    Case("mapping that is no variant", ["Mine:ppo"], "'fast' is neither a field nor a variant",
         config_files={"Mine.yaml": GOOD_YAML + "fast: {n_envs: 3}\n"}),
    Case("non-UTF-8 file", ["Mine:ppo"], "Mine.yaml: not a UTF-8 text file",
         config_files={"Mine.yaml": b"env_id: \xff\xfe\n"}),
    Case("deeply nested file", ["Mine:ppo"], "Mine.yaml: nested too deeply",
         config_files={"Mine.yaml": "a: " + "[" * 1500 + "]" * 1500}),
    Case("a folder named like a config", ["Mine:ppo"], "unknown config 'Mine'", config_files={"Mine.yaml/x": ""}),
    Case("a list instead of a mapping", ["Mine:ppo"], "expected a mapping of fields and variants, got list",
         config_files={"Mine.yaml": "- env_id: Bandit-v0\n"}),
    Case("an empty file", ["Mine:ppo"], "expected a mapping of fields and variants, got NoneType",
         config_files={"Mine.yaml": ""}),
    Case("duplicate key", ["Mine:ppo"], "duplicate key 'n_envs'",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo:\n  algo_id: ppo\n  n_envs: 2\n  n_envs: 4\n"}),
    Case("variant set in the file", ["Mine:ppo"], "'variant' is set from the variant name",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo: {algo_id: ppo, variant: x}\n"}),
    Case("broken neighbour, broken file asked for", ["Broken:ppo"], "Broken.yaml: invalid YAML",
         config_files={"Mine.yaml": GOOD_YAML, "Broken.yaml": "env_id: [x\n"}),
    # -- second round: the newer fields and scripts
    Case("empty config id", [""], "an empty config id"),
    Case("blank --config_id", ["--config_id", " "], "an empty config id"),
    Case("negative video_freq", ["Bandit-v0:ppo", "--video_freq", "-1"], "video_freq must be best, every_eval, off"),
    Case("words for video_freq", ["Bandit-v0:ppo", "--video_freq", "sometimes"], "--video_freq must be one of"),
    Case("fractional video_freq", ["Bandit-v0:ppo", "--video_freq", "1.5"], "--video_freq must be one of"),
    Case("wandb_project with a slash", ["Bandit-v0:ppo", "--wandb_project", "a/b"], "wandb_project must be at most"),
    Case("--wandb given a value", ["Bandit-v0:ppo", "--wandb", "maybe"], "unexpected argument 'maybe'"),
    Case("zero frame_stack", ["Bandit-v0:ppo", "--frame_stack", "0"], "frame_stack must be"),
    Case("window in env_kwargs", ["CartPole-v1:ppo", "--env_kwargs", "{render_mode: human}"],
         "env_kwargs.render_mode: human would open a window"),
    Case("render mode the env lacks", ["CartPole-v1:ppo", "--env_kwargs", "{render_mode: foo}"],
         "CartPole-v1 cannot render 'foo' frames (its render modes: human, rgb_array)"),
    Case("env kwarg the env rejects", ["FrozenLake-v1:ppo", "--env_kwargs", "{map_name: 9x9}"],
         "bad env_kwargs for FrozenLake-v1"),
    Case("a billion bandit arms", ["Bandit-v0:ppo", "--env_kwargs", "{n_arms: 1000000000}"],
         "Bandit-v0 needs n_arms between 2 and 100,000, got 1000000000"),
    Case("zero episode steps", ["CartPole-v1:ppo", "--env_kwargs", "{max_episode_steps: 0}"],
         "bad env_kwargs for CartPole-v1"),
    Case("recursive alias in a file", ["Mine:ppo"], "Mine.yaml: an alias (*name) makes a mapping or list contain",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo: {algo_id: ppo, env_kwargs: &k {a: *k}}\n"}),
    Case("5000-digit integer in a file", ["Mine:ppo"], "Mine.yaml: invalid YAML: Exceeds the limit",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo: {algo_id: ppo, n_envs: " + "9" * 5000 + "}\n"}),
    Case("tab indentation", ["Mine:ppo"], "Mine.yaml: invalid YAML at line 3: found character '\\t'",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo:\n\talgo_id: ppo\n"}),
    Case("a date for a seed", ["Mine:ppo"], "seed must be an integer, got datetime.date(2024, 1, 1)",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo: {algo_id: ppo, seed: 2024-01-01}\n"}),
    Case("a python tag", ["Mine:ppo"], "could not determine a constructor for the tag",
         config_files={"Mine.yaml": "env_id: Bandit-v0\nppo: {algo_id: ppo, seed: !!python/object/apply:os.system "
                                    "[touch PWNED]}\n"}),
    Case("UTF-16 file", ["Mine:ppo"], "Mine.yaml: not a UTF-8 text file",
         config_files={"Mine.yaml": GOOD_YAML.encode("utf-16")}),
    Case("two YAML documents", ["Mine:ppo"], "but found another document",
         config_files={"Mine.yaml": GOOD_YAML + "---\nx: 1\n"}),
    Case("inheritance cycle", ["Mine:a"], "inheritance cycle a -> b -> a",
         config_files={"Mine.yaml": "env_id: Bandit-v0\na: {inherits: b}\nb: {inherits: a}\n"}),
    Case("play: video into an unwritable folder", ["--video", "/sys/x.mp4"], "cannot write /sys/x.mp4",
         script="play.py"),
    Case("play: video below a file", ["--video", "runs/@latest-run/config.json/x.mp4"], "cannot write runs/",
         script="play.py"),
    Case("play: video name too long", ["--video", "v" * 300 + ".mp4"], "File name too long", script="play.py"),
    Case("play: video path is a folder", ["--video", "runs/clip.mp4"], "runs/clip.mp4: it is a folder",
         script="play.py", setup=lambda root: (root / "runs" / "clip.mp4").mkdir()),
    Case("play: video over a run's file", ["--video", "runs/@latest-run/videos/best.mp4"],
         "would replace a file of a run folder", script="play.py",
         setup=write_file("runs/RUN/videos/best.mp4", b"the run's video")),
    Case("play: an env that cannot render", ["--render"], "Bandit-v0 cannot render 'rgb_array' frames",
         script="play.py"),
    Case("play: run id too long", ["--run-id", "r" * 300], "not found", script="play.py"),
    Case("play: checkpoint name too long", ["--checkpoint", "c" * 300 + ".ckpt"], "checkpoint not found",
         script="play.py"),
    Case("play: @latest-run points at itself", [], "which no longer exists", script="play.py",
         setup=lambda root: ((root / "runs" / "@latest-run").unlink(),
                             (root / "runs" / "@latest-run").symlink_to("@latest-run"))),
    Case("play: config.json with a 5000-digit integer", [], "config.json is not valid JSON", script="play.py",
         setup=lambda root: write_file("runs/RUN/config.json", (latest_run(root) / "config.json").read_text().replace(
             '"seed": 42', '"seed": ' + "9" * 5000))(root)),
    Case("play: malformed Hub id", ["--run-id", "hf:a/b/c"], "bad Hub repo id 'a/b/c'", script="play.py"),
    Case("play: both modes", ["--deterministic", "--stochastic"], "not allowed with argument", script="play.py"),
    Case("inspector: port 0", ["--port", "0"], "--port must be between 1 and 65535", script="inspector.py",
         extra="inspector"),
    Case("inspector: port 70000", ["--port", "70000"], "--port must be between 1 and 65535", script="inspector.py",
         extra="inspector"),
    Case("inspector: not a host", ["--host", "not a host"], "is not an address of this machine",
         script="inspector.py", extra="inspector"),
    Case("inspector: run id too long", ["--run-id", "r" * 300], "not found", script="inspector.py", extra="inspector"),
    Case("inspector: run without checkpoints", [], "has no checkpoint", script="inspector.py", extra="inspector",
         setup=lambda root: shutil.rmtree(latest_run(root) / "checkpoints")),
    Case("publish: abbreviated option", ["--rep", "u/x", "--dry-run"], "unknown option --rep", script="publish.py"),
    Case("publish: three-part repo", ["--repo", "a/b/c", "--dry-run"], "bad Hub repo id 'a/b/c'", script="publish.py",
         extra="hub"),
    Case("publish: no login", [], "not logged in to the Hugging Face Hub", script="publish.py", extra="hub",
         env={"HF_TOKEN": None, "HUGGING_FACE_HUB_TOKEN": None, "HF_HOME": "/nonexistent/hf", "HF_HUB_OFFLINE": "1"}),
    Case("publish: config.json not JSON", ["--dry-run"], "config.json is not valid JSON", script="publish.py",
         extra="hub",
         setup=write_file("runs/RUN/config.json", "{")),
    Case("plot: metrics.csv not UTF-8", [], "cannot plot run", script="scripts/plot_run.py",
         setup=write_file("runs/RUN/logs/metrics.csv", b"\xff\x00garbage")),
    Case("plot: metrics.csv without env_steps", [], "has no env_steps column", script="scripts/plot_run.py",
         setup=write_file("runs/RUN/logs/metrics.csv", "a,b\n1,2\n")),
    Case("dashboard: empty project", ["--dry-run", "--project", ""], "--project is empty",
         script="scripts/setup_wandb_dashboard.py", extra="wandb"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_one_clear_line_and_changes_nothing(case: Case, work: Path, tmp_path: Path):
    if case.extra:
        pytest.importorskip(EXTRA_MODULES[case.extra],
                            reason=f"needs the {case.extra} extra: pip install -e '.[{case.extra}]'")
    if case.setup:
        case.setup(work)
    config_dir = None
    if case.config_files:
        config_dir = tmp_path / "configs"
        for name, content in case.config_files.items():
            path = config_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(work / "runs")
    result = run_cli(case.script, case.args, cwd=work, config_dir=config_dir, env=case.env)
    one_error_line(result, case.code, case.expected)
    assert snapshot(work / "runs") == before
    assert not (work / "PWNED").exists()  # nothing in a checkpoint was ever unpickled


def test_a_broken_neighbour_file_does_not_stop_a_good_config(work: Path, tmp_path: Path):
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    (config_dir / "Mine.yaml").write_text(GOOD_YAML)
    (config_dir / "Broken.yaml").write_bytes(b"\xff\xfe")
    (config_dir / "Folder.yaml").mkdir()
    result = run_cli("train.py", ["Mine:ppo", "-q"], cwd=work, config_dir=config_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads((work / "runs" / "@latest-run" / "results.json").read_text())["config_id"] == "Mine:ppo"


# --------------------------------------------------------------------------------------------------------
# Failures during training: the run keeps its good files.


def test_divergence_stops_with_one_line_and_keeps_the_checkpoints(work: Path):
    run = latest_run(work)
    checkpoints = snapshot(run / "checkpoints")
    config = (run / "config.json").read_text()
    result = run_cli("train.py", ["--resume", "@latest-run", "--max-steps", "4096", "--policy_lr", "1e30", "-q"],
                     cwd=work)
    line = one_error_line(result, 1, "training diverged at")
    assert "env steps" in line and "last.ckpt keeps the last good weights" in line
    assert snapshot(run / "checkpoints") == checkpoints
    assert (run / "config.json").read_text() == config  # still the config of last.ckpt
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "failed" and results["error"] in line


def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:  # in the child: writes past `limit` bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_a_full_disk_is_one_line_and_keeps_the_old_checkpoint(work: Path):
    run = latest_run(work)
    checkpoints = snapshot(run / "checkpoints")
    size = (run / "checkpoints" / "last.ckpt").stat().st_size
    result = run_cli("train.py", ["--resume", "@latest-run", "--max-steps", "1024", "-q"], cwd=work,
                     preexec_fn=_limit_file_size(size // 2))
    line = one_error_line(result, 1, "cannot write")
    assert "File too large" in line
    assert snapshot(run / "checkpoints") == checkpoints
    assert not list(run.rglob("*.tmp"))  # no temporary file left behind


def test_two_trainings_of_one_run_at_once_are_refused_and_say_who_holds_it(work: Path):
    long_run = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "train.py"), "--resume", "@latest-run", "--max-steps", "10000000",
         "--early_stop", "false", "--eval_freq", "0", "-q"],
        cwd=work, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            if _is_locked(latest_run(work) / ".lock"):
                break
            time.sleep(0.1)
        before = snapshot(latest_run(work) / "checkpoints")
        result = run_cli("train.py", ["--resume", "@latest-run", "-q"], cwd=work)
        one_error_line(result, 2, f"is in use by pid {long_run.pid}")
        assert snapshot(latest_run(work) / "checkpoints") == before or long_run.poll() is None
    finally:
        long_run.send_signal(signal.SIGTERM)
        long_run.communicate(timeout=TIMEOUT)


# --------------------------------------------------------------------------------------------------------
# Signals: SIGTERM behaves like Ctrl-C; a stop is honoured within the step, not at the end of the rollout.


def _is_locked(path: Path) -> bool:
    """Whether another process holds the run lock (the lock file outlives its holder; the flock does not)."""
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _train_until_running(work: Path, extra: list[str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "train.py"), "CartPole-v1:ppo", "-q", "--early_stop", "false", *extra],
        cwd=work, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):
        runs = [p for p in (work / "runs").glob("*") if p.is_dir() and not p.is_symlink()]
        if len(runs) == 2 and any(_is_locked(p / ".lock") for p in runs):  # the template run, and this one
            return process
        time.sleep(0.1)
    process.kill()
    raise AssertionError("training did not start")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_saves_and_exits_with_its_status(work: Path, signum: int, code: int):
    process = _train_until_running(work, ["--max-steps", "100000000"])
    time.sleep(2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    run = latest_run(work)
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "interrupted"
    assert results["stopped_by"] == signal.Signals(signum).name
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["counters"]["env_steps"] == results["total_timesteps"]


def test_a_stop_during_a_long_rollout_does_not_wait_for_it_to_end(work: Path):
    # one env, 10M steps per rollout: finishing it would take the better part of an hour
    process = _train_until_running(work, ["--n_envs", "1", "--n_steps", "10000000", "--batch_size", "256",
                                          "--max-steps", "20000000"])
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == 143
    results = json.loads((latest_run(work) / "results.json").read_text())
    assert results["status"] == "interrupted" and results["total_timesteps"] == 0  # the rollout was cut short

"""Data-parallel training: placement (accelerator, devices), the ranks' shared statistics, and real runs of
``train.py --devices 2 --accelerator cpu`` (two processes, gloo): one run folder, global step counts, equal
weights on both ranks, SIGTERM and resume.

The runs are subprocesses in their own session (Lightning's launcher re-runs train.py for rank 1), each
with a hang guard that kills the whole process group.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.wrappers.utils import RunningMeanStd

from utils.config import config_from_dict, load_config
from utils.distributed import RANK_SEED_OFFSET, RANK_VARIABLES, StatisticsSync, rank_seed, resolve_placement, state_digest
from utils.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
HANG_GUARD_S = 240
# rank 0's rollout: 8 envs x 32 steps; a masked reset step is no transition, so one rank takes at most 256
ROLLOUT = 8 * 32
BUDGET = 2000  # global env steps of the two-process run
TWO_RANKS = ["--devices", "2", "--accelerator", "cpu", "--early_stop", "false", "--video_freq", "off"]

two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPU cores for 2 training processes")


# -- placement ----------------------------------------------------------------------------------------------


def cartpole(**overrides):
    return load_config("CartPole-v1", "ppo", overrides)


def test_auto_keeps_an_mlp_on_the_cpu_and_puts_a_cnn_on_a_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    mlp = resolve_placement(cartpole())
    assert (mlp.accelerator, mlp.world_size) == ("cpu", 1)
    assert mlp.describe(8) == "training on the CPU (accelerator auto: an mlp policy runs faster on the CPU)"
    cnn = resolve_placement(cartpole(policy="cnn"))
    assert cnn.accelerator == "cuda" and cnn.describe(8) == "training on a GPU (accelerator auto: a cnn policy and a GPU)"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_placement(cartpole(policy="cnn")).reason == "accelerator auto: a cnn policy, but no GPU here"


@pytest.mark.parametrize("cpuinfo, expected", [
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", True),
    ("flags\t\t: fpu sse2 avx2 avx512f amx_tile amx_bf16\n", True),
    ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", True),  # Arm
    ("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n", False),  # AVX512 without bfloat16
    ("model name\t: a CPU that lists no flags\n", None),
])
def test_cpu_bfloat16_instructions_are_read_from_cpuinfo(cpuinfo, expected):
    from utils.torch_runtime import cpu_has_bfloat16

    assert cpu_has_bfloat16(cpuinfo) is expected


def test_bf16_on_a_cpu_without_bfloat16_says_it_is_emulated(tmp_path, monkeypatch, capsys):
    import train
    import utils.torch_runtime

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    monkeypatch.setattr(utils.torch_runtime, "cpu_has_bfloat16", lambda: False)
    assert train.main(["Bandit-v0:ppo", "--max-steps", "256", "--precision", "bf16", "--video_freq", "off"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("training on the CPU"))
    assert lines[start].endswith(", bf16-mixed precision")
    assert lines[start + 1] == ("note: this CPU has no bfloat16 instructions (AVX512-BF16, AMX or Arm BF16): "
                                "bf16-mixed is emulated here, slower than 32-true")


def test_gpu_without_one_or_without_enough_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="torch finds no CUDA GPU on this machine"):
        resolve_placement(cartpole(accelerator="gpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UserError, match="devices 2 with accelerator gpu: this machine has 1 GPU "):
        resolve_placement(cartpole(accelerator="gpu", devices=2))
    assert resolve_placement(cartpole(accelerator="gpu")).accelerator == "cuda"


def test_cpu_processes_are_limited_to_the_cores_and_machines_need_a_rendezvous(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(UserError, match=f"devices {cores + 1} on the CPU: this machine gives this process {cores} "):
        resolve_placement(cartpole(devices=cores + 1))
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("SLURM_JOB_NODELIST", raising=False)
    with pytest.raises(UserError, match="num_nodes 2: set MASTER_ADDR"):
        resolve_placement(cartpole(num_nodes=2))
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    placement = resolve_placement(cartpole(num_nodes=2))
    assert placement.world_size == 2
    assert placement.describe(8) == ("training data-parallel: 2 processes (1 CPU processes on each of 2 machines, "
                                     "DDP over gloo), 8 envs each (accelerator auto: an mlp policy runs faster on "
                                     "the CPU)")


def test_processes_started_by_a_launcher_must_match_devices_times_nodes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun --nproc_per_node 2 train.py ... without --devices 2
    with pytest.raises(UserError, match="the launcher started 2 training processes, but devices 1 x num_nodes 1 is 1"):
        resolve_placement(cartpole())
    assert resolve_placement(cartpole(devices=2, accelerator="cpu")).world_size == 2


def test_an_old_run_config_with_device_loads_as_accelerator():
    saved = cartpole().to_dict()
    for field in ("accelerator", "devices", "num_nodes"):  # a config.json written before these fields
        del saved[field]
    for device, accelerator in (("cpu", "cpu"), ("cuda", "gpu"), ("auto", "auto")):
        config = config_from_dict({**saved, "device": device})
        assert (config.accelerator, config.devices, config.num_nodes) == (accelerator, 1, 1)


def test_ranks_seed_their_envs_apart():
    seeds = [rank_seed(42, rank) for rank in range(4)]
    assert seeds == [42, 1_000_042, 2_000_042, 3_000_042]
    # rank r's sub-envs take seed + 0..n_envs-1: no overlap with another rank's for any allowed n_envs
    assert RANK_SEED_OFFSET > 4096 + 100_000  # max n_envs, and the eval envs' seed offset


# -- normalization statistics shared by the ranks ------------------------------------------------------------


def test_synced_statistics_equal_those_of_one_process_that_saw_every_rank_samples():
    rng = np.random.default_rng(0)
    reference = RunningMeanStd(shape=(3,))
    ranks = [RunningMeanStd(shape=(3,)) for _ in range(3)]
    syncs = [StatisticsSync({"obs": rms}) for rms in ranks]
    for _ in range(4):  # four updates
        for rms in ranks:
            for _ in range(2):  # several batches between syncs
                batch = rng.normal(loc=50.0, scale=[1.0, 5.0, 0.01], size=(int(rng.integers(1, 40)), 3))
                rms.update(batch)
                reference.update(batch)
        totals = np.sum([sync.contribution() for sync in syncs], axis=0)
        for sync in syncs:
            sync.apply(totals, world_size=3)
        for rms in ranks:
            assert rms.count == pytest.approx(reference.count, rel=1e-12)
            np.testing.assert_allclose(rms.mean, reference.mean, rtol=1e-12)
            np.testing.assert_allclose(rms.var, reference.var, rtol=1e-9)
    assert ranks[0].mean.tolist() == ranks[1].mean.tolist() == ranks[2].mean.tolist()  # bitwise: same sums


def test_statistics_sync_of_one_rank_changes_nothing():
    rms = RunningMeanStd(shape=())
    sync = StatisticsSync({"reward": rms})
    rms.update(np.array([1.0, 2.0, 4.0]))
    before = (float(rms.mean), float(rms.var), rms.count)
    sync.apply(sync.contribution(), world_size=1)
    assert (float(rms.mean), float(rms.var), rms.count) == pytest.approx(before, rel=1e-12)


# -- two processes ------------------------------------------------------------------------------------------


def _env(cwd: Path) -> dict[str, str]:
    """No launcher's variables; W&B offline, with every file of it under ``cwd``."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "VIBES_DISABLE_SESSION_LOGS", *RANK_VARIABLES)
           and not key.startswith("WANDB_")}
    wandb = {name: str(cwd / "wandb" / name.lower()) for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR",
                                                                  "WANDB_DATA_DIR")}
    return {**env, **wandb, "WANDB_MODE": "offline", "WANDB_DIR": str(cwd / "wandb"),
            "NETRC": str(cwd / "no.netrc"), "PYTHONPATH": str(REPO_ROOT)}


def _start(cwd: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "train.py"), *args], cwd=cwd, env=_env(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(f"train.py hung; stdout: {out[-2000:]}; stderr: {err[-2000:]}") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def _run_dirs(root: Path) -> list[Path]:
    return [p for p in (root / "runs").iterdir() if p.is_dir() and not p.is_symlink()]


def _metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "logs" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _checkpoint_digest(path: Path) -> str:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state_digest(state["policy"], state.get("normalization", {}))


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory) -> tuple[Path, str]:
    """A two-process CartPole run (W&B offline too, where the extra is installed): its working directory
    and stdout."""
    root = tmp_path_factory.mktemp("ddp")
    wandb_args = ["--wandb"] if importlib.util.find_spec("wandb") else []
    process = _start(root, ["CartPole-v1:ppo", *TWO_RANKS, "--max-steps", str(BUDGET), "--normalize_obs", "true",
                            "--eval_freq", "1000", *wandb_args])
    out, err = _finish(process)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    return root, out


def _updates(run: Path) -> list[dict[str, str]]:
    """metrics.csv's rows, one per update (the final evaluation repeats the last update's row)."""
    rows = {int(row["time/updates"]): row for row in _metrics(run)}
    assert sorted(rows) == list(range(1, len(rows) + 1))
    return [rows[update] for update in sorted(rows)]


@two_cores
def test_two_processes_write_one_run_count_both_ranks_steps_and_end_with_equal_weights(two_rank_run):
    root, _ = two_rank_run
    # written once, by rank 0: one run folder, one results.json, one set of checkpoints, one session log
    (run,) = _run_dirs(root)
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoints", "config.json", "learning_curve.png", "logs",
                                                    "results.json", "videos"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert not list((run / "videos").iterdir())
    assert len(list((run / "logs").glob("events.out.tfevents.*"))) == 1
    assert len(list((root / "logs").glob("*.log"))) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "completed" and results["world_size"] == 2
    assert json.loads((run / "config.json").read_text())["devices"] == 2
    # every update counts both ranks' transitions: more than one rank can take in a rollout, at most two
    steps = [int(row["time/env_steps"]) for row in _updates(run)]
    per_update = np.diff([0, *steps])
    assert (per_update > ROLLOUT).all() and (per_update <= 2 * ROLLOUT).all(), per_update
    # the budget is global: training ends with the first update that reaches it
    assert results["total_timesteps"] == steps[-1] and BUDGET <= steps[-1] < BUDGET + 2 * ROLLOUT
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["counters"]["env_steps"] == steps[-1] and last["counters"]["updates"] == len(steps)
    # the ranks' weights and normalization statistics are equal, and are those of last.ckpt
    digests = results["rank_state_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1] == _checkpoint_digest(run / "checkpoints" / "last.ckpt")
    assert last["normalization"]["obs"]["count"] > steps[-1]  # fed by both ranks (resets included)


@two_cores
def test_only_rank_zero_evaluates_and_reports(two_rank_run):
    root, out = two_rank_run
    (run,) = _run_dirs(root)
    results = json.loads((run / "results.json").read_text())
    # one evaluation at the first update past each 1000 env steps (eval_freq) and one at the end, each logged once
    steps = [int(row["time/env_steps"]) for row in _updates(run)]
    due = {min(s for s in steps if s >= k * 1000) for k in range(1, steps[-1] // 1000 + 1)} | {steps[-1]}
    evaluated_at = [at for at, _ in results["eval_history"]]
    assert evaluated_at == sorted(due)
    assert sum(1 for row in _metrics(run) if row["eval/ep_rew_mean"]) == len(evaluated_at)
    # the console: one placement line, one summary
    lines = out.splitlines()
    assert lines.count("training data-parallel: 2 processes (2 CPU processes, DDP over gloo), 8 envs each "
                       "(accelerator cpu)") == 1
    assert sum("run folder" in line for line in lines) == 1
    assert sum(line.startswith("╭─ CartPole-v1:ppo · seed 42") for line in lines) == 1


@two_cores
def test_only_rank_zero_logs_to_wandb(two_rank_run):
    pytest.importorskip("wandb", reason="needs the wandb extra: pip install -e '.[wandb]'")
    root, _ = two_rank_run
    (run,) = _run_dirs(root)
    (wandb_run,) = (root / "wandb").glob("wandb/offline-run-*")
    assert wandb_run.name.endswith(run.name)


@two_cores
def test_a_two_process_run_resumes_with_two(two_rank_run, tmp_path):
    root = tmp_path / "work"
    shutil.copytree(two_rank_run[0], root, symlinks=True)
    (run,) = _run_dirs(root)
    before = json.loads((run / "results.json").read_text())["total_timesteps"]
    resumed = _start(root, ["--resume", "@latest-run", "--max-steps", str(before + 1000)])
    out, err = _finish(resumed)
    assert resumed.returncode == 0, err[-3000:]
    assert "training data-parallel: 2 processes" in out
    assert _run_dirs(root) == [run]
    results = json.loads((run / "results.json").read_text())
    steps = [int(row["time/env_steps"]) for row in _updates(run)]
    assert steps[:3] == [int(row["time/env_steps"]) for row in _updates(two_rank_run[0] / "runs" / run.name)][:3]
    assert results["total_timesteps"] == steps[-1] >= before + 1000 > steps[-2]
    assert results["world_size"] == 2
    digests = results["rank_state_sha256"]
    assert digests[0] == digests[1] == _checkpoint_digest(run / "checkpoints" / "last.ckpt")


@two_cores
@pytest.mark.slow
def test_sigterm_stops_both_ranks_cleanly_and_the_run_resumes_with_two(tmp_path):
    process = _start(tmp_path, ["CartPole-v1:ppo", *TWO_RANKS, "--max-steps", "10000000", "-q"])
    rank1 = None
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline and process.poll() is None:
        metrics = list((tmp_path / "runs").glob("*/logs/metrics.csv"))
        if metrics and len(metrics[0].read_text().splitlines()) > 2:  # training, both ranks in step
            children = open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()
            rank1 = next(int(pid) for pid in children if "train.py" in open(f"/proc/{pid}/cmdline").read())
            break
        time.sleep(0.2)
    assert rank1 is not None, "training did not start"
    process.send_signal(signal.SIGTERM)  # to rank 0 only, as `kill PID` does
    out, err = _finish(process)
    assert process.returncode == 143, err[-3000:]
    assert not os.path.exists(f"/proc/{rank1}") or open(f"/proc/{rank1}/stat").read().split()[2] == "Z"
    (run,) = _run_dirs(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert (results["status"], results["stopped_by"]) == ("interrupted", "SIGTERM")
    stopped_at = results["total_timesteps"]
    assert json.loads((run / "config.json").read_text())["devices"] == 2
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["counters"]["env_steps"] == stopped_at

    resumed = _start(tmp_path, ["--resume", "@latest-run", "--max-steps", str(stopped_at + 1000), "-q"])
    out, err = _finish(resumed)
    assert resumed.returncode == 0, err[-3000:]
    assert _run_dirs(tmp_path) == [run]
    results = json.loads((run / "results.json").read_text())
    steps = [int(row["time/env_steps"]) for row in _updates(run)]
    assert steps == sorted(steps) and results["total_timesteps"] == steps[-1] >= stopped_at + 1000
    digests = results["rank_state_sha256"]
    assert digests[0] == digests[1] == _checkpoint_digest(run / "checkpoints" / "last.ckpt")

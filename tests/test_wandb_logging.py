"""W&B logging, run for real in offline mode: history against env steps, config, run id, videos, and the
ways W&B can be off (no login, disabled, extra missing, server unreachable) without stopping training."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("wandb", reason="needs the wandb extra: pip install -e '.[wandb]'")

import wandb  # noqa: E402
from wandb_offline import config, finished_run, history, metric_definitions  # noqa: E402

import train  # noqa: E402
from cli_helpers import only_run  # noqa: E402
from loggers.wandb_logger import EnvStepWandbLogger  # noqa: E402
from loggers.wandb_run import has_login, unavailable_reason  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
W_AND_B_VARS = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH",
                "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_INIT_TIMEOUT", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_MODE")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean working directory, W&B offline with every W&B file under it and no login anywhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    for name in W_AND_B_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no.netrc"))
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    wandb.teardown()  # wandb reads its environment once per process; each test gets its own
    yield tmp_path
    wandb.teardown()


def csv_env_steps(run: Path) -> list[int]:
    with open(run / "logs" / "metrics.csv", newline="") as handle:
        return [int(float(row["env_steps"])) for row in csv.DictReader(handle)]


def test_offline_training_logs_history_against_env_steps_and_the_resolved_config(workdir):
    assert train.main(["CartPole-v1:ppo", "--max-steps", "2048", "--eval_freq", "1024", "-q", "--wandb"]) == 0
    run = only_run(workdir)
    results = json.loads((run / "results.json").read_text())

    # the W&B run id is the run folder's name
    records = finished_run(workdir / "wandb_dir", run.name)
    (header,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert header.run_id == run.name and header.project == "CartPole-v1"

    rows = history(records)
    # every metric is plotted against env steps, and Lightning's trainer/global_step axis is gone
    assert metric_definitions(records) == {"time/env_steps": "", "*": "time/env_steps"}
    assert all("trainer/global_step" not in row for row in rows)
    videos = [row for row in rows if any(key.startswith("videos/") for key in row)]
    assert [row["time/env_steps"] for row in rows if row not in videos] == csv_env_steps(run)
    # each evaluation video the run wrote is logged at its env step
    steps = sorted(int(p.stem.split("_")[1]) for p in (run / "videos").glob("step_*.mp4"))
    assert steps and sorted(row["time/env_steps"] for row in videos) == steps
    evals = [[row["time/env_steps"], row["eval/ep_rew_mean"]] for row in rows if "eval/ep_rew_mean" in row]
    assert evals == results["eval_history"] and [step // 1024 for step, _ in evals] == [1, 2]
    assert all(0 < reward <= 500 for _, reward in evals)
    assert [row["time/env_steps"] for row in rows if "train/entropy" in row] == csv_env_steps(run)

    # the W&B config is the resolved config, exactly as config.json holds it
    assert config(records) == json.loads((run / "config.json").read_text())
    assert config(records)["wandb"] is True and config(records)["batch_size"] == 256

    # the run was finished with success; none is left open for the next one
    (exit_record,) = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
    assert exit_record.exit_code == 0
    assert wandb.run is None


def test_wandb_project_field_and_run_id_from_the_environment(workdir, monkeypatch):
    monkeypatch.setenv("WANDB_RUN_ID", "fixedid1")
    argv = ["CartPole-v1:ppo", "--max-steps", "256", "--eval_freq", "256", "-q", "--wandb", "--wandb_project", "bench"]
    assert train.main(argv) == 0
    assert only_run(workdir).name == "fixedid1"
    records = finished_run(workdir / "wandb_dir", "fixedid1")
    (header,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert header.project == "bench"
    # the id is taken: a second run with it is refused before anything is written
    assert train.main(argv) == 2
    assert [p.name for p in (workdir / "runs").iterdir() if not p.is_symlink()] == ["fixedid1"]


def test_bad_run_id_from_the_environment_is_one_error_line(workdir, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_RUN_ID", "../escape")
    assert train.main(["CartPole-v1:ppo", "--max-steps", "256", "-q", "--wandb"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: W&B run id '../escape' cannot name a run folder: use 1-64 letters, digits, - or _"]
    assert not (workdir / "runs").exists()


def write_video(path: Path) -> None:
    import imageio.v2 as imageio
    import numpy as np

    with imageio.get_writer(path, fps=10, format="FFMPEG", codec="libx264", macro_block_size=1) as writer:
        for value in (0, 128, 255):
            writer.append_data(np.full((16, 16, 3), value, dtype=np.uint8))


def test_eval_videos_are_logged_at_their_own_env_step(workdir):
    videos = workdir / "videos"
    videos.mkdir()
    run = wandb.init(id="videos01", project="p", dir=str(workdir / "wandb_dir"), settings=wandb.Settings(silent=True))
    logger = EnvStepWandbLogger(run, videos)
    write_video(videos / "step_1024.mp4")
    (videos / ".step_2048.mp4.tmp").write_bytes(b"half-written")  # not a finished video
    logger.log_metrics({"eval/ep_rew_mean": 20.0}, step=1024)
    write_video(videos / "step_2048.mp4")
    logger.log_metrics({"train/entropy": 0.6}, step=2048)
    logger.finalize("success")

    rows = history(finished_run(workdir / "wandb_dir", "videos01"))
    logged = [(row["time/env_steps"], row["videos/eval._type"]) for row in rows if "videos/eval._type" in row]
    assert logged == [(1024, "video-file"), (2048, "video-file")]
    (files,) = (workdir / "wandb_dir").glob("wandb/offline-run-*-videos01/files")
    sizes = {(files / row["videos/eval.path"]).stat().st_size for row in rows if "videos/eval.path" in row}
    assert sizes == {(videos / "step_1024.mp4").stat().st_size, (videos / "step_2048.mp4").stat().st_size}


def test_a_failing_wandb_call_turns_wandb_off_with_one_line(workdir, capsys):
    (workdir / "wandb_dir").mkdir()
    run = wandb.init(id="broken01", project="p", dir=str(workdir / "wandb_dir"), settings=wandb.Settings(silent=True))
    logger = EnvStepWandbLogger(run, workdir / "videos")
    calls = []

    def failing_log(row):
        calls.append(row)
        raise ConnectionError("server went away")

    run.log = failing_log
    logger.log_metrics({"train/entropy": 0.6}, step=256)
    logger.log_metrics({"train/entropy": 0.5}, step=512)
    logger.finalize("success")
    run.finish()
    assert len(calls) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "W&B logging stopped: ConnectionError: server went away; training continues"]


def test_no_login_means_no_wandb_with_one_line(workdir, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_MODE")
    assert not has_login()
    assert train.main(["CartPole-v1:ppo", "--max-steps", "256", "--eval_freq", "256", "-q", "--wandb"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["W&B logging off: no login (run `wandb login` or set WANDB_API_KEY; "
                   "WANDB_MODE=offline logs locally)"]
    assert (only_run(workdir) / "results.json").is_file()
    assert not (workdir / "wandb_dir").exists()


def test_login_is_an_api_key_or_a_netrc_entry_for_the_wandb_host(workdir, monkeypatch):
    netrc = workdir / "no.netrc"
    netrc.write_text("machine example.com login user password secret\n")
    netrc.chmod(0o600)
    assert not has_login()
    netrc.write_text("machine api.wandb.ai login user password " + "k" * 40 + "\n")
    assert has_login()
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert not has_login()
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert has_login()
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert unavailable_reason() == "WANDB_MODE=disabled"
    monkeypatch.setenv("WANDB_MODE", "garbage")  # named, not mistaken for a missing login
    assert unavailable_reason() == "WANDB_MODE='garbage' is not a W&B mode (online, offline or disabled)"


def test_wandb_mode_disabled_trains_without_wandb(workdir, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert train.main(["CartPole-v1:ppo", "--max-steps", "256", "--eval_freq", "256", "-q", "--wandb"]) == 0
    assert capsys.readouterr().err.strip().splitlines() == ["W&B logging off: WANDB_MODE=disabled"]
    assert not (workdir / "wandb_dir").exists()


def test_missing_extra_is_one_line_naming_it(workdir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    assert train.main(["CartPole-v1:ppo", "--max-steps", "256", "-q", "--wandb"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        'error: W&B logging needs the wandb extra: pip install -e ".[wandb]"']
    assert not (workdir / "runs").exists()


def test_wandb_off_by_default_never_imports_it(workdir):
    code = ("import sys, train; rc = train.main(['CartPole-v1:ppo', '--max-steps', '256', '-q']); "
            "print('wandb imported' if 'wandb' in sys.modules else 'wandb not imported'); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "wandb not imported"


def test_unreachable_server_trains_on_without_wandb_and_without_hanging(workdir):
    """Online mode with a key, but the server is a closed loopback port: one line, then normal training."""
    env = {**os.environ, "WANDB_MODE": "online", "WANDB_API_KEY": "k" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9",
           "WANDB_INIT_TIMEOUT": "3", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), "CartPole-v1:ppo", "--max-steps", "512", "--eval_freq", "512",
         "-q", "--wandb"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("W&B ")]
    assert len(ours) == 1 and ours[0].startswith("W&B logging off: could not start a run (CommError: ")
    assert ours[0].endswith("training continues without W&B")
    results = json.loads((only_run(workdir) / "results.json").read_text())
    assert results["status"] == "completed" and results["total_timesteps"] >= 512

"""Videos: MP4 files written atomically, and the videos a short training leaves in runs/<id>/videos/ (read
back with imageio: one frame per state of the episode), best.mp4, video_freq's schedules and its bad values."""

from __future__ import annotations

import json
import time
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

import train
from cli_helpers import frame_count, latest_run
from utils.config import load_config
from utils.errors import ConfigError
from utils.videos import BackgroundRecorder, VideoWriter, publish_best, step_video_name

EPISODE = 40  # Pendulum's episodes, cut by a time limit: 41 frames each (the first state, then one per step)
PENDULUM = ["Pendulum-v1:ppo", "-q", "--n_envs", "2", "--n_steps", "256", "--batch_size", "128", "--n_epochs", "1",
            "--eval_episodes", "2", "--env_kwargs", f"{{max_episode_steps: {EPISODE}}}"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    return tmp_path


def videos(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "videos").iterdir())


# --------------------------------------------------------------------------------------------------------
# Writing


def test_video_writer_writes_every_frame_and_pads_odd_sizes(tmp_path):
    frames = [np.full((31, 45, 3), 10 * i, np.uint8) for i in range(7)]
    with VideoWriter(tmp_path / "clip.mp4", fps=5) as video:
        for frame in frames:
            video.append(frame)
    assert video.frames == 7 and frame_count(tmp_path / "clip.mp4") == 7
    with imageio.get_reader(tmp_path / "clip.mp4") as reader:
        first = reader.get_data(0)
        assert first.shape == (32, 46, 3)  # H.264 needs even sizes: one edge row and column added
        assert reader.get_meta_data()["fps"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_an_interrupted_video_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=5) as video:
        video.append(np.zeros((8, 8, 3), np.uint8))
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path, fps=5) as video:
            video.append(np.ones((8, 8, 3), np.uint8))
            raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_an_abandoned_recorder_stops_mid_video_and_leaves_nothing(tmp_path):
    # training stopped by a signal abandons the queued videos: the worker must end at its next frame, through
    # its normal exit (status 0: not killed, no exception raised at a random point), with no temporary file
    from utils.environment import build_vec_env
    from utils.policies import build_policy

    config = load_config("Pendulum-v1", "ppo", {"env_kwargs": {"max_episode_steps": 5000}})
    envs = build_vec_env(config, 1, training=False)
    policy = build_policy(config, envs.single_observation_space, envs.single_action_space)
    envs.close()
    recorder = BackgroundRecorder(config, tmp_path)
    recorder.submit(1000, policy.state_dict(), {}, best=False)
    for _ in range(600):  # until the recording has begun (its temporary file exists)
        if any(tmp_path.glob(".step_*.tmp.mp4")):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the recording did not start")
    recorder.close(wait=False)
    assert recorder._process.exitcode == 0
    assert list(tmp_path.iterdir()) == []


def test_best_video_is_the_same_file(tmp_path):
    step = tmp_path / step_video_name(50_000)
    step.write_bytes(b"first")
    best = publish_best(step)
    assert step.name == "step_000050000.mp4" and best.name == "best.mp4"
    assert best.read_bytes() == b"first" and best.stat().st_ino == step.stat().st_ino
    newer = tmp_path / step_video_name(60_000)
    newer.write_bytes(b"second")
    publish_best(newer)
    assert best.read_bytes() == b"second" and step.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.mp4", "step_000050000.mp4", "step_000060000.mp4"]


# --------------------------------------------------------------------------------------------------------
# During training


def test_training_records_every_evaluation_and_the_best(workdir):
    assert train.main([*PENDULUM, "--max-steps", "1536", "--eval_freq", "512", "--video_freq", "every_eval"]) == 0
    run = latest_run(workdir)
    history = json.loads((run / "results.json").read_text())["eval_history"]
    steps = [s for s, _ in history]  # the first update at or past each multiple of 512, and the end
    assert len(steps) == 3 and [s // 512 for s in steps] == [1, 2, 3]
    assert videos(run) == ["best.mp4"] + [step_video_name(s) for s in steps]
    for name in videos(run):
        assert frame_count(run / "videos" / name) == EPISODE + 1
    best_step = next(s for s, r in history if r == max(r for _, r in history))  # the first of equal ones
    assert (run / "videos" / "best.mp4").read_bytes() == (run / "videos" / step_video_name(best_step)).read_bytes()


def test_default_records_new_bests_and_the_end(workdir):
    assert train.main([*PENDULUM, "--max-steps", "1536", "--eval_freq", "512"]) == 0
    run = latest_run(workdir)
    history = json.loads((run / "results.json").read_text())["eval_history"]
    best_so_far, expected = -np.inf, set()
    for step, reward in history:
        if reward > best_so_far:
            best_so_far = reward
            expected.add(step)
    expected.add(history[-1][0])  # the end
    assert videos(run) == ["best.mp4"] + sorted(step_video_name(s) for s in expected)


def test_every_n_env_steps(workdir):
    assert train.main([*PENDULUM, "--max-steps", "2048", "--eval_freq", "0", "--video_freq", "1024"]) == 0
    run = latest_run(workdir)
    # the first update past 1024 by the schedule, and the end, whose evaluation (the only one) is the first best
    end = json.loads((run / "results.json").read_text())["total_timesteps"]
    names = videos(run)
    assert names[0] == "best.mp4" and names[-1] == step_video_name(end) and len(names) == 3
    scheduled = int(names[1].removeprefix("step_").removesuffix(".mp4"))
    assert 1024 <= scheduled < 2048 <= end
    assert frame_count(run / "videos" / names[1]) == EPISODE + 1


def test_off_records_nothing(workdir):
    assert train.main([*PENDULUM, "--max-steps", "512", "--eval_freq", "0", "--video_freq", "off"]) == 0
    assert videos(latest_run(workdir)) == []


def test_an_env_that_cannot_render_is_one_note_and_training_goes_on(workdir, capsys):
    assert train.main(["Bandit-v0:ppo", "-q", "--max-steps", "1024", "--video_freq", "best"]) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "Bandit-v0" in notes[0] and "no videos" in notes[0]
    assert videos(latest_run(workdir)) == []
    assert json.loads((latest_run(workdir) / "results.json").read_text())["status"] in ("solved", "completed")


@pytest.mark.parametrize("value, expected", [("best", "best"), ("every_eval", "every_eval"), ("off", "off"),
                                             (False, "off"), ("5e4", 50_000), (50_000, 50_000)])
def test_video_freq_values(value, expected):
    assert load_config("CartPole-v1", "ppo", {"video_freq": value}).video_freq == expected


@pytest.mark.parametrize("value", ["sometimes", 0, -5, 1.5, True, "inf", None, [1]])
def test_bad_video_freq_is_one_clear_error(value):
    with pytest.raises(ConfigError, match="video_freq must be") as info:
        load_config("CartPole-v1", "ppo", {"video_freq": value})
    assert "best, every_eval, off" in str(info.value) and "\n" not in str(info.value)

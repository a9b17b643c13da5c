"""play.py: episodes recorded to MP4 (one frame per state), --render human without a display, --checkpoint
best|last|PATH, a config whose env_kwargs already set render_mode, and hostile inputs as one line each.

Runs are made without training (an untrained policy saved as a checkpoint) and played as a user would,
in a subprocess from a temporary directory.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import REPO_ROOT, TIMEOUT, cli_env, frame_count, one_error_line, run_script
from run_factory import make_run
from utils.config import load_config



def play(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_script("play.py", *args, cwd=cwd, env=cli_env(**(env or {})))


def lengths(stdout: str) -> list[int]:
    return [int(n) for n in re.findall(r"^episode \d+: return -?[\d.]+, length (\d+)$", stdout, flags=re.M)]


@pytest.fixture
def cartpole(tmp_path):
    make_run(tmp_path, load_config("CartPole-v1", "ppo"), run_id="cart0001")
    return tmp_path


def test_render_records_every_episode_to_an_mp4_in_the_run(cartpole):
    result = play("--episodes", "3", "--seed", "5", "--render", cwd=cartpole)
    assert result.returncode == 0, result.stderr
    episodes = lengths(result.stdout)
    assert len(episodes) == 3
    (video,) = re.findall(r"^video: (\S+) \((\d+) frames\)$", result.stdout, flags=re.M)
    path = Path(video[0])
    assert path.parent == (cartpole / "runs" / "cart0001" / "videos").resolve() and path.name.startswith("play_")
    # one frame for each episode's first state and one after each step
    assert int(video[1]) == frame_count(path) == sum(n + 1 for n in episodes)
    assert "Traceback" not in result.stderr and "XDG_RUNTIME_DIR" not in result.stderr


def test_video_path_and_stochastic_play_from_a_checkpoint_path(cartpole, tmp_path):
    loose = tmp_path / "elsewhere" / "agent.ckpt"
    loose.parent.mkdir()
    shutil.copy(cartpole / "runs" / "cart0001" / "checkpoints" / "last.ckpt", loose)
    out = tmp_path / "clips" / "mine.mp4"
    # from another folder with no runs at all: the checkpoint brings its own config
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    result = play("--checkpoint", str(loose), "--stochastic", "--episodes", "2", "--video", str(out), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"loaded {loose}" in result.stdout
    assert frame_count(out) == sum(n + 1 for n in lengths(result.stdout))
    assert not (elsewhere / "runs").exists()


def test_the_same_seed_plays_the_same_episodes(cartpole):
    first = play("--episodes", "2", "--seed", "9", "--checkpoint", "last", cwd=cartpole)
    again = play("--episodes", "2", "--seed", "9", "--checkpoint", "last", cwd=cartpole)
    assert first.returncode == 0 and lengths(first.stdout) == lengths(again.stdout)


def test_render_works_when_env_kwargs_already_set_render_mode(tmp_path):
    # used to fail with "bad env_kwargs" (render_mode passed twice)
    config = load_config("CartPole-v1", "ppo", {"env_kwargs": {"render_mode": "rgb_array"}})
    make_run(tmp_path, config, run_id="pixels01")
    result = play("--episodes", "1", "--render", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (frames,) = re.findall(r"\((\d+) frames\)", result.stdout)
    assert int(frames) == lengths(result.stdout)[0] + 1


def test_render_human_without_a_display_is_one_line(cartpole):
    env = {key: "" for key in ("DISPLAY", "WAYLAND_DISPLAY")}
    line = one_error_line(play("--render", "human", cwd=cartpole, env=env))
    assert "display" in line and "--render video" in line


def test_render_human_on_a_display_that_cannot_be_reached_is_one_line(cartpole):
    # SDL would otherwise fall back to an invisible offscreen window and play on, showing nothing
    env = {key: value for key, value in cli_env().items() if key not in ("SDL_VIDEODRIVER", "WAYLAND_DISPLAY")}
    result = run_script("play.py", "--render", "human", "--episodes", "1", cwd=cartpole,
                        env={**env, "DISPLAY": ":987"})
    assert "cannot open a window" in one_error_line(result)


def test_sigterm_while_recording_exits_143_and_leaves_no_partial_video(cartpole):
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "play.py"), "--render", "--episodes", "100000"],
                               cwd=cartpole, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not process.stdout.readline().startswith("episode 1:"):  # recording is under way
            assert process.poll() is None, process.stderr.read()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    assert [path.name for path in (cartpole / "runs" / "cart0001").rglob("*.mp4")] == []  # nor a temporary one


@pytest.mark.parametrize("args, expected", [
    (["--checkpoint", "missing.ckpt"], "checkpoint not found: missing.ckpt"),
    (["--checkpoint", "bset"], "checkpoint not found: bset (give best, last or the path of a .ckpt file)"),
    (["--episodes", "0"], "--episodes must be at least 1"),
    (["--episodes", "many"], "--episodes: invalid int value: 'many'"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--seed", str(2**32)], "--seed must be between 0 and 4294967295"),
    (["--seed", "abc"], "--seed: invalid int value: 'abc'"),
    (["--render", "window"], "invalid choice: 'window'"),
    (["--video", "out.gif"], "--video must be the path of an .mp4 file"),
    (["--video", "x.mp4", "--render", "human"], "choose one"),
    (["--run-id", "cart0001", "--checkpoint", "runs/cart0001/checkpoints/best.ckpt"], "not both"),
    (["--run-id", "nope"], "run 'nope' not found"),
    (["--episdes", "3"], "unknown option --episdes (did you mean --episodes?)"),
])
def test_hostile_inputs_are_one_line_each(cartpole, args, expected):
    assert expected in one_error_line(play(*args, cwd=cartpole))


def test_a_checkpoint_that_does_not_fit_the_config(cartpole):
    run = cartpole / "runs" / "cart0001"
    other = make_run(cartpole, load_config("Acrobot-v1", "ppo"), run_id="acro0001")
    shutil.copy(other.checkpoint("best"), run / "checkpoints" / "best.ckpt")
    assert "does not fit the config's network" in one_error_line(play("--run-id", "cart0001", cwd=cartpole))

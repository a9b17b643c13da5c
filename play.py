#!/usr/bin/env python
"""Play a trained agent: ``python play.py --run-id @latest-run --episodes 5``.

Loads the run's best checkpoint (else its last, or the one ``--checkpoint`` names) with the run's config
and frozen normalization statistics, and prints each episode's return. ``--render`` records the episodes
to an MP4 (in the run's ``videos/`` folder unless ``--video PATH``); ``--render human`` opens a window.
Does not import Lightning.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from utils.cli import ArgumentParser, exit_with, run_command
from utils.errors import UserError

MAX_SEED = 2**32 - 1
MAX_EPISODES = 1_000_000
RENDER_MODES = ("video", "human")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="play.py",
        description="Play a trained agent from a run folder.",
        epilog="examples:\n  python play.py --run-id @latest-run --episodes 5\n"
               "  python play.py --render --episodes 3            # MP4 in the run's videos/ folder\n"
               "  python play.py --checkpoint runs/abc12345/checkpoints/last.ckpt --stochastic --seed 7",
    )
    parser.add_argument("--run-id", "--run_id", dest="run_id", metavar="RUN_ID",
                        help="run id, a run folder's path, or @latest-run (the default)")
    parser.add_argument("--checkpoint", metavar="best|last|PATH",
                        help="best, last, or the path of a .ckpt file (default: best, else last)")
    parser.add_argument("--episodes", type=int, default=5, metavar="N", help="episodes to play (default 5)")
    parser.add_argument("--seed", type=int, default=None, metavar="SEED",
                        help=f"seed of the first episode (0 to {MAX_SEED}); later episodes continue its stream")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="deterministic", action="store_true", default=True,
                      help="take the most likely action (default)")
    mode.add_argument("--stochastic", dest="deterministic", action="store_false", help="sample actions")
    parser.add_argument("--render", nargs="?", const="video", choices=RENDER_MODES, metavar="video|human",
                        help="record the episodes to an MP4 (video, the default) or show them in a window (human)")
    parser.add_argument("--video", metavar="PATH", type=Path,
                        help="where --render writes the MP4 (default: <run>/videos/play_<time>.mp4); implies --render")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_strict(argv)
    if not 1 <= args.episodes <= MAX_EPISODES:
        raise UserError(f"--episodes must be at least 1 and at most {MAX_EPISODES:,}, got {args.episodes}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    if args.video is not None:
        if args.render == "human":
            raise UserError("--video records a file and --render human opens a window: choose one")
        if args.video.suffix.lower() != ".mp4":
            raise UserError(f"--video must be the path of an .mp4 file, got {args.video}")
        args.render = "video"
    if args.render == "human":
        check_display()
    return args


def check_display() -> None:
    """A window needs a display: on Linux, an X or Wayland one."""
    if not sys.platform.startswith("linux"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--render human needs a display and none was found (DISPLAY is not set); "
                        "record a video instead: --render video, or --video PATH")
    # SDL falls back to an invisible offscreen window when the display cannot be reached: naming the
    # driver makes that an error instead
    os.environ.setdefault("SDL_VIDEODRIVER", "x11" if os.environ.get("DISPLAY") else "wayland")


def resolve_source(args: argparse.Namespace):
    """The run, and the checkpoint argument for :func:`utils.playback.load_agent_for_play`."""
    from utils.runs import CHECKPOINT_NAMES, LATEST, checkpoint_path, resolve_run, run_of_checkpoint

    if args.checkpoint is None or args.checkpoint in CHECKPOINT_NAMES:
        run = resolve_run(LATEST if args.run_id is None else args.run_id)
        checkpoint_path(run, args.checkpoint)  # a missing one is reported before torch loads
        return run, args.checkpoint
    if args.run_id is not None:
        raise UserError("give --run-id or a checkpoint path, not both (a .ckpt file brings its own config)")
    return run_of_checkpoint(checkpoint_path(None, args.checkpoint)), args.checkpoint


def video_path(args: argparse.Namespace, run, checkpoint: str | None) -> Path:
    """Where the MP4 goes (``--video``, else the run's ``videos/`` folder, else beside the checkpoint),
    checked before anything is loaded: its folder must take a new file, and no run file is replaced."""
    from utils.runs import RUNS_DIR, check_writable

    if args.video is not None:
        path = args.video
    else:
        folder = run.videos if run is not None else Path(checkpoint).parent
        path = folder / f"play_{time.strftime('%Y%m%d-%H%M%S')}.mp4"
    check_writable(path)
    if path.exists() and any(path.resolve().is_relative_to(Path(root).resolve())
                             for root in (RUNS_DIR, run.dir if run is not None else RUNS_DIR)):
        raise UserError(f"--video {path} would replace a file of a run folder: choose a new path")
    return path


def play(args: argparse.Namespace) -> list[float]:
    run, checkpoint = resolve_source(args)
    path = video_path(args, run, checkpoint) if args.render == "video" else None

    from loggers.session_log import log_checkpoint_load
    from utils.playback import load_agent_for_play, play_episode
    from utils.videos import VideoWriter, headless_rendering, video_fps

    render_mode = {"video": "rgb_array", "human": "human"}.get(args.render)
    if render_mode == "rgb_array":
        headless_rendering()
    agent = load_agent_for_play(run, checkpoint, render_mode=render_mode)
    steps = "?" if agent.env_steps is None else f"{agent.env_steps:,}"
    log_checkpoint_load(f"loaded {agent.checkpoint} ({agent.config.config_id}, {steps} env steps)")
    video = None
    if args.render == "video":
        video = VideoWriter(path, video_fps(agent.envs))
    returns: list[float] = []
    try:
        with video if video is not None else contextlib.nullcontext():
            seed = args.seed
            for episode in range(1, args.episodes + 1):
                try:
                    result = play_episode(agent.policy, agent.envs, deterministic=args.deterministic, seed=seed,
                                          on_frame=video.append if video is not None else None)
                except Exception as exc:
                    raise _window_error(exc) if args.render == "human" else exc
                seed = None  # later episodes continue the env's random stream
                returns.append(result.score)
                print(f"episode {episode}: return {result.score:.2f}, length {result.length}", flush=True)
    finally:
        agent.close()
    if len(returns) > 1:
        print(f"mean return over {len(returns)} episodes: {sum(returns) / len(returns):.2f}")
    if video is not None:
        print(f"video: {video.path} ({video.frames} frames)")
    return returns


def _window_error(exc: Exception) -> Exception:
    """pygame's display errors as one line; anything else unchanged."""
    if type(exc).__module__.split(".")[0] == "pygame":
        return UserError(f"cannot open a window ({exc}); record a video instead: --render video")
    return exc


def main(argv: list[str] | None = None) -> int:
    def work() -> None:
        play(parse_args(argv))

    return run_command(work)


if __name__ == "__main__":
    os.environ.setdefault("VIBES_DISABLE_SESSION_LOGS", "1")
    exit_with(main)

"""Episode videos: MP4 files written atomically, and a background recorder that keeps training from waiting.

A video is encoded by imageio's ffmpeg plugin into a temporary file next to its final path and renamed
into place when complete, so a reader never sees a half-written MP4. Rendering (pygame's rgb frames cost
~5 ms each for the classic-control envs) and encoding run in a worker process: training hands it the
policy's weights and goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: an episode's video stops after this many frames (about 5.5 minutes at 30 fps)
MAX_VIDEO_FRAMES = 10_000
DEFAULT_FPS = 30
BEST_VIDEO = "best.mp4"


def headless_rendering() -> None:
    """Let pygame-based envs render ``rgb_array`` frames without a display (and without SDL's complaints)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def step_video_name(env_steps: int) -> str:
    """``step_000050000.mp4``: sorts by env step."""
    return f"step_{env_steps:09d}.mp4"


def video_fps(envs: Any) -> int:
    """The env's ``render_fps`` (its real-time speed), else 30."""
    fps = envs.metadata.get("render_fps") if hasattr(envs, "metadata") else None
    return int(fps) if isinstance(fps, (int, float)) and fps > 0 else DEFAULT_FPS


class VideoWriter:
    """An MP4 written to a temporary file beside ``path`` and renamed onto it on a clean exit; an error or
    interrupt inside the ``with`` block removes the temporary file and leaves ``path`` untouched.

    Frames of odd width or height are padded by one edge pixel (H.264 in yuv420p needs even sizes).

    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clip.mp4"
    >>> with VideoWriter(path, fps=10) as video:
    ...     for _ in range(3):
    ...         video.append(np.zeros((5, 7, 3), np.uint8))
    >>> path.is_file(), video.frames
    (True, 3)
    """

    def __init__(self, path: Path, fps: int = DEFAULT_FPS):
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._tmp: Path | None = None
        self._writer: Any = None

    def __enter__(self) -> VideoWriter:
        import imageio.v2 as imageio

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # imageio picks the format by extension: the temporary name ends in .mp4 too
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".tmp.mp4")
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer = imageio.get_writer(self._tmp, fps=self.fps, macro_block_size=1, ffmpeg_log_level="error")
        return self

    def append(self, frame: np.ndarray) -> None:
        pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
        self._writer.append_data(np.pad(frame, pad, mode="edge") if any(p[1] for p in pad[:2]) else frame)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._tmp is not None
        try:
            self._writer.close()
            if exc_type is None:
                if self.frames == 0:
                    raise ValueError(f"no frames were written to {self.path}")
                os.chmod(self._tmp, 0o644)
                os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)


def publish_best(video: Path) -> Path:
    """Make ``best.mp4`` beside ``video`` the same file (a hard link, else a copy), replacing it atomically."""
    best = video.parent / BEST_VIDEO
    fd, tmp = tempfile.mkstemp(dir=video.parent, prefix=f".{best.stem}.", suffix=".tmp.mp4")
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(video, tmp)
        except OSError:  # a filesystem without hard links
            shutil.copyfile(video, tmp)
        os.replace(tmp, best)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return best


# -- recording during training: a worker process --------------------------------------------------------


@dataclass
class VideoJob:
    """Record one episode with these weights (None: it is recorded already); ``best`` also makes it ``best.mp4``."""

    env_steps: int
    policy_state: dict[str, Any] | None
    normalization: dict[str, Any]
    best: bool


class RecordingStopped(Exception):
    """Raised between two frames of :func:`record_video` once its ``stop`` event is set."""


def record_video(policy: Any, envs: Any, path: Path, *, deterministic: bool, seed: int | None,
                 stop: threading.Event | None = None) -> int:
    """Record one episode of ``envs`` (rendering ``rgb_array``) played by ``policy`` to ``path``; returns
    the number of frames (the episode's length + 1, at most :data:`MAX_VIDEO_FRAMES`). Once ``stop`` is set
    it raises :class:`RecordingStopped` at the next frame, leaving no file behind."""
    from utils.playback import play_episode

    with VideoWriter(path, video_fps(envs)) as video:
        def append(frame: np.ndarray) -> None:
            if stop is not None and stop.is_set():
                raise RecordingStopped
            video.append(frame)

        play_episode(policy, envs, deterministic=deterministic, seed=seed, on_frame=append,
                     max_steps=MAX_VIDEO_FRAMES - 1)
    return video.frames


def _serve(config_dict: dict[str, Any], videos_dir: str, jobs: Any, notes: Any) -> None:
    """The worker: build the rendering env first (so an env that cannot render is reported at once, and the
    first video does not wait for it), then record each job's episode until a None job. A failure is
    reported once and turns recording off; later jobs are still taken off the queue, unrecorded.

    SIGTERM (the trainer abandoning us) ends the worker at the next frame or job, through the normal exits
    (the video's temporary file removed). The handler only sets a flag: an exception raised from it could
    land anywhere, even in the fork hooks of ffmpeg's start, which swallow it."""
    terminated = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle; it closes us
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    headless_rendering()
    import torch

    from utils.config import config_from_dict
    from utils.environment import build_vec_env, load_normalization_state
    from utils.playback import render_frame
    from utils.policies import build_policy
    from utils.torch_runtime import configure_torch

    config = config_from_dict(config_dict)
    configure_torch(1)
    seed = config.seed + 100_000  # every video starts from the same state: videos of a run compare
    envs = None
    failed = False
    try:
        with warnings.catch_warnings():  # gymnasium warns about unsupported render modes: the note says it
            warnings.simplefilter("ignore")
            envs = build_vec_env(config, 1, training=False, render_mode="rgb_array")
            envs.reset(seed=seed)
            render_frame(envs)
        policy = build_policy(config, envs.single_observation_space, envs.single_action_space).eval()
    except Exception as exc:
        notes.put(f"no videos: {config.env_id} cannot render rgb_array frames ({_reason(exc)})")
        failed = True
    parent = os.getppid()
    while (job := _next_job(jobs, parent, terminated)) is not None:
        if failed:
            continue
        try:
            path = Path(videos_dir) / step_video_name(job.env_steps)
            if job.policy_state is not None:
                policy.load_state_dict({key: torch.from_numpy(value) for key, value in job.policy_state.items()})
                load_normalization_state(envs, job.normalization)
                record_video(policy, envs, path, deterministic=config.eval_deterministic, seed=seed,
                             stop=terminated)
            if job.best:
                publish_best(path)
        except RecordingStopped:
            break
        except Exception as exc:  # a video must never stop training: report it once, record no more
            notes.put(f"no more videos: recording at step {job.env_steps:,} failed ({_reason(exc)})")
            failed = True
    if envs is not None:
        envs.close()


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _next_job(jobs: Any, parent: int, terminated: threading.Event) -> VideoJob | None:
    """The next job; None at the end, when ``terminated``, or once the training process is gone (no orphan
    left waiting)."""
    while not terminated.is_set():
        try:
            return jobs.get(timeout=0.2)
        except queue.Empty:
            if os.getppid() != parent:
                return None
    return None


class BackgroundRecorder:
    """Records episodes to ``videos_dir`` in a worker process, one per :meth:`submit`, in order.

    The worker is forked where the platform allows it (Linux: instant, nothing to re-import), else
    spawned. :meth:`close` waits for the queued videos.
    """

    def __init__(self, config: Any, videos_dir: Path):
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        self._jobs = context.Queue()
        self._notes = context.Queue()
        sys.stdout.flush()  # a forked child would otherwise flush the parent's pending output again
        sys.stderr.flush()
        self._process = context.Process(
            target=_serve, args=(config.to_dict(), str(videos_dir), self._jobs, self._notes),
            name="video-recorder", daemon=True,
        )
        self._process.start()

    def submit(self, env_steps: int, policy_state: dict[str, Any], normalization: dict[str, Any], best: bool) -> None:
        """Queue a recording; the weights are copied first (the queue pickles them later, in a thread).

        They travel as numpy arrays: torch tensors would go through shared-memory file descriptors, whose
        hand-over breaks noisily when the worker is stopped mid-transfer."""
        weights = {key: value.detach().cpu().numpy().copy() for key, value in policy_state.items()}
        self._jobs.put(VideoJob(env_steps, weights, normalization, best))

    def mark_best(self, env_steps: int) -> None:
        """Make the video already queued for ``env_steps`` ``best.mp4`` too (once it is written)."""
        self._jobs.put(VideoJob(env_steps, None, {}, True))

    def notes(self) -> list[str]:
        """Messages from the worker so far (without waiting)."""
        out = []
        while True:
            try:
                out.append(self._notes.get_nowait())
            except queue.Empty:
                return out

    def close(self, wait: bool = True) -> list[str]:
        """Finish the queued videos (``wait``) or abandon them, stop the worker; returns its last notes."""
        if self._process.is_alive():
            if wait:
                self._jobs.put(None)
                self._process.join()
            else:
                self._jobs.cancel_join_thread()  # queued weights are abandoned: exit must not wait to send them
                self._process.terminate()  # it stops at its next frame
                self._process.join(5)
                if self._process.is_alive():  # stuck in a render or an encode
                    self._process.kill()
                    self._process.join(1)
        notes = self.notes()
        if wait and self._process.exitcode not in (0, None):
            notes.append(f"the video recorder stopped with exit code {self._process.exitcode}; "
                         "some videos may be missing")
        self._jobs.close()
        self._notes.close()
        return notes

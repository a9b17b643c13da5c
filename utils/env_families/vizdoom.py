"""ViZDoom scenarios, built on the gymnasium ids ``vizdoom.gymnasium_wrapper`` registers.

Ids: ``VizDoom-<Scenario>-v0`` where ``<Scenario>`` is the scenario file's name in CamelCase
(``basic.cfg`` -> ``VizDoom-Basic-v0``, ``defend_the_center.cfg`` -> ``VizDoom-DefendTheCenter-v0``),
or vizdoom's own ids (``VizdoomBasic-v1``, ...). The scenario file is ``env_kwargs.config_path`` when
given, else the file of that name in ``$VIZDOOM_SCENARIOS_DIR`` when set, else the one installed with
vizdoom. Other ``env_kwargs`` go to vizdoom's env: its own arguments (``frame_skip``,
``max_buttons_pressed``, ...) and any DoomGame setting (``screen_resolution: RES_160X120``,
``screen_format: GRAY8``, ``doom_skill: 3``, ...), each checked here, since vizdoom itself only prints a
warning and ignores a bad one.

Observations are vizdoom's Dict (``screen`` + ``gamevariables``): select the screen with the
``VizDoom_ScreenObservation`` wrapper. The Doom engine writes ``_vizdoom/`` and ``_vizdoom.ini`` into
its working directory; each env starts its engine in a private temporary folder, removed on close.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import RecordEpisodeStatistics

from utils.env_families.base import EnvFamily
from utils.errors import ConfigError

PREFIXES = ("VizDoom-", "Vizdoom")
SCENARIOS_DIR_VAR = "VIZDOOM_SCENARIOS_DIR"
#: env_kwargs read by this family or gym.make rather than by a DoomGame setting
_FAMILY_KWARGS = {"config_path", "render_mode", "max_episode_steps"}
#: env_kwargs this family sets itself, and what to use instead
_RESERVED_KWARGS = {
    "scenario_config_file": "set env_kwargs.config_path instead",
    "doom_config_path": "each env's engine keeps its ini in a private temporary folder",
}
#: chdir is process-wide: engines started from threads of one process take turns
_ENGINE_START = threading.Lock()


def _vizdoom() -> Any:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # vizdoom's env imports pygame
    importlib.import_module("vizdoom.gymnasium_wrapper")  # registers the Vizdoom*-v1 ids
    return importlib.import_module("vizdoom")


@cache
def scenario_ids() -> dict[str, str]:
    """``VizDoom-<Scenario>-v0`` -> vizdoom's gymnasium id, for every scenario vizdoom registers."""
    _vizdoom()
    ids = {}
    for env_id, spec in gym.registry.items():
        if re.fullmatch(r"Vizdoom[A-Za-z]+-v1", env_id):
            stem = Path(spec.kwargs["scenario_config_file"]).stem
            ids[f"VizDoom-{''.join(part.capitalize() for part in stem.split('_'))}-v0"] = env_id
    return ids


def gym_id(env_id: str) -> str:
    """vizdoom's gymnasium id for ``env_id``; an unknown one is a ConfigError naming close ones."""
    ids = scenario_ids()
    if env_id in ids:
        return ids[env_id]
    if env_id in gym.registry and env_id.startswith("Vizdoom"):
        return env_id
    close = difflib.get_close_matches(env_id, list(ids), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(sorted(ids))})"
    raise ConfigError(f"unknown VizDoom scenario '{env_id}'{hint}")


def scenario_path(config: Any) -> Path:
    """The scenario (.cfg) file: env_kwargs.config_path, else $VIZDOOM_SCENARIOS_DIR/<file>, else vizdoom's."""
    explicit = config.env_kwargs.get("config_path")
    if explicit is not None:
        path = Path(str(explicit)).expanduser()
        if not path.is_file():
            raise ConfigError(f"VizDoom scenario file not found: {explicit} (env_kwargs.config_path)")
        return path.resolve()
    name = gym.spec(gym_id(config.env_id)).kwargs["scenario_config_file"]
    directory = os.environ.get(SCENARIOS_DIR_VAR)
    if directory:
        path = Path(directory).expanduser() / name
        if not path.is_file():
            raise ConfigError(f"VizDoom scenario file not found: {path} ({SCENARIOS_DIR_VAR}={directory}; unset it "
                              "to use the scenarios installed with vizdoom, or set env_kwargs.config_path)")
        return path.resolve()
    return Path(_vizdoom().scenarios_path) / name


class VizDoomFamily(EnvFamily):
    name = "vizdoom"
    prefixes = PREFIXES
    extra = "vizdoom"
    module = "vizdoom"

    def check(self, config: Any) -> None:
        self.require_extra(config.env_id)
        if config.obs_type is not None:
            raise ConfigError(f"obs_type applies to Atari (ALE/...) environments, not {config.env_id}")
        _check_scenario_file(scenario_path(config))
        _check_kwargs(config)
        if not config.env_wrappers:
            raise ConfigError(f"{config.env_id} observes a Dict (screen + game variables), which no policy takes: "
                              "add env_wrappers: [{id: VizDoom_ScreenObservation}]")

    def reward_threshold(self, config: Any) -> float | None:
        threshold = gym.spec(gym_id(config.env_id)).reward_threshold
        return None if threshold is None else float(threshold)

    def make_env(self, config: Any, render_mode: str | None = None) -> gym.Env:
        """One scenario (headless: vizdoom never opens a window unless render_mode='human') with statistics."""
        _vizdoom()
        kwargs = {key: value for key, value in config.env_kwargs.items() if key not in ("config_path", "render_mode")}
        render_mode = render_mode or config.env_kwargs.get("render_mode")
        env = gym.make(gym_id(config.env_id), scenario_config_file=str(scenario_path(config)),
                       render_mode=render_mode, **kwargs)
        return RecordEpisodeStatistics(PrivateEngineFolder(env))

    def native_vec(self, config: Any, n_envs: int) -> VectorEnv | None:
        return None


def _check_scenario_file(path: Path) -> None:
    """The scenario file parses and names a map file that exists (else the engine runs an empty map forever)."""
    game = _vizdoom().DoomGame()
    with _silenced_stdio():  # vizdoom prints "WARNING! ... Line ignored." and returns False
        loaded = game.load_config(str(path))
    wad = game.get_doom_scenario_path()
    if not loaded:
        raise ConfigError(f"{path} is not a ViZDoom scenario file: vizdoom could not parse it")
    if not wad or not Path(wad).is_file():
        raise ConfigError(f"ViZDoom scenario {path} names no map file that exists (doom_scenario_path: {wad!r})")


def _check_kwargs(config: Any) -> None:
    """Each env_kwarg is vizdoom's env argument or a DoomGame setting with a valid value."""
    vizdoom = _vizdoom()
    from vizdoom.gymnasium_wrapper.base_gymnasium_env import VizdoomEnv

    own = set(inspect.signature(VizdoomEnv.__init__).parameters) - {"self", "kwargs", "config_file"}
    kwargs = config.env_kwargs
    for key, instead in _RESERVED_KWARGS.items():
        if key in kwargs:
            raise ConfigError(f"env_kwargs.{key} is set by gymnasium-solver: {instead}")
    for key in ("frame_skip", "max_buttons_pressed", "max_episode_steps"):
        value = kwargs.get(key)
        minimum = 0 if key == "max_buttons_pressed" else 1
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise ConfigError(f"env_kwargs.{key} must be an integer >= {minimum}, got {value!r}")
    settings = {key: value for key, value in kwargs.items() if key not in own | _FAMILY_KWARGS}
    game = vizdoom.DoomGame()
    for key, value in settings.items():
        with _silenced_stdio():  # vizdoom prints "WARNING! ... Line ignored." and returns False
            accepted = game.set_config({key: value})
        if not accepted:
            raise ConfigError(f"env_kwargs.{key}: {value!r} is not a ViZDoom setting with a valid value (see "
                              "vizdoom's config keys, e.g. screen_resolution: RES_160X120, screen_format: GRAY8)")


@contextlib.contextmanager
def _silenced_stdio() -> Iterator[None]:
    """Send file descriptors 1 and 2 to /dev/null: a C++ library's prints bypass sys.stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (1, 2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class PrivateEngineFolder(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Starts the env's Doom engine with a private temporary folder as its working directory and ini file.

    The engine writes ``_vizdoom/`` and ``_vizdoom.ini`` into its working directory (a relative path
    compiled into it); the engine process inherits the working directory when it starts, so only that
    moment needs the folder. Scenario paths were made absolute when vizdoom loaded the config. The
    folder is removed once the engine has stopped: at close, or when the env is collected or the
    process exits without closing it.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        vizdoom = _vizdoom()
        self.folder = tempfile.mkdtemp(prefix="gymnasium-solver-vizdoom-")
        game = env.unwrapped.game
        self._stop = weakref.finalize(self, _stop_engine, game, self.folder)
        _exit_cleanly_on_sigterm()
        game.set_doom_config_path(os.path.join(self.folder, "_vizdoom.ini"))
        try:
            with _ENGINE_START, _working_directory(self.folder):
                game.init()
        except (vizdoom.FileDoesNotExistException, vizdoom.ViZDoomErrorException) as exc:
            self._stop.detach()  # no engine started, so no ini to wait for
            shutil.rmtree(self.folder, ignore_errors=True)
            raise ConfigError(f"ViZDoom could not start the scenario: {' '.join(str(exc).split())}") from None

    def close(self) -> None:
        super().close()
        self._stop()


def _exit_cleanly_on_sigterm() -> None:
    """In a vector env's worker process, make SIGTERM raise SystemExit, so the worker's cleanup closes the
    env: the Doom engine ignores SIGTERM and does not watch its parent, so a worker killed outright (as
    multiprocessing does to daemon workers at exit) would leave its engine running."""
    if multiprocessing.parent_process() is None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _stop_engine(game: Any, folder: str, timeout_s: float = 2.0) -> None:
    """Stop the engine, wait until it has saved its ini (its last write), then remove its folder."""
    game.close()
    ini = os.path.join(folder, "_vizdoom.ini")
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(ini) and time.monotonic() < deadline:
        time.sleep(0.005)
    shutil.rmtree(folder, ignore_errors=True)

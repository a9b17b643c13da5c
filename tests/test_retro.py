"""stable-retro family: ids, ROMs, one emulator per process, wrappers, and a short train + play (Airstriker)."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

stable_retro = pytest.importorskip("stable_retro", reason="needs the retro extra: pip install -e '.[retro]'")

import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

import play  # noqa: E402
import train  # noqa: E402
from gym_wrappers import EnvWrapperRegistry  # noqa: E402
from gym_wrappers import preprocessing, retro as retro_wrappers  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.env_families import family_for  # noqa: E402
from utils.env_families.retro import game_name  # noqa: E402
from utils.environment import build_vec_env, check_env_config, make_env_fn  # noqa: E402
from utils.errors import ConfigError  # noqa: E402

AIRSTRIKER = "Retro-Airstriker-Genesis"
COMBOS = [[], ["LEFT"], ["RIGHT"], ["B"], ["LEFT", "B"], ["RIGHT", "B"]]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    return tmp_path


def airstriker(**overrides):
    return load_config(AIRSTRIKER, "ppo", overrides)


def raw_env(**env_kwargs):
    """The family's env (headless, time-limited, episode statistics) without the config's wrappers."""
    config = airstriker(env_wrappers=[], frame_stack=1, env_kwargs=env_kwargs)
    return family_for(config.env_id).make_env(config)


def emulator_can_start_here() -> bool:
    """True when this process holds no emulator (stable-retro allows one per process)."""
    env = stable_retro.make("Airstriker-Genesis-v0", render_mode="rgb_array")
    env.close()
    return True


# ---- ids and ROMs -----------------------------------------------------------------------------------------


def test_ids_map_to_stable_retro_names():
    assert game_name("Retro/Airstriker-Genesis") == "Airstriker-Genesis-v0"
    assert game_name("Retro/Airstriker-Genesis-v0") == "Airstriker-Genesis-v0"
    assert family_for("Retro/SuperMarioBros-Nes").name == "retro"
    with pytest.raises(ConfigError, match=r"unknown stable-retro game 'Retro/SuperMarioBros-NES' \(did you mean "
                                          r"Retro/SuperMarioBros-Nes"):
        game_name("Retro/SuperMarioBros-NES")


def test_a_missing_rom_is_one_error_line_saying_how_to_import_it(workdir, capsys):
    data = stable_retro.data
    try:
        data.get_romfile_path("SuperMarioBros-Nes-v0", data.Integrations.ALL)
        pytest.skip("the SuperMarioBros-Nes ROM is imported on this machine")
    except FileNotFoundError:
        pass
    assert train.main(["Retro-SuperMarioBros-Nes:ppo"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: Retro/SuperMarioBros-Nes needs its ROM, which stable-retro does not ship: put the ROM "
                   "file in a folder DIR and run `python -m stable_retro.import DIR`\n")
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(("env_kwargs", "message"), [
    ('{"max_episode_steps": 0}', "env_kwargs.max_episode_steps must be an integer >= 1, got 0"),
    ('{"frameskip": 2.5}', "env_kwargs.frameskip must be an integer >= 1, got 2.5"),
    ('{"repeat_action_probability": 1}', "env_kwargs.repeat_action_probability must be in [0, 1), got 1"),
    ('{"use_restricted_actions": "some"}',
     "env_kwargs.use_restricted_actions must be one of all, filtered, discrete, multi_discrete, got 'some'"),
    ('{"state": "Level2"}', "env_kwargs.state 'Level2' is not a saved state of Retro/Airstriker-Genesis (states: Level1)"),
    ('{"players": 3}', "bad env_kwargs for Retro/Airstriker-Genesis: requested player is out of bounds"),
    ('{"state": 5}', "env_kwargs.state 5 is not a saved state of Retro/Airstriker-Genesis (states: Level1)"),
    ('{"state": ["Level1"]}', "env_kwargs.state ['Level1'] is not a saved state"),
    # a scenario that does not exist would give an episode without rewards or an end
    ('{"scenario": "nope"}', "env_kwargs.scenario must name a scenario of Retro/Airstriker-Genesis"),
    ('{"info": "missing.json"}', "env_kwargs.info must name a info of"),
])
def test_bad_env_kwargs_are_one_error_line(workdir, capsys, env_kwargs, message):
    assert train.main([AIRSTRIKER + ":ppo", "--env_kwargs", env_kwargs]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message) and err.count("\n") == 1
    assert emulator_can_start_here()  # the failed check left no emulator behind


# ---- the env ------------------------------------------------------------------------------------------------


def test_env_is_headless_with_frame_skip_sticky_actions_and_a_time_limit():
    env = raw_env(max_episode_steps=30)
    try:
        assert env.render_mode == "rgb_array"
        assert env.action_space == gym.spaces.MultiBinary(12)
        env.reset(seed=0)
        steps = [env.step(env.action_space.sample()) for _ in range(30)]
        assert [s[2:4] for s in steps] == [(False, False)] * 29 + [(False, True)]  # truncated, not terminated
        assert steps[-1][4]["episode"]["l"] == 30  # lengths count agent steps
        assert env.render().shape == (224, 320, 3)
        skip, sticky = env.env.env, env.env.env.env
        assert (type(skip).__name__, skip._skip) == ("MaxAndSkipObservation", 4)
        assert (type(sticky).__name__, sticky.repeat_action_probability) == ("StickyAction", 0.25)
    finally:
        env.close()
    env = raw_env(frameskip=1, repeat_action_probability=0)
    try:
        assert env.env._max_episode_steps == 4500  # 5 minutes at frameskip 4
        assert env.env.env is env.unwrapped  # neither skip nor sticky actions
    finally:
        env.close()


def test_sticky_actions_make_seeded_episodes_differ_and_repeat():
    def score_after(seed: int) -> list:
        env = raw_env()
        try:
            env.reset(seed=seed)
            rng = np.random.default_rng(0)  # the same button presses every time
            return [env.step(rng.integers(0, 2, 12))[0].sum() for _ in range(60)]
        finally:
            env.close()

    assert score_after(1) == score_after(1)
    assert score_after(1) != score_after(2)


def test_check_env_config_leaves_no_emulator_in_the_main_process():
    check_env_config(airstriker())
    assert emulator_can_start_here()


def test_train_and_eval_vector_envs_run_side_by_side_in_worker_processes():
    config = airstriker(n_envs=2)
    envs = build_vec_env(config, 2)
    eval_envs = build_vec_env(config, 1, training=False)
    try:
        assert isinstance(envs.unwrapped, gym.vector.AsyncVectorEnv)
        assert isinstance(eval_envs.unwrapped, gym.vector.AsyncVectorEnv)
        obs, _ = envs.reset(seed=0)
        eval_obs, _ = eval_envs.reset(seed=1)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        assert eval_obs.shape == (1, 4, 84, 84)
        assert envs.single_action_space == gym.spaces.Discrete(len(COMBOS))
        for _ in range(10):
            obs, reward, terminated, truncated, _ = envs.step(np.array([3, 4]))
            eval_envs.step(np.array([0]))
        assert obs.std() > 0 and np.isfinite(reward).all()
        assert emulator_can_start_here()  # every emulator lives in a worker
    finally:
        envs.close()
        eval_envs.close()


# ---- wrappers -----------------------------------------------------------------------------------------------


def test_discrete_actions_press_the_named_buttons():
    env = EnvWrapperRegistry.build(raw_env(), {"id": "RetroDiscreteActions", "combos": COMBOS})
    try:
        buttons = env.unwrapped.buttons
        pressed = [[buttons[i] for i in np.flatnonzero(env.action(a))] for a in range(len(COMBOS))]
        assert pressed == [[], ["LEFT"], ["RIGHT"], ["B"], ["B", "LEFT"], ["B", "RIGHT"]]
        with pytest.raises(ConfigError, match="unknown button 'FIRE'; this console has B, A, MODE, START"):
            EnvWrapperRegistry.build(env.env, {"id": "RetroDiscreteActions", "combos": [["FIRE"]]})
    finally:
        env.close()


RETRO_WRAPPERS = {
    "RetroDiscreteActions": [{"id": "RetroDiscreteActions", "combos": COMBOS}],
    "ResizeObservation": [{"id": "ResizeObservation", "shape": [84, 84]}],
    "GrayscaleObservation": [{"id": "GrayscaleObservation"}],
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(RETRO_WRAPPERS))
def test_wrappers_pass_check_env_on_retro(name):
    env = EnvWrapperRegistry.apply(raw_env(), RETRO_WRAPPERS[name])
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_preprocessed_observation_is_84x84_gray():
    env = make_env_fn(airstriker(frame_stack=1))()
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space == gym.spaces.Box(0, 255, (84, 84), np.uint8)
        assert obs.shape == (84, 84) and obs.dtype == np.uint8 and obs.std() > 0
    finally:
        env.close()


@pytest.mark.parametrize("module", [retro_wrappers, preprocessing])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# ---- end to end ---------------------------------------------------------------------------------------------


def test_train_then_play_from_the_checkpoint(workdir, capsys):
    code = train.main([AIRSTRIKER + ":ppo", "-q", "--max-steps", "256", "--n_envs", "2", "--n_steps", "64",
                       "--batch_size", "128", "--n_epochs", "1", "--eval_episodes", "1", "--eval_freq", "0",
                       "--env_kwargs", '{"max_episode_steps": 100}'])
    assert code == 0
    run = next(p for p in (workdir / "runs").iterdir() if not p.is_symlink())
    results = (run / "results.json").read_text()
    assert json.loads(results)["total_timesteps"] >= 256 and '"reward_threshold": null' in results
    assert '"status": "completed"' in results
    assert (run / "checkpoints" / "last.ckpt").is_file()
    capsys.readouterr()
    assert play.main(["--run-id", "@latest-run", "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    length = int(out.split("length ")[1].split()[0])
    assert 1 <= length <= 100  # the time limit ends the episode at 100 steps unless the game ends first
    assert float(out.split("return ")[1].split(",")[0]) >= 0  # the score never decreases

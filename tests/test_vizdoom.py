"""VizDoom family: ids, scenario files, vector envs, wrappers, and a short train + play that leaves the cwd clean."""

from __future__ import annotations

import doctest
import json
import glob
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

vizdoom = pytest.importorskip("vizdoom", reason="needs the vizdoom extra: pip install -e '.[vizdoom]'")

import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

import play  # noqa: E402
import train  # noqa: E402
from gym_wrappers import EnvWrapperRegistry  # noqa: E402
from gym_wrappers import vizdoom as vizdoom_wrappers  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.env_families import family_for  # noqa: E402
from utils.env_families.vizdoom import gym_id, scenario_path  # noqa: E402
from utils.environment import build_vec_env, check_env_config, make_env_fn  # noqa: E402
from utils.errors import ConfigError  # noqa: E402

BASIC = "VizDoom-Basic-v0"
SCENARIOS = Path(vizdoom.scenarios_path)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty cwd; the test fails if a VizDoom engine folder outlives its env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    monkeypatch.delenv("VIZDOOM_SCENARIOS_DIR", raising=False)
    before = set(glob.glob(str(Path(tempfile.gettempdir()) / "gymnasium-solver-vizdoom-*")))
    yield tmp_path
    after = set(glob.glob(str(Path(tempfile.gettempdir()) / "gymnasium-solver-vizdoom-*")))
    assert after <= before, f"engine folders left behind: {sorted(after - before)}"


def basic(**overrides):
    return load_config(BASIC, "ppo", overrides)


def one_env(config):
    """One env as training builds it: family env, registry wrappers, frame stack."""
    return make_env_fn(config)()


# ---- ids and scenario files --------------------------------------------------------------------------------


@pytest.mark.parametrize(("env_id", "expected"), [
    (BASIC, "VizdoomBasic-v1"),
    ("VizDoom-DeadlyCorridor-v0", "VizdoomDeadlyCorridor-v1"),
    ("VizDoom-DefendTheCenter-v0", "VizdoomDefendCenter-v1"),
    ("VizDoom-HealthGatheringSupreme-v0", "VizdoomHealthGatheringSupreme-v1"),
    ("VizdoomTakeCover-v1", "VizdoomTakeCover-v1"),  # vizdoom's own ids work as they are
])
def test_spec_names_map_to_the_ids_vizdoom_registers(env_id, expected):
    assert gym_id(env_id) == expected
    assert family_for(env_id).name == "vizdoom"


def test_unknown_scenario_names_the_closest():
    with pytest.raises(ConfigError, match=r"unknown VizDoom scenario 'VizDoom-DefendCenter-v0' \(did you mean "
                                          r"VizDoom-DefendTheCenter-v0"):
        gym_id("VizDoom-DefendCenter-v0")


def test_scenario_file_comes_from_config_path_then_env_var_then_the_package(workdir, monkeypatch):
    config = load_config("VizDoom-DeadlyCorridor-v0", "ppo")
    assert scenario_path(config) == SCENARIOS / "deadly_corridor.cfg"

    own = workdir / "scenarios"
    own.mkdir()
    for name in ("deadly_corridor.cfg", "deadly_corridor.wad"):
        shutil.copy(SCENARIOS / name, own / name)
    monkeypatch.setenv("VIZDOOM_SCENARIOS_DIR", str(own))
    assert scenario_path(config) == own / "deadly_corridor.cfg"

    explicit = load_config("VizDoom-DeadlyCorridor-v0", "ppo", {"env_kwargs": {"config_path": "scenarios/deadly_corridor.cfg"}})
    assert scenario_path(explicit) == own / "deadly_corridor.cfg"  # relative to the cwd, made absolute

    monkeypatch.setenv("VIZDOOM_SCENARIOS_DIR", str(workdir))
    with pytest.raises(ConfigError, match=r"VizDoom scenario file not found: .*deadly_corridor.cfg \(VIZDOOM_SCENARIOS_DIR="):
        scenario_path(config)


def test_a_scenario_file_of_ones_own_is_played(workdir):
    # a copy of basic.cfg with a 40-tic timeout: the episode is truncated after 40 / 4 = 10 steps
    text = (SCENARIOS / "basic.cfg").read_text().replace("episode_timeout = 300", "episode_timeout = 40")
    (workdir / "short.cfg").write_text(text)
    shutil.copy(SCENARIOS / "basic.wad", workdir / "basic.wad")  # the map, found next to the .cfg
    config = basic(env_kwargs={"config_path": "short.cfg", "frame_skip": 4, "screen_format": "GRAY8",
                               "screen_resolution": "RES_160X120"})
    env = one_env(config)
    try:
        env.reset(seed=0)
        steps = [env.step(0) for _ in range(10)]
        assert [s[3] for s in steps] == [False] * 9 + [True]  # truncated at the scenario's timeout
        assert steps[-1][4]["episode"]["l"] == 10
    finally:
        env.close()


# ---- bad input: one line, exit 2 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("env_kwargs", "message"), [
    ('{"config_path": "missing/deadly.cfg"}',
     "error: VizDoom scenario file not found: missing/deadly.cfg (env_kwargs.config_path)"),
    ('{"screen_resolution": "RES_100X100"}',
     "error: env_kwargs.screen_resolution: 'RES_100X100' is not a ViZDoom setting with a valid value"),
    ('{"skill": 3}', "error: env_kwargs.skill: 3 is not a ViZDoom setting with a valid value"),
    ('{"frame_skip": 0}', "error: env_kwargs.frame_skip must be an integer >= 1, got 0"),
    # not a scenario: the engine would run an empty map forever
    (f'{{"config_path": "{Path(__file__).resolve()}"}}',
     f"error: {Path(__file__).resolve()} is not a ViZDoom scenario file: vizdoom could not parse it"),
])
def test_bad_scenario_or_setting_is_one_error_line(workdir, capsys, env_kwargs, message):
    assert train.main([BASIC + ":ppo", "--env_kwargs", env_kwargs]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert list(workdir.iterdir()) == []


def test_a_config_without_a_screen_wrapper_is_told_to_add_one(workdir, capsys):
    assert train.main([BASIC + ":ppo", "--env_wrappers", "[]"]) == 2
    assert "add env_wrappers: [{id: VizDoom_ScreenObservation}]" in capsys.readouterr().err


# ---- envs -----------------------------------------------------------------------------------------------


def test_vector_env_steps_the_preprocessed_screen_and_writes_nothing_in_the_cwd(workdir):
    config = basic(n_envs=2)
    check_env_config(config)
    envs = build_vec_env(config, 2)
    try:
        assert isinstance(envs.unwrapped, gym.vector.AsyncVectorEnv)
        assert envs.unwrapped.single_observation_space == gym.spaces.Box(0, 255, (30, 40, 3), np.uint8)
        assert envs.single_action_space == gym.spaces.Discrete(4)  # no-op, attack, right, left
        obs, _ = envs.reset(seed=0)
        for _ in range(20):
            obs, reward, terminated, truncated, _ = envs.step(np.array([0, 0]))  # idle: -1 per tic
        assert obs.shape == (2, 30, 40, 3) and obs.dtype == np.float32  # normalize_obs: per-pixel z-scores
        assert np.isfinite(obs).all() and obs.std() > 0
        assert not (terminated | truncated).any()
    finally:
        envs.close()
    envs = build_vec_env(config, 2, training=False)  # evaluation: raw rewards
    try:
        envs.reset(seed=0)
        rewards = [envs.step(np.array([0, 0]))[1] for _ in range(5)]
        np.testing.assert_array_equal(np.array(rewards), -4.0)  # 4 tics per step, -1 each
    finally:
        envs.close()
    assert list(workdir.iterdir()) == []


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("spec", [
    {"id": "VizDoom_ScreenObservation"},
    {"id": "VizDoom_ScreenObservation", "game_variables": True},
    {"id": "VizDoom_RewardShaper"},
])
def test_wrappers_pass_check_env_on_vizdoom(workdir, spec):
    config = basic(env_wrappers=[])
    env = EnvWrapperRegistry.build(family_for(BASIC).make_env(config), spec)
    try:
        check_env(env, skip_render_check=True)  # also re-creates the env from its spec and closes it
    finally:
        env.close()
    assert list(workdir.iterdir()) == []


def test_screen_with_game_variables_is_a_scaled_vector(workdir):
    env = one_env(basic(env_wrappers=[{"id": "VizDoom_ScreenObservation", "game_variables": True}]))
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (120 * 160 * 3 + 1,) and obs.dtype == np.float32
        assert 0 <= obs[:-1].min() and obs[:-1].max() <= 1
        assert obs[-1] == 50  # AMMO2: Basic starts with 50 pistol rounds
    finally:
        env.close()


def test_reward_shaper_adds_scaled_game_variable_deltas(workdir):
    config = basic(env_wrappers=[])
    env = EnvWrapperRegistry.build(family_for(BASIC).make_env(config),
                                   {"id": "VizDoom_RewardShaper", "deltas": {"selected_weapon_ammo": 2.0}})
    try:
        env.reset(seed=0)
        env.step(1)
        _, reward, _, _, info = env.step(1)  # the shot leaves during the 2nd step: one round spent
        assert float(reward) == float(info["original_reward"]) - 2.0
        assert env.deltas == {"SELECTED_WEAPON_AMMO": 2.0}
        with pytest.raises(ConfigError, match="unknown game variable 'HEALT' \\(did you mean HEALTH\\?\\)"):
            EnvWrapperRegistry.build(env.env, {"id": "VizDoom_RewardShaper", "deltas": {"HEALT": 1.0}})
    finally:
        env.close()


def test_wrappers_reject_other_envs():
    with pytest.raises(ConfigError, match="needs a VizDoom env"):
        EnvWrapperRegistry.build(gym.make("CartPole-v1"), {"id": "VizDoom_ScreenObservation"})
    with pytest.raises(ConfigError, match="needs a VizDoom env"):
        EnvWrapperRegistry.build(gym.make("CartPole-v1"), {"id": "VizDoom_RewardShaper"})


def test_docstring_examples_run(workdir):
    result = doctest.testmod(vizdoom_wrappers)
    assert result.attempted > 0 and result.failed == 0


# ---- end to end ---------------------------------------------------------------------------------------------


def test_train_then_play_leave_only_the_run_folder(workdir, capsys):
    code = train.main([BASIC + ":ppo", "-q", "--max-steps", "256", "--n_envs", "2", "--n_steps", "64",
                       "--batch_size", "64", "--n_epochs", "1", "--eval_episodes", "2", "--eval_freq", "0"])
    assert code == 0
    run = next(p for p in (workdir / "runs").iterdir() if not p.is_symlink())
    results = (run / "results.json").read_text()
    assert json.loads(results)["total_timesteps"] >= 256 and '"reward_threshold": 80.0' in results
    assert (run / "checkpoints" / "last.ckpt").is_file()
    capsys.readouterr()
    assert play.main(["--run-id", "@latest-run", "--episodes", "1", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "episode 1: return " in out
    episode_return = float(out.split("episode 1: return ")[1].split(",")[0])
    assert -400 <= episode_return <= 101  # Basic's range: -1 per tic (300 max), -5 per miss, +101 per kill
    assert sorted(p.name for p in workdir.iterdir()) == ["runs"]

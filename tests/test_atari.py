"""Atari (ALE/...-v5): the family's envs for rgb, ram and objects, the Atari wrappers, and training end to end.

Needs the atari extra (ale-py, ocatari). Episodes are kept short with ``max_num_frames_per_episode``;
``repeat_action_probability: 0`` and ``noop_max: 0`` make games deterministic where two envs are compared.
"""

from __future__ import annotations

import doctest
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

pytest.importorskip("ale_py", reason="needs the atari extra: pip install -e '.[atari]'")
pytest.importorskip("ocatari", reason="needs the atari extra: pip install -e '.[atari]'")

import play  # noqa: E402
import train  # noqa: E402
from gym_wrappers import (  # noqa: E402
    AtariFireReset,
    EnvWrapperRegistry,
    PongV5_FeatureExtractor,
    PongV5_RewardShaper,
    atari,
    ocatari_adapter,
    pong,
)
from gym_wrappers.ocatari_adapter import OCAtariAdapter, make_ocatari  # noqa: E402
from utils.config import load_config, parse_config_id  # noqa: E402
from utils.env_families import AtariFamily, family_for  # noqa: E402
from utils.env_families.atari import obs_type_of  # noqa: E402
from utils.environment import build_vec_env  # noqa: E402
from utils.errors import ConfigError  # noqa: E402
from utils.policies import _as_float, build_policy  # noqa: E402

DETERMINISTIC = {"repeat_action_probability": 0.0, "noop_max": 0}


def pong_config(variant: str = "rgb_ppo", **overrides):
    return load_config("ALE-Pong-v5", variant, overrides)


def random_actions(n: int, n_actions: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(n_actions, size=n).tolist()


# ---- the family ---------------------------------------------------------------------------------------------


def test_ale_ids_belong_to_the_atari_family_and_observe_rgb_by_default():
    assert isinstance(family_for("ALE/Pong-v5"), AtariFamily)
    assert not isinstance(family_for("CartPole-v1"), AtariFamily)
    assert obs_type_of(pong_config(obs_type=None)) == "rgb"


@pytest.mark.parametrize(
    ("variant", "shape", "dtype", "native"),
    [
        ("rgb_ppo", (4, 84, 84), np.uint8, "AtariVectorEnv"),
        ("ram_ppo", (4, 128), np.uint8, "SyncVectorEnv"),  # frame_stack 4 of the 128 bytes
        ("objects_ppo", (24,), np.float32, "SyncVectorEnv"),  # (x, y) of 3 objects in 4 frames
    ],
)
def test_each_obs_type_builds_training_and_eval_envs_that_step(variant, shape, dtype, native):
    config = pong_config(variant, env_kwargs={"max_num_frames_per_episode": 400})
    for training in (True, False):
        envs = build_vec_env(config, 2, training=training)
        try:
            assert type(envs.unwrapped).__name__ == native
            assert envs.single_observation_space.shape == shape
            assert envs.single_observation_space.dtype == dtype
            assert envs.single_action_space == gym.spaces.Discrete(6)
            obs, _ = envs.reset(seed=0)
            assert obs.shape == (2, *shape) and obs.dtype == dtype
            finished = 0
            for action in random_actions(110, 6):  # 400 frames: every game truncates after 100 steps
                obs, rewards, terminated, truncated, info = envs.step(np.full(2, action))
                assert obs.shape == (2, *shape) and obs.dtype == dtype and np.isfinite(rewards).all()
                finished += int(info.get("_episode", np.zeros(2)).sum())
            assert finished == 2
        finally:
            envs.close()
    single = family_for(config.env_id).make_env(config, render_mode="rgb_array")
    single.reset(seed=0)
    assert single.render().shape == (210, 160, 3)
    single.close()


def test_python_rgb_env_matches_the_native_env_frame_for_frame():
    config = pong_config(env_kwargs=DETERMINISTIC)
    family = family_for(config.env_id)
    native, single = family.native_vec(config, 1), family.make_env(config)
    native_obs, _ = native.reset(seed=3)
    single_obs, _ = single.reset(seed=3)
    assert single.observation_space == native.single_observation_space
    np.testing.assert_array_equal(native_obs[0], single_obs)
    assert not single_obs[:3].any()  # a new game: zero frames before the first one, as the native env has
    for action in random_actions(300, 6):
        native_obs, native_reward, *_ = native.step(np.array([action]))
        single_obs, single_reward, *_ = single.step(action)
        np.testing.assert_array_equal(native_obs[0], single_obs)
        assert native_reward[0] == single_reward


def test_training_rewards_are_clipped_but_episode_returns_are_the_game_score():
    # Space Invaders pays 5-30 points per alien: clipping shows. Both envs play the same game.
    short = {**DETERMINISTIC, "max_num_frames_per_episode": 1200}
    config = pong_config(env_id="ALE/SpaceInvaders-v5", env_kwargs=short)
    training = build_vec_env(config, 1, training=True)
    game = family_for(config.env_id).make_env(config)
    training.reset(seed=1)
    game.reset(seed=1)
    learner_rewards, scores = [], []
    for action in random_actions(300, 6):
        _, reward, _, _, info = training.step(np.array([action]))
        _, score, terminated, truncated, _ = game.step(action)
        learner_rewards.append(float(reward[0]))
        scores.append(score)
        if terminated or truncated:
            break
    assert set(learner_rewards) <= {-1.0, 0.0, 1.0}
    assert max(scores) > 1
    assert info["_episode"][0] and info["episode"]["r"][0] == sum(scores) > sum(learner_rewards)
    training.close()


def test_episodic_life_ends_learner_episodes_at_each_lost_life_but_statistics_count_whole_games():
    config = load_config("ALE-Breakout-v5", "rgb_ppo", {"env_kwargs": {**DETERMINISTIC, "episodic_life": True}})
    ends = {}
    for training in (True, False):
        envs = build_vec_env(config, 1, training=training)
        envs.reset(seed=0)
        ends[training], games = [], []
        for t in range(130):  # NOOP: an idle paddle misses every ball it is served
            _, _, terminated, truncated, info = envs.step(np.zeros(1, dtype=np.int64))
            ends[training] += [t] if terminated[0] or truncated[0] else []
            games += [int(info["episode"]["l"][0])] if info.get("_episode", [False])[0] else []
        envs.close()
        ends[training, "games"] = games
    # training: each of the 5 balls ends the learner's episode (after a lost life FIRE serves the next ball);
    # the statistics saw one game, as long as all five
    assert len(ends[True]) == 5 and ends[True, "games"] == [ends[True][-1] + 1]
    # evaluation: the first lost life ends nothing (and with nobody pressing FIRE, the game waits)
    assert ends[False] == [] and ends[False, "games"] == []


def test_ram_bytes_reach_the_network_in_the_unit_range():
    torch.testing.assert_close(_as_float(torch.tensor([0, 51, 255], dtype=torch.uint8)), torch.tensor([0.0, 0.2, 1.0]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env_kwargs": {"sticky": 0.1}}, "unknown env_kwargs 'sticky'; accepted: repeat_action_probability"),
        ({"obs_type": "ram", "env_kwargs": {"noop_max": 5}}, "'noop_max' apply to obs_type rgb only"),
        ({"env_kwargs": {"frameskip": 2.5}}, "env_kwargs.frameskip must be an int, got 2.5"),
        ({"env_kwargs": {"episodic_life": "yes"}}, "env_kwargs.episodic_life must be a bool"),
        ({"env_kwargs": {"repeat_action_probability": 1.5}}, "repeat_action_probability must be in [0, 1]"),
        ({"env_kwargs": {"stack_num": 0}}, "env_kwargs.stack_num must be between 1 and 64, got 0"),
        # beyond these a step takes minutes or a frame stack gigabytes
        ({"env_kwargs": {"frameskip": 10**9}}, "env_kwargs.frameskip must be between 1 and 100"),
        ({"env_kwargs": {"noop_max": 10**9}}, "env_kwargs.noop_max must be between 0 and 10,000"),
        ({"env_kwargs": {"img_height": 100_000}}, "env_kwargs.img_height must be between 1 and 1,024"),
        ({"frame_stack": 4}, "already stacked (env_kwargs.stack_num, default 4): leave frame_stack at 1"),
        ({"env_id": "ALE/Surround-v5", "obs_type": "objects", "policy": "mlp"}, "OCAtari has no object extraction"),
        ({"env_id": "ALE/Pongg-v5"}, "unknown environment 'ALE/Pongg-v5' (did you mean ALE/Pong-v5"),
    ],
)
def test_bad_atari_configs_are_one_line_errors(overrides, message):
    config = pong_config(**overrides)
    with pytest.raises(ConfigError) as excinfo:
        build_vec_env(config, 1)
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_a_missing_extra_names_the_pip_command():
    family = AtariFamily()
    family.module = "ale_py_not_installed"
    with pytest.raises(ConfigError, match=r"ALE/Pong-v5 needs the atari extra: pip install -e '\.\[atari\]'"):
        family.check(pong_config())


def test_the_cli_takes_the_env_id_with_a_slash_or_a_dash():
    for config_id in ("ALE/Pong-v5:rgb_ppo", "ALE-Pong-v5:rgb_ppo"):
        config = load_config(*parse_config_id(config_id))
        assert config.config_id == "ALE-Pong-v5:rgb_ppo" and config.env_id == "ALE/Pong-v5"


def test_a_bad_env_kwarg_on_the_command_line_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train.main(["ALE/Pong-v5:rgb_ppo", "--env_kwargs", "{frame_skip: 2}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ALE/Pong-v5: unknown env_kwargs 'frame_skip'") and "\n" not in err
    assert not (tmp_path / "runs").exists()


# ---- wrappers ----------------------------------------------------------------------------------------------

WRAPPED_ENVS = {
    "OCAtariAdapter": lambda: make_ocatari("ALE/Pong-v5"),
    "PongV5_FeatureExtractor": lambda: PongV5_FeatureExtractor(make_ocatari("ALE/Pong-v5")),
    "PongV5_RewardShaper": lambda: PongV5_RewardShaper(make_ocatari("ALE/Pong-v5"), tracking_scale=0.5),
    "AtariFireReset": lambda: AtariFireReset(gym.make("ALE/Breakout-v5")),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(WRAPPED_ENVS))
def test_check_env_passes(name):
    env = WRAPPED_ENVS[name]()
    check_env(env, skip_render_check=True)
    env.close()


def test_registered_atari_wrappers_build_by_name():
    for name in ("OCAtariAdapter", "PongV5_FeatureExtractor", "PongV5_RewardShaper"):
        assert name in EnvWrapperRegistry.names()
    env = EnvWrapperRegistry.apply(make_ocatari("ALE/Pong-v5"), [{"id": "PongV5_FeatureExtractor"}])
    assert env.observation_space.shape == (9,)


def test_ocatari_adapter_returns_terminated_in_gymnasiums_place():
    env = make_ocatari("ALE/Pong-v5", max_num_frames_per_episode=40)  # truncated after 10 steps
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(10)]
    assert flags[-1] == (False, True) and not any(terminated for terminated, _ in flags)


def test_pong_wrappers_reject_other_envs():
    with pytest.raises(ConfigError, match="needs ALE/Pong-v5 with obs_type: objects"):
        PongV5_FeatureExtractor(gym.make("ALE/Pong-v5", obs_type="ram"))
    with pytest.raises(ConfigError, match="needs ALE/Pong-v5 with obs_type: objects"):
        PongV5_RewardShaper(make_ocatari("ALE/Breakout-v5"))
    with pytest.raises(ConfigError, match="OCAtariAdapter wraps an OCAtari env"):
        OCAtariAdapter(gym.make("ALE/Pong-v5"))


def test_pong_features_are_the_objects_positions_and_moves():
    env = PongV5_FeatureExtractor(make_ocatari("ALE/Pong-v5", repeat_action_probability=0.0))
    env.reset(seed=0)
    for action in random_actions(80, 6):
        features, *_ = env.step(action)
    objects = {o.category: o for o in env.unwrapped.objects}
    ball, player = objects["Ball"], objects["Player"]
    expected = [(player.y + 7.5 - 114) / 80, player.dy / 16, (ball.x + 1 - 80) / 80, (ball.y + 2 - 114) / 80,
                ball.dx / 16, ball.dy / 16, 1.0]
    np.testing.assert_allclose(features[[0, 1, 4, 5, 6, 7, 8]], np.clip(expected, -1, 1), atol=1e-6)


def test_pong_shaping_telescopes_to_minus_the_first_potential():
    env = PongV5_RewardShaper(make_ocatari("ALE/Pong-v5", max_num_frames_per_episode=800), gamma=1.0)
    env.reset(seed=0)
    first_potential = env.potential()
    shaping, done = 0.0, False
    for action in random_actions(400, 6):
        _, reward, terminated, truncated, info = env.step(action)
        shaping += reward - info["original_reward"]
        if terminated or truncated:
            done = True
            break
    # gamma = 1: the shaping sums to phi(last) - phi(first); a truncated game keeps its last potential
    assert done
    assert shaping == pytest.approx(env.potential() - first_potential, abs=1e-9)


@pytest.mark.parametrize("module", [atari, ocatari_adapter, pong])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# ---- training end to end -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant, precision", [("objects_ppo", "32-true"), ("rgb_ppo", "32-true"),
                                                ("rgb_ppo", "bf16-mixed")])
def test_training_writes_a_run_and_play_replays_its_checkpoint(variant, precision, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    short_games = "{max_num_frames_per_episode: 800}"  # 200 steps
    argv = [f"ALE-Pong-v5:{variant}", "--max-steps", "256", "-q", "--n_envs", "2", "--n_steps", "64",
            "--batch_size", "64", "--eval_episodes", "2", "--env_kwargs", short_games, "--precision", precision]
    assert train.main(argv) == 0
    (run,) = [p for p in (tmp_path / "runs").iterdir() if not p.is_symlink()]
    results = json.loads((run / "results.json").read_text())
    assert results["env_id"] == "ALE/Pong-v5" and results["total_timesteps"] == 256
    assert json.loads((run / "config.json").read_text())["precision"] == precision
    # mixed precision keeps float32 weights: the checkpoint is the same whatever the precision
    weights = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["policy"]
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    assert -21 <= results["final_eval_reward"] <= 21
    assert (run / "checkpoints" / "last.ckpt").exists() and (run / "checkpoints" / "best.ckpt").exists()
    capsys.readouterr()
    assert play.main(["--run-id", "@latest-run", "--episodes", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[1:3]] == ["episode 1", "episode 2"]
    assert 195 <= int(lines[1].rpartition("length ")[2]) <= 200  # truncated at 800 frames (FIRE, no-ops first)


def test_policy_trained_on_native_frames_runs_on_the_python_env():
    config = pong_config(env_kwargs=DETERMINISTIC)
    native = build_vec_env(config, 1, training=False)
    single = family_for(config.env_id).make_env(config, render_mode="rgb_array")
    policy = build_policy(config, native.single_observation_space, native.single_action_space)
    native_obs, _ = native.reset(seed=0)
    single_obs, _ = single.reset(seed=0)
    for _ in range(20):
        action = policy.act(torch.as_tensor(native_obs), deterministic=True)
        assert int(policy.act(torch.as_tensor(single_obs)[None], deterministic=True)) == int(action)
        native_obs, *_ = native.step(action.numpy())
        single_obs, *_ = single.step(int(action))

"""The inspector's recording, without a browser: per-step records whose numbers are right (probabilities,
returns, return-to-go, GAE advantages, values), frames of the render size, image observations split per
stacked frame, action labels, continuous actions as mean and std, and the loading shared with play."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from run_factory import DOT_EPISODE, DOT_FRAME, dot_pixels_config, make_run
from utils.config import load_config
from utils.errors import UserError
from utils.inspection import (
    EpisodeRecord,
    StepRecord,
    action_label,
    action_labels,
    describe_env,
    describe_network,
    load_for_inspection,
    observation_images,
    record_episode,
    reward_scale,
)
from utils.playback import load_agent_for_play


@pytest.fixture
def cartpole_run(tmp_path):
    return make_run(tmp_path, load_config("CartPole-v1", "ppo"))


def td_advantages(record: EpisodeRecord) -> np.ndarray:
    """GAE written out from its definition: A_t = delta_t + gamma * lambda * A_{t+1} within the episode."""
    gamma, lam = record.config.gamma, record.config.gae_lambda
    steps = record.steps
    out = np.zeros(len(steps))
    running = 0.0
    for t in reversed(range(len(steps))):
        s = steps[t]
        next_value = record.last_value if t == len(steps) - 1 else steps[t + 1].value
        delta = s.reward * record.reward_scale + gamma * next_value * (not s.terminated) - s.value
        running = delta + gamma * lam * running * (not (s.terminated or s.truncated))
        out[t] = running
    return out


def test_cartpole_episode_values_are_right(cartpole_run):
    record = record_episode(cartpole_run, "best", seed=3, deterministic=True)
    steps = record.steps
    assert 8 <= len(steps) <= 500
    rewards = np.array([s.reward for s in steps])
    assert np.all(rewards == 1.0)
    # the episode ends exactly at its last step, and the score is the env's own return
    assert (steps[-1].terminated or steps[-1].truncated) and not any(s.terminated or s.truncated for s in steps[:-1])
    assert record.score == pytest.approx(rewards.sum())
    # probabilities: one per action, summing to 1; deterministic play takes the most likely action
    for s in steps:
        probs = s.distribution["probs"]
        assert probs.shape == (2,) and np.all(probs >= 0) and probs.sum() == pytest.approx(1.0, abs=1e-6)
        assert int(s.action) == int(np.argmax(probs)) and s.action_label == str(int(s.action))
    # returns recomputed from the rewards
    assert [s.cumulative_return for s in steps] == pytest.approx(np.cumsum(rewards))
    gamma = record.config.gamma
    rtg = [s.return_to_go for s in steps]
    assert rtg[-1] == pytest.approx(rewards[-1])
    for t in range(len(steps) - 1):
        assert rtg[t] == pytest.approx(rewards[t] + gamma * rtg[t + 1])
    assert rtg[0] == pytest.approx(sum(gamma**k for k in range(len(steps))))  # 1 per step
    # advantages: GAE of the recorded rewards and values
    assert [s.advantage for s in steps] == pytest.approx(td_advantages(record), abs=1e-5)
    # values are the critic's on the observation the policy saw
    agent = load_agent_for_play(cartpole_run, "best")
    obs = torch.as_tensor(np.stack([s.observation for s in steps]))
    with torch.inference_mode():
        values = agent.policy(obs)[1].numpy()
    agent.close()
    assert [s.value for s in steps] == pytest.approx(values, abs=1e-5)
    # frames of the render size, for every state (the last one after the final step)
    assert all(s.frame.array().shape == (400, 600, 3) for s in steps)
    assert record.final_frame.array().shape == (400, 600, 3)
    assert (record.env_steps, record.checkpoint.name, record.action_labels) == (1234, "best.ckpt", ["0", "1"])
    assert not record.continuous and not steps[0].observation_images


def test_the_same_seed_gives_the_same_episode_even_when_stochastic(cartpole_run):
    first = record_episode(cartpole_run, "last", seed=11, deterministic=False)
    again = record_episode(cartpole_run, "last", seed=11, deterministic=False)
    other = record_episode(cartpole_run, "last", seed=12, deterministic=False)
    actions = [int(s.action) for s in first.steps]
    assert actions == [int(s.action) for s in again.steps]
    assert actions != [int(s.action) for s in other.steps] or len(first.steps) != len(other.steps)


def test_csv_export_has_one_row_per_step_with_every_probability(cartpole_run, tmp_path):
    record = record_episode(cartpole_run, seed=0)
    path = record.write_csv(tmp_path / "episode.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(record.steps)
    assert list(rows[0]) == ["step", "action", "label", "p[0]", "p[1]", "value", "reward", "cumulative_return",
                             "return_to_go", "advantage", "terminated", "truncated"]
    assert float(rows[-1]["cumulative_return"]) == pytest.approx(record.total_reward)
    assert float(rows[0]["p[0]"]) + float(rows[0]["p[1]"]) == pytest.approx(1.0, abs=1e-6)


def test_image_observations_are_shown_frame_by_frame_with_action_meanings(tmp_path):
    run = make_run(tmp_path, dot_pixels_config())
    record = record_episode(run, "best", seed=0)
    assert 1 <= len(record.steps) <= DOT_EPISODE
    assert record.action_labels == ["NOOP", "LEFT", "RIGHT"]  # the env's get_action_meanings()
    first = record.steps[0]
    assert first.action_label == ["NOOP", "LEFT", "RIGHT"][int(first.action)]
    assert first.observation.shape == (2, *DOT_FRAME, 3)  # two stacked rgb frames
    images = [image.array() for image in first.observation_images]
    assert [image.shape for image in images] == [(*DOT_FRAME, 3)] * 2
    assert np.array_equal(images[1], first.frame.array())  # the newest stacked frame is the rendered state
    assert all(s.frame.array().shape == (*DOT_FRAME, 3) for s in record.steps)
    assert [s.advantage for s in record.steps] == pytest.approx(td_advantages(record), abs=1e-5)
    assert "PixelObservationWrapper" in describe_env(load_for_inspection(run)[0])


def test_continuous_actions_show_mean_and_std(tmp_path):
    config = load_config("Pendulum-v1", "ppo", {"env_kwargs": {"max_episode_steps": 30}})
    run = make_run(tmp_path, config)
    record = record_episode(run, seed=0, deterministic=True)
    assert record.continuous and len(record.steps) == 30 and record.steps[-1].truncated
    agent = load_agent_for_play(run)
    std = float(agent.policy.head.log_std.detach().exp())
    agent.close()
    for s in record.steps:
        assert set(s.distribution) == {"mean", "std"}
        assert s.distribution["std"] == pytest.approx([std])
        # deterministic: the action is the mean, clipped to the torque bounds
        assert float(s.action[0]) == pytest.approx(np.clip(s.distribution["mean"][0], -2, 2), abs=1e-6)
    row = record.rows()[0]
    assert {"mean[a0]", "std[a0]"} <= set(row) and not any(key.startswith("p[") for key in row)
    assert [s.advantage for s in record.steps] == pytest.approx(td_advantages(record), abs=1e-4)


def test_gae_uses_rewards_in_the_units_training_saw(tmp_path):
    config = load_config("CartPole-v1", "ppo", {"normalize_reward": True})
    run = make_run(tmp_path, config, normalization={"reward": {"mean": 0.0, "var": 4.0, "count": 10.0}})
    record = record_episode(run, seed=0)
    assert record.reward_scale == pytest.approx(0.5)
    assert [s.advantage for s in record.steps] == pytest.approx(td_advantages(record), abs=1e-5)
    assert reward_scale(load_config("CartPole-v1", "ppo"), {"reward": {"var": 4.0}}) == 1.0


def test_an_env_without_frames_is_inspected_without_them(tmp_path):
    run = make_run(tmp_path, load_config("Bandit-v0", "ppo"))
    record = record_episode(run, seed=0)
    assert len(record.steps) == 100 and not record.renders
    assert all(s.frame is None for s in record.steps) and record.final_frame is None
    assert any("cannot render" in note for note in record.notes)


@pytest.mark.parametrize("shape, expected", [
    ((84, 84), [(84, 84)]),
    ((84, 84, 3), [(84, 84, 3)]),
    ((4, 84, 84), [(84, 84)] * 4),
    ((84, 84, 1), [(84, 84)]),
    ((3, 84, 84, 3), [(84, 84, 3)] * 3),
])
def test_observation_images_split_stacks(shape, expected):
    images = observation_images(np.zeros(shape, np.uint8))
    assert [image.shape for image in images] == expected
    assert all(image.dtype == np.uint8 for image in images)


def test_float_observations_are_stretched_for_display():
    (image,) = observation_images(np.array([[-1.0, 0.0], [0.5, 1.0]], np.float32))
    assert image.tolist() == [[0, 127], [191, 255]]


def test_network_description_counts_parameters(cartpole_run):
    agent = load_agent_for_play(cartpole_run)
    text = describe_network(agent.policy)
    total = sum(p.numel() for p in agent.policy.parameters())
    agent.close()
    assert "MLPActorCritic" in text and f"total: {total:,} parameters" in text


def test_checkpoint_by_path_and_bad_checkpoints(cartpole_run, tmp_path):
    loose = tmp_path / "elsewhere" / "model.ckpt"
    loose.parent.mkdir()
    loose.write_bytes(cartpole_run.checkpoint("last").read_bytes())
    record = record_episode(None, str(loose), seed=0)  # brings its own config
    assert record.config.env_id == "CartPole-v1" and record.checkpoint == loose
    with pytest.raises(UserError, match="checkpoint not found: nope.ckpt"):
        record_episode(cartpole_run, "nope.ckpt")


@pytest.mark.parametrize("space, action, labels, taken", [
    (spaces.Discrete(3, start=1), np.int64(2), ["1", "2", "3"], [False, True, False]),
    (spaces.MultiDiscrete([2, 3]), np.array([1, 0]), ["d0=0", "d0=1", "d1=0", "d1=1", "d1=2"],
     [False, True, True, False, False]),
    (spaces.MultiBinary(3), np.array([1, 0, 1], np.int8), ["a0", "a1", "a2"], [True, False, True]),
    (spaces.Box(-1, 1, (2,)), np.array([0.5, -0.25], np.float32), ["a0", "a1"], [False, False]),
])
def test_labels_and_taken_actions_for_every_action_space(space, action, labels, taken):
    assert action_labels(space) == labels
    step = StepRecord(step=0, frame=None, observation=np.zeros(1), observation_images=[], action=action,
                      action_label=action_label(action, space, labels), distribution={}, value=0.0, reward=0.0)
    record = EpisodeRecord(run_id="r", config=load_config("CartPole-v1", "ppo"), checkpoint=Path("x.ckpt"),
                           env_steps=None, seed=0, deterministic=True, action_labels=labels,
                           action_space_kind=type(space).__name__, steps=[step], final_frame=None, last_value=0.0,
                           reward_scale=1.0, score=None, renders=False)
    assert record.taken(0) == taken
    assert step.action_label == {"Discrete": "2", "MultiDiscrete": "[1, 0]", "MultiBinary": "[1, 0, 1]",
                                 "Box": "[0.5, -0.25]"}[type(space).__name__]

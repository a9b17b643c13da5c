"""Env wrapper registry and the project's wrappers: what a config author sees."""

from __future__ import annotations

import doctest
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gym_wrappers
from scripted_envs import ScriptedEnv
from gym_wrappers import (
    CartPoleV1_RewardShaper,
    DiscreteEncoder,
    EnvWrapperRegistry,
    GrayscaleObservation,
    MountainCarV0_RewardShaper,
    PixelObservationWrapper,
    ResizeObservation,
)
from gym_wrappers import (
    bandit,
    discrete_encoder,
    pixel_observation,
    preprocessing,
    registry,
    return_normalization,
    reward_shapers,
)
from gym_wrappers.return_normalization import NormalizeRewardByReturn
from utils.errors import ConfigError

WRAPPER_IDS = [
    "CartPoleV1_RewardShaper",
    "DiscreteEncoder",
    "GrayscaleObservation",
    "MountainCarV0_RewardShaper",
    "OCAtariAdapter",
    "PixelObservationWrapper",
    "PongV5_FeatureExtractor",
    "PongV5_RewardShaper",
    "ResizeObservation",
    "RetroDiscreteActions",
    "TaxiV4_RewardShaper",
    "VizDoom_RewardShaper",
    "VizDoom_ScreenObservation",
]


# ---- registry ----------------------------------------------------------------------------------------------


def test_names_lists_every_wrapper_sorted() -> None:
    assert EnvWrapperRegistry.names() == WRAPPER_IDS


def test_build_passes_kwargs_to_the_named_wrapper() -> None:
    env = EnvWrapperRegistry.build(gym.make("FrozenLake-v1"), {"id": "DiscreteEncoder", "encoding": "array"})
    assert isinstance(env, DiscreteEncoder)
    assert env.encoding == "array"


def test_apply_wraps_in_order_first_spec_innermost() -> None:
    specs = [{"id": "CartPoleV1_RewardShaper", "angle_reward_scale": 0.5}, {"id": "PixelObservationWrapper"}]
    env = EnvWrapperRegistry.apply(gym.make("CartPole-v1", render_mode="rgb_array"), specs)
    assert isinstance(env, PixelObservationWrapper)
    assert isinstance(env.env, CartPoleV1_RewardShaper)
    assert env.env.angle_reward_scale == 0.5


@pytest.mark.parametrize("specs", [None, []])
def test_apply_without_specs_returns_the_env(specs: list | None) -> None:
    env = gym.make("CartPole-v1")
    assert EnvWrapperRegistry.apply(env, specs) is env


def test_unknown_id_lists_registered_ids_and_closest_match() -> None:
    with pytest.raises(ConfigError) as excinfo:
        EnvWrapperRegistry.build(gym.make("CartPole-v1"), {"id": "cartpole_rewardshaper"})
    message = str(excinfo.value)
    assert "\n" not in message
    assert "'cartpole_rewardshaper'" in message
    assert "closest match: 'CartPoleV1_RewardShaper'" in message
    assert all(name in message for name in WRAPPER_IDS)


def test_misspelt_kwarg_names_wrapper_and_its_parameters() -> None:
    with pytest.raises(ConfigError) as excinfo:
        EnvWrapperRegistry.build(gym.make("CartPole-v1"), {"id": "CartPoleV1_RewardShaper", "angle_scale": 2.0})
    message = str(excinfo.value)
    assert "CartPoleV1_RewardShaper" in message
    assert "angle_scale" in message
    assert "angle_reward_scale=1.0, position_reward_scale=0.0" in message


@pytest.mark.parametrize("spec", ["DiscreteEncoder", {"encoding": "onehot"}, {"id": 3}])
def test_spec_without_string_id_is_a_config_error(spec: object) -> None:
    with pytest.raises(ConfigError, match="string 'id'"):
        EnvWrapperRegistry.build(gym.make("FrozenLake-v1"), spec)  # type: ignore[arg-type]


def test_apply_rejects_a_single_spec_that_is_not_a_list() -> None:
    with pytest.raises(ConfigError, match="must be a list"):
        EnvWrapperRegistry.apply(gym.make("FrozenLake-v1"), {"id": "DiscreteEncoder"})  # type: ignore[arg-type]


def test_register_as_decorator_and_as_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EnvWrapperRegistry, "_wrappers", dict(EnvWrapperRegistry._wrappers))

    @EnvWrapperRegistry.register("Identity")
    class Identity(gym.Wrapper):
        pass

    EnvWrapperRegistry.register("Rewards", gym.wrappers.TransformReward)
    assert {"Identity", "Rewards"} <= set(EnvWrapperRegistry.names())
    assert isinstance(EnvWrapperRegistry.build(gym.make("CartPole-v1"), {"id": "Identity"}), Identity)
    with pytest.raises(ValueError, match="already registered"):
        EnvWrapperRegistry.register("Identity", gym.Wrapper)


# ---- DiscreteEncoder ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("array", [5.0]),
        ("binary", [1.0, 0.0, 1.0, 0.0]),  # 5 = 0b0101, least significant bit first
        ("onehot", [0.0] * 5 + [1.0] + [0.0] * 10),
    ],
)
def test_discrete_encoder_encodes_frozenlake_state_5(encoding: str, expected: list[float]) -> None:
    env = DiscreteEncoder(gym.make("FrozenLake-v1"), encoding=encoding)
    encoded = env.observation(5)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, expected)
    assert env.observation_space.contains(encoded)


@pytest.mark.parametrize(
    ("env_id", "encoding", "shape"),
    [
        ("FrozenLake-v1", "array", (1,)),
        ("FrozenLake-v1", "binary", (4,)),
        ("FrozenLake-v1", "onehot", (16,)),
        ("Taxi-v4", "binary", (9,)),  # 500 states need 9 bits
        ("Taxi-v4", "onehot", (500,)),
    ],
)
def test_discrete_encoder_observation_space(env_id: str, encoding: str, shape: tuple[int, ...]) -> None:
    env = DiscreteEncoder(gym.make(env_id), encoding=encoding)
    assert env.observation_space.shape == shape
    assert env.observation_space.dtype == np.float32
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_discrete_encoder_counts_from_the_space_start() -> None:
    env = gym.make("FrozenLake-v1")
    env.observation_space = gym.spaces.Discrete(16, start=1)
    np.testing.assert_array_equal(DiscreteEncoder(env, encoding="array").observation(6), [5.0])


def test_discrete_encoder_unknown_encoding_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="array, binary, onehot.*'one-hot'"):
        DiscreteEncoder(gym.make("FrozenLake-v1"), encoding="one-hot")


def test_discrete_encoder_rejects_non_discrete_observations() -> None:
    with pytest.raises(ConfigError, match="Discrete observation space"):
        DiscreteEncoder(gym.make("CartPole-v1"))


# ---- reward shapers ----------------------------------------------------------------------------------------


def _cartpole_reward_from(env: CartPoleV1_RewardShaper, state: list[float]) -> tuple[float, dict]:
    env.reset(seed=0)
    env.unwrapped.state = np.array(state)
    _, reward, _, _, info = env.step(0)
    return float(reward), info


def test_cartpole_shaper_rewards_an_upright_pole_more_than_a_falling_one() -> None:
    env = CartPoleV1_RewardShaper(gym.make("CartPole-v1"), angle_reward_scale=0.5)
    upright, info = _cartpole_reward_from(env, [0.0, 0.0, 0.0, 0.0])
    falling, _ = _cartpole_reward_from(env, [0.0, 0.0, 0.15, 0.5])
    assert info["original_reward"] == 1.0
    assert 1.45 < upright <= 1.5  # the bonus is at most angle_reward_scale
    assert 1.0 <= falling < upright


def test_cartpole_shaper_position_term_rewards_a_centred_cart() -> None:
    env = CartPoleV1_RewardShaper(gym.make("CartPole-v1"), angle_reward_scale=0.0, position_reward_scale=1.0)
    centred, _ = _cartpole_reward_from(env, [0.0, 0.0, 0.0, 0.0])
    off_centre, _ = _cartpole_reward_from(env, [1.8, 0.0, 0.0, 0.0])
    assert centred == pytest.approx(2.0, abs=0.01)
    assert off_centre == pytest.approx(1.25, abs=0.01)


def test_stacked_shapers_keep_the_env_reward_as_original() -> None:
    env = CartPoleV1_RewardShaper(CartPoleV1_RewardShaper(gym.make("CartPole-v1")))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert info["original_reward"] == 1.0
    assert reward > 2.5


def test_reward_shapers_reject_other_envs() -> None:
    with pytest.raises(ConfigError, match="needs a CartPole env, got MountainCar-v0"):
        CartPoleV1_RewardShaper(gym.make("MountainCar-v0"))
    with pytest.raises(ConfigError, match="needs a MountainCar env, got CartPole-v1"):
        MountainCarV0_RewardShaper(gym.make("CartPole-v1"))


def _mountaincar_episode(env: MountainCarV0_RewardShaper, pump_energy: bool) -> tuple[float, float, bool]:
    """Run one episode; return (sum of shaping, phi(s_0), terminated)."""
    obs, _ = env.reset(seed=3)
    start_potential = env.potential()
    shaping = 0.0
    rng = np.random.default_rng(0)
    while True:
        # Pushing along the velocity reaches the goal; random actions run into the time limit.
        action = (2 if obs[1] >= 0 else 0) if pump_energy else int(rng.integers(3))
        obs, reward, terminated, truncated, info = env.step(action)
        shaping += reward - info["original_reward"]
        if terminated or truncated:
            return shaping, start_potential, terminated


def test_mountaincar_shaping_telescopes_to_the_potential_difference_when_truncated() -> None:
    env = MountainCarV0_RewardShaper(gym.make("MountainCar-v0"), gamma=1.0)
    shaping, start_potential, terminated = _mountaincar_episode(env, pump_energy=False)
    assert not terminated
    assert shaping == pytest.approx(env.potential() - start_potential)


def test_mountaincar_shaping_sums_to_minus_start_potential_at_the_goal() -> None:
    env = MountainCarV0_RewardShaper(gym.make("MountainCar-v0"), gamma=1.0)
    shaping, start_potential, terminated = _mountaincar_episode(env, pump_energy=True)
    assert terminated
    assert shaping == pytest.approx(-start_potential)


def test_mountaincar_shaping_rewards_gaining_speed() -> None:
    env = MountainCarV0_RewardShaper(gym.make("MountainCar-v0"), gamma=1.0)
    env.reset(seed=0)
    env.unwrapped.state = np.array([-math.pi / 6, 0.0])  # at rest at the bottom of the valley
    _, reward, _, _, info = env.step(2)
    assert info["original_reward"] == -1.0
    assert reward > -1.0


# ---- PixelObservationWrapper -------------------------------------------------------------------------------


def test_pixel_observation_is_the_rendered_frame() -> None:
    env = PixelObservationWrapper(gym.make("CartPole-v1", render_mode="rgb_array"))
    obs, _ = env.reset(seed=0)
    assert env.observation_space == gym.spaces.Box(0, 255, (400, 600, 3), np.uint8)
    assert obs.dtype == np.uint8
    np.testing.assert_array_equal(obs, env.render())


def test_pixel_observation_keeps_state_when_not_pixels_only() -> None:
    env = PixelObservationWrapper(gym.make("CartPole-v1", render_mode="rgb_array"), pixels_only=False)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"pixels", "state"}
    assert obs["state"].shape == (4,)
    assert obs["pixels"].shape == (400, 600, 3)


def test_pixel_observation_without_rgb_array_hints_at_env_kwargs() -> None:
    with pytest.raises(ConfigError, match=r"env_kwargs: \{render_mode: rgb_array\}"):
        PixelObservationWrapper(gym.make("CartPole-v1"))


# ---- gymnasium compatibility -------------------------------------------------------------------------------

NEEDS_OPENCV = "needs OpenCV, in the retro and vizdoom extras: pip install -e '.[retro]'"
WRAPPED_ENVS = {
    "cartpole_shaper": lambda: CartPoleV1_RewardShaper(gym.make("CartPole-v1"), position_reward_scale=0.5),
    "mountaincar_shaper": lambda: MountainCarV0_RewardShaper(gym.make("MountainCar-v0")),
    "array": lambda: DiscreteEncoder(gym.make("FrozenLake-v1"), encoding="array"),
    "binary": lambda: DiscreteEncoder(gym.make("Taxi-v4"), encoding="binary"),
    "onehot": lambda: DiscreteEncoder(gym.make("FrozenLake-v1"), encoding="onehot"),
    "pixels": lambda: PixelObservationWrapper(gym.make("CartPole-v1", render_mode="rgb_array"), pixels_only=False),
    "pixels_only": lambda: PixelObservationWrapper(gym.make("CartPole-v1", render_mode="rgb_array")),
    "grayscale": lambda: GrayscaleObservation(gym.make("CarRacing-v3"), keep_dim=True),
    "resize": lambda: ResizeObservation(gym.make("CarRacing-v3"), shape=[48, 64]),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(WRAPPED_ENVS))
def test_check_env_passes_and_spec_recreates_the_wrapper(name: str) -> None:
    if name == "resize":  # gymnasium's ResizeObservation resizes with OpenCV
        pytest.importorskip("cv2", reason=NEEDS_OPENCV)
    env = WRAPPED_ENVS[name]()
    check_env(env, skip_render_check=True)
    recreated = gym.make(env.spec)
    assert type(recreated) is type(env)
    assert recreated.spec.additional_wrappers == env.spec.additional_wrappers


@pytest.mark.parametrize(
    "module", [registry, reward_shapers, discrete_encoder, pixel_observation, preprocessing, bandit, return_normalization]
)
def test_docstring_examples_run(module: object) -> None:
    if module is preprocessing:  # its ResizeObservation example resizes with OpenCV
        pytest.importorskip("cv2", reason=NEEDS_OPENCV)
    result = doctest.testmod(module, extraglobs={"gym_wrappers": gym_wrappers})
    assert result.attempted > 0
    assert result.failed == 0


# ---- reward normalization by the return's spread -----------------------------------------------------------


def test_normalize_reward_by_return_restarts_the_return_after_any_episode_end() -> None:
    gamma = 0.5
    for truncate in (False, True):
        envs = NormalizeRewardByReturn(gym.vector.SyncVectorEnv([lambda: ScriptedEnv([1.0, 2.0], truncate)]), gamma)
        envs.reset(seed=0)
        seen = []
        rms = envs.return_rms
        for _ in range(6):  # two episodes of 2 steps, each followed by the NEXT_STEP reset step
            count = rms.count
            _, reward, *_ = envs.step(np.array([0]))
            seen.append((round(float(rms.count - count)), float(reward[0])))
        # returns fed to the statistics: 1, 2 + 0.5 * 1 = 2.5, (reset step: nothing), 1, 2.5, (nothing)
        assert [updated for updated, _ in seen] == [1, 1, 0, 1, 1, 0]
        assert rms.count == pytest.approx(4 + 1e-4)
        assert rms.mean == pytest.approx((1 + 2.5 + 1 + 2.5) / (4 + 1e-4))
        # the last reward of an episode is divided by the spread of every return seen so far
        _, last = seen[4]
        assert last == pytest.approx(2.0 / math.sqrt(float(rms.var) + 1e-8), rel=1e-5)
        assert seen[2][1] == 0.0  # the reset step pays nothing


def test_normalize_reward_by_return_clips_and_can_be_frozen() -> None:
    envs = NormalizeRewardByReturn(gym.vector.SyncVectorEnv([lambda: ScriptedEnv([100.0] * 3, False)]), clip=5.0)
    envs.reset(seed=0)
    _, reward, *_ = envs.step(np.array([0]))
    assert reward[0] == 5.0  # one return seen: no spread yet, so the scaled reward hits the clip
    envs.update_running_mean = False
    count = envs.return_rms.count
    envs.step(np.array([0]))
    assert envs.return_rms.count == count

"""Pong (ALE/Pong-v5 with ``obs_type: objects``): a compact feature vector, and potential-based shaping
for keeping the paddle level with the ball. Both read OCAtari's objects (``env.unwrapped.objects``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gym_wrappers.registry import EnvWrapperRegistry
from gym_wrappers.reward_shapers import PotentialBasedRewardShaper
from utils.errors import ConfigError

# Pong's playfield in screen pixels: x in [0, 160], the paddles and ball move within y in [34, 194].
_X_MID, _X_HALF = 80.0, 80.0
_Y_MID, _Y_HALF = 114.0, 80.0
#: pixels per step that map to a velocity feature of 1 (the ball moves up to 12, a paddle up to 24)
_SPEED_SCALE = 16.0


def _require_pong_objects(env: gym.Env, wrapper: str) -> None:
    unwrapped = env.unwrapped
    if getattr(unwrapped, "game_name", None) != "Pong" or not hasattr(unwrapped, "objects"):
        raise ConfigError(f"{wrapper} needs ALE/Pong-v5 with obs_type: objects (OCAtari's objects)")


def _find(objects: list[Any], category: str) -> Any | None:
    return next((o for o in objects if o.category == category), None)


@EnvWrapperRegistry.register("PongV5_FeatureExtractor")
class PongV5_FeatureExtractor(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observation = 9 floats in [-1, 1] from OCAtari's Pong objects:

    ``[player_y, player_dy, enemy_y, enemy_dy, ball_x, ball_y, ball_dx, ball_dy, ball_visible]``

    Positions are the objects' centres scaled to the playfield ([-1, 1]); velocities are the pixel moves since
    the previous step divided by 16 (clipped); the ball's entries are 0 while it is off the field.

    >>> from gym_wrappers.ocatari_adapter import make_ocatari
    >>> env = PongV5_FeatureExtractor(make_ocatari("ALE/Pong-v5"))
    >>> env.observation_space
    Box(-1.0, 1.0, (9,), float32)
    >>> obs, _ = env.reset(seed=0)
    >>> [round(float(v), 3) for v in obs]  # the player's paddle, a bit above the middle; no ball yet
    [-0.131, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        _require_pong_objects(env, "PongV5_FeatureExtractor")
        self.observation_space = spaces.Box(-1.0, 1.0, (9,), np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(seed=seed, options=options)
        return self._features(moving=False), info  # OCAtari measures a new game's moves from (0, 0)

    def observation(self, observation: Any) -> np.ndarray:
        return self._features(moving=True)

    def _features(self, moving: bool) -> np.ndarray:
        objects = self.env.unwrapped.objects
        features = np.zeros(9, dtype=np.float32)
        for offset, category in ((0, "Player"), (2, "Enemy")):
            paddle = _find(objects, category)
            if paddle is not None:
                features[offset] = (paddle.y + paddle.h / 2 - _Y_MID) / _Y_HALF
                features[offset + 1] = paddle.dy / _SPEED_SCALE if moving else 0.0
        ball = _find(objects, "Ball")
        if ball is not None:
            features[4:9] = (
                (ball.x + ball.w / 2 - _X_MID) / _X_HALF,
                (ball.y + ball.h / 2 - _Y_MID) / _Y_HALF,
                ball.dx / _SPEED_SCALE if moving else 0.0,
                ball.dy / _SPEED_SCALE if moving else 0.0,
                1.0,
            )
        return np.clip(features, -1.0, 1.0, out=features)


@EnvWrapperRegistry.register("PongV5_RewardShaper")
class PongV5_RewardShaper(PotentialBasedRewardShaper, gym.utils.RecordConstructorArgs):
    """Potential-based shaping (Ng et al. 1999) for tracking the ball: ``reward += gamma * phi(s') - phi(s)`` with

    ``phi(s) = -tracking_scale * |paddle centre y - ball centre y| / 160``

    while the ball is on the field (0 otherwise, and once the game ends). Moving the paddle towards the ball
    earns up to ``tracking_scale * 0.15`` per step; with ``gamma`` equal to the agent's discount the optimal
    policy is unchanged (a missed ball still costs the point). The env's own reward is kept in
    ``info["original_reward"]``; episode statistics stay the game's score.

    >>> from gym_wrappers.ocatari_adapter import make_ocatari
    >>> env = PongV5_RewardShaper(make_ocatari("ALE/Pong-v5"), gamma=1.0)
    >>> _ = env.reset(seed=0)
    >>> shaped = [env.step(0)[1] for _ in range(60)]
    >>> min(shaped) < 0.0  # an idle paddle falls behind the served ball
    True
    """

    def __init__(self, env: gym.Env, tracking_scale: float = 1.0, gamma: float = 0.99) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, tracking_scale=tracking_scale, gamma=gamma)
        gym.Wrapper.__init__(self, env)
        _require_pong_objects(env, "PongV5_RewardShaper")
        if tracking_scale < 0:
            raise ConfigError(f"PongV5_RewardShaper: tracking_scale must be >= 0, got {tracking_scale}")
        if not 0 < gamma <= 1:
            raise ConfigError(f"PongV5_RewardShaper: gamma must be in (0, 1], got {gamma}")
        self.tracking_scale = float(tracking_scale)
        self.gamma = float(gamma)
        self._potential = 0.0

    def potential(self) -> float:
        objects = self.env.unwrapped.objects
        player, ball = _find(objects, "Player"), _find(objects, "Ball")
        if player is None or ball is None:
            return 0.0
        gap = abs((player.y + player.h / 2) - (ball.y + ball.h / 2))
        return -self.tracking_scale * gap / (2 * _Y_HALF)

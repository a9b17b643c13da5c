"""Env wrappers that configs select by id (see :class:`EnvWrapperRegistry`), and the Bandit-v0 env.

Importing this package registers every wrapper below and Bandit-v0 with gymnasium. It imports no
optional package (ale-py, ocatari, stable-retro, vizdoom): their wrappers import them only when built.
"""

from gym_wrappers.atari import AtariFireReset, AtariLifeLossTermination
from gym_wrappers.bandit import BanditEnv, register_bandit
from gym_wrappers.discrete_encoder import DiscreteEncoder
from gym_wrappers.ocatari_adapter import OCAtariAdapter
from gym_wrappers.pixel_observation import PixelObservationWrapper
from gym_wrappers.pong import PongV5_FeatureExtractor, PongV5_RewardShaper
from gym_wrappers.preprocessing import GrayscaleObservation, ResizeObservation
from gym_wrappers.registry import EnvWrapperRegistry
from gym_wrappers.retro import RetroDiscreteActions
from gym_wrappers.reward_shapers import CartPoleV1_RewardShaper, MountainCarV0_RewardShaper
from gym_wrappers.taxi import TaxiV4_RewardShaper
from gym_wrappers.vizdoom import VizDoom_RewardShaper, VizDoom_ScreenObservation

register_bandit()

__all__ = [
    "AtariFireReset",
    "AtariLifeLossTermination",
    "BanditEnv",
    "CartPoleV1_RewardShaper",
    "DiscreteEncoder",
    "EnvWrapperRegistry",
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

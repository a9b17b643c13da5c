"""Algorithms: one LightningModule each, built from a config by :func:`build_agent`."""

from __future__ import annotations

from agents.base import BaseAgent
from agents.ppo import PPO
from agents.reinforce import REINFORCE

AGENTS: dict[str, type[BaseAgent]] = {"ppo": PPO, "reinforce": REINFORCE}


def build_agent(config, rank: int = 0) -> BaseAgent:
    """The config's agent; ``rank`` is its process's rank in data-parallel training."""
    return AGENTS[config.algo_id](config, rank)

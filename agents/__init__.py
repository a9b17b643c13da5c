"""Algorithms: one LightningModule each, built from a config by :func:`build_agent`."""

from __future__ import annotations

from agents.base import BaseAgent
from agents.ppo import PPO
from agents.reinforce import REINFORCE

AGENTS: dict[str, type[BaseAgent]] = {"ppo": PPO, "reinforce": REINFORCE}


def build_agent(config) -> BaseAgent:
    return AGENTS[config.algo_id](config)

"""Environment families, chosen by env id: see :class:`utils.env_families.base.EnvFamily`.

Family modules import their heavy packages (ale-py, stable-retro, vizdoom) only inside their methods,
so listing them here costs nothing until one is used.
"""

from __future__ import annotations

from utils.env_families.atari import AtariFamily
from utils.env_families.base import EnvFamily, env_spec
from utils.env_families.retro import RetroFamily
from utils.env_families.vizdoom import VizDoomFamily

DEFAULT_FAMILY = EnvFamily()
#: the families with their own id prefix, checked in order
FAMILIES: list[EnvFamily] = [AtariFamily(), RetroFamily(), VizDoomFamily()]


def family_for(env_id: str) -> EnvFamily:
    """The family whose prefix ``env_id`` starts with, else plain Gymnasium."""
    for family in FAMILIES:
        if family.matches(env_id):
            return family
    return DEFAULT_FAMILY


__all__ = ["DEFAULT_FAMILY", "FAMILIES", "AtariFamily", "EnvFamily", "env_spec", "family_for"]

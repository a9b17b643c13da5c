"""Name -> wrapper registry, so YAML configs can list env wrappers by id."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym

from utils.errors import ConfigError

WrapperFactory = Callable[..., gym.Env]


class EnvWrapperRegistry:
    """Class-level registry of env wrappers, selected in configs by ``{"id": name, **kwargs}``.

    >>> import gymnasium as gym
    >>> from gym_wrappers import EnvWrapperRegistry
    >>> env = EnvWrapperRegistry.apply(gym.make("FrozenLake-v1"), [{"id": "DiscreteEncoder", "encoding": "binary"}])
    >>> env.observation_space
    Box(0.0, 1.0, (4,), float32)
    """

    _wrappers: ClassVar[dict[str, WrapperFactory]] = {}

    @classmethod
    def register(cls, name: str, wrapper: WrapperFactory | None = None) -> Any:
        """Register ``wrapper`` under ``name``; without ``wrapper``, return a class decorator."""

        def add(factory: WrapperFactory) -> WrapperFactory:
            existing = cls._wrappers.get(name)
            # A module imported twice (reload, doctest by path) re-registers the same class; only a clash is a bug.
            if existing is not None and existing.__qualname__ != factory.__qualname__:
                raise ValueError(f"env wrapper id {name!r} is already registered to {_qualified_name(existing)}")
            cls._wrappers[name] = factory
            return factory

        return add if wrapper is None else add(wrapper)

    @classmethod
    def names(cls) -> list[str]:
        return sorted(cls._wrappers)

    @classmethod
    def build(cls, env: gym.Env, spec: Mapping[str, Any]) -> gym.Env:
        """Wrap ``env`` with the wrapper that ``spec["id"]`` names, passing the other keys as kwargs."""
        if not isinstance(spec, Mapping) or not isinstance(spec.get("id"), str):
            raise ConfigError(f"an env wrapper spec must be a mapping with a string 'id', got {spec!r}")
        name = spec["id"]
        factory = cls._lookup(name)
        kwargs = {key: value for key, value in spec.items() if key != "id"}
        # Binding up front tells a misspelt parameter apart from a TypeError raised inside the wrapper.
        try:
            inspect.signature(factory).bind(env, **kwargs)
        except TypeError as exc:
            raise ConfigError(
                f"bad parameters for env wrapper {name!r} ({exc}); accepted parameters: {_parameters(factory)}"
            ) from None
        return factory(env, **kwargs)

    @classmethod
    def apply(cls, env: gym.Env, specs: Sequence[Mapping[str, Any]] | None) -> gym.Env:
        """Apply ``specs`` in order: the first spec wraps ``env`` innermost."""
        if specs is None:
            return env
        if isinstance(specs, (str, Mapping)) or not isinstance(specs, Sequence):
            raise ConfigError(f"env_wrappers must be a list of {{id: ..., ...}} mappings, got {specs!r}")
        for spec in specs:
            env = cls.build(env, spec)
        return env

    @classmethod
    def _lookup(cls, name: str) -> WrapperFactory:
        if name in cls._wrappers:
            return cls._wrappers[name]
        names = cls.names()
        by_lower = {registered.lower(): registered for registered in names}
        closest = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.0)
        hint = f"; closest match: {by_lower[closest[0]]!r}" if closest else ""
        raise ConfigError(f"unknown env wrapper id {name!r}{hint}; registered ids: {', '.join(names) or '(none)'}")


def _qualified_name(factory: WrapperFactory) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


def _parameters(factory: WrapperFactory) -> str:
    """The wrapper's parameters after ``env``, as ``name=default`` for the error message."""
    parameters = list(inspect.signature(factory).parameters.values())[1:]
    shown = (str(parameter.replace(annotation=inspect.Parameter.empty)) for parameter in parameters)
    return ", ".join(shown) or "(none)"

"""Type coercion: YAML, the CLI and W&B deliver strings ('1e5', '3e-4', 'true') where the schema wants
numbers, booleans or lists. ``coerce(value, hint)`` turns a raw value into the field's type or raises a
ConfigError that says what the field accepts.
"""

from __future__ import annotations

import math
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from utils.errors import ConfigError
from utils.schedules import SCHEDULE_FORMS, is_schedule_string

#: other spellings of a choice (Lightning's precision names: 32 means 32-true, bf16 means bf16-mixed)
CHOICE_ALIASES = {"32": "32-true", "bf16": "bf16-mixed"}
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def coerce_field(label: str, value: Any, hint: Any) -> Any:
    """Coerce ``value`` to ``hint``; a ConfigError starts with ``label`` (the field or override name)."""
    try:
        return coerce(value, hint)
    except ConfigError as exc:
        raise ConfigError(f"{label} {exc}") from None


def coerce(value: Any, hint: Any) -> Any:
    if get_origin(hint) in (Union, UnionType):
        options = set(get_args(hint))
        if type(None) in options:
            if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
                return None
            options.discard(type(None))
        if options == {float, str}:
            return _schedule_value(value)
        if options == {int, float}:
            return _batch_size(value)
        words = [option for option in options if get_origin(option) is Literal]
        if words and options == {words[0], int}:
            return _choice_or_int(value, get_args(words[0]))
        (hint,) = options
    origin = get_origin(hint)
    if origin is Literal:
        return _choice(value, get_args(hint))
    if origin is tuple:
        return _int_tuple(value)
    if origin is list:
        return _wrapper_list(value)
    if origin is dict:
        return _mapping(value)
    return {int: _to_int, float: _to_float, bool: _to_bool, str: _to_str}[hint](value)


def _number(value: Any) -> int | float | None:
    """An int or float from a number or numeric string ('1e5', '100_000'); None if it isn't one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        for parse in (int, float):
            try:
                return parse(value.strip())
            except ValueError:
                pass
    return None


def _to_int(value: Any) -> int:
    number = _number(value)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    if not isinstance(number, int):
        raise ConfigError(f"must be an integer, got {value!r}")
    return number


def _to_float(value: Any) -> float:
    number = _number(value)
    # inf and NaN pass range checks written as comparisons, then poison training: refuse them here.
    if number is None or not math.isfinite(number):
        raise ConfigError(f"must be a finite number, got {value!r}")
    return float(number)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in BOOL_WORDS:
        return BOOL_WORDS[str(value).strip().lower()]
    raise ConfigError(f"must be true or false, got {value!r}")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"must be a string, got {value!r}")


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    if value is False and "off" in choices:  # YAML 1.1 reads a bare `off` as false
        return "off"
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        alias = CHOICE_ALIASES.get(str(value).strip())
        if alias in choices:
            return alias
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise ConfigError(f"must be one of {', '.join(choices)}; got {value!r}")


def _choice_or_int(value: Any, choices: tuple[str, ...]) -> str | int:
    """One of the words, or an integer ('5e4' included)."""
    if value is False and "off" in choices:  # YAML 1.1 reads a bare `off` as false
        return "off"
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    number = _number(value)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    if isinstance(number, int):
        return number
    raise ConfigError(f"must be one of {', '.join(choices)} or an integer; got {value!r}")


def _schedule_value(value: Any) -> float | str:
    if is_schedule_string(value):
        return value.strip()
    try:
        return _to_float(value)
    except ConfigError:
        raise ConfigError(f"must be {SCHEDULE_FORMS}; got {value!r}") from None


def _batch_size(value: Any) -> int | float:
    number = _number(value)
    if number is None or not math.isfinite(number):
        raise ConfigError(f"must be an integer >= 1 or a fraction in (0, 1], got {value!r}")
    # 1.0 means the whole rollout, but '1e3' (a float to Python) clearly means 1000 samples.
    if isinstance(number, float) and number > 1 and number.is_integer():
        return int(number)
    return number


def _int_tuple(value: Any) -> tuple[int, ...]:
    message = f"must be a list of integers like [64, 64] or '64,64', got {value!r}"
    if isinstance(value, str):
        text = value.strip().removeprefix("[").removesuffix("]")
        items: list[Any] = [part.strip() for part in text.split(",")] if text.strip() else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise ConfigError(message)
    try:
        return tuple(_to_int(item) for item in items)
    except ConfigError:
        raise ConfigError(message) from None


def _wrapper_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"must be a list of mappings like {{id: WrapperName, ...}}, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ConfigError(f"item {index} must be a mapping with an 'id' string, got {item!r}")
    return plain(value)


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigError(f"must be a mapping with string keys, got {value!r}")
    return plain(value)


def plain(value: Any) -> Any:
    """A fresh copy with tuples turned into lists, so configs share no mutable state and dump to JSON."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"must hold finite numbers only, got {value!r}")
    return value

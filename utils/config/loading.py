"""YAML config files: base fields at the top, variants below, variants inheriting variants.

A top-level key is a field when the schema knows it, a variant when its value is a mapping with an
``algo_id`` or an ``inherits`` key, and an error (with the closest field name) otherwise, so a misspelt
``env_kwarg: {...}`` is reported rather than read as a variant. One broken file is reported when it is
asked for and never hides the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from utils.config.overrides import LOADER_FIELDS, closest, coerce_overrides
from utils.config.schema import ALL_FIELD_TYPES, Config, make_config
from utils.errors import ConfigError

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "environments"
_VARIANT_MARKERS = ("algo_id", "inherits")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would otherwise resolve silently to the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_yaml(path: Path) -> dict[Any, Any]:
    """A config file's top-level mapping; anything unreadable is a one-line ConfigError naming the file."""
    where = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(f"{where}: invalid YAML{line}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not a UTF-8 text file") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be a config") from None
    except ValueError as exc:  # an integer too long to convert
        raise ConfigError(f"{where}: invalid YAML: {str(exc).split(';')[0]}") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields and variants, got {type(data).__name__}")
    _check_not_recursive(data, where)
    return data


def _check_not_recursive(value: Any, where: str, parents: tuple[Any, ...] = ()) -> None:
    """YAML aliases can make a mapping or list contain itself (``&k {a: *k}``): no config is infinite."""
    if not isinstance(value, (dict, list)):
        return
    if any(value is parent for parent in parents):
        raise ConfigError(f"{where}: an alias (*name) makes a mapping or list contain itself")
    for child in value.values() if isinstance(value, dict) else value:
        _check_not_recursive(child, where, (*parents, value))


def _unknown_field(key: Any, where: str) -> ConfigError:
    match = closest(key, set(ALL_FIELD_TYPES))
    return ConfigError(f"{where}: unknown field {key!r}" + (f" (did you mean {match!r}?)" if match else ""))


def _check_keys(block: dict[Any, Any], where: str, extra: frozenset[str] = frozenset()) -> None:
    for key in block:
        if key in LOADER_FIELDS:
            raise ConfigError(f"{where}: {key!r} is set from the variant name; remove it")
        if key not in ALL_FIELD_TYPES and key not in extra:
            raise _unknown_field(key, where)


def split_file(data: dict[Any, Any], where: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Separate a file's base fields from its variants (see the module docstring for the rule)."""
    base, variants = {}, {}
    for key, value in data.items():
        if key in ALL_FIELD_TYPES or key in LOADER_FIELDS:
            base[key] = value
        elif isinstance(value, dict) and any(marker in value for marker in _VARIANT_MARKERS):
            variants[str(key)] = value
        elif isinstance(value, dict) and closest(key, set(ALL_FIELD_TYPES)) is None:
            raise ConfigError(f"{where}: {key!r} is neither a field nor a variant "
                              f"(a variant is a mapping with an algo_id or an inherits key)")
        else:
            raise _unknown_field(key, f"{where}, base")
    _check_keys(base, f"{where}, base")
    return base, variants


def _resolve_variant(name: str, variants: dict[str, dict[str, Any]], where: str,
                     chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The variant's own fields merged over those of the variants it inherits from (not the base)."""
    if name in chain:
        raise ConfigError(f"{where}: inheritance cycle {' -> '.join((*chain, name))}")
    block = variants[name]
    _check_keys(block, f"{where}, variant {name!r}", extra=frozenset({"inherits"}))
    parent = block.get("inherits")
    inherited: dict[str, Any] = {}
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{where}, variant {name!r}: inherits must name one variant, got {parent!r}")
        if parent not in variants:
            raise ConfigError(f"{where}, variant {name!r}: inherits unknown variant {parent!r} "
                              f"(variants: {', '.join(variants)})")
        inherited = _resolve_variant(parent, variants, where, (*chain, name))
    return {**inherited, **{key: value for key, value in block.items() if key != "inherits"}}


def config_files(config_dir: str | Path | None = None) -> dict[str, Path]:
    """Config file paths by name (the file's stem), sorted; folders named like a config are not files."""
    directory = Path(config_dir) if config_dir is not None else DEFAULT_CONFIG_DIR
    return {path.stem: path for path in sorted(directory.glob("*.yaml")) if path.is_file()}


def find_config_file(config_name: str, config_dir: str | Path | None = None) -> Path:
    """The file named ``config_name`` (``ALE/Pong-v5`` may be written for ``ALE-Pong-v5``), else the one
    file whose base declares ``env_id: config_name``."""
    files = config_files(config_dir)
    for stem in (config_name, config_name.replace("/", "-")):
        if stem in files:
            return files[stem]
    matches = []
    for path in files.values():
        try:
            if read_yaml(path).get("env_id") == config_name:
                matches.append(path)
        except ConfigError:
            continue  # a broken file can't match; it is reported when loaded by name
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"config {config_name!r} is ambiguous: env_id of {', '.join(p.stem for p in matches)}")
    match = closest(config_name, list(files))
    hint = f" (did you mean {match!r}?)" if match else ""
    raise ConfigError(f"unknown config {config_name!r}{hint}; available: {', '.join(files) or 'none'}")


def load_config(config_name: str, variant: str, overrides: dict[str, Any] | None = None,
                config_dir: str | Path | None = None) -> Config:
    """Load ``<config_dir>/<config_name>.yaml``, variant ``variant``, with ``overrides`` applied on top.

    Precedence: base < inherited variants < variant < overrides; then coercion, validation and
    batch_size resolution (so a fractional batch_size follows an overridden n_envs).
    """
    if not variant:
        raise ConfigError(f"config {config_name!r}: a variant is required, e.g. '{config_name}:ppo'")
    path = find_config_file(config_name, config_dir)
    where = _display(path)
    base, variants = split_file(read_yaml(path), where)
    if variant not in variants:
        raise ConfigError(f"{where}: no variant {variant!r} (variants: {', '.join(variants) or 'none'})")
    own = _resolve_variant(variant, variants, where)
    changes = coerce_overrides(overrides)
    values = {"project_id": path.stem, **base, **own, "variant": variant, **changes}
    # Base fields may be shared by several algorithms' variants; those the chosen class lacks don't matter.
    droppable = set(base) - set(own) - set(changes)
    try:
        return make_config(values, droppable)
    except ConfigError as exc:
        raise ConfigError(f"{where}, variant {variant!r}{_overrides_named(str(exc), changes)}: {exc}") from None


def _overrides_named(message: str, changes: dict[str, Any]) -> str:
    """' (overridden: n_envs=2)' for the overrides a validation message names: the file alone is not to blame."""
    named = [f"{name}={value}" for name, value in changes.items() if re.search(rf"\b{re.escape(name)}\b", message)]
    return f" (overridden: {', '.join(named)})" if named else ""


@dataclass(frozen=True)
class ConfigEntry:
    """One line of ``train.py --list``: a loadable config, or the error that keeps a file from loading."""

    config_id: str
    config: Config | None = None
    error: str | None = None


def list_configs(config_dir: str | Path | None = None) -> list[ConfigEntry]:
    """Every ``<file>:<variant>`` in the config folder, loaded; a broken file or variant is listed with its error."""
    entries = []
    for stem, path in config_files(config_dir).items():
        try:
            _, variants = split_file(read_yaml(path), _display(path))
        except ConfigError as exc:
            entries.append(ConfigEntry(f"{stem}:*", error=str(exc)))
            continue
        for variant in variants:
            try:
                entries.append(ConfigEntry(f"{stem}:{variant}", load_config(stem, variant, config_dir=config_dir)))
            except ConfigError as exc:
                entries.append(ConfigEntry(f"{stem}:{variant}", error=str(exc)))
    return entries


def list_config_ids(config_dir: str | Path | None = None) -> list[str]:
    """Every ``<file>:<variant>`` id in the config folder, sorted by file (broken files left out)."""
    return [entry.config_id for entry in list_configs(config_dir) if entry.config is not None]


def parse_config_id(config_id: str) -> tuple[str, str]:
    """Split ``'<env>:<variant>'`` (e.g. ``'CartPole-v1:ppo'``) into its two parts."""
    name, sep, variant = config_id.rpartition(":")
    if not sep or not name.strip() or not variant.strip():
        raise ConfigError(f"config id {config_id!r} must have the form '<env>:<variant>', e.g. 'CartPole-v1:ppo' "
                          f"(the '<env>_<variant>' form is not supported)")
    return name.strip(), variant.strip()

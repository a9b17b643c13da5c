"""Overrides: field values given on top of a config by the command line, a W&B sweep or a saved run.

``add_field_arguments`` gives an argparse parser one option per settable field (``--n_envs 8``,
``--n_envs=8``, ``--n-envs 8``, in any order with the script's own flags), with the field's meaning and
default as its help; ``field_overrides`` reads them back. ``merge_sweep_parameters`` adds a W&B sweep's
parameters on top. ``replace_config`` and ``config_from_dict`` rebuild a config with overrides applied,
revalidating everything.
"""

from __future__ import annotations

import argparse
import difflib
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from utils.config.coercion import BOOL_WORDS, coerce_field
from utils.config.schema import (
    ALL_FIELD_TYPES,
    SCHEDULABLE_FIELDS,
    Config,
    field_default,
    field_help,
    make_config,
    schema_fields,
)
from utils.errors import ConfigError

#: fields the loader sets itself, never a user
LOADER_FIELDS = frozenset({"variant"})
SETTABLE_FIELDS = tuple(name for name in schema_fields() if name not in LOADER_FIELDS)
#: fields of earlier versions: old name -> (new name, old value -> new value); old run folders' config.json
#: files still load (config_from_dict maps them), and the old name is suggested away everywhere else
RENAMED_FIELDS: dict[str, tuple[str, dict[Any, Any]]] = {
    "device": ("accelerator", {"cpu": "cpu", "cuda": "gpu", "auto": "auto"}),
}


def closest(word: object, options: list[str] | set[str]) -> str | None:
    """The option closest to ``word`` (a renamed field's new name, when it is one), or None."""
    renamed = RENAMED_FIELDS.get(str(word))
    if renamed is not None and renamed[0] in options:
        return renamed[0]
    matches = difflib.get_close_matches(str(word), sorted(options), n=1)
    return matches[0] if matches else None


def coerce_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Check override names against the settable fields and coerce their values."""
    coerced = {}
    for name, value in (overrides or {}).items():
        if name in LOADER_FIELDS:
            raise ConfigError(f"--{name} cannot be overridden: it is set from the config id (<env>:<variant>)")
        if name not in ALL_FIELD_TYPES:
            match = closest(name, SETTABLE_FIELDS)
            raise ConfigError(f"unknown override --{name}" + (f" (did you mean --{match}?)" if match else ""))
        coerced[name] = coerce_field(f"override --{name}", value, ALL_FIELD_TYPES[name])
    return coerced


def config_from_dict(data: Any) -> Config:
    """Rebuild a config from ``Config.to_dict()`` output (e.g. a run's config.json); strict and validated."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of fields, got {type(data).__name__}")
    data = _renamed_to_current(data)
    for name in data:
        if name not in ALL_FIELD_TYPES:
            match = closest(name, set(ALL_FIELD_TYPES))
            raise ConfigError(f"unknown field {name!r}" + (f" (did you mean {match!r}?)" if match else ""))
    return make_config(dict(data), droppable=set())


def _renamed_to_current(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with renamed fields under their new names (a value the new field already has wins)."""
    current = dict(data)
    for old, (new, values) in RENAMED_FIELDS.items():
        if old in current:
            value = current.pop(old)
            current.setdefault(new, values.get(value, value) if isinstance(value, str) else value)
    return current


def replace_config(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with overrides applied and everything revalidated.

    A fractional batch_size was resolved to an int when ``cfg`` was built, so changing n_envs or n_steps
    here keeps that int (pass batch_size too to change it).
    """
    changes = coerce_overrides(overrides)
    values = cfg.to_dict()
    return make_config({**values, **changes}, droppable=set(values) - set(changes))


# -- the command line -------------------------------------------------------------------------------------


def _cli_value(text: str) -> Any:
    """CLI text as the schema's coercion expects it: lists and mappings (``[...]``, ``{...}``) parsed as YAML."""
    if text.lstrip().startswith(("[", "{")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise argparse.ArgumentTypeError(f"cannot parse {text!r} as a YAML list or mapping") from None
    return text


def _metavar(name: str) -> str:
    hint = ALL_FIELD_TYPES[name]
    if name in SCHEDULABLE_FIELDS:
        return "SCHED"
    if get_origin(hint) in (Union, UnionType):
        kinds = [arg for arg in get_args(hint) if arg is not type(None)]
        words = [kind for kind in kinds if get_origin(kind) is Literal]
        if words and len(kinds) == 2 and int in kinds:
            return "{" + ",".join(get_args(words[0])) + "}|N"
        if len(kinds) > 1:
            return "N"
        hint = kinds[0]
    origin = get_origin(hint)
    if origin is Literal:
        return "{" + ",".join(get_args(hint)) + "}"
    if origin in (tuple, list):
        return "LIST"
    if origin is dict:
        return "MAP"
    return {int: "N", float: "X", bool: "BOOL", str: "TEXT"}[hint]


def add_field_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--<field>`` option per settable config field, listed under its own heading in ``--help``."""
    group = parser.add_argument_group(
        "config fields", "override any field of the config: --field value or --field=value (dashes or underscores); "
        "a boolean field alone means true (--wandb)")
    for name in SETTABLE_FIELDS:
        help_text = f"{field_help(name)} (default: {field_default(name)})".replace("%", "%%")
        group.add_argument(f"--{name}", dest=f"field:{name}", metavar=_metavar(name), type=_cli_value,
                           default=argparse.SUPPRESS, help=help_text)


def field_overrides(namespace: argparse.Namespace) -> dict[str, Any]:
    """The ``--<field>`` values given on the command line, by field name (raw: coerced when applied)."""
    return {key.removeprefix("field:"): value for key, value in vars(namespace).items() if key.startswith("field:")}


def normalize_option_names(argv: list[str]) -> list[str]:
    """``--hidden-dims`` -> ``--hidden_dims`` for options that name a config field (values untouched), and a
    boolean field given alone (``--wandb``, not followed by true/false/yes/no/on/off/1/0) -> ``--wandb=true``."""
    out = []
    for index, arg in enumerate(argv):
        if arg.startswith("--"):
            name, sep, value = arg[2:].partition("=")
            underscored = name.replace("-", "_")
            if underscored in ALL_FIELD_TYPES:
                arg = f"--{underscored}{sep}{value}"
                following = argv[index + 1] if index + 1 < len(argv) else ""
                if not sep and ALL_FIELD_TYPES[underscored] is bool and following.strip().lower() not in BOOL_WORDS:
                    arg = f"--{underscored}=true"
        out.append(arg)
    return out


def merge_sweep_parameters(cli: dict[str, Any], sweep: dict[str, Any]) -> dict[str, Any]:
    """A W&B sweep's parameters (``wandb.config``) merged over the command line's overrides.

    Names map 1:1 to settable fields (W&B's own ``_``-prefixed keys are skipped). The agent passes each
    parameter on the command line too (``${args}``); a field given both ways with different values means the
    sweep's ``command`` fixes a parameter it also sweeps, which is an error rather than a silent pick.
    """
    merged = dict(cli)
    for name, value in sweep.items():
        if name.startswith("_"):
            continue
        if name not in SETTABLE_FIELDS:
            match = closest(name, SETTABLE_FIELDS)
            raise ConfigError(f"unknown sweep parameter {name!r}" + (f" (did you mean {match!r}?)" if match else "")
                              + "; sweep parameters are config fields (python train.py --help lists them)")
        hint = ALL_FIELD_TYPES[name]
        coerced = coerce_field(f"sweep parameter {name}", value, hint)
        if name in cli and coerce_field(f"--{name}", cli[name], hint) != coerced:
            raise ConfigError(f"sweep parameter {name}={value!r} disagrees with --{name}={cli[name]} on the command "
                              f"line; drop one of them from the sweep spec")
        merged[name] = coerced
    return merged

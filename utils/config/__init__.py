"""Configs: the schema (``schema``), type coercion (``coercion``), YAML files with variants and
inheritance (``loading``) and overrides from the CLI, sweeps and saved runs (``overrides``).

Pure Python plus PyYAML: no torch, gymnasium or Lightning, so every config error is reported in well
under a second.

>>> from utils.config import load_config
>>> config = load_config("CartPole-v1", "ppo", {"n_envs": "4"})
>>> config.config_id, config.n_envs, config.algo_id
('CartPole-v1:ppo', 4, 'ppo')
"""

from utils.config.loading import (
    DEFAULT_CONFIG_DIR,
    ConfigEntry,
    list_config_ids,
    list_configs,
    load_config,
    parse_config_id,
)
from utils.config.overrides import (
    add_field_arguments,
    config_from_dict,
    field_overrides,
    merge_sweep_parameters,
    normalize_option_names,
    replace_config,
)
from utils.config.schema import (
    CONFIG_CLASSES,
    SCHEDULABLE_FIELDS,
    Config,
    PPOConfig,
    REINFORCEConfig,
    config_fields,
    field_default,
    field_help,
    schema_fields,
)

__all__ = [
    "CONFIG_CLASSES",
    "DEFAULT_CONFIG_DIR",
    "SCHEDULABLE_FIELDS",
    "Config",
    "ConfigEntry",
    "PPOConfig",
    "REINFORCEConfig",
    "add_field_arguments",
    "config_fields",
    "config_from_dict",
    "field_default",
    "field_help",
    "field_overrides",
    "list_config_ids",
    "list_configs",
    "load_config",
    "merge_sweep_parameters",
    "normalize_option_names",
    "parse_config_id",
    "replace_config",
    "schema_fields",
]

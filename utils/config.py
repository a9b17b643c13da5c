"""Config schema, YAML loading (base + variants + inheritance), CLI overrides and validation.

Imports only the standard library and PyYAML so that config errors are reported in well under a second.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from utils.errors import ConfigError
from utils.schedules import SCHEDULE_FORMS, Schedule, is_schedule_string, parse_schedule

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "environments"

ScheduleValue = float | str  # a number or a schedule string such as "lin_0.001", kept verbatim
PolicyKind = Literal["mlp", "cnn"]
Activation = Literal["tanh", "relu", "elu", "gelu", "leaky_relu"]
OptimizerName = Literal["adamw", "adam", "sgd"]
AdvantageNorm = Literal["rollout", "batch", "off"]
Vectorization = Literal["sync", "async", "auto"]
ObsType = Literal["rgb", "ram", "objects"]
Device = Literal["cpu", "cuda", "auto"]
ReturnsType = Literal["mc:rtg", "mc:episode"]


@dataclass(frozen=True, kw_only=True)
class Config:
    """Fields shared by all algorithms. Values are coerced and validated on construction.

    Instances are frozen: derive changed copies with `replace_config`, which revalidates.
    """

    env_id: str
    algo_id: str
    project_id: str = ""
    variant: str = ""
    seed: int = 42
    n_envs: int = 8
    n_steps: int = 128
    batch_size: int | float = 1.0  # int = samples; float in (0, 1] = fraction of the rollout
    n_epochs: int = 1
    max_timesteps: int = 1_000_000
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: ScheduleValue = 0.0
    vf_coef: ScheduleValue = 0.5
    max_grad_norm: float = 0.5
    policy: PolicyKind = "mlp"
    hidden_dims: tuple[int, ...] = (64, 64)
    activation: Activation = "tanh"
    optimizer: OptimizerName = "adamw"
    policy_lr: ScheduleValue = 3e-4
    optimizer_eps: float = 1e-5
    weight_decay: float = 0.0
    normalize_advantages: AdvantageNorm = "rollout"
    eval_episodes: int = 10
    eval_freq: int = 10_000  # env steps; 0 disables
    eval_deterministic: bool = True
    early_stop: bool = True  # stop once the eval mean reward reaches reward_threshold
    reward_threshold: float | None = None  # None: the env's registered threshold
    env_wrappers: list[dict[str, Any]] = field(default_factory=list)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    frame_stack: int = 1
    normalize_obs: bool = False
    normalize_reward: bool = False
    vectorization: Vectorization = "auto"
    obs_type: ObsType | None = None
    torch_threads: int = 1  # 0: torch's default
    device: Device = "cpu"
    log_every_updates: int = 1
    checkpoint_every_updates: int = 50  # last.ckpt cadence; 0 disables periodic saves
    description: str = ""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce_field(f.name, getattr(self, f.name), hints[f.name]))
        self._validate()
        self._resolve_batch_size()

    @property
    def config_id(self) -> str:
        """'<project_id>:<variant>', the form the CLI accepts."""
        return f"{self.project_id}:{self.variant}"

    @property
    def rollout_size(self) -> int:
        """Transitions per rollout: n_envs * n_steps."""
        return self.n_envs * self.n_steps

    @property
    def n_minibatches(self) -> int:
        """Minibatches per epoch; the last one may be smaller than batch_size."""
        return math.ceil(self.rollout_size / self.batch_size)

    def schedule(self, name: str) -> Schedule:
        """The Schedule of a schedulable field (a constant one when the field holds a number)."""
        if name not in SCHEDULABLE_FIELDS:
            raise ValueError(f"{name!r} is not schedulable (schedulable: {', '.join(sorted(SCHEDULABLE_FIELDS))})")
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{name} is not set")
        return parse_schedule(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable field values (tuples become lists); `config_from_dict` inverts it."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def _validate(self) -> None:
        expected = CONFIG_CLASSES.get(self.algo_id)
        if expected is None:
            raise ConfigError(f"algo_id must be one of {', '.join(CONFIG_CLASSES)}; got {self.algo_id!r}")
        if expected is not type(self):
            raise ConfigError(f"algo_id {self.algo_id!r} needs {expected.__name__}, not {type(self).__name__}")
        _require(bool(self.env_id), "env_id must not be empty")
        for name in ("n_envs", "n_steps", "n_epochs", "max_timesteps", "eval_episodes", "frame_stack",
                     "log_every_updates"):
            _require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("seed", "eval_freq", "torch_threads", "checkpoint_every_updates"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        _require(0 < self.gamma <= 1, f"gamma must be in (0, 1], got {self.gamma}")
        _require(0 <= self.gae_lambda <= 1, f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        _require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        _require(self.optimizer_eps > 0, f"optimizer_eps must be > 0, got {self.optimizer_eps}")
        _require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _require(all(d >= 1 for d in self.hidden_dims),
                 f"hidden_dims must be positive integers, got {list(self.hidden_dims)}")
        self._check_schedule("policy_lr", positive=True)
        self._check_schedule("ent_coef", positive=False)
        self._check_schedule("vf_coef", positive=False)

    def _check_schedule(self, name: str, positive: bool) -> None:
        # A decaying schedule may end at 0 even where the value itself must be positive.
        sched = self.schedule(name)
        ok = (sched.start > 0 if positive else sched.start >= 0) and sched.end >= 0
        _require(ok, f"{name} must be {'> 0' if positive else '>= 0'}, got {getattr(self, name)!r}")

    def _resolve_batch_size(self) -> None:
        size = self.batch_size
        if isinstance(size, float):
            _require(0 < size <= 1, f"batch_size must be an integer >= 1 or a fraction in (0, 1], got {size}")
            # The epsilon keeps products like 100 * 0.29 (= 28.999999999999996) from flooring one short.
            size = max(1, math.floor(self.rollout_size * size + 1e-9))
            object.__setattr__(self, "batch_size", size)
        _require(size >= 1, f"batch_size must be an integer >= 1 or a fraction in (0, 1], got {size}")
        _require(size <= self.rollout_size,
                 f"batch_size {size} is larger than the rollout n_envs*n_steps = "
                 f"{self.n_envs}*{self.n_steps} = {self.rollout_size}")


@dataclass(frozen=True, kw_only=True)
class PPOConfig(Config):
    """PPO: clipped surrogate objective with several epochs of minibatch updates per rollout."""

    algo_id: str = "ppo"
    n_epochs: int = 10
    batch_size: int | float = 64
    clip_range: ScheduleValue = 0.2
    clip_range_vf: ScheduleValue | None = None  # None: value loss is not clipped
    target_kl: float | None = None  # None: no early stop of the epoch loop on KL

    def _validate(self) -> None:
        super()._validate()
        self._check_schedule("clip_range", positive=True)
        if self.clip_range_vf is not None:
            self._check_schedule("clip_range_vf", positive=True)
        _require(self.target_kl is None or self.target_kl > 0, f"target_kl must be > 0, got {self.target_kl}")


@dataclass(frozen=True, kw_only=True)
class REINFORCEConfig(Config):
    """REINFORCE: Monte Carlo policy gradient, optionally with a learned value baseline."""

    algo_id: str = "reinforce"
    normalize_advantages: AdvantageNorm = "batch"
    returns_type: ReturnsType = "mc:rtg"
    use_baseline: bool = False


CONFIG_CLASSES: dict[str, type[Config]] = {"ppo": PPOConfig, "reinforce": REINFORCEConfig}


# ---------------------------------------------------------------------------------------------------------
# Coercion: YAML and the CLI deliver strings ('1e5', '3e-4', 'true') where the schema wants numbers or bools.


@cache
def _hints(cls: type[Config]) -> dict[str, Any]:
    return get_type_hints(cls)


_ALL_HINTS: dict[str, Any] = {name: hint for cls in CONFIG_CLASSES.values() for name, hint in _hints(cls).items()}
SCHEDULABLE_FIELDS: frozenset[str] = frozenset(
    name for name, hint in _ALL_HINTS.items() if {float, str} <= set(get_args(hint))
)
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _coerce_field(label: str, value: Any, hint: Any) -> Any:
    """Coerce `value` to `hint`; a ConfigError starts with `label` (the field or override name)."""
    try:
        return _coerce(value, hint)
    except ConfigError as exc:
        raise ConfigError(f"{label} {exc}") from None


def _coerce(value: Any, hint: Any) -> Any:
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
    if number is None or number != number:  # NaN passes every comparison-free check downstream
        raise ConfigError(f"must be a number, got {value!r}")
    return float(number)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[str(value).strip().lower()]
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
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise ConfigError(f"must be one of {', '.join(choices)}; got {value!r}")


def _schedule_value(value: Any) -> float | str:
    if is_schedule_string(value):
        return value.strip()
    try:
        return _to_float(value)
    except ConfigError:
        raise ConfigError(f"must be {SCHEDULE_FORMS}; got {value!r}") from None


def _batch_size(value: Any) -> int | float:
    number = _number(value)
    if number is None or number != number:
        raise ConfigError(f"must be an integer >= 1 or a fraction in (0, 1], got {value!r}")
    # 1.0 means the whole rollout, but '1e3' (a float to Python) clearly means 1000 samples.
    if isinstance(number, float) and number > 1 and number.is_integer():
        return int(number)
    return number


def _int_tuple(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        items: list[Any] = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise ConfigError(f"must be a list of integers or a string like '64,64', got {value!r}")
    try:
        return tuple(_to_int(item) for item in items)
    except ConfigError:
        raise ConfigError(f"must be a list of integers or a string like '64,64', got {value!r}") from None


def _wrapper_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"must be a list of mappings like {{id: WrapperName, ...}}, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ConfigError(f"item {index} must be a mapping with an 'id' string, got {item!r}")
    return _plain(value)


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"must be a mapping, got {value!r}")
    return _plain(value)


def _plain(value: Any) -> Any:
    """A fresh copy with tuples turned into lists, so configs share no mutable state and dump to JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _closest(word: object, options: set[str] | list[str]) -> str | None:
    matches = difflib.get_close_matches(str(word), sorted(options), n=1)
    return matches[0] if matches else None


# ---------------------------------------------------------------------------------------------------------
# Building configs from merged values.


def config_fields(algo_id: str | None = None) -> set[str]:
    """Field names of one algorithm's config class, or of all of them when algo_id is None."""
    if algo_id is None:
        return set(_ALL_HINTS)
    return {f.name for f in fields(_config_class(algo_id))}


def _config_class(algo_id: Any) -> type[Config]:
    if not isinstance(algo_id, str) or algo_id not in CONFIG_CLASSES:
        raise ConfigError(f"algo_id must be one of {', '.join(CONFIG_CLASSES)}; got {algo_id!r}")
    return CONFIG_CLASSES[algo_id]


def _make(values: dict[str, Any], droppable: set[str]) -> Config:
    """Build the config class named by values['algo_id']; fields it lacks are dropped if droppable."""
    if values.get("algo_id") is None:
        raise ConfigError(f"missing required field 'algo_id' (one of {', '.join(CONFIG_CLASSES)})")
    if values.get("env_id") is None:
        raise ConfigError("missing required field 'env_id'")
    algo_id = values["algo_id"]
    own = config_fields(algo_id)
    foreign = sorted(key for key in values if key not in own and key not in droppable)
    if foreign:
        raise ConfigError(f"field {foreign[0]!r} does not apply to algo_id {algo_id!r}")
    return CONFIG_CLASSES[algo_id](**{key: value for key, value in values.items() if key in own})


def _coerce_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Check override names against all config fields and coerce their values."""
    coerced = {}
    for name, value in (overrides or {}).items():
        if name not in _ALL_HINTS:
            match = _closest(name, set(_ALL_HINTS))
            hint = f" (did you mean --{match}?)" if match else ""
            raise ConfigError(f"unknown override --{name}{hint}")
        coerced[name] = _coerce_field(f"override --{name}", value, _ALL_HINTS[name])
    return coerced


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a config from `Config.to_dict()` output (e.g. a run's config.json); strict and validated."""
    for name in data:
        if name not in _ALL_HINTS:
            match = _closest(name, set(_ALL_HINTS))
            raise ConfigError(f"unknown field {name!r}" + (f" (did you mean {match!r}?)" if match else ""))
    return _make(dict(data), droppable=set())


def replace_config(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of `cfg` with overrides applied and everything revalidated.

    A fractional batch_size was resolved to an int when `cfg` was built, so changing n_envs or n_steps here
    keeps that int (pass batch_size too to change it).
    """
    changes = _coerce_overrides(overrides)
    values = cfg.to_dict()
    return _make({**values, **changes}, droppable=set(values) - set(changes))


# ---------------------------------------------------------------------------------------------------------
# YAML files: base fields at the top level, every other mapping-valued key is a named variant.


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


def _read_yaml(path: Path) -> dict[Any, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(f"{_display(path)}: invalid YAML{line}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{_display(path)}: expected a mapping of fields and variants, got {type(data).__name__}")
    return data


def _split(data: dict[Any, Any], where: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Separate base fields from variants; mapping-valued fields (env_kwargs) stay fields."""
    base, variants = {}, {}
    for key, value in data.items():
        if key in _ALL_HINTS:
            base[key] = value
        elif isinstance(value, dict):
            variants[str(key)] = value
        else:
            _check_keys({key: value}, where, "base")
    _check_keys(base, where, "base")
    return base, variants


def _check_keys(block: dict[Any, Any], where: str, section: str, extra: frozenset[str] = frozenset()) -> None:
    for key in block:
        if key == "variant":
            raise ConfigError(f"{where}, {section}: 'variant' is set from the variant name; remove it")
        if key not in _ALL_HINTS and key not in extra:
            match = _closest(key, set(_ALL_HINTS))
            hint = f" (did you mean {match!r}?)" if match else ""
            raise ConfigError(f"{where}, {section}: unknown field {key!r}{hint}")


def _resolve_variant(name: str, variants: dict[str, dict[str, Any]], where: str,
                     chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The variant's own fields merged over those of the variants it inherits from (not the base)."""
    if name in chain:
        raise ConfigError(f"{where}: inheritance cycle {' -> '.join((*chain, name))}")
    block = variants[name]
    _check_keys(block, where, f"variant {name!r}", extra=frozenset({"inherits"}))
    parent = block.get("inherits")
    inherited: dict[str, Any] = {}
    if parent is not None:
        if parent not in variants:
            raise ConfigError(f"{where}, variant {name!r}: inherits unknown variant {parent!r} "
                              f"(variants: {', '.join(variants)})")
        inherited = _resolve_variant(parent, variants, where, (*chain, name))
    return {**inherited, **{key: value for key, value in block.items() if key != "inherits"}}


def _variant_names(stem: str, variants: dict[str, dict[str, Any]]) -> list[str]:
    """Names to request the variants by; legacy '<stem>_<variant>' blocks are listed as '<variant>'."""
    return [key.removeprefix(f"{stem}_") for key in variants]


def _variant_key(variant: str, stem: str, variants: dict[str, dict[str, Any]], where: str) -> str:
    if variant in variants:
        return variant
    legacy = [key for key in variants if key.endswith(f"_{variant}")]
    if len(legacy) == 1:
        return legacy[0]
    names = ", ".join(_variant_names(stem, variants)) or "none"
    raise ConfigError(f"{where}: no variant {variant!r} (variants: {names})")


def _config_files(config_dir: str | Path | None) -> dict[str, Path]:
    directory = Path(config_dir) if config_dir is not None else DEFAULT_CONFIG_DIR
    return {path.stem: path for path in sorted(directory.glob("*.yaml"))}


def _find_config_file(config_name: str, config_dir: str | Path | None) -> Path:
    files = _config_files(config_dir)
    if config_name in files:
        return files[config_name]
    matches = []
    for path in files.values():
        try:
            if _read_yaml(path).get("env_id") == config_name:
                matches.append(path)
        except ConfigError:
            continue  # a broken file can't match; it is reported when loaded by name
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"config {config_name!r} is ambiguous: env_id of {', '.join(p.stem for p in matches)}")
    match = _closest(config_name, list(files))
    hint = f" (did you mean {match!r}?)" if match else ""
    raise ConfigError(f"unknown config {config_name!r}{hint}; available: {', '.join(files) or 'none'}")


def load_config(config_name: str, variant: str, overrides: dict[str, Any] | None = None,
                config_dir: str | Path | None = None) -> Config:
    """Load `<config_dir>/<config_name>.yaml`, variant `variant`, with `overrides` applied on top.

    config_name is a file stem, or else an env_id that exactly one file's base declares. Precedence:
    base < inherited variants < variant < overrides; then coercion, validation and batch_size resolution.
    """
    if not variant:
        raise ConfigError(f"config {config_name!r}: a variant is required, e.g. '{config_name}:ppo'")
    path = _find_config_file(config_name, config_dir)
    where = _display(path)
    base, variants = _split(_read_yaml(path), where)
    key = _variant_key(variant, path.stem, variants, where)
    own = _resolve_variant(key, variants, where)
    changes = _coerce_overrides(overrides)
    values = {"project_id": path.stem, **base, **own, "variant": variant, **changes}
    # Base fields may be shared by several algorithms' variants; those the chosen class lacks don't matter.
    droppable = set(base) - set(own) - set(changes)
    try:
        return _make(values, droppable)
    except ConfigError as exc:
        raise ConfigError(f"{where}, variant {variant!r}: {exc}") from None


def list_config_ids(config_dir: str | Path | None = None) -> list[str]:
    """Every '<stem>:<variant>' id in the config directory, sorted by file."""
    ids = []
    for stem, path in _config_files(config_dir).items():
        _, variants = _split(_read_yaml(path), _display(path))
        ids.extend(f"{stem}:{name}" for name in _variant_names(stem, variants))
    return ids


def parse_config_id(config_id: str) -> tuple[str, str]:
    """Split '<env>:<variant>' (e.g. 'CartPole-v1:ppo') into its two parts."""
    name, sep, variant = config_id.rpartition(":")
    if not sep or not name.strip() or not variant.strip():
        raise ConfigError(f"config id {config_id!r} must have the form '<env>:<variant>', e.g. 'CartPole-v1:ppo' "
                          f"(the '<env>_<variant>' form is not supported)")
    return name.strip(), variant.strip()


def parse_cli_overrides(args: list[str]) -> dict[str, Any]:
    """Parse ['--name', 'value', '--other=value', ...] into {name: value}; dashes in names become underscores.

    Values stay strings (coerced when applied) except ones starting with '[' or '{', parsed as YAML.
    """
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument {arg!r}: overrides look like --field value or --field=value")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if index + 1 >= len(args) or args[index + 1].startswith("--"):
                raise ConfigError(f"override --{name} needs a value: --{name} VALUE or --{name}=VALUE")
            index += 1
            value = args[index]
        if value.lstrip().startswith(("[", "{")):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise ConfigError(f"override --{name}: cannot parse {value!r} as a YAML list or mapping") from None
        overrides[name.replace("-", "_")] = value
        index += 1
    return overrides

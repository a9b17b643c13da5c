"""The config schema: one frozen dataclass per algorithm, each field's meaning written once, on the field.

``Config`` holds the fields every algorithm shares; ``PPOConfig`` and ``REINFORCEConfig`` add their own.
Values are coerced (``utils.config.coercion``) and validated on construction, so a config that exists is
a valid one. ``field_help(name)`` is what ``train.py --help`` and the README's field table show.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cache
from typing import Any, Literal, get_args, get_type_hints

from utils.config.coercion import coerce_field, plain
from utils.errors import ConfigError
from utils.schedules import Schedule, parse_schedule

ScheduleValue = float | str  # a number or a schedule string such as "lin_0.001", kept verbatim
PolicyKind = Literal["mlp", "cnn"]
Activation = Literal["tanh", "relu", "elu", "gelu", "leaky_relu"]
OptimizerName = Literal["adamw", "adam", "sgd"]
AdvantageNorm = Literal["rollout", "batch", "off"]
Vectorization = Literal["sync", "async", "auto"]
ObsType = Literal["rgb", "ram", "objects"]
Accelerator = Literal["cpu", "gpu", "auto"]
Precision = Literal["32-true", "bf16-mixed"]
ReturnsType = Literal["mc:rtg", "mc:episode"]
VideoFreq = Literal["best", "every_eval", "off"]

MAX_SEED = 2**32 - 1  # numpy's legacy seeding (and so gymnasium's action spaces) accepts no more
MAX_N_ENVS = 4096
MAX_TORCH_THREADS = 256  # far beyond any useful count; huge values crash torch's thread pool
MAX_DEVICES = 1024  # processes on one machine: beyond any CPU core or GPU count
MAX_NUM_NODES = 4096
WANDB_PROJECT_FORBIDDEN = "/\\#?%:"  # characters W&B refuses in project names


def option(default: Any, help: str) -> Any:
    """A dataclass field with its meaning attached (``metadata["help"]``)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: plain(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def redefault(base: type, name: str, default: Any) -> Any:
    """A subclass's new default for an inherited field, keeping the meaning written on the base's field."""
    return option(default, base.__dataclass_fields__[name].metadata["help"])


@dataclass(frozen=True, kw_only=True)
class Config:
    """Fields shared by all algorithms. Instances are frozen: derive changed copies with
    ``utils.config.replace_config``, which revalidates."""

    # -- what to train
    env_id: str = option(MISSING, "Gymnasium environment id, e.g. CartPole-v1 or ALE/Pong-v5")
    algo_id: str = option(MISSING, "algorithm: ppo or reinforce")
    project_id: str = option("", "project name; defaults to the config file's name")
    variant: str = option("", "the variant's name in its config file (set by the loader)")
    description: str = option("", "one line about this config, shown by train.py --list")
    seed: int = option(42, f"seed of envs, torch, numpy and python (0 to {MAX_SEED})")
    # -- rollouts
    n_envs: int = option(8, "parallel environments collecting each rollout")
    n_steps: int = option(128, "steps per environment per rollout (rollout = n_envs * n_steps)")
    vectorization: Vectorization = option(
        "auto", "sync, async (one process per env) or auto (the env's own batched implementation if any, else sync)")
    max_timesteps: int = option(1_000_000, "training budget in env steps; schedules run over it")
    # -- optimization
    batch_size: int | float = option(
        1.0, "minibatch size: an int, or a fraction in (0, 1] of n_envs * n_steps (floored, at least 1)")
    n_epochs: int = option(1, "passes over each rollout")
    gamma: float = option(0.99, "discount factor, in (0, 1]")
    gae_lambda: float = option(0.95, "GAE lambda, in [0, 1] (PPO; REINFORCE with a baseline ignores it)")
    policy_lr: ScheduleValue = option(3e-4, "learning rate: a number or a schedule like lin_0.001")
    optimizer: OptimizerName = option("adamw", "adamw, adam or sgd")
    optimizer_eps: float = option(1e-5, "Adam epsilon")
    weight_decay: float = option(0.0, "weight decay (decoupled for adamw)")
    max_grad_norm: float = option(0.5, "clip the global gradient norm to this")
    ent_coef: ScheduleValue = option(0.0, "entropy bonus weight (number or schedule)")
    vf_coef: ScheduleValue = option(0.5, "value loss weight (number or schedule)")
    normalize_advantages: AdvantageNorm = option(
        "batch", "advantage normalization: batch (per minibatch, as SB3), rollout (once per rollout) or off")
    # -- the network
    policy: PolicyKind = option("mlp", "mlp, or cnn (Nature CNN) for image observations")
    hidden_dims: tuple[int, ...] = option((64, 64), "MLP hidden layer sizes, e.g. [64, 64] or 64,64")
    activation: Activation = option("tanh", "MLP activation: tanh, relu, elu, gelu or leaky_relu")
    # -- the environment
    env_kwargs: dict[str, Any] = option({}, "keyword arguments for gym.make, e.g. {map_name: 8x8}")
    env_wrappers: list[dict[str, Any]] = option(
        [], "registry wrappers applied in order, e.g. [{id: DiscreteEncoder, encoding: onehot}]")
    obs_type: ObsType | None = option(
        None, "Atari (ALE/...) only: rgb frames (none means rgb), ram (its 128 bytes) or objects (OCAtari positions)")
    frame_stack: int = option(1, "stack the last N observations")
    normalize_obs: bool = option(False, "running observation normalization (statistics saved in checkpoints)")
    normalize_reward: bool = option(False, "running reward scaling for training (episode stats stay raw)")
    # -- evaluation and stopping
    eval_freq: int = option(10_000, "evaluate every N env steps (0: only at the end)")
    eval_episodes: int = option(10, "episodes per evaluation, run in parallel envs")
    eval_deterministic: bool = option(True, "evaluate with the most likely action")
    early_stop: bool = option(True, "stop at the first evaluation whose mean reward reaches reward_threshold")
    reward_threshold: float | None = option(
        None, "solved at this mean eval reward (none: the env's registered threshold)")
    video_freq: VideoFreq | int = option(
        "best", "videos of an evaluation episode in runs/<id>/videos/: best (at each new best evaluation), "
        "every_eval, N (every N env steps and at each new best) or off; all but off also record at the end")
    # -- machine and bookkeeping
    torch_threads: int = option(1, "torch CPU threads (0: torch's default; 1 is fastest for small MLPs)")
    accelerator: Accelerator = option(
        "auto", "where the network runs: cpu, gpu (CUDA) or auto (a GPU for the cnn policy when there is one, "
        "else the CPU, where small MLPs run faster)")
    precision: Precision = option(
        "32-true", "training's arithmetic: 32-true, or bf16-mixed (bfloat16 autocast of the network's layers; weights, "
        "heads and losses stay float32; about 2x faster for the cnn policy on GPUs and AVX512-BF16 CPUs)")
    devices: int = option(
        1, "training processes per machine, each with its own n_envs envs (CPU processes, or GPUs with "
        "accelerator gpu); above 1 trains data-parallel (DDP), gradients averaged across processes")
    num_nodes: int = option(1, "machines training together (each runs train.py with the same arguments)")
    log_every_updates: int = option(1, "log metrics every N updates")
    checkpoint_every_updates: int = option(50, "write last.ckpt every N updates (0: only at the end)")
    # -- experiment tracking
    wandb: bool = option(False, "log to Weights & Biases (needs the wandb extra and a login, or WANDB_MODE=offline)")
    wandb_project: str = option("", "W&B project (empty: $WANDB_PROJECT, else project_id); entity: $WANDB_ENTITY")

    def __post_init__(self) -> None:
        hints = field_types(type(self))
        for f in fields(self):
            object.__setattr__(self, f.name, coerce_field(f.name, getattr(self, f.name), hints[f.name]))
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
    def world_size(self) -> int:
        """Training processes in all: devices * num_nodes."""
        return self.devices * self.num_nodes

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
        """JSON-serializable field values (tuples become lists); ``config_from_dict`` inverts it."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    def _validate(self) -> None:
        expected = CONFIG_CLASSES.get(self.algo_id)
        if expected is None:
            raise ConfigError(f"algo_id must be one of {', '.join(CONFIG_CLASSES)}; got {self.algo_id!r}")
        if expected is not type(self):
            raise ConfigError(f"algo_id {self.algo_id!r} needs {expected.__name__}, not {type(self).__name__}")
        require(bool(self.env_id.strip()), "env_id must not be empty")
        for name, low, high in (
            ("n_envs", 1, MAX_N_ENVS), ("n_steps", 1, 10**7), ("n_epochs", 1, 10**4), ("max_timesteps", 1, 10**13),
            ("eval_episodes", 1, 10**5), ("frame_stack", 1, 64), ("log_every_updates", 1, 10**9),
            ("seed", 0, MAX_SEED), ("eval_freq", 0, 10**13), ("torch_threads", 0, MAX_TORCH_THREADS),
            ("checkpoint_every_updates", 0, 10**9), ("devices", 1, MAX_DEVICES), ("num_nodes", 1, MAX_NUM_NODES),
        ):
            value = getattr(self, name)
            require(value >= low, f"{name} must be >= {low}, got {value}")
            require(value <= high, f"{name} must be <= {high:,}, got {value:,}")
        if isinstance(self.video_freq, int):
            require(1 <= self.video_freq <= 10**13,
                    f"video_freq must be best, every_eval, off or a number of env steps >= 1, got {self.video_freq}")
        require(0 < self.gamma <= 1, f"gamma must be in (0, 1], got {self.gamma}")
        require(0 <= self.gae_lambda <= 1, f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        require(self.optimizer_eps > 0, f"optimizer_eps must be > 0, got {self.optimizer_eps}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(0 < len(self.hidden_dims) <= 32 and all(1 <= d <= 65_536 for d in self.hidden_dims),
                f"hidden_dims must be 1 to 32 layer sizes between 1 and 65536, got {list(self.hidden_dims)}")
        self._check_schedule("policy_lr", positive=True)
        self._check_schedule("ent_coef", positive=False)
        self._check_schedule("vf_coef", positive=False)
        bad = sorted(set(self.wandb_project) & set(WANDB_PROJECT_FORBIDDEN))
        require(not bad and len(self.wandb_project) <= 128,
                f"wandb_project must be at most 128 characters without {' '.join(WANDB_PROJECT_FORBIDDEN)}, "
                f"got {self.wandb_project!r}")

    def _check_schedule(self, name: str, positive: bool) -> None:
        # A decaying schedule may end at 0 even where the value itself must be positive.
        sched = self.schedule(name)
        require(math.isfinite(sched.start) and math.isfinite(sched.end),
                f"{name} must be finite, got {getattr(self, name)!r}")
        ok = (sched.start > 0 if positive else sched.start >= 0) and sched.end >= 0
        require(ok, f"{name} must be {'> 0' if positive else '>= 0'}, got {getattr(self, name)!r}")

    def _resolve_batch_size(self) -> None:
        size = self.batch_size
        if isinstance(size, float):
            require(0 < size <= 1, f"batch_size must be an integer >= 1 or a fraction in (0, 1], got {size}")
            # The epsilon keeps products like 100 * 0.29 (= 28.999999999999996) from flooring one short.
            size = max(1, math.floor(self.rollout_size * size + 1e-9))
            object.__setattr__(self, "batch_size", size)
        require(size >= 1, f"batch_size must be an integer >= 1 or a fraction in (0, 1], got {size}")
        require(size <= self.rollout_size,
                f"batch_size {size} is larger than the rollout n_envs*n_steps = "
                f"{self.n_envs}*{self.n_steps} = {self.rollout_size}")


@dataclass(frozen=True, kw_only=True)
class PPOConfig(Config):
    """PPO: clipped surrogate objective with several epochs of minibatch updates per rollout."""

    algo_id: str = redefault(Config, "algo_id", "ppo")
    n_epochs: int = redefault(Config, "n_epochs", 10)
    batch_size: int | float = redefault(Config, "batch_size", 64)
    clip_range: ScheduleValue = option(0.2, "PPO: policy ratio clip range (number or schedule)")
    clip_range_vf: ScheduleValue | None = option(
        None, "PPO: clip value predictions to this distance from the rollout's (none: no value clipping)")
    target_kl: float | None = option(None, "PPO: end an update early once approx_kl exceeds 1.5 x this (none: off)")

    def _validate(self) -> None:
        super()._validate()
        self._check_schedule("clip_range", positive=True)
        if self.clip_range_vf is not None:
            self._check_schedule("clip_range_vf", positive=True)
        require(self.target_kl is None or self.target_kl > 0, f"target_kl must be > 0, got {self.target_kl}")


@dataclass(frozen=True, kw_only=True)
class REINFORCEConfig(Config):
    """REINFORCE: Monte Carlo policy gradient, optionally with a learned value baseline."""

    algo_id: str = redefault(Config, "algo_id", "reinforce")
    returns_type: ReturnsType = option(
        "mc:rtg", "REINFORCE: mc:rtg (reward-to-go) or mc:episode (the whole episode's return at every step)")
    use_baseline: bool = option(False, "REINFORCE: subtract a learned value baseline from the returns")


CONFIG_CLASSES: dict[str, type[Config]] = {"ppo": PPOConfig, "reinforce": REINFORCEConfig}


@cache
def field_types(cls: type[Config]) -> dict[str, Any]:
    """Each field's resolved type hint."""
    return get_type_hints(cls)


#: every field of every algorithm, with its type hint
ALL_FIELD_TYPES: dict[str, Any] = {name: hint for cls in CONFIG_CLASSES.values() for name, hint in field_types(cls).items()}
SCHEDULABLE_FIELDS: frozenset[str] = frozenset(
    name for name, hint in ALL_FIELD_TYPES.items() if {float, str} <= set(get_args(hint))
)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def config_class(algo_id: Any) -> type[Config]:
    if not isinstance(algo_id, str) or algo_id not in CONFIG_CLASSES:
        raise ConfigError(f"algo_id must be one of {', '.join(CONFIG_CLASSES)}; got {algo_id!r}")
    return CONFIG_CLASSES[algo_id]


def config_fields(algo_id: str | None = None) -> set[str]:
    """Field names of one algorithm's config class, or of all of them when algo_id is None."""
    if algo_id is None:
        return set(ALL_FIELD_TYPES)
    return {f.name for f in fields(config_class(algo_id))}


def schema_fields() -> dict[str, Field]:
    """Every field of every algorithm in declaration order (shared fields first), by name."""
    out: dict[str, Field] = {}
    for cls in CONFIG_CLASSES.values():
        for f in fields(cls):
            out.setdefault(f.name, f)
    return out


def field_help(name: str) -> str:
    """The field's meaning, as written on it."""
    return schema_fields()[name].metadata["help"]


def field_default(name: str) -> str:
    """The default in words: one value, or one per algorithm where they differ ('10 (ppo), 1 (reinforce)')."""
    if Config.__dataclass_fields__.get(name, None) is not None and _is_required(Config.__dataclass_fields__[name]):
        return "required"
    per_algo: dict[str, str] = {}
    for algo_id, cls in CONFIG_CLASSES.items():
        f = cls.__dataclass_fields__.get(name)
        if f is None:
            continue
        value = f.default if f.default is not MISSING else f.default_factory()
        per_algo[algo_id] = _show(value)
    if len(set(per_algo.values())) == 1:
        return next(iter(per_algo.values()))
    return ", ".join(f"{value} ({algo_id})" for algo_id, value in per_algo.items())


def _is_required(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return str(list(value))
    if value == "" or value == [] or value == {}:
        return "empty" if value == "" else str(value)
    return str(value)


def make_config(values: dict[str, Any], droppable: set[str]) -> Config:
    """Build the config class that ``values["algo_id"]`` names; fields it lacks are dropped if droppable."""
    if values.get("algo_id") is None:
        raise ConfigError(f"missing required field 'algo_id' (one of {', '.join(CONFIG_CLASSES)})")
    if values.get("env_id") is None:
        raise ConfigError("missing required field 'env_id'")
    cls = config_class(values["algo_id"])
    own = config_fields(values["algo_id"])
    foreign = sorted(key for key in values if key not in own and key not in droppable)
    if foreign:
        raise ConfigError(f"field {foreign[0]!r} does not apply to algo_id {values['algo_id']!r}")
    return cls(**{key: value for key, value in values.items() if key in own})

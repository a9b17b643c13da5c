import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from utils.config import (
    CONFIG_CLASSES,
    PPOConfig,
    REINFORCEConfig,
    config_fields,
    config_from_dict,
    list_config_ids,
    list_configs,
    load_config,
    parse_config_id,
    replace_config,
)
from utils.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

CARTPOLE = """
env_id: CartPole-v1
eval_episodes: 5
n_envs: 8
n_steps: 32
clip_range: 0.3          # PPO-only, shared by the ppo variants

ppo:
  algo_id: ppo
  max_timesteps: 1e5
  batch_size: 0.5
  policy_lr: lin_0.001
  ent_coef: 3e-4
  env_wrappers:
    - { id: CartPoleV1_RewardShaper, angle_reward_scale: 1.0 }

ppo_fast:
  inherits: ppo
  n_envs: 16
  hidden_dims: "32,32"

ppo_faster:
  inherits: ppo_fast
  n_steps: 16

reinforce:
  algo_id: reinforce
  use_baseline: yes
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    write(tmp_path, "CartPole-v1", CARTPOLE)
    return tmp_path


def load(config_dir: Path, variant: str, **overrides) -> object:
    return load_config("CartPole-v1", variant, overrides or None, config_dir=config_dir)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- loading and inheritance ---------------------------------------------------------------------------------


def test_variant_inherits_base_and_coerces_yaml_strings(config_dir):
    cfg = load(config_dir, "ppo")
    assert isinstance(cfg, PPOConfig)
    assert (cfg.project_id, cfg.variant, cfg.config_id) == ("CartPole-v1", "ppo", "CartPole-v1:ppo")
    assert cfg.env_id == "CartPole-v1"
    assert cfg.eval_episodes == 5
    assert cfg.clip_range == 0.3
    assert cfg.max_timesteps == 100_000 and isinstance(cfg.max_timesteps, int)
    assert cfg.ent_coef == 0.0003 and isinstance(cfg.ent_coef, float)
    assert cfg.policy_lr == "lin_0.001"
    assert cfg.env_wrappers == [{"id": "CartPoleV1_RewardShaper", "angle_reward_scale": 1.0}]
    assert cfg.n_epochs == 10  # PPO default


def test_variant_inheriting_variant_chain(config_dir):
    fast = load(config_dir, "ppo_fast")
    assert (fast.n_envs, fast.n_steps, fast.hidden_dims, fast.policy_lr) == (16, 32, (32, 32), "lin_0.001")
    assert fast.batch_size == 256  # 0.5 of 16*32, resolved after inheritance
    faster = load(config_dir, "ppo_faster")
    assert (faster.n_envs, faster.n_steps, faster.batch_size, faster.variant) == (16, 16, 128, "ppo_faster")


def test_project_id_defaults_to_stem_unless_set(tmp_path):
    write(tmp_path, "my-cartpole", "env_id: CartPole-v1\nppo: {algo_id: ppo}\n")
    assert load_config("my-cartpole", "ppo", config_dir=tmp_path).project_id == "my-cartpole"
    write(tmp_path, "other", "env_id: CartPole-v1\nproject_id: custom\nppo: {algo_id: ppo}\n")
    assert load_config("other", "ppo", config_dir=tmp_path).config_id == "custom:ppo"


def test_fallback_to_file_whose_env_id_matches(tmp_path):
    write(tmp_path, "ALE-Pong-v5", "env_id: ALE/Pong-v5\nppo: {algo_id: ppo, policy: cnn}\n")
    cfg = load_config("ALE/Pong-v5", "ppo", config_dir=tmp_path)
    assert (cfg.env_id, cfg.project_id, cfg.policy) == ("ALE/Pong-v5", "ALE-Pong-v5", "cnn")


def test_unknown_config_name_suggests_closest(config_dir):
    message = error_of(load_config, "CartPol-v1", "ppo", config_dir=config_dir)
    assert "unknown config 'CartPol-v1'" in message
    assert "did you mean 'CartPole-v1'?" in message


def test_missing_variant_lists_existing_ones(config_dir):
    message = error_of(load, config_dir, "a2c")
    assert "CartPole-v1.yaml" in message and "no variant 'a2c'" in message
    assert "ppo, ppo_fast, ppo_faster, reinforce" in message


def test_variant_is_required(config_dir):
    assert "variant is required" in error_of(load, config_dir, "")


def test_reinforce_drops_base_ppo_fields(config_dir):
    cfg = load(config_dir, "reinforce")
    assert isinstance(cfg, REINFORCEConfig)
    assert not hasattr(cfg, "clip_range")
    assert cfg.use_baseline is True
    assert (cfg.normalize_advantages, cfg.n_epochs, cfg.returns_type) == ("batch", 1, "mc:rtg")
    assert cfg.batch_size == 8 * 32  # default 1.0 = the whole rollout


def test_reinforce_variant_level_ppo_field_is_an_error(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nreinforce: {algo_id: reinforce, clip_range: 0.2}\n")
    message = error_of(load_config, "cp", "reinforce", config_dir=tmp_path)
    assert "variant 'reinforce'" in message
    assert "field 'clip_range' does not apply to algo_id 'reinforce'" in message


def test_inheritance_cycle_is_detected(tmp_path):
    write(tmp_path, "cp", """
        env_id: CartPole-v1
        a: {algo_id: ppo, inherits: b}
        b: {inherits: c}
        c: {inherits: a}
    """)
    message = error_of(load_config, "cp", "a", config_dir=tmp_path)
    assert "inheritance cycle a -> b -> c -> a" in message


def test_inherits_unknown_variant(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nfast: {algo_id: ppo, inherits: slow}\n")
    assert "inherits unknown variant 'slow'" in error_of(load_config, "cp", "fast", config_dir=tmp_path)


def test_env_kwargs_mapping_is_a_field_not_a_variant(tmp_path):
    write(tmp_path, "lake", """
        env_id: FrozenLake-v1
        env_kwargs: {is_slippery: false, map_name: 4x4}
        ppo: {algo_id: ppo}
    """)
    cfg = load_config("lake", "ppo", config_dir=tmp_path)
    assert cfg.env_kwargs == {"is_slippery": False, "map_name": "4x4"}
    assert list_config_ids(tmp_path) == ["lake:ppo"]


def test_list_config_ids(config_dir):
    write(config_dir, "Acrobot-v1", "env_id: Acrobot-v1\nppo: {algo_id: ppo}\n")
    assert list_config_ids(config_dir) == [
        "Acrobot-v1:ppo", "CartPole-v1:ppo", "CartPole-v1:ppo_fast", "CartPole-v1:ppo_faster", "CartPole-v1:reinforce",
    ]


# --- strictness ----------------------------------------------------------------------------------------------


def test_unknown_field_in_variant_names_file_variant_and_suggestion(tmp_path):
    write(tmp_path, "CartPole-v1", "env_id: CartPole-v1\nppo: {algo_id: ppo, polcy_lr: 0.001}\n")
    message = error_of(load_config, "CartPole-v1", "ppo", config_dir=tmp_path)
    assert message.endswith("CartPole-v1.yaml, variant 'ppo': unknown field 'polcy_lr' (did you mean 'policy_lr'?)")


def test_unknown_scalar_field_in_base(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nn_env: 4\nppo: {algo_id: ppo}\n")
    message = error_of(load_config, "cp", "ppo", config_dir=tmp_path)
    assert "cp.yaml, base: unknown field 'n_env' (did you mean 'n_envs'?)" in message


def test_unknown_field_in_inherited_variant_names_that_variant(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nppo: {algo_id: ppo, gama: 0.9}\nfast: {inherits: ppo}\n")
    assert "variant 'ppo': unknown field 'gama' (did you mean 'gamma'?)" in error_of(
        load_config, "cp", "fast", config_dir=tmp_path)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nppo:\n  algo_id: ppo\n  n_envs: 4\n  n_envs: 8\n")
    message = error_of(load_config, "cp", "ppo", config_dir=tmp_path)
    assert "duplicate key 'n_envs'" in message and "line 5" in message


def test_invalid_yaml_is_one_line(tmp_path):
    write(tmp_path, "cp", "env_id: [CartPole-v1\nppo: {algo_id: ppo}\n")
    assert "cp.yaml: invalid YAML" in error_of(load_config, "cp", "ppo", config_dir=tmp_path)


def test_variant_field_cannot_be_set_in_yaml(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nppo: {algo_id: ppo, variant: other}\n")
    assert "'variant' is set from the variant name" in error_of(load_config, "cp", "ppo", config_dir=tmp_path)


# --- coercion ------------------------------------------------------------------------------------------------


def test_coercion_of_numbers_bools_and_lists():
    cfg = PPOConfig(env_id="CartPole-v1", n_envs="4", max_timesteps="100_000", gamma="0.98", policy_lr="3e-4",
                    normalize_obs="Yes", early_stop=0, hidden_dims=[128, "128"], target_kl="none",
                    obs_type="null", batch_size="1e2")
    assert (cfg.n_envs, cfg.max_timesteps, cfg.gamma, cfg.policy_lr) == (4, 100_000, 0.98, 0.0003)
    assert (cfg.normalize_obs, cfg.early_stop, cfg.hidden_dims) == (True, False, (128, 128))
    assert cfg.target_kl is None and cfg.obs_type is None
    assert cfg.batch_size == 100


def test_yaml_bare_off_means_off_for_normalize_advantages(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nppo: {algo_id: ppo, normalize_advantages: off}\n")
    assert load_config("cp", "ppo", config_dir=tmp_path).normalize_advantages == "off"


@pytest.mark.parametrize("field, value, expected", [
    ("n_envs", 1.5, "n_envs must be an integer, got 1.5"),
    ("n_envs", True, "n_envs must be an integer, got True"),
    ("gamma", "high", "gamma must be a finite number, got 'high'"),
    ("gamma", "inf", "gamma must be a finite number, got 'inf'"),
    ("max_grad_norm", float("nan"), "max_grad_norm must be a finite number, got nan"),
    ("policy_lr", "lin_1e999", "policy_lr must be finite, got 'lin_1e999'"),
    ("policy_lr", "inf", "policy_lr must be a number, 'lin_<start>' or 'lin_<start>_<end>'"),
    ("reward_threshold", "-inf", "reward_threshold must be a finite number, got '-inf'"),
    ("env_kwargs", {"x": float("inf")}, "env_kwargs must hold finite numbers only, got inf"),
    ("env_kwargs", {1: 2}, "env_kwargs must be a mapping with string keys"),
    ("normalize_obs", "maybe", "normalize_obs must be true or false, got 'maybe'"),
    ("policy_lr", "lin_x", "policy_lr must be a number, 'lin_<start>' or 'lin_<start>_<end>'"),
    ("env_wrappers", ["Foo"], "env_wrappers item 0 must be a mapping with an 'id' string"),
    ("hidden_dims", "64,x", "hidden_dims must be a list of integers"),
])
def test_coercion_errors(field, value, expected):
    assert expected in error_of(PPOConfig, env_id="CartPole-v1", **{field: value})


# --- validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, allowed", [
    ("optimizer", "adamx", "adamw, adam, sgd"),
    ("normalize_advantages", "episode", "rollout, batch, off"),
    ("activation", "swish", "tanh, relu, elu, gelu, leaky_relu"),
    ("policy", "rnn", "mlp, cnn"),
    ("precision", "16-mixed", "32-true, bf16-mixed"),
    ("precision", 16, "32-true, bf16-mixed"),
])
def test_choice_fields_list_allowed_values(field, value, allowed):
    message = error_of(PPOConfig, env_id="CartPole-v1", **{field: value})
    assert f"{field} must be one of {allowed}; got {value!r}" == message


@pytest.mark.parametrize("value, expected", [
    ("32-true", "32-true"), ("32", "32-true"), (32, "32-true"), ("bf16-mixed", "bf16-mixed"), ("bf16", "bf16-mixed"),
])
def test_precision_takes_lightnings_names_and_short_forms(value, expected):
    assert PPOConfig(env_id="CartPole-v1", precision=value).precision == expected


def test_unknown_algo_lists_allowed(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\na2c: {algo_id: a2c}\n")
    message = error_of(load_config, "cp", "a2c", config_dir=tmp_path)
    assert "algo_id must be one of ppo, reinforce; got 'a2c'" in message


def test_missing_algo_id(tmp_path):
    write(tmp_path, "cp", "env_id: CartPole-v1\nbase: {inherits: null, n_envs: 2}\nfast: {inherits: base}\n")
    assert "missing required field 'algo_id'" in error_of(load_config, "cp", "fast", config_dir=tmp_path)


@pytest.mark.parametrize("text, expected", [
    # a misspelt mapping-valued field is an unknown field, not a silent variant
    ("env_kwarg: {is_slippery: false}\nppo: {algo_id: ppo}\n",
     "cp.yaml, base: unknown field 'env_kwarg' (did you mean 'env_kwargs'?)"),
    ("ppo: {n_envs: 2}\n", "cp.yaml: 'ppo' is neither a field nor a variant (a variant is a mapping with an "
                           "algo_id or an inherits key)"),
    ("ppo: {algo_id: ppo, inherits: [a, b]}\n", "variant 'ppo': inherits must name one variant, got ['a', 'b']"),
])
def test_only_mappings_with_algo_id_or_inherits_are_variants(tmp_path, text, expected):
    write(tmp_path, "cp", "env_id: CartPole-v1\n" + text)
    assert expected in error_of(load_config, "cp", "ppo", config_dir=tmp_path)


@pytest.mark.parametrize("field, value, expected", [
    ("policy_lr", -0.001, "policy_lr must be > 0, got -0.001"),
    ("policy_lr", "lin_0", "policy_lr must be > 0, got 'lin_0'"),
    ("clip_range", 0, "clip_range must be > 0, got 0.0"),
    ("ent_coef", -0.1, "ent_coef must be >= 0, got -0.1"),
    ("gamma", 0, "gamma must be in (0, 1], got 0.0"),
    ("gamma", 1.01, "gamma must be in (0, 1], got 1.01"),
    ("gae_lambda", 1.5, "gae_lambda must be in [0, 1], got 1.5"),
    ("max_grad_norm", 0, "max_grad_norm must be > 0, got 0.0"),
    ("n_envs", 0, "n_envs must be >= 1, got 0"),
    ("n_steps", -1, "n_steps must be >= 1, got -1"),
    ("frame_stack", 0, "frame_stack must be >= 1, got 0"),
    ("eval_episodes", 0, "eval_episodes must be >= 1, got 0"),
    ("batch_size", 1.5, "batch_size must be an integer >= 1 or a fraction in (0, 1], got 1.5"),
    ("batch_size", 0, "batch_size must be an integer >= 1 or a fraction in (0, 1], got 0"),
])
def test_range_validation(field, value, expected):
    assert error_of(PPOConfig, env_id="CartPole-v1", **{field: value}) == expected


def test_a_validation_error_names_the_overrides_it_involves(tmp_path):
    message = error_of(load_config, "CartPole-v1", "ppo", {"n_envs": 2, "seed": 3})
    assert message.endswith("CartPole-v1.yaml, variant 'ppo' (overridden: n_envs=2): batch_size 256 "
                            "is larger than the rollout n_envs*n_steps = 2*32 = 64")


def test_batch_larger_than_rollout(tmp_path):
    write(tmp_path, "CartPole-v1",
          "env_id: CartPole-v1\nppo: {algo_id: ppo, n_envs: 8, n_steps: 32, batch_size: 512}\n")
    message = error_of(load_config, "CartPole-v1", "ppo", config_dir=tmp_path)
    assert message.endswith("variant 'ppo': batch_size 512 is larger than the rollout n_envs*n_steps = 8*32 = 256")


def test_linear_schedule_may_decay_to_zero_but_not_below():
    assert PPOConfig(env_id="x", clip_range="lin_0.2").schedule("clip_range")(1.0) == 0.0
    assert "clip_range must be > 0" in error_of(PPOConfig, env_id="x", clip_range="lin_0.2_-0.1")


# --- batch size ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_envs, n_steps, fraction, expected", [
    (8, 32, 0.5, 128), (8, 4, 0.001, 1), (8, 32, 1.0, 256), (10, 10, 0.29, 29),
])
def test_fractional_batch_size(n_envs, n_steps, fraction, expected):
    cfg = PPOConfig(env_id="x", n_envs=n_envs, n_steps=n_steps, batch_size=fraction)
    assert cfg.batch_size == expected and isinstance(cfg.batch_size, int)


def test_int_one_is_one_sample_float_one_is_whole_rollout():
    assert PPOConfig(env_id="x", n_envs=2, n_steps=4, batch_size=1).batch_size == 1
    assert PPOConfig(env_id="x", n_envs=2, n_steps=4, batch_size=1.0).batch_size == 8


def test_override_of_n_envs_changes_resolved_fractional_batch(config_dir):
    assert load(config_dir, "ppo").batch_size == 128
    cfg = load(config_dir, "ppo", n_envs="4")
    assert (cfg.n_envs, cfg.batch_size, cfg.rollout_size, cfg.n_minibatches) == (4, 64, 128, 2)


def test_n_minibatches_rounds_up():
    assert PPOConfig(env_id="x", n_envs=2, n_steps=50, batch_size=32).n_minibatches == 4


# --- overrides, round trip, ids --------------------------------------------------------------------------------


def test_overrides_apply_after_inheritance_and_are_coerced(config_dir):
    cfg = load(config_dir, "ppo_fast", policy_lr="lin_3e-4_1e-5", hidden_dims="128,128", eval_freq="0")
    assert (cfg.policy_lr, cfg.hidden_dims, cfg.eval_freq, cfg.n_envs) == ("lin_3e-4_1e-5", (128, 128), 0, 16)
    assert cfg.schedule("policy_lr")(1.0) == 1e-5


def test_unknown_override_suggests_dashed_name(config_dir):
    message = error_of(load, config_dir, "ppo", polcy_lr="0.1")
    assert message == "unknown override --polcy_lr (did you mean --policy_lr?)"


def test_bad_override_value_names_the_override(config_dir):
    assert error_of(load, config_dir, "ppo", n_envs="four") == "override --n_envs must be an integer, got 'four'"


def test_override_of_field_foreign_to_algo(config_dir):
    message = error_of(load, config_dir, "reinforce", clip_range="0.1")
    assert "field 'clip_range' does not apply to algo_id 'reinforce'" in message


def test_config_from_dict_round_trip_through_json(config_dir):
    for variant in ("ppo", "ppo_fast", "reinforce"):
        cfg = load(config_dir, variant)
        data = json.loads(json.dumps(cfg.to_dict()))
        assert data["hidden_dims"] == list(cfg.hidden_dims)
        assert config_from_dict(data) == cfg


def test_config_from_dict_is_strict():
    data = PPOConfig(env_id="x").to_dict()
    assert "unknown field 'polcy_lr' (did you mean 'policy_lr'?)" in error_of(config_from_dict, {**data, "polcy_lr": 1})
    assert "does not apply to algo_id 'reinforce'" in error_of(config_from_dict, {**data, "algo_id": "reinforce"})


def test_replace_config_revalidates(config_dir):
    cfg = load(config_dir, "ppo")
    changed = replace_config(cfg, {"n_steps": "64", "gamma": "0.9"})
    assert (changed.n_steps, changed.gamma, changed.batch_size, changed.policy_lr) == (64, 0.9, 128, "lin_0.001")
    assert cfg.n_steps == 32  # the original is untouched
    assert "batch_size 128 is larger than the rollout n_envs*n_steps = 2*32 = 64" in error_of(
        replace_config, cfg, {"n_envs": 2})
    assert "unknown override --n_env" in error_of(replace_config, cfg, {"n_env": 2})


def test_config_is_frozen():
    cfg = PPOConfig(env_id="x")
    with pytest.raises(AttributeError):
        cfg.n_envs = 2


def test_parse_config_id():
    assert parse_config_id("CartPole-v1:ppo") == ("CartPole-v1", "ppo")
    assert parse_config_id("ALE/Pong-v5:ppo_fast") == ("ALE/Pong-v5", "ppo_fast")
    for bad in ("CartPole-v1_ppo", "CartPole-v1:", ":ppo", ""):
        message = error_of(parse_config_id, bad)
        assert "'<env>:<variant>'" in message and "not supported" in message


def test_config_fields():
    assert {"clip_range", "returns_type", "policy_lr"} <= config_fields()
    assert "clip_range" in config_fields("ppo") and "returns_type" not in config_fields("ppo")
    assert "use_baseline" in config_fields("reinforce") and "clip_range" not in config_fields("reinforce")
    assert set(CONFIG_CLASSES) == {"ppo", "reinforce"}
    assert "algo_id must be one of ppo, reinforce" in error_of(config_fields, "dqn")


def test_importing_config_pulls_in_no_heavy_libraries():
    code = ("import sys, utils.config, utils.schedules; "
            "print(sorted(m for m in ('torch', 'gymnasium', 'pytorch_lightning', 'lightning', 'numpy') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("field, value, expected", [
    ("seed", 2**32, "seed must be <= 4,294,967,295, got 4,294,967,296"),
    ("seed", -1, "seed must be >= 0, got -1"),
    ("torch_threads", 100_000, "torch_threads must be <= 256, got 100,000"),
    ("n_envs", 10**6, "n_envs must be <= 4,096, got 1,000,000"),
    ("hidden_dims", [], "hidden_dims must be 1 to 32 layer sizes between 1 and 65536, got []"),
])
def test_upper_bounds(field, value, expected):
    assert error_of(PPOConfig, env_id="CartPole-v1", **{field: value}) == expected


def test_empty_env_id():
    assert error_of(PPOConfig, env_id=" ") == "env_id must not be empty"


def test_variant_cannot_be_overridden(config_dir):
    message = error_of(load_config, "CartPole-v1", "ppo", {"variant": "other"}, config_dir=config_dir)
    assert "--variant cannot be overridden" in message


@pytest.mark.parametrize("make_broken", [
    lambda d: (d / "Broken.yaml").write_bytes(b"\xff\xfe\x00not utf-8"),
    lambda d: (d / "Folder.yaml").mkdir(),
    lambda d: (d / "Deep.yaml").write_text("a: " + "[" * 1500 + "]" * 1500),
    lambda d: (d / "Scalar.yaml").write_text("just a string"),
])
def test_one_broken_file_does_not_break_the_others(config_dir, make_broken):
    make_broken(config_dir)
    assert load(config_dir, "ppo").env_id == "CartPole-v1"
    assert load_config("CartPole-v1", "ppo", config_dir=config_dir).config_id == "CartPole-v1:ppo"
    assert "CartPole-v1:ppo" in list_config_ids(config_dir)


@pytest.mark.parametrize("name, content, expected", [
    ("Broken", b"\xff\xfe\x00", "Broken.yaml: not a UTF-8 text file"),
    ("Deep", b"a: " + b"[" * 1500 + b"]" * 1500, "Deep.yaml: nested too deeply to be a config"),
])
def test_a_broken_file_asked_for_by_name_is_one_line(tmp_path, name, content, expected):
    (tmp_path / f"{name}.yaml").write_bytes(content)
    assert expected in error_of(load_config, name, "ppo", config_dir=tmp_path)


def test_list_configs_reports_broken_entries_beside_good_ones(config_dir):
    (config_dir / "Broken.yaml").write_text("env_id: [x\n")
    write(config_dir, "Bad", "env_id: CartPole-v1\nppo: {algo_id: ppo, n_envs: 0}\n")
    entries = {entry.config_id: entry for entry in list_configs(config_dir)}
    assert entries["CartPole-v1:ppo"].config.n_envs == 8
    assert "invalid YAML" in entries["Broken:*"].error
    assert "n_envs must be >= 1" in entries["Bad:ppo"].error


def test_slash_in_env_id_finds_the_dashed_file(tmp_path):
    write(tmp_path, "ALE-Pong-v5", "env_id: ALE/Pong-v5\nrgb_ppo: {algo_id: ppo, policy: cnn}\n")
    assert load_config("ALE/Pong-v5", "rgb_ppo", config_dir=tmp_path).project_id == "ALE-Pong-v5"
    assert load_config("ALE-Pong-v5", "rgb_ppo", config_dir=tmp_path).env_id == "ALE/Pong-v5"


def test_readme_field_table_is_generated_from_the_schema():
    from utils.config.reference import README, readme_block

    assert readme_block() in README.read_text(encoding="utf-8"), "run: python -m utils.config.reference --write"

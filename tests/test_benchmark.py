"""scripts/benchmark.py and its helpers: SB3 translation, statistics, tables, input errors."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import _bench_stats  # noqa: E402
import benchmark  # noqa: E402
from _bench_worker import EvalClock, make_row, run_config, sb3_ppo_kwargs  # noqa: E402
from reference_ppo import Hyperparams  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.errors import UserError  # noqa: E402

SB3_REASON = "needs the bench extra: pip install -e '.[bench]'"
NEEDS_SB3 = pytest.mark.skipif(importlib.util.find_spec("stable_baselines3") is None, reason=SB3_REASON)


@pytest.fixture(scope="module")
def cartpole():
    return load_config("CartPole-v1", "ppo")


def fake_row(side: str, seed: int, solved_at: int | None, train_sps: float, **extra) -> dict:
    row = {
        "side": side, "config_id": "CartPole-v1:ppo", "env_id": "CartPole-v1", "algo_id": "ppo", "seed": seed,
        "env_steps": solved_at or 100_000, "wall_s": 10.0, "eval_s": 1.0, "train_sps": train_sps,
        "sps": train_sps * 0.9, "solved": solved_at is not None, "solved_at_steps": solved_at,
        "solve_s": None if solved_at is None else solved_at / 5000, "final_eval_reward": 500.0,
        "peak_rss_mb": 400.0, "setup_s": 5.0,
    }
    return {**row, **extra}


# -- SB3 translation --------------------------------------------------------------------------------------
def test_sb3_kwargs_translate_cartpole(cartpole):
    kwargs = sb3_ppo_kwargs(cartpole)
    # SB3's progress_remaining goes 1 -> 0: lin_0.001 is 0.001 at the start and half of it midway.
    assert kwargs["learning_rate"](1.0) == pytest.approx(0.001)
    assert kwargs["learning_rate"](0.5) == pytest.approx(0.0005)
    assert kwargs["learning_rate"](0.0) == 0.0
    assert kwargs["clip_range"](1.0) == pytest.approx(0.2)
    assert kwargs["clip_range"](0.25) == pytest.approx(0.05)
    expected = {
        "n_steps": 32, "batch_size": 256, "n_epochs": 20, "gamma": 0.98, "gae_lambda": 0.8, "ent_coef": 0.0,
        "vf_coef": 0.5, "max_grad_norm": 0.5, "normalize_advantage": True, "target_kl": None,
        "clip_range_vf": None, "device": "cpu",
    }
    assert {key: kwargs[key] for key in expected} == expected
    policy_kwargs = kwargs["policy_kwargs"]
    assert policy_kwargs["net_arch"] == {"pi": [64, 64], "vf": [64, 64]}
    import torch

    assert policy_kwargs["activation_fn"] is torch.nn.Tanh
    assert policy_kwargs["optimizer_kwargs"] == {"eps": 1e-5, "weight_decay": 0.0}


def test_sb3_accepts_the_translation(cartpole):
    sb3 = pytest.importorskip("stable_baselines3", reason=SB3_REASON)
    from stable_baselines3.common.env_util import make_vec_env

    model = sb3.PPO("MlpPolicy", make_vec_env("CartPole-v1", 8), **sb3_ppo_kwargs(cartpole))
    assert model.n_envs * model.n_steps == 256
    assert model.clip_range(1.0) == pytest.approx(0.2)
    assert model.policy.optimizer.param_groups[0]["eps"] == 1e-5
    layers = model.policy.mlp_extractor.policy_net
    assert [layer.out_features for layer in layers if hasattr(layer, "out_features")] == [64, 64]


def test_sb3_kwargs_reject_what_sb3_cannot_do(cartpole):
    with pytest.raises(UserError, match="only PPO"):
        sb3_ppo_kwargs(load_config("CartPole-v1", "reinforce"))
    with pytest.raises(UserError, match="constant ent_coef"):
        sb3_ppo_kwargs(load_config("CartPole-v1", "ppo", {"ent_coef": "lin_0.01"}))


def test_reference_does_the_cartpole_config(cartpole):
    hp, config = Hyperparams(), cartpole
    assert (hp.n_envs, hp.n_steps, hp.batch_size, hp.n_epochs) == (
        config.n_envs, config.n_steps, config.batch_size, config.n_epochs)
    assert (hp.gamma, hp.gae_lambda, hp.max_grad_norm, hp.adam_eps) == (
        config.gamma, config.gae_lambda, config.max_grad_norm, config.optimizer_eps)
    assert config.policy_lr == f"lin_{hp.lr}" and config.clip_range == f"lin_{hp.clip_range}"
    assert (hp.eval_freq, hp.eval_episodes, hp.max_steps) == (config.eval_freq, config.eval_episodes,
                                                              config.max_timesteps)
    assert config.hidden_dims == (hp.hidden, hp.hidden) and config.activation == "tanh"
    assert config.schedule("ent_coef").start == 0.0 and config.schedule("vf_coef").start == hp.vf_coef


def test_measured_runs_record_no_videos(cartpole):
    # videos render in a background thread that competes for the CPU: no measured run may record them
    assert cartpole.video_freq == "best"
    config = run_config("CartPole-v1:ppo", {"seed": 7, "max_timesteps": 5000, "video_freq": "every_eval"})
    assert (config.video_freq, config.seed, config.max_timesteps) == ("off", 7, 5000)


# -- measurements and statistics --------------------------------------------------------------------------
def test_make_row_finds_the_first_eval_at_threshold(cartpole):
    clock = EvalClock(started=0.0, eval_s=2.0, history=[(5000, 100.0, 1.0), (10000, 480.0, 3.0), (15000, 490.0, 4.0)])
    row = make_row("ours", cartpole, 15000, 6.0, clock, 475.0)
    assert (row["solved"], row["solved_at_steps"], row["solve_s"]) == (True, 10000, 3.0)
    assert row["train_sps"] == pytest.approx(15000 / 4.0)
    assert row["sps"] == pytest.approx(15000 / 6.0)
    assert row["final_eval_reward"] == 490.0
    unsolved = make_row("ours", cartpole, 15000, 6.0, clock, 500.0)
    assert (unsolved["solved"], unsolved["solved_at_steps"], unsolved["solve_s"]) == (False, None, None)


def test_summarize_counts_unsolved_runs_as_never_reaching_the_threshold():
    rows = [fake_row("ours", 42, 20000, 4000.0), fake_row("ours", 43, None, 5000.0),
            fake_row("ours", 44, 30000, 6000.0)]
    summary = benchmark.summarize(rows)
    assert (summary["runs"], summary["solved"]) == (3, 2)
    assert summary["train_sps"] == 5000.0
    assert summary["solved_at_steps"] == 30000.0  # median of 20,000, 30,000 and never
    assert summary["solve_s"] == pytest.approx(6.0)
    # half the runs unsolved: the median is "never", shown as missing
    half = benchmark.summarize(rows[:2])
    assert half["solved_at_steps"] is None and half["solve_s"] is None


def test_ratios_are_ours_over_theirs_and_none_when_missing():
    ours = benchmark.summarize([fake_row("ours", 42, 20000, 6000.0)])
    theirs = benchmark.summarize([fake_row("sb3", 42, None, 2000.0)])
    ratio = benchmark.ratios(ours, theirs)
    assert ratio["train_sps"] == pytest.approx(3.0)
    assert ratio["solved_at_steps"] is None
    assert ratio["peak_rss_mb"] == pytest.approx(1.0)


def test_comparison_report_tables_and_json():
    history = [[5000, 100.0, 1.0], [10000, 300.0, 2.0]]
    rows = [fake_row("ours", 42, 20000, 6000.0, eval_history=history),
            fake_row("sb3", 42, 25000, 2000.0, eval_history=history),
            fake_row("ours", 43, 30000, 4000.0, eval_history=history),
            fake_row("sb3", 43, 15000, 3000.0, eval_history=[[5000, 200.0, 1.0]])]
    table, document = benchmark.report(rows, "sb3", {"CartPole-v1:ppo": [5000, 10000]})
    lines = table.splitlines()
    assert lines[0].split()[-3:] == ["ours", "sb3", "ours/sb3"]
    assert next(line for line in lines if line.startswith("solved")).split()[1:] == ["2/2", "2/2"]
    assert next(line for line in lines if line.startswith("train env steps/s")).split()[-3:] == [
        "5,000", "2,500", "2.00"]
    comparison = document["comparisons"][0]
    assert comparison["ratios"]["solved_at_steps"] == pytest.approx(25000 / 20000)
    parity = comparison["parity"]
    assert parity["solved"] == [2, 2] and parity["median_steps"] == [25000, 20000]
    assert parity["ratio"] == pytest.approx(1.25)
    assert parity["curves"] == [[100.0, 300.0], [150.0, 250.0]]  # sb3 seed 43 stopped: keeps its last eval
    parity_line = lines[next(i for i, line in enumerate(lines) if line.startswith("config ")) + 2]
    assert parity_line.split()[1:6] == ["2/2", "2/2", "25,000", "20,000", "1.25"]
    curve_lines = lines[-2:]
    assert curve_lines[0].split() == ["ours", "100.0", "300.0"]
    assert curve_lines[1].split() == ["sb3", "150.0", "250.0"]
    assert len(document["runs"]) == 4 and len(document["summaries"]) == 2


def test_learning_report_has_one_row_per_config():
    rows = [fake_row("ours", 42, 20000, 6000.0), fake_row("ours", 43, 30000, 4000.0),
            fake_row("ours", 44, None, 4000.0)]
    table, document = benchmark.report(rows, None)
    assert table.splitlines()[2].split()[:4] == ["CartPole-v1", "ppo", "2/3", "30,000"]
    assert "comparisons" not in document


def test_plan_alternates_sides_per_seed(cartpole):
    plan = benchmark.make_plan([cartpole], 2, "sb3")
    assert [(side, seed) for side, _, seed in plan] == [("ours", 42), ("sb3", 42), ("ours", 43), ("sb3", 43)]
    plan = benchmark.make_plan([cartpole], [100, 105], None)
    assert [(side, seed) for side, _, seed in plan] == [("ours", 100), ("ours", 105)]
    plan = benchmark.make_plan([cartpole], [100, 105], None, devices=[1, 2])
    assert [(side, config.devices, config.accelerator, seed) for side, config, seed in plan] == [
        ("ours", 1, "cpu", 100), ("ours", 2, "cpu", 100), ("ours", 1, "cpu", 105), ("ours", 2, "cpu", 105)]


def test_learning_report_shows_each_count_of_processes_with_its_throughput():
    rows = [fake_row("ours", 42, 20000, 6000.0, processes=1), fake_row("ours x2", 42, 20000, 9000.0, processes=2)]
    table, _ = benchmark.report(rows, None)
    assert [line.split()[-2:] for line in table.splitlines()[2:]] == [["1", "6,000"], ["2", "9,000"]]


def test_more_processes_than_cores_is_refused_before_any_run(capsys):
    assert benchmark.main(["CartPole-v1:ppo", "--devices", f"1,{len(os.sched_getaffinity(0)) + 1}"]) == 2
    assert "on the CPU: this machine gives this process" in capsys.readouterr().err


def test_median_ratio_ci_brackets_the_ratio_and_narrows_with_more_seeds():
    rng = np.random.default_rng(0)
    ours, theirs = rng.normal(25, 3, 10), rng.normal(20, 3, 10)
    ratio, low, high = _bench_stats.median_ratio_ci(list(ours), list(theirs))
    assert ratio == pytest.approx(np.median(ours) / np.median(theirs))
    assert low < ratio < high and low > 1.0  # a 25% gap at this spread is resolved by 10 seeds
    _, low40, high40 = _bench_stats.median_ratio_ci(list(rng.normal(25, 3, 40)), list(rng.normal(20, 3, 40)))
    assert high40 - low40 < high - low
    # identical samples: ratio 1, and the interval straddles it
    same = [10.0, 12.0, 14.0, 16.0, 18.0]
    ratio, low, high = _bench_stats.median_ratio_ci(same, same)
    assert ratio == 1.0 and low < 1.0 < high


def test_median_ratio_ci_with_unsolved_runs():
    inf = float("inf")
    ratio, low, high = _bench_stats.median_ratio_ci([10.0, 20.0, inf], [10.0, 10.0, 10.0])
    assert ratio == 2.0 and high == inf and low == 1.0


def test_eval_at_takes_the_first_evaluation_at_or_past_the_point():
    history = [[5120, 100.0, 1.0], [10240, 200.0, 2.0], [15104, 480.0, 3.0]]
    assert _bench_stats.eval_at(history, 5000) == 100.0
    assert _bench_stats.eval_at(history, 10240) == 200.0
    assert _bench_stats.eval_at(history, 12000) == 480.0
    assert _bench_stats.eval_at(history, 50000) == 480.0  # stopped at the threshold: keeps its last evaluation
    assert _bench_stats.eval_at([], 5000) is None


def test_default_checkpoints_double_from_eval_freq_within_the_budget(cartpole):
    assert benchmark.default_checkpoints(cartpole) == [5000, 10000, 20000, 40000, 80000]
    short = load_config("CartPole-v1", "ppo", {"max_timesteps": 12000})
    assert benchmark.default_checkpoints(short) == [5000, 10000]


@pytest.mark.parametrize(
    "text, seeds",
    [("100-109", list(range(100, 110))), ("100,101,105", [100, 101, 105]), ("7", [7]),
     ("100-102, 107", [100, 101, 102, 107]), ("5-5", [5])],
)
def test_seed_list_parsing(text, seeds):
    assert benchmark.seed_list(text) == seeds


@pytest.mark.parametrize(
    "text, message",
    [("109-100", "runs backwards"), ("a-b", "expected seeds"), ("", "expected seeds"), ("100,", "expected seeds"),
     ("-5", "expected seeds"), ("100-", "expected seeds"), ("1.5", "expected seeds"),
     ("100-102,101", "listed twice")],
)
def test_seed_list_rejects_bad_values(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        benchmark.seed_list(text)


# -- command line -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["Nope-v0:ppo"], "unknown config"),
        (["CartPole-v1"], "must have the form"),
        pytest.param(["CartPole-v1:reinforce", "--vs", "sb3"], "only PPO", marks=NEEDS_SB3),
        (["Acrobot-v1:ppo", "--vs", "reference"], "only implements CartPole-v1:ppo"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert benchmark.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["CartPole-v1:ppo", "--seeds", "0"], ["CartPole-v1:ppo", "--vs", "cleanrl"], [],
    ["CartPole-v1:ppo", "--seed-list", "109-100"], ["CartPole-v1:ppo", "--seed-list", ""],
    ["CartPole-v1:ppo", "--seed-list", "a-b"], ["CartPole-v1:ppo", "--seeds", "3", "--seed-list", "1-3"],
    ["CartPole-v1:ppo", "--eval-freq", "0"], ["CartPole-v1:ppo", "--checkpoints", "5000,x"],
    ["CartPole-v1:ppo", "--vs", "sb3", "--devices", "1,2"], ["CartPole-v1:ppo", "--devices", "0"],
    ["CartPole-v1:ppo", "--seed-list", "1-99999999"], ["CartPole-v1:ppo", "--seed-list", "4294967296"],
    ["CartPole-v1:ppo", "--seeds", "100000"], ["CartPole-v1:ppo", "--json", "/sys/bench.json"],
    ["CartPole-v1:ppo", "--max_steps", "100"], [], ["CartPole-v1:ppo", "--report", "x.json"],
])
def test_bad_arguments_exit_2(argv, capsys):
    assert benchmark.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.slow
def test_end_to_end_against_sb3(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bench.json"
    assert benchmark.main(["CartPole-v1:ppo", "--vs", "sb3", "--seed-list", "7", "--max-steps", "5120",
                           "--eval-freq", "2048", "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert [(row["side"], row["seed"]) for row in document["runs"]] == [("ours", 7), ("sb3", 7)]
    assert document["seeds"] == [7]
    ours, sb3 = document["runs"]
    # SB3 is evaluated where we are: after the first update at or past each 2,048 steps, and at the end
    assert [s for s, *_ in sb3["eval_history"]] == [2048, 4096, 5120]
    assert len(ours["eval_history"]) == 3 and ours["eval_history"][-1][0] == ours["env_steps"] >= 5120
    assert "ours/sb3 [95% CI]" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [out]  # the runs went to temporary folders


# -- saved runs -------------------------------------------------------------------------------------------
@NEEDS_SB3  # --vs sb3 is refused up front without SB3
def test_json_keeps_the_finished_runs_of_an_interrupted_benchmark_and_report_merges_files(tmp_path, monkeypatch,
                                                                                           capsys):
    finished = iter([fake_row("ours", 1, 20_000, 9000.0, eval_history=[[20_000, 500.0, 1.0]]),
                     fake_row("sb3", 1, 25_000, 6000.0, eval_history=[[25_000, 500.0, 2.0]])])

    def run_child(side, config, seed):
        row = next(finished, None)
        if row is None:
            raise benchmark.BenchmarkError("the machine went away")
        return row

    monkeypatch.setattr(benchmark, "run_child", run_child)
    first = tmp_path / "first.json"
    assert benchmark.main(["CartPole-v1:ppo", "--vs", "sb3", "--seed-list", "1-2", "--json", str(first)]) == 1
    saved = json.loads(first.read_text())
    assert saved["complete"] is False and [(r["side"], r["seed"]) for r in saved["runs"]] == [("ours", 1), ("sb3", 1)]
    assert saved["max_steps"] == {"CartPole-v1:ppo": 100_000} and saved["vs"] == "sb3"

    second = tmp_path / "second.json"
    second.write_text(json.dumps({**saved, "runs": [fake_row("ours", 2, 30_000, 9000.0, eval_history=[]),
                                                    fake_row("sb3", 2, 35_000, 6000.0, eval_history=[])]}))
    capsys.readouterr()
    merged = tmp_path / "merged.json"
    assert benchmark.main(["--report", str(first), str(second), "--json", str(merged)]) == 0
    out = capsys.readouterr().out
    assert "ours/sb3 [95% CI]" in out
    document = json.loads(merged.read_text())
    assert document["complete"] is True and len(document["runs"]) == 4
    ours, sb3 = (s for s in document["summaries"] if s["config_id"] == "CartPole-v1:ppo")
    assert (ours["solved_at_steps"], sb3["solved_at_steps"]) == (25_000, 30_000)  # medians over both files


@pytest.mark.parametrize("content, expected", [
    ("{", "not a benchmark --json file"),
    (json.dumps({"vs": None, "max_steps": {}, "runs": []}), "the files hold no runs"),
    (json.dumps({"vs": "sb3", "max_steps": {"CartPole-v1:ppo": 100_000},
                 "runs": [fake_row("ours", 1, 20_000, 9000.0, eval_history=[])]}), "CartPole-v1:ppo has no sb3 runs"),
])
def test_report_of_a_bad_file_is_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / "bench.json"
    path.write_text(content)
    assert benchmark.main(["--report", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]

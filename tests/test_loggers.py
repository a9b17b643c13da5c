"""Console table, CSV/TensorBoard loggers, summary, session log and plot script: real values, real files."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from loggers import build_loggers
from loggers.console_table import ConsoleTableLogger, delta_style, value_style
from loggers.csv_logger import CsvMetricsLogger
from loggers.metrics_spec import load_metrics_spec
from loggers.plots import plot_learning_curve
from loggers.session_log import log_checkpoint_load, session_log
from loggers.sparkline import sparkline
from loggers.summary import print_summary, summary_line

REPO = Path(__file__).resolve().parent.parent
SPEC = load_metrics_spec()


def table(**kwargs) -> ConsoleTableLogger:
    """A plain-mode table that prints only on eval results and at finalize."""
    defaults = dict(total_env_steps=10_000, reward_threshold=475.0, title="CartPole-v1:ppo", live=False, plain_every_s=1e9)
    return ConsoleTableLogger(**{**defaults, **kwargs})


def render_text(logger: ConsoleTableLogger, width: int = 100) -> str:
    console = Console(width=300, file=io.StringIO(), color_system=None)  # wide: any overflow would show
    console.print(logger.render(width=width))
    return console.file.getvalue()


# -- sparkline -------------------------------------------------------------------------------------
def test_sparkline_known_series():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([8, 1]) == "█▁"


def test_sparkline_constant_nan_and_empty():
    assert sparkline([5.0, 5.0, 5.0]) == "▄▄▄"
    assert sparkline([1.0, math.nan, 3.0]) == "▁ █"
    assert sparkline([math.nan, math.inf]) == "  "
    assert sparkline([]) == ""


def test_sparkline_long_series_is_bucket_averaged_to_width():
    # 16 values into 8 buckets of 2: means 1.5, 3.5, ... 15.5 -> evenly spaced
    assert sparkline(list(range(1, 17)), width=8) == "▁▂▃▄▅▆▇█"
    assert sparkline([1, 5, 8], width=8) == "▁▅█"


# -- styles ----------------------------------------------------------------------------------------
def test_value_style_out_of_bounds_is_yellow_and_best_is_blue():
    assert value_style(SPEC["train/approx_kl"], 0.08) == "bold yellow"
    assert value_style(SPEC["train/approx_kl"], 0.01) == ""
    assert value_style(SPEC["train/entropy"], 0.001) == "bold yellow"
    assert value_style(SPEC["train/ep_rew_best"], 200.0) == "bold blue"
    assert value_style(SPEC["eval/ep_rew_best"], 500.0) == "bold blue"


def test_delta_style_follows_higher_is_better():
    assert delta_style(+1.0, True) == "green"
    assert delta_style(-1.0, True) == "red"
    assert delta_style(+1.0, False) == "red"
    assert delta_style(-1.0, False) == "green"
    assert delta_style(+1.0, None) == "dim"
    assert delta_style(0.0, True) == "dim"
    assert SPEC["train/ep_rew_mean"].higher_is_better is True
    assert SPEC["train/approx_kl"].higher_is_better is False


def test_spec_formats_and_unknown_metrics_get_defaults():
    assert SPEC["train/lr"].format(0.0003) == "0.000300"
    assert SPEC["train/approx_kl"].format(3e-7) == "3.00e-07"
    assert SPEC["time/episodes"].format(12345) == "12,345"
    unknown = SPEC["train/mystery"]
    assert (unknown.precision, unknown.show, unknown.min, unknown.max) == (3, True, None, None)
    assert unknown.format(1.23456) == "1.235"


def test_every_trainer_metric_is_documented():
    keys = """train/ep_rew_mean train/ep_rew_best train/ep_len_mean train/policy_loss train/value_loss
    train/entropy train/approx_kl train/clip_fraction train/explained_variance train/grad_norm train/lr
    train/clip_range train/ent_coef train/n_minibatches_done eval/ep_rew_mean eval/ep_rew_std eval/ep_len_mean
    eval/ep_rew_best eval/duration_s time/env_steps time/fps time/elapsed_s time/updates time/episodes
    time/grad_steps""".split()
    assert [k for k in keys if k not in SPEC.keys() or not SPEC[k].description] == []
    assert (SPEC["train/approx_kl"].max, SPEC["train/clip_fraction"].max) == (0.05, 0.5)
    assert (SPEC["train/entropy"].min, SPEC["train/explained_variance"].min) == (0.01, -1)


def test_unknown_yaml_field_is_an_error(tmp_path):
    path = tmp_path / "metrics.yaml"
    path.write_text("metrics:\n  train/x:\n    precison: 2\n")
    with pytest.raises(ValueError, match="precison"):
        load_metrics_spec(path)


# -- console table ---------------------------------------------------------------------------------
def test_out_of_bounds_warning_printed_once_per_metric(capsys):
    logger = table()
    for step in range(1, 6):
        logger.log_metrics({"train/approx_kl": 0.08, "train/entropy": 0.001, "train/ep_rew_mean": 10.0}, step=step * 100)
    out = capsys.readouterr().out
    assert out.count("train/approx_kl = 0.0800 is outside its bound (max 0.05)") == 1
    assert out.count("train/entropy = 0.0010 is outside its bound (min 0.01)") == 1
    assert out.count("⚠") == 2
    assert "0.0800!" in render_text(logger)


def test_table_rows_values_deltas_and_grouping():
    logger = table()
    logger.log_metrics({"train/ep_rew_mean": 10.0, "train/approx_kl": 0.02, "time/fps": 1000, "train/mystery": 1}, step=256)
    logger.log_metrics({"train/ep_rew_mean": 12.5, "train/approx_kl": 0.01, "time/fps": 900, "train/mystery": 1}, step=512)
    lines = render_text(logger).splitlines()
    row = next(line for line in lines if "ep_rew_mean" in line and "train" in line)
    assert "12.50" in row and "▲ 2.50" in row and "▁█" in row
    assert "▼ 0.0100" in next(line for line in lines if "approx_kl" in line)
    assert "1.000" in next(line for line in lines if "mystery" in line)
    names = [line.split("│")[2].strip() for line in lines if line.count("│") > 4]
    # spec order inside train/, reserved eval rows, then time/
    assert names[:4] == ["metric", "ep_rew_mean", "approx_kl", "mystery"]
    assert names.index("duration_s") < names.index("fps")
    text = "\n".join(lines)
    assert "512 / 10,000 env steps (5%)" in text and "env_steps" not in text  # hidden: shown in the footer


def test_rendered_table_fits_100_columns():
    logger = table()
    metrics = {key: 123456.789 for key in SPEC.keys()}
    metrics["train/an_unusually_long_metric_name_from_a_plugin"] = 1e9
    for step in range(300):
        logger.log_metrics({k: v + step for k, v in metrics.items()}, step=step * 1_000_000)
    for width in (100, 80):
        widths = [len(line) for line in render_text(logger, width).splitlines()]
        assert max(widths) <= width
        assert len(widths) > 30


def test_non_tty_appends_plain_blocks_without_cursor_codes(capsys):
    logger = table(live=None)  # capsys's stdout is no terminal
    logger.log_metrics({"train/ep_rew_mean": 1.0}, step=100)
    assert capsys.readouterr().out == ""  # rate limited: not an eval result, 30 s not passed
    logger.log_metrics({"train/ep_rew_mean": 2.0, "eval/ep_rew_mean": 480.0}, step=200)
    logger.log_metrics({"train/ep_rew_mean": 3.0}, step=300)
    logger.finalize("success")
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out.count("CartPole-v1:ppo") == 2  # one block for the eval result, one final
    assert "480.00 ≥ 475 ✓ solved" in out
    assert out.count("ep_rew_std") == 0  # reserved eval rows the evaluation did not report are dropped
    assert out.rstrip().endswith("solved")
    logger.finalize("success")
    assert capsys.readouterr().out == ""  # nothing new: no extra block


def test_plain_blocks_are_rate_limited_in_time(capsys):
    logger = table(live=None, plain_every_s=0.05)
    logger.log_metrics({"train/ep_rew_mean": 1.0}, step=1)
    logger.log_metrics({"train/ep_rew_mean": 1.0}, step=2)
    time.sleep(0.06)
    logger.log_metrics({"train/ep_rew_mean": 1.0}, step=3)
    assert capsys.readouterr().out.count("CartPole-v1:ppo") == 1


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_mode_routes_prints_and_restores_streams(monkeypatch):
    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    excepthook = sys.excepthook
    logger = table(live=None, refresh_s=0.0)
    logger.log_metrics({"train/ep_rew_mean": 1.0}, step=100)
    assert sys.stdout is not terminal  # redirected through the live display
    print("a line printed mid-training")
    logger.log_metrics({"train/ep_rew_mean": 2.0}, step=200)
    assert sys.excepthook is not excepthook  # a crash ends the display before its traceback prints
    logger.finalize("success")
    assert sys.stdout is terminal and sys.excepthook is excepthook
    out = terminal.getvalue()
    assert "a line printed mid-training" in out
    assert "\x1b[" in out  # cursor moves / colours on a terminal
    assert "elapsed 0:00:00" in out.rstrip().splitlines()[-1]  # the final table is left at the bottom


def test_log_metrics_is_cheap_when_no_redraw_is_due():
    logger = table(live=None)
    metrics = {key: 0.5 for key in SPEC.keys() if not key.startswith("eval/")}
    logger.log_metrics(metrics, step=0)
    n = 2000
    start = time.perf_counter()
    for step in range(n):
        logger.log_metrics(metrics, step=step)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 300e-6  # typically ~15 us; a redraw per call would cost milliseconds


# -- CSV and TensorBoard -----------------------------------------------------------------------------
def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_csv_rows_flushed_and_header_widened_once(tmp_path):
    logger = CsvMetricsLogger(tmp_path)
    path = tmp_path / "logs" / "metrics.csv"
    logger.log_metrics({"train/a": 1.0, "train/b": 2.5}, step=256)
    logger.log_metrics({"train/a": 1.5, "train/b": 3.0}, step=512)
    assert read_csv(path) == [["env_steps", "train/a", "train/b"], ["256", "1.0", "2.5"], ["512", "1.5", "3.0"]]
    logger.log_metrics({"train/a": 2.0, "eval/r": 9.0}, step=768)  # new key; train/b missing
    logger.log_metrics({"train/a": 2.5, "train/b": 4.0}, step=1024)
    assert read_csv(path) == [
        ["env_steps", "train/a", "train/b", "eval/r"],
        ["256", "1.0", "2.5", ""],
        ["512", "1.5", "3.0", ""],
        ["768", "2.0", "", "9.0"],
        ["1024", "2.5", "4.0", ""],
    ]
    assert [p.name for p in path.parent.iterdir()] == ["metrics.csv"]  # no temp file left behind
    logger.finalize("success")
    CsvMetricsLogger(tmp_path).log_metrics({"train/a": 3.0}, step=1280)  # resumed run appends
    assert read_csv(path)[-1] == ["1280", "3.0", "", ""]


def test_csv_a_second_call_for_the_same_step_merges_into_its_row(tmp_path):
    # training's last update, then the final evaluation at the same env step: one row, not two
    logger = CsvMetricsLogger(tmp_path)
    path = tmp_path / "logs" / "metrics.csv"
    logger.log_metrics({"train/a": 1.0}, step=256)
    logger.log_metrics({"train/a": 2.0, "train/b": 5.0}, step=512)
    logger.log_metrics({"train/a": 2.0, "eval/r": 9.0}, step=512)  # widens the header too
    logger.log_metrics({"eval/r": 9.5}, step=512)
    assert read_csv(path) == [
        ["env_steps", "train/a", "train/b", "eval/r"],
        ["256", "1.0", "", ""],
        ["512", "2.0", "5.0", "9.5"],
    ]
    logger.log_metrics({"train/a": 3.0}, step=768)
    assert read_csv(path)[-1] == ["768", "3.0", "", ""] and len(read_csv(path)) == 4
    logger.finalize("success")


def test_build_loggers_and_tensorboard_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = {"env_id": "CartPole-v1", "algo_id": "ppo", "variant": "ppo", "max_timesteps": 1000, "reward_threshold": 475.0}
    assert [type(lg).__name__ for lg in build_loggers(tmp_path, config, quiet=True)] == [
        "CsvMetricsLogger",
        "TensorBoardMetricsLogger",
    ]
    loggers = build_loggers(tmp_path, config, quiet=False)
    console = loggers[-1]
    assert (console.title, console.total_env_steps, console.reward_threshold) == ("CartPole-v1:ppo", 1000, 475.0)
    tensorboard = loggers[1]
    for step in (100, 200):
        tensorboard.log_metrics({"train/ep_rew_mean": step / 10, "time/fps": 5.0}, step=step)
    tensorboard.finalize("success")
    events = EventAccumulator(str(tmp_path / "logs"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/ep_rew_mean")] == [(100, 10.0), (200, 20.0)]


# -- summary ---------------------------------------------------------------------------------------
RESULTS = {
    "config_id": "CartPole-v1:ppo",
    "env_id": "CartPole-v1",
    "algo_id": "ppo",
    "seed": 42,
    "run_id": "ab12cd34",
    "total_timesteps": 50_000,
    "wall_time_s": 9.81,
    "best_eval_reward": 500.0,
    "final_eval_reward": 500.0,
    "solved_at_timestep": 41_984,
    "reward_threshold": 475.0,
    "status": "solved",
}


def test_quiet_summary_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    print_summary(RESULTS, Path("runs/ab12cd34"), None, quiet=True)
    assert capsys.readouterr().out == (
        "CartPole-v1:ppo solved at 41,984 steps | best eval 500.0 | final eval 500.0 | 9.8 s | runs/ab12cd34\n"
    )
    interrupted = {**RESULTS, "solved_at_timestep": None, "status": "interrupted", "best_eval_reward": None, "wall_time_s": 3725}
    assert summary_line(interrupted, Path("runs/x")) == (
        "CartPole-v1:ppo interrupted at 50,000 steps | best eval n/a | final eval 500.0 | 1h 02m 05s | runs/x"
    )
    unsolved = {**RESULTS, "solved_at_timestep": None, "status": "completed"}
    assert summary_line(unsolved, Path("runs/x")).startswith("CartPole-v1:ppo not solved in 50,000 steps |")


def test_full_summary_reads_history_from_csv(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_dir = Path("runs/ab12cd34")
    logger = CsvMetricsLogger(run_dir)
    for i in range(8):
        logger.log_metrics({"train/ep_rew_mean": float(i + 1)}, step=(i + 1) * 100)
    logger.finalize("success")
    (run_dir / "learning_curve.png").write_bytes(b"")
    print_summary(RESULTS, run_dir, None, quiet=False)
    out = capsys.readouterr().out
    for expected in (
        "solved at 41,984 steps (threshold 475)",
        "best 500.0 · final 500.0",
        "9.8 s for 50,000 env steps",
        "runs/ab12cd34/learning_curve.png",
        "python play.py --run-id ab12cd34",
        "train/ep_rew_mean  ▁▂▃▄▅▆▇█  1.00 → 8.00",
    ):
        assert expected in out, expected
    # commands are offered only for the entry points this checkout has
    repo = Path(__file__).resolve().parents[1]
    for script in ("inspector.py", "publish.py"):
        assert (f"python {script} --run-id ab12cd34" in out) == (repo / script).is_file()


# -- session log and checkpoint messages -------------------------------------------------------------
def test_session_log_tees_output_and_can_be_disabled(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBES_DISABLE_SESSION_LOGS", raising=False)
    with session_log("ab12cd34", {"env_id": "CartPole-v1", "n_envs": 8}) as path:
        print("hello from training")
        print("\x1b[33mcoloured\x1b[0m", file=sys.stderr)
    assert path.parent == Path("logs") and path.name.endswith("_ab12cd34.log")
    text = path.read_text()
    assert "session ab12cd34" in text and '"n_envs": 8' in text
    assert "hello from training\n" in text and "coloured\n" in text and "\x1b" not in text
    assert "hello from training" in capsys.readouterr().out  # still on the console

    monkeypatch.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
    stdout = sys.stdout
    with session_log("ef56", {}) as path:
        assert path is None and sys.stdout is stdout
    assert not list(Path("logs").glob("*_ef56.log"))


def test_session_log_records_the_exception(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBES_DISABLE_SESSION_LOGS", raising=False)
    with pytest.raises(RuntimeError):
        with session_log("boom", {}):
            raise RuntimeError("diverged")
    assert "RuntimeError: diverged" in next(Path("logs").glob("*_boom.log")).read_text()


@pytest.mark.parametrize("variable", ["VIBES_QUIET", "VIBES_DISABLE_CHECKPOINT_LOGS"])
def test_log_checkpoint_load_silenced(variable, monkeypatch, capsys):
    monkeypatch.delenv("VIBES_QUIET", raising=False)
    monkeypatch.delenv("VIBES_DISABLE_CHECKPOINT_LOGS", raising=False)
    log_checkpoint_load("loaded runs/x/checkpoints/best.ckpt")
    assert capsys.readouterr().out == "loaded runs/x/checkpoints/best.ckpt\n"
    monkeypatch.setenv(variable, "1")
    log_checkpoint_load("loaded runs/x/checkpoints/best.ckpt")
    assert capsys.readouterr().out == ""


# -- plots -----------------------------------------------------------------------------------------
def test_plot_learning_curve_writes_png(tmp_path):
    logger = CsvMetricsLogger(tmp_path)
    for i in range(10):
        metrics = {"train/ep_rew_mean": 20.0 * i}
        if i % 3 == 2:
            metrics.update({"eval/ep_rew_mean": 25.0 * i, "eval/ep_rew_std": 5.0})
        logger.log_metrics(metrics, step=(i + 1) * 256)
    logger.finalize("success")
    (tmp_path / "results.json").write_text('{"reward_threshold": 150.0, "config_id": "CartPole-v1:ppo"}')
    path = plot_learning_curve(tmp_path)
    data = path.read_bytes()
    assert path == tmp_path / "learning_curve.png"
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (800, 450)


def test_plot_run_bad_run_id_exits_2_with_one_line(tmp_path):
    (tmp_path / "runs").mkdir()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "plot_run.py"), "nosuchrun"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "nosuchrun" in result.stderr and "Traceback" not in result.stderr


def test_importing_loggers_and_plots_stays_light():
    code = "import sys, loggers, loggers.plots, loggers.summary; print(sorted(m for m in ('matplotlib', 'pytorch_lightning', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

"""scripts/env_throughput.py: its table (one row per config, precision and thread count) and its input errors."""

from __future__ import annotations

import pytest

from cli_helpers import one_error_line, run_script

SCRIPT = "scripts/env_throughput.py"


def test_one_row_per_precision_with_a_collection_ratio(tmp_path):
    result = run_script(SCRIPT, "CartPole-v1:ppo", "--precision", "32", "bf16", "--rounds", "1", "--rollouts", "1",
                        "--n-envs", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, rule, *rows = result.stdout.strip().splitlines()
    assert header.split()[:6] == ["config", "n_envs", "threads", "device", "precision", "vector"]
    assert [row.split()[:5] for row in rows] == [["CartPole-v1:ppo", "2", "1", "cpu", "32-true"],
                                                 ["CartPole-v1:ppo", "2", "1", "cpu", "bf16-mixed"]]
    for row in rows:
        raw, collect, ratio = (float(cell.replace(",", "")) for cell in row.split()[6:9])
        assert raw > 0 and collect > 0 and ratio == pytest.approx(collect / raw, abs=0.006)
    assert list(tmp_path.iterdir()) == []  # it measures; it writes nothing


@pytest.mark.parametrize("args, expected", [
    (["CartPole-v1:ppo", "--precision", "fp8"], "--precision must be one of 32-true, bf16-mixed; got 'fp8'"),
    (["CartPole-v1:ppo", "--rounds", "0"], "--rounds must be at least 1"),
    (["CartPole-v1:ppo", "--n-envs", "0"], "--n-envs must be at least 1"),
    (["Nope-v0:ppo"], "Nope-v0"),
    (["CartPole-v1:ppo", "--accelerator", "tpu"], "invalid choice: 'tpu'"),
    (["CartPole-v1:ppo", "--precision"], "--precision: expected at least one argument"),
])
def test_bad_input_is_one_error_line(tmp_path, args, expected):
    one_error_line(run_script(SCRIPT, *args, cwd=tmp_path), expected=expected)

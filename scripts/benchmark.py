#!/usr/bin/env python
"""Benchmark this project's agents: learning speed, and sample efficiency and speed against SB3 or a
pure-PyTorch reference.

    python scripts/benchmark.py CartPole-v1:ppo Acrobot-v1:ppo --seed-list 100-109
    python scripts/benchmark.py CartPole-v1:ppo --vs sb3 --seed-list 100-119 --json bench.json
    python scripts/benchmark.py CartPole-v1:ppo --vs reference --seeds 3
    python scripts/benchmark.py CartPole-v1:ppo LunarLander-v3:ppo --devices 1,2 --max-steps 100000
    python scripts/benchmark.py --report part1.json part2.json     # the tables of runs saved by --json

Every run is a fresh child process (scripts/_bench_worker.py) in a temporary folder, so its wall time
and peak RSS are its own and no run folders are left behind. Seeds are ``--seed-list`` (``100-109``,
``100,101,105``) or the config's seed + 0..N-1 (``--seeds N``). With ``--vs``, runs alternate (ours,
theirs, ours, theirs, ...) so that drift in machine load hits both sides alike, both sides are evaluated
at the same env steps, and a parity table gives the median ratio of steps to threshold with a bootstrap
confidence interval, and the mean eval reward at fixed env steps (the learning curve).

Medians are over seeds. A run that never reaches the threshold counts as never ("to threshold" is
infinite), so those medians show "-" when half the runs or more did not solve.

``--devices 1,2`` measures data-parallel scaling: each config and seed trains once per count of CPU
training processes (``--devices N --accelerator cpu``), alternating counts, and the table shows the env
steps per second of each count (side ``ours xN``).

``--json`` rewrites its file after every run, so an interrupted benchmark keeps the runs it finished;
``--report`` prints the tables of one or more such files (e.g. seeds split over several machines).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "_bench_worker.py"
sys.path.insert(0, str(REPO_ROOT))

from _bench_stats import curve, median, median_ratio_ci, to_threshold  # noqa: E402  (this folder is on sys.path)
from _bench_worker import sb3_ppo_kwargs  # noqa: E402
from utils.cli import ArgumentParser, exit_with  # noqa: E402  (needs the repo on sys.path)
from utils.config import Config, load_config, parse_config_id, replace_config  # noqa: E402
from utils.config.schema import MAX_SEED  # noqa: E402
from utils.distributed import resolve_placement  # noqa: E402
from utils.errors import UserError  # noqa: E402
from utils.runs import atomic_write_text, check_writable  # noqa: E402

REFERENCE_CONFIG_ID = "CartPole-v1:ppo"  # the only config scripts/reference_ppo.py reproduces
DEFAULT_SEEDS = 3
#: more runs per config and side than anyone waits for: a typo (1-99999999)
MAX_RUNS = 1000
CHECKPOINT_MULTIPLES = (1, 2, 4, 8, 16)  # default learning-curve points, in units of eval_freq
THRESHOLD_KEYS = ("solved_at_steps", "solve_s")  # "to threshold" metrics: unsolved runs count as infinite

#: (row key, label, decimals) of the per-side medians, in table order
METRICS: tuple[tuple[str, str, int], ...] = (
    ("train_sps", "train env steps/s (no eval)", 0),
    ("sps", "env steps/s incl. eval", 0),
    ("solved_at_steps", "env steps to threshold", 0),
    ("solve_s", "wall s to threshold", 2),
    ("final_eval_reward", "final eval reward", 1),
    ("wall_s", "wall s", 2),
    ("eval_s", "eval s", 2),
    ("peak_rss_mb", "peak RSS MB", 0),
    ("setup_s", "start-up s (imports, build)", 2),
)


class BenchmarkError(Exception):
    """A child run failed; the message carries the end of its output."""


# -- running ----------------------------------------------------------------------------------------------
def run_child(side: str, config: Config, seed: int) -> dict[str, Any]:
    """One run in a fresh process whose working directory is a temporary folder; returns its row."""
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        out = Path(tmp) / "row.json"
        overrides = {"seed": seed, "max_timesteps": config.max_timesteps, "eval_freq": config.eval_freq,
                     "devices": config.devices, "accelerator": config.accelerator}
        command = [sys.executable, str(WORKER), side, config.config_id, json.dumps(overrides), str(out)]
        proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BenchmarkError(f"{side} run of {config.config_id} (seed {seed}) failed "
                                 f"with exit {proc.returncode}:\n{tail}")
        return json.loads(out.read_text())


def describe(row: dict[str, Any]) -> str:
    """A one-line progress report of a finished run."""
    outcome = (f"solved at {row['solved_at_steps']:,} steps, {row['solve_s']:.1f} s" if row["solved"]
               else f"not solved, final eval {row['final_eval_reward']}")
    return (f"{row['side']:>9} {row['config_id']} seed {row['seed']}: {outcome}; "
            f"{row['train_sps']:,.0f} train steps/s, {row['peak_rss_mb']:.0f} MB")


def make_plan(configs: list[Config], seeds: int | list[int], vs: str | None,
              devices: list[int] | None = None) -> list[tuple[str, Config, int]]:
    """``(side, config, seed)`` in run order: per config and seed, ours then theirs; or with ``devices``, ours
    with each count of CPU training processes in turn.

    ``seeds`` is an explicit list, or a count N meaning each config's seed + 0..N-1.
    """
    def seeds_of(config: Config) -> list[int]:
        return seeds if isinstance(seeds, list) else [config.seed + i for i in range(seeds)]

    def variants(config: Config) -> list[tuple[str, Config]]:
        if devices:
            return [("ours", replace_config(config, {"devices": count, "accelerator": "cpu"})) for count in devices]
        return [(side, config) for side in (("ours", vs) if vs else ("ours",))]

    return [(side, variant, seed) for config in configs for seed in seeds_of(config)
            for side, variant in variants(config)]


def run_all(plan: list[tuple[str, Config, int]],
            on_row: Callable[[list[dict[str, Any]]], None] = lambda rows: None) -> list[dict[str, Any]]:
    """Run the plan in order, reporting each run as it finishes (and handing the rows so far to ``on_row``)."""
    rows = []
    for index, (side, config, seed) in enumerate(plan, 1):
        rows.append(run_child(side, config, seed))
        print(f"[{index}/{len(plan)}] {describe(rows[-1])}", flush=True)
        on_row(rows)
    return rows


# -- statistics -------------------------------------------------------------------------------------------
def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of one side's runs of one config, and how many of them reached the threshold."""
    first = rows[0]
    summary = {key: first[key] for key in ("side", "config_id", "env_id", "algo_id")}
    summary["processes"] = first.get("processes", 1)
    summary.update(runs=len(rows), solved=sum(bool(row["solved"]) for row in rows))
    summary.update({key: median(to_threshold(rows, key) if key in THRESHOLD_KEYS else [row[key] for row in rows])
                    for key, _, _ in METRICS})
    return summary


def default_checkpoints(config: Config) -> list[int]:
    """eval_freq x 1, 2, 4, 8, 16 within the budget (the budget itself when eval_freq is 0)."""
    if config.eval_freq <= 0:
        return [config.max_timesteps]
    return [config.eval_freq * m for m in CHECKPOINT_MULTIPLES if config.eval_freq * m <= config.max_timesteps]


def parity(ours_rows: list[dict[str, Any]], theirs_rows: list[dict[str, Any]],
           checkpoints: list[int]) -> dict[str, Any]:
    """Sample efficiency of one config side by side: solved counts, medians of steps to threshold, their
    ratio with a 95% bootstrap interval, and the learning curves at ``checkpoints``."""
    ours, theirs = to_threshold(ours_rows, "solved_at_steps"), to_threshold(theirs_rows, "solved_at_steps")
    ratio, low, high = median_ratio_ci(ours, theirs)
    return {
        "config_id": ours_rows[0]["config_id"],
        "runs": [len(ours_rows), len(theirs_rows)],
        "solved": [sum(r["solved"] for r in ours_rows), sum(r["solved"] for r in theirs_rows)],
        "median_steps": [median(ours), median(theirs)],
        "ratio": None if math.isnan(ratio) else ratio,
        "ratio_ci95": [None if math.isnan(v) else v for v in (low, high)],
        "checkpoints": checkpoints,
        "curves": [curve(ours_rows, checkpoints), curve(theirs_rows, checkpoints)],
    }


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float | None]:
    """ours / theirs for every metric; None where either median is missing or theirs is 0."""
    return {key: None if ours[key] is None or not theirs[key] else ours[key] / theirs[key] for key, _, _ in METRICS}


def group(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows by (config_id, side), in first-seen order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["config_id"], row["side"]), []).append(row)
    return groups


# -- output -----------------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return ("inf" if value > 0 else "-inf") if math.isinf(value) else f"{value:,.{digits}f}"


def format_table(headers: list[str], body: list[list[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(cells) for cells in body)])


def learning_table(summaries: list[dict[str, Any]]) -> str:
    headers = ["env", "algo", "solved", "steps to threshold", "s to threshold", "final eval reward", "wall s",
               "processes", "train env steps/s"]
    body = [
        [s["env_id"], s["algo_id"], f"{s['solved']}/{s['runs']}", fmt(s["solved_at_steps"], 0),
         fmt(s["solve_s"], 2), fmt(s["final_eval_reward"], 1), fmt(s["wall_s"], 2), str(s["processes"]),
         fmt(s["train_sps"], 0)]
        for s in summaries
    ]
    return format_table(headers, body)


def comparison_table(ours: dict[str, Any], theirs: dict[str, Any], ratio: dict[str, float | None]) -> str:
    """Medians side by side; the ratio column is ours / theirs (above 1: ours is the larger)."""
    other = theirs["side"]
    headers = [f"{ours['config_id']} (medians)", "ours", other, f"ours/{other}"]
    body = [["solved", f"{ours['solved']}/{ours['runs']}", f"{theirs['solved']}/{theirs['runs']}", ""]]
    body += [[label, fmt(ours[key], digits), fmt(theirs[key], digits), fmt(ratio[key], 2)]
             for key, label, digits in METRICS]
    return format_table(headers, body)


def parity_table(parities: list[dict[str, Any]], other: str) -> str:
    """Sample efficiency per config: solved counts, median steps to threshold, median ratio and 95% CI."""
    headers = ["config", "solved ours", f"solved {other}", "median steps ours", f"median steps {other}",
               f"ours/{other} [95% CI]"]
    body = []
    for p in parities:
        low, high = p["ratio_ci95"]
        ratio = "-" if p["ratio"] is None else f"{fmt(p['ratio'], 2)} [{fmt(low, 2)}, {fmt(high, 2)}]"
        body.append([p["config_id"], f"{p['solved'][0]}/{p['runs'][0]}", f"{p['solved'][1]}/{p['runs'][1]}",
                     fmt(p["median_steps"][0], 0), fmt(p["median_steps"][1], 0), ratio])
    return format_table(headers, body)


def curve_table(p: dict[str, Any], other: str) -> str:
    """Mean eval reward of each side at the checkpoints (first evaluation at or past each)."""
    headers = [f"{p['config_id']}: mean eval reward at", *(f"{c:,}" for c in p["checkpoints"])]
    body = [[side, *(fmt(v, 1) for v in values)] for side, values in zip(("ours", other), p["curves"])]
    return format_table(headers, body)


def report(rows: list[dict[str, Any]], vs: str | None,
           checkpoints: dict[str, list[int]] | None = None) -> tuple[str, dict[str, Any]]:
    """The printed tables and the JSON document for ``rows``; ``checkpoints`` per config id (the
    learning-curve points of a comparison, by default none)."""
    groups = group(rows)
    summaries = [summarize(group_rows) for group_rows in groups.values()]
    if not vs:
        return learning_table(summaries), {"runs": rows, "summaries": summaries}
    by_key = {(s["config_id"], s["side"]): s for s in summaries}
    tables, comparisons, parities = [], [], []
    for config_id in dict.fromkeys(row["config_id"] for row in rows):
        ours, theirs = by_key[(config_id, "ours")], by_key[(config_id, vs)]
        ratio = ratios(ours, theirs)
        tables.append(comparison_table(ours, theirs, ratio))
        points = (checkpoints or {}).get(config_id, [])
        parities.append(parity(groups[(config_id, "ours")], groups[(config_id, vs)], points))
        comparisons.append({"config_id": config_id, "vs": vs, "ratios": ratio, "parity": parities[-1]})
    tables.append(parity_table(parities, vs))
    tables.extend(curve_table(p, vs) for p in parities if p["checkpoints"])
    return "\n\n".join(tables), {"runs": rows, "summaries": summaries, "comparisons": comparisons}


# -- command line -----------------------------------------------------------------------------------------
def positive_int(text: str) -> int:
    try:
        value = int(float(text))  # accepts 1e5
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seed_list(text: str) -> list[int]:
    """Seeds from ``100-109`` (inclusive), ``100,101,105`` or a mix (``100-103,107``); each seed once."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first, last = (int(low), int(high)) if dash else (int(part), int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected seeds like 100-109 or 100,101,105 (non-negative integers), got {text!r}") from None
        if first > last:
            raise argparse.ArgumentTypeError(f"seed range {part!r} runs backwards: write {last}-{first}")
        if last > MAX_SEED:
            raise argparse.ArgumentTypeError(f"seeds go up to {MAX_SEED}, got {last} in {text!r}")
        if len(seeds) + last - first + 1 > MAX_RUNS:
            raise argparse.ArgumentTypeError(f"{text!r} lists more than {MAX_RUNS} seeds")
        seeds.extend(range(first, last + 1))
    duplicates = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if duplicates:
        raise argparse.ArgumentTypeError(f"seed {duplicates[0]} is listed twice in {text!r}")
    return seeds


def step_list(text: str) -> list[int]:
    """Env-step checkpoints: ``5000,10000,20000`` (``1e4`` accepted)."""
    return [positive_int(part) for part in text.split(",")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", metavar="CONFIG_ID", help="e.g. CartPole-v1:ppo")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=positive_int, metavar="N",
                       help="runs per config and side, seeds = the config's seed + 0..N-1 (default 3)")
    seeds.add_argument("--seed-list", type=seed_list, metavar="SEEDS",
                       help="explicit seeds: 100-109, 100,101,105 or 100-103,107")
    parser.add_argument("--max-steps", type=positive_int, help="env step budget (default: the config's)")
    parser.add_argument("--eval-freq", type=positive_int, metavar="STEPS",
                        help="evaluate every STEPS env steps (default: the config's eval_freq)")
    parser.add_argument("--checkpoints", type=step_list, metavar="STEPS",
                        help="with --vs: env steps of the learning-curve table, e.g. 5000,10000,20000 "
                             "(default: eval_freq x 1, 2, 4, 8, 16 within the budget)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write per-run rows and medians here (rewritten after every run)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="run nothing: print the tables of the runs saved in these --json files")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--vs", choices=("sb3", "reference"), help="compare with SB3 or scripts/reference_ppo.py")
    side.add_argument("--devices", type=step_list, metavar="COUNTS",
                      help="compare counts of CPU training processes (data-parallel), e.g. 1,2")
    args = parser.parse_strict(argv)
    if bool(args.configs) == bool(args.report):
        raise UserError("give config ids to run, or --report with saved --json files")
    if args.seeds is not None and args.seeds > MAX_RUNS:
        raise UserError(f"--seeds must be at most {MAX_RUNS}, got {args.seeds}")
    return args


def load_configs(args: argparse.Namespace) -> list[Config]:
    """The configs to run, checked up front so a bad id fails before any run starts."""
    overrides = {key: value for key, value in (("max_timesteps", args.max_steps), ("eval_freq", args.eval_freq))
                 if value is not None}
    configs = [load_config(*parse_config_id(config_id), overrides) for config_id in args.configs]
    for config in configs:  # each count of processes must fit this machine
        for count in args.devices or ():
            resolve_placement(replace_config(config, {"devices": count, "accelerator": "cpu"}))
    if args.vs == "sb3" and importlib.util.find_spec("stable_baselines3") is None:
        raise UserError("--vs sb3 needs stable-baselines3: pip install -e '.[bench]'")
    for config in configs:
        if args.vs == "sb3":
            sb3_ppo_kwargs(config)  # raises UserError for what SB3's PPO cannot do
        if args.vs == "reference" and config.config_id != REFERENCE_CONFIG_ID:
            raise UserError(f"--vs reference: the reference only implements {REFERENCE_CONFIG_ID}, "
                            f"not {config.config_id}")
    return configs


def load_saved_runs(paths: list[Path]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header (``vs``, ``max_steps``) and the runs of saved ``--json`` files, which must agree on ``vs``."""
    header: dict[str, Any] = {"max_steps": {}}
    rows: list[dict[str, Any]] = []
    for path in paths:
        try:
            document = json.loads(path.read_text())
            vs, runs, max_steps = document["vs"], document["runs"], document["max_steps"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"--report {path}: not a benchmark --json file ({type(exc).__name__}: {exc})") from None
        if header.setdefault("vs", vs) != vs:
            raise UserError(f"--report {path}: compares with {vs!r}, the files before it with {header['vs']!r}")
        header["max_steps"].update(max_steps)
        rows.extend(runs)
    if not rows:
        raise UserError("--report: the files hold no runs")
    return header, rows


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        if args.report:
            header, rows = load_saved_runs(args.report)
            configs = [load_config(*parse_config_id(config_id), {"max_timesteps": header["max_steps"][config_id]})
                       for config_id in dict.fromkeys(row["config_id"] for row in rows)]
        else:
            configs = load_configs(args)
            seeds = args.seed_list or args.seeds or DEFAULT_SEEDS
            header = {"vs": args.vs, "seeds": seeds,
                      "max_steps": {config.config_id: config.max_timesteps for config in configs}}
        if args.json:
            check_writable(args.json)  # before hours of runs, not after
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.report:
        def save(done: list[dict[str, Any]]) -> None:
            if args.json:
                atomic_write_text(args.json, json.dumps({**header, "complete": False, "runs": done}, indent=2) + "\n")

        try:
            rows = run_all(make_plan(configs, seeds, args.vs, args.devices), save)
        except BenchmarkError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    sides = {(row["config_id"], row["side"]) for row in rows}
    compared = ("ours", header["vs"]) if header["vs"] else ()
    missing = [f"{config.config_id} has no {side} runs" for config in configs for side in compared
               if (config.config_id, side) not in sides]
    if missing:  # saved runs of a comparison cut short
        print(f"error: --report: {'; '.join(missing)}", file=sys.stderr)
        return 2
    checkpoints = {config.config_id: args.checkpoints or default_checkpoints(config) for config in configs}
    table, document = report(rows, header["vs"], checkpoints)
    print(f"\n{table}")
    if args.json:
        atomic_write_text(args.json, json.dumps({**header, "complete": True, **document}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    exit_with(main)

#!/usr/bin/env python
"""Train an agent from a YAML config: ``python train.py CartPole-v1:ppo``.

Any config field can be overridden as ``--field value`` or ``--field=value`` (W&B sweep agents pass
hyperparameters this way). ``--resume RUN_ID`` continues a run with its saved config, plus overrides.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from utils.cli import ArgumentParser, exit_with, stop_signals_handled, stop_status
from utils.config import (
    Config,
    add_field_arguments,
    config_from_dict,
    field_overrides,
    load_config,
    normalize_option_names,
    parse_config_id,
    replace_config,
)
from utils.config.overrides import RENAMED_FIELDS
from utils.errors import UserError

DEFAULT_CONFIG_ID = "Bandit-v0:ppo"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        renamed={f"--{old}": f"--{new}" for old, (new, _) in RENAMED_FIELDS.items()},
        prog="train.py",
        usage="python train.py [ENV:VARIANT] [-q] [--max-steps N] [--resume RUN_ID] [--list] [--<field> VALUE ...]",
        description="Train a PPO/REINFORCE agent from config/environments/<env>.yaml.",
        epilog="examples:\n  python train.py CartPole-v1:ppo\n  python train.py CartPole-v1:ppo --policy_lr lin_3e-4 "
               "--n_envs=16 -q\n  python train.py --resume @latest-run --max-steps 200000",
    )
    parser.add_argument("config", nargs="?", metavar="ENV:VARIANT",
                        help=f"the config, e.g. CartPole-v1:ppo (default {DEFAULT_CONFIG_ID}; see --list)")
    parser.add_argument("--config_id", "--config-id", dest="config_id_flag", metavar="ENV:VARIANT",
                        help="same as the positional config")
    parser.add_argument("-q", "--quiet", action="store_true", help="no live table, one summary line at the end")
    parser.add_argument("--max-steps", "--max_steps", dest="max_steps", metavar="N",
                        help="training budget in env steps (same as --max_timesteps)")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue a run (its id or @latest-run) from last.ckpt")
    parser.add_argument("--list", action="store_true", help="list the shipped configs and exit")
    parser.add_argument("--wandb_sweep", "--wandb-sweep", action="store_true",
                        help="merge a W&B sweep's parameters over the config (automatic when WANDB_SWEEP_ID is set)")
    add_field_arguments(parser)
    return parser


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The script's own flags, and the config field overrides (any order, ``--f v`` or ``--f=v``)."""
    args = build_parser().parse_strict(normalize_option_names(list(sys.argv[1:] if argv is None else argv)))
    overrides = field_overrides(args)
    if args.max_steps is not None:
        if "max_timesteps" in overrides and str(overrides["max_timesteps"]) != args.max_steps:
            raise UserError(f"--max-steps {args.max_steps} and --max_timesteps {overrides['max_timesteps']} disagree")
        overrides["max_timesteps"] = args.max_steps
    if args.config and args.config_id_flag and args.config != args.config_id_flag:
        raise UserError(f"two configs given: '{args.config}' and --config_id '{args.config_id_flag}'")
    return args, overrides


def resolve_config(args: argparse.Namespace, overrides: dict[str, Any]) -> Config:
    """The config to train: the run's own (plus overrides) with --resume, else the named one; under a W&B
    sweep agent, the sweep's parameters are one more source of overrides (in data-parallel training the
    other ranks get them from the command line, where the agent passes them too)."""
    from loggers.wandb_run import sweep_overrides, sweep_requested

    from utils.distributed import started_as_other_rank

    config_id = args.config or args.config_id_flag
    if "" in (args.config, args.config_id_flag) or (config_id is not None and not config_id.strip()):
        raise UserError("an empty config id: give <env>:<variant>, e.g. CartPole-v1:ppo (train.py --list lists them)")
    if sweep_requested(args.wandb_sweep) and not started_as_other_rank():  # rank 0 alone joins the sweep
        if args.resume is not None:
            raise UserError("a W&B sweep run starts a new run: drop --resume")
        overrides = sweep_overrides(overrides, args.quiet)
    if args.resume is not None:
        from utils.runs import HF_PREFIX, resolve_run

        if args.resume.startswith(HF_PREFIX):
            raise UserError(f"--resume trains into a run folder of yours; {args.resume} is a published agent "
                            f"(play it with `python play.py --run-id {args.resume}`)")

        run = resolve_run(args.resume)
        saved = config_from_dict(run.load_config_dict())
        if config_id and config_id != saved.config_id:
            raise UserError(f"--resume continues run '{run.run_id}' with its own config {saved.config_id}; "
                            f"drop '{config_id}' or start a new run without --resume")
        return replace_config(saved, overrides)
    name, variant = parse_config_id(config_id or DEFAULT_CONFIG_ID)
    return load_config(name, variant, overrides)


def check_resume(config: Config, run_id: str) -> None:
    """Whether the run's last.ckpt can continue with ``config``: checked before Lightning loads (seconds
    sooner), and again, fully, when training starts."""
    from utils.environment import make_env_fn
    from utils.policies import build_policy, load_policy_weights
    from utils.runs import check_checkpoint_config, load_checkpoint, resolve_run

    path = resolve_run(run_id).checkpoint("last")
    state = load_checkpoint(path)
    check_checkpoint_config(state, config, f"checkpoint {path}")
    env = make_env_fn(config)()
    try:
        policy = build_policy(config, env.observation_space, env.action_space)
    finally:
        env.close()
    load_policy_weights(policy, state["policy"], f"checkpoint {path}")


class TrainingFailed(UserError):
    """Training started but could not go on (it diverged, or a run file could not be written): exit 1."""


ANOTHER_RANK = "a signal to another rank"  # results.json's stopped_by when a rank other than 0 was stopped


def run_results(run, config: Config, agent, record, threshold: float | None, status: str, wall_time_s: float) -> dict:
    """results.json's content: what a run achieved, for people and for scripts/benchmark.py."""
    return {
        "run_id": run.run_id,
        "config_id": config.config_id,
        "env_id": config.env_id,
        "algo_id": config.algo_id,
        "seed": config.seed,
        "status": status,
        "total_timesteps": agent.env_steps,
        "wall_time_s": round(wall_time_s, 3),
        "best_eval_reward": record.best_reward,
        "final_eval_reward": record.last_reward,
        "solved_at_timestep": record.solved_at_env_steps,
        "reward_threshold": threshold,
        "best_train_reward": agent.best_train_reward if agent.best_train_reward > float("-inf") else None,
        "eval_history": [list(item) for item in record.history],
        "world_size": config.world_size,
        **({"rank_state_sha256": agent.rank_digests} if agent.rank_digests else {}),
    }


def open_run(config: Config, agent, record, resume_run: str | None):
    """The run folder to train into, locked for this process: a new one, or ``resume_run`` with its
    last.ckpt loaded into ``agent`` and ``record`` (checked against the config before anything is written;
    the resumed run's config.json changes with its next last.ckpt)."""
    from loggers.session_log import log_checkpoint_load
    from utils.runs import RUNS_DIR, RunLock, create_run, load_checkpoint, point_latest, resolve_run

    if not resume_run:
        from loggers.wandb_run import wandb_run_id

        run = create_run(config.to_dict(), run_id=wandb_run_id(config, RUNS_DIR))
        return run, RunLock(run).acquire()
    run = resolve_run(resume_run)
    lock = RunLock(run).acquire()
    try:
        path = run.checkpoint("last")
        state = load_checkpoint(path)
        agent.load_training_state(state, source=f"checkpoint {path}")
        record.load_state_dict(state.get("eval", {}))
        point_latest(run)
    except BaseException:
        lock.release()
        raise
    log_checkpoint_load(f"resuming {path} at {agent.env_steps:,} env steps")
    return run, lock


def train(config: Config, *, quiet: bool = False, resume_run: str | None = None,
          relaunchable: bool = False) -> dict[str, Any] | None:
    """Train ``config`` in a new run folder (or continue ``resume_run``); returns results.json's content.

    With ``devices * num_nodes > 1`` this process is one rank of a data-parallel training: rank 0 does all
    of the above; any other rank trains alongside it, writes nothing and returns None. ``relaunchable``
    says that this process's command line is ``train.py`` with this training's arguments, which Lightning's
    launcher re-runs to start the other ranks on this machine.

    Raises TrainingFailed when training starts but cannot go on; the run keeps its last good checkpoint.
    """
    from utils.distributed import rank_seed, resolve_placement
    from utils.rank_processes import end_started_ranks, fit_other_rank, launch_rank, starts_ranks
    from utils.torch_runtime import configure_torch, cpu_has_bfloat16, seed_everything

    placement = resolve_placement(config)
    configure_torch(config.torch_threads)
    import logging
    import warnings

    from agents import build_agent
    from loggers import build_loggers
    from loggers.session_log import session_log
    from trainer_callbacks import (
        CheckpointCallback,
        EvalRecord,
        EvaluationCallback,
        GracefulInterruptCallback,
        MetricsLoggingCallback,
        VideoCallback,
    )
    from utils.environment import reward_threshold
    from utils.runs import check_runs_dir

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")

    with ExitStack() as cleanup:
        interrupt = GracefulInterruptCallback()
        interrupt.install()  # from here on a signal stops training cleanly, even before it starts
        cleanup.callback(interrupt.restore)
        trainer = build_trainer(config, placement, interrupt)
        rank = launch_rank(trainer)
        if rank == 0:
            check_runs_dir()  # before envs start: a broken runs/ folder is input to fix, not a failed run
            if starts_ranks(trainer) and not relaunchable:
                raise UserError(f"devices {config.devices}: the other training processes are started by re-running "
                                f"this process's command, which is not train.py with these arguments; run "
                                f"`python train.py ...` (or start each process with torchrun)")
        seed_everything(rank_seed(config.seed, rank))
        agent = build_agent(config, rank)
        cleanup.callback(agent.train_envs.close)  # stops worker processes and their engines (VizDoom, retro)
        interrupt.attach(agent)
        if rank != 0:
            interrupt.announce = False  # rank 0 says it
            fit_other_rank(trainer, agent, interrupt)
            return None
        record = EvalRecord()
        run, lock = open_run(config, agent, record, resume_run)
        cleanup.callback(lock.release)
        threshold = reward_threshold(config)
        config_dict = {**config.to_dict(), "reward_threshold": threshold, "run_id": run.run_id}
        trainer.loggers = build_loggers(run.dir, config_dict, quiet)
        trainer.callbacks.extend([
            EvaluationCallback(config, threshold, record),
            CheckpointCallback(run, record, config.checkpoint_every_updates),
            VideoCallback(config, run, record),  # after the evaluation, whose record it reads
            MetricsLoggingCallback(config.log_every_updates),
        ])
        with session_log(run.run_id, config_dict):
            if not quiet:
                mixed = config.precision != "32-true"
                print(placement.describe(config.n_envs) + (f", {config.precision} precision" if mixed else ""),
                      flush=True)
                if mixed and placement.accelerator == "cpu" and cpu_has_bfloat16() is False:
                    print("note: this CPU has no bfloat16 instructions (AVX512-BF16, AMX or Arm BF16): "
                          "bf16-mixed is emulated here, slower than 32-true", flush=True)
            try:
                results = fit(trainer, agent, run, config, record, threshold, interrupt)
            finally:
                end_started_ranks(trainer, failed=sys.exc_info()[0] is not None)
            report(results, run, quiet)
    return results


def build_trainer(config: Config, placement, interrupt):
    """The Trainer for ``placement``: one device, or Lightning's DDP strategy (its launcher, process group and
    gradient averaging) for several. Rank 0's loggers and callbacks are added once the rank is known."""
    import pytorch_lightning as pl
    from pytorch_lightning.strategies import DDPStrategy

    from agents import AGENTS

    strategy: Any = "auto"
    if placement.world_size > 1:
        strategy = DDPStrategy(find_unused_parameters=AGENTS[config.algo_id].loss_leaves_parameters_unused(config))
    return pl.Trainer(
        accelerator=placement.accelerator,
        precision=config.precision,
        devices=placement.devices,
        num_nodes=placement.num_nodes,
        strategy=strategy,
        max_epochs=1,
        logger=False,
        callbacks=[interrupt],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=1_000_000_000,
    )


def relaunches_this_training(argv: list[str] | None) -> bool:
    """Whether this process's command line is train.py with ``argv``: what Lightning's launcher re-runs."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    script = spec.name == "train" if spec is not None else Path(sys.argv[0]).resolve() == Path(__file__).resolve()
    return script and (argv is None or list(argv) == sys.argv[1:])


def fit(trainer, agent, run, config: Config, record, threshold: float | None, interrupt) -> dict[str, Any]:
    """``trainer.fit(agent)``, then results.json, whatever happened; a failure is re-raised as TrainingFailed."""
    from utils.distributed import lost_rank
    from utils.rank_processes import lost_rank_message
    from utils.runs import atomic_write_json

    started = time.perf_counter()
    status, error = "failed", None
    try:
        trainer.fit(agent)
        if len(set(agent.rank_digests)) > 1:
            print("warning: the ranks ended training with different weights or normalization statistics "
                  "(a bug: please report it)", file=sys.stderr)
        solved = record.solved_at_env_steps is not None
        status = "interrupted" if agent.stop_requested.is_set() else ("solved" if solved else "completed")
    except (KeyboardInterrupt, SystemExit):
        # a second signal: Lightning saves through on_exception, then exits; report it as such
        if not interrupt.interrupted:
            raise
        status = "interrupted"
    except UserError as exc:
        error = str(exc)
        raise TrainingFailed(error) from None
    except RuntimeError as exc:
        if not lost_rank(exc):
            raise
        error = lost_rank_message(trainer, exc)
        raise TrainingFailed(error) from None
    finally:
        results = run_results(run, config, agent, record, threshold, status, time.perf_counter() - started)
        if status == "interrupted":
            results["stopped_by"] = signal_name(interrupt.signum) or ANOTHER_RANK
        if error:
            results["error"] = error
        atomic_write_json(run.results_path, results)
    return results


def report(results: dict[str, Any], run, quiet: bool) -> None:
    """The learning-curve PNG (unless quiet) and the end-of-run summary."""
    from loggers.plots import plot_learning_curve
    from loggers.summary import print_summary

    if not quiet:
        try:
            plot_learning_curve(run.dir)
        except (FileNotFoundError, ValueError) as exc:  # no metrics yet: nothing to draw
            print(f"no learning curve: {exc}")
    print_summary(results, run.dir, None, quiet)


def signal_name(signum: int | None) -> str | None:
    import signal

    return None if signum is None else signal.Signals(signum).name


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 training failed, 2 bad input (nothing started), 130/143 stopped by SIGINT/SIGTERM
    (143 too when a signal stopped another rank). A rank other than 0 exits 0 unless it fails on its own."""
    with stop_signals_handled():  # outside training (imports, checks, the end of a run) too; training has its own
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        args, overrides = parse_args(argv)
        if args.list:
            from utils.config.reference import config_list

            print(config_list())
            return 0
        config = resolve_config(args, overrides)
        from utils.environment import check_env_config

        check_env_config(config)
        if args.resume:
            check_resume(config, args.resume)
        results = train(config, quiet=args.quiet, resume_run=args.resume, relaunchable=relaunches_this_training(argv))
        if results is None:  # a rank other than 0: rank 0 reports how training ended
            return 0
    except TrainingFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        from loggers.wandb_run import fail_active_run

        fail_active_run()
        return 2
    except KeyboardInterrupt:
        status = stop_status() or 130
        print(f"stopped by {signal_name(status - 128)}", file=sys.stderr)
        return status
    if results["status"] != "interrupted":
        return 0
    import signal

    stopped_by = results.get("stopped_by")
    if stopped_by == ANOTHER_RANK:
        return 128 + signal.SIGTERM.value  # what schedulers and torchrun send
    return 128 + signal.Signals[stopped_by or "SIGINT"].value  # as a shell reports a signal


if __name__ == "__main__":
    exit_with(main)

#!/usr/bin/env python
"""Publish a run to the Hugging Face Hub: ``python publish.py --run-id @latest-run``.

Evaluates the run's best (else last) checkpoint, stages its artifacts (secrets scrubbed), preview video
and a model card in a temporary folder, and uploads that folder to a model repo in one commit. The run
folder is only read. ``--dry-run`` stages without contacting the Hub and keeps the folder for a look.
Play a published agent with ``python play.py --run-id hf:user/name``. Needs the ``hub`` extra.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from utils.cli import ArgumentParser, exit_with, run_command
from utils.errors import UserError

DRY_RUN_NAMESPACE = "your-username"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="publish.py",
                            description="Publish a run to the Hugging Face Hub (model repo, one commit).")
    parser.add_argument("--run-id", "--run_id", dest="run_id", default="@latest-run", help="run id or @latest-run")
    parser.add_argument("--repo", help="user/name or name (default: <your user>/<config id>, e.g. CartPole-v1-ppo)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="stage the folder that would be uploaded, print it, upload nothing (no login needed)")
    return parser.parse_strict(argv)


def _size(n_bytes: int) -> str:
    for unit in ("B", "kB", "MB"):
        if n_bytes < 1000:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.1f} GB"


def publish(args: argparse.Namespace) -> str:
    """Stage and (unless ``--dry-run``) upload; returns the staged folder's path on a dry run, else the repo id."""
    from utils.hub import client
    from utils.hub.scrub import Secrets
    from utils.runs import resolve_run

    if args.repo is not None:
        client.check_repo_id(args.repo, need_namespace=False)
    client.require_hub()
    run = resolve_run(args.run_id)
    config = run.load_config_dict()
    run.best_or_last_checkpoint()  # no checkpoint: say so before logging in or evaluating
    token = None if args.dry_run else client.require_token()
    # A real publish checks the login before spending time on evaluation, and names the default namespace.
    user = DRY_RUN_NAMESPACE if args.dry_run else client.whoami(token)
    repo_id = args.repo or client.default_repo_name(f"{config.get('project_id')}:{config.get('variant')}")
    if "/" not in repo_id:
        repo_id = f"{user}/{repo_id}"

    from utils.hub.staging import evaluate_run, stage_run

    evaluation = evaluate_run(run)
    print(f"evaluated {evaluation.checkpoint}.ckpt over {len(evaluation.returns)} episodes "
          f"(seed {evaluation.seed}): mean reward {evaluation.metric_value}", flush=True)
    secrets = Secrets.from_environment(extra={"your Hugging Face token": client.find_token()})
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"publish-{run.run_id.replace('/', '-')}-"))
    except OSError as exc:
        raise UserError(f"cannot make a staging folder in {tempfile.gettempdir()}: {exc.strerror or exc}") from None
    keep = False  # a dry run keeps the staged folder for a look; anything else removes it
    try:
        video_url = f"{client.endpoint()}/{repo_id}/resolve/main/replay.mp4"
        files = stage_run(run, repo_id, evaluation, secrets, folder, video_url)
        print(f"staged {len(files)} files for {repo_id} in {folder}:")
        for name in files:
            print(f"  {name:<40} {_size((folder / name).stat().st_size):>9}")
        if args.dry_run:
            keep = True
            named = args.repo is not None and "/" in args.repo
            print("dry run: nothing uploaded, the Hub not contacted"
                  + ("" if named else f" ({DRY_RUN_NAMESPACE} stands for your user name; --repo user/name sets it)"))
            return str(folder)
        message = f"Upload {config.get('project_id')}:{config.get('variant')} agent (run {run.run_id})"
        commit_url = client.upload(folder, files, repo_id, token, args.private, message)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"published {client.endpoint()}/{repo_id} ({commit_url})")
    print(f"play it: python play.py --run-id hf:{repo_id}")
    return repo_id


def main(argv: list[str] | None = None) -> int:
    def work() -> None:
        publish(parse_args(argv))

    return run_command(work, interrupted="interrupted")


if __name__ == "__main__":
    exit_with(main)

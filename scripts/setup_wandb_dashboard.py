"""Create the project's W&B workspace: ``python scripts/setup_wandb_dashboard.py --entity E --project P``.

Sections: key metrics, train, eval, diagnostics (all plotted against env steps, from config/metrics.yaml)
and eval videos. Named "<project> View" unless ``--name`` says otherwise. Safe to rerun: an existing
workspace of that name is left as it is unless ``--overwrite``. ``--dry-run`` prints the workspace as
JSON without touching the network (no login needed). Needs the wandb extra: pip install -e ".[wandb]".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loggers.wandb_run import has_login  # noqa: E402
from loggers.wandb_workspace import (  # noqa: E402
    DEFAULT_KEY_PANELS_PER_SECTION,
    build_workspace,
    default_name,
    save_workspace,
    workspace_json,
)
from utils.cli import ArgumentParser, exit_with  # noqa: E402
from utils.errors import UserError  # noqa: E402


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="setup_wandb_dashboard.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entity", default=os.environ.get("WANDB_ENTITY"),
                        help="W&B team or user (default: $WANDB_ENTITY, else your login's default entity)")
    parser.add_argument("--project", default=os.environ.get("WANDB_PROJECT"),
                        help="W&B project (default: $WANDB_PROJECT)")
    parser.add_argument("--name", help="workspace name (default: '<project> View')")
    parser.add_argument("--select-latest", "--select_latest", action="store_true",
                        help="pin the project's most recent run across panels")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing workspace of that name")
    parser.add_argument("--key-panels-per-section", "--key_panels_per_section", type=int, metavar="N",
                        default=DEFAULT_KEY_PANELS_PER_SECTION,
                        help=f"key-metric panels per section; more start another section "
                             f"(default {DEFAULT_KEY_PANELS_PER_SECTION})")
    parser.add_argument("--dry-run", "--dry_run", action="store_true",
                        help="print the workspace as JSON and exit (no network, no login)")
    return parser


def latest_run_id(entity: str, project: str) -> str | None:
    import wandb

    runs = wandb.Api().runs(f"{entity}/{project}", order="-created_at", per_page=1)
    return next((run.id for run in runs), None)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_strict(argv)
        if args.project is not None and not args.project.strip():
            raise UserError("--project is empty (or WANDB_PROJECT is set to nothing): name a W&B project")
        if args.key_panels_per_section < 1:
            raise UserError(f"--key-panels-per-section must be >= 1, got {args.key_panels_per_section}")
        if args.dry_run:
            if args.select_latest:
                raise UserError("--select-latest asks the W&B server for the latest run; drop it with --dry-run")
            workspace = build_workspace(args.entity or "ENTITY", args.project or "PROJECT", args.name,
                                        key_panels_per_section=args.key_panels_per_section)
            print(workspace_json(workspace))
            return 0
        if not args.project:
            raise UserError("--project is required (or set WANDB_PROJECT)")
        if not has_login():
            raise UserError("pushing a workspace needs a W&B login (`wandb login` or WANDB_API_KEY); "
                            "--dry-run previews it without one")
    except ImportError as exc:  # the wandb extra is missing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = args.name or default_name(args.project)
    try:
        import wandb

        entity = args.entity or wandb.Api().default_entity
        pinned = latest_run_id(entity, args.project) if args.select_latest else None
        workspace = build_workspace(entity, args.project, name, pinned_run=pinned,
                                    key_panels_per_section=args.key_panels_per_section)
        saved, url = save_workspace(workspace, overwrite=args.overwrite)
    except Exception as exc:  # network, auth or server errors: one line
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        print(f"error: could not save workspace '{name}' ({reason})", file=sys.stderr)
        return 1
    if saved:
        print(f"workspace '{name}' saved: {url}")
    else:
        print(f"workspace '{name}' already exists, left as it is (--overwrite replaces it): {url}")
    return 0


if __name__ == "__main__":
    exit_with(main)

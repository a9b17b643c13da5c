"""Starting a W&B run: whether it can start here, its id, project and timeouts, and a sweep agent's run.

Nothing here imports wandb until W&B is asked for. Logging is best effort: a missing login or an unreachable
server prints one ``W&B logging off: <why>`` line and training goes on without W&B. A sweep run is the
exception: without W&B it could not report to its sweep, so failing to start it is an error.
"""

from __future__ import annotations

import netrc
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from utils.config import Config, merge_sweep_parameters
from utils.errors import UserError

if TYPE_CHECKING:
    from wandb.sdk.wandb_run import Run

WANDB_EXTRA = 'pip install -e ".[wandb]"'
ENV_STEPS = "time/env_steps"  # every W&B metric's x-axis
VIDEO_KEY = "videos/eval"  # the eval videos' W&B key
DEFAULT_BASE_URL = "https://api.wandb.ai"
#: seconds wandb.init may spend reaching the server (WANDB_INIT_TIMEOUT overrides; wandb's own default is 90)
INIT_TIMEOUT_S = 30
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def warn(message: str) -> None:
    print(f"W&B {message}", file=sys.stderr, flush=True)


def import_wandb() -> Any:
    """The wandb module; a missing extra is a one-line UserError naming it."""
    try:
        import wandb
    except ImportError:
        raise UserError(f"W&B logging needs the wandb extra: {WANDB_EXTRA}") from None
    return wandb


def wandb_mode() -> str:
    """WANDB_MODE as wandb reads it: online (the default), offline or disabled (dryrun means offline)."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    return {"": "online", "run": "online", "dryrun": "offline"}.get(mode, mode)


def has_login() -> bool:
    """An API key in the environment, or a .netrc entry for the W&B host (what ``wandb login`` writes)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).hostname
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return host is not None and netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def unavailable_reason() -> str | None:
    """Why a W&B run cannot start here (no login, WANDB_MODE=disabled), or None when it can try."""
    mode = wandb_mode()
    if mode == "disabled":
        return "WANDB_MODE=disabled"
    if mode not in ("online", "offline", "shared"):
        return f"WANDB_MODE={os.environ['WANDB_MODE']!r} is not a W&B mode (online, offline or disabled)"
    if mode == "offline" or has_login():
        return None
    return "no login (run `wandb login` or set WANDB_API_KEY; WANDB_MODE=offline logs locally)"


def sweep_requested(flag: bool) -> bool:
    """Running under a sweep agent (it sets WANDB_SWEEP_ID), or asked to with ``--wandb_sweep``."""
    return flag or bool(os.environ.get("WANDB_SWEEP_ID"))


def active_run() -> Run | None:
    """The W&B run this process already started (a sweep's), if any; never imports wandb."""
    wandb = sys.modules.get("wandb")
    return getattr(wandb, "run", None) if wandb is not None else None


def _settings(wandb: Any, quiet: bool) -> Any:
    # wandb takes our `agents` package for the LLM library of that name and advertises Weave for it.
    os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
    # console="off": wandb would otherwise wrap stdout and upload every redraw of the live table.
    options: dict[str, Any] = {"console": "off", "silent": quiet}
    if not os.environ.get("WANDB_INIT_TIMEOUT"):
        options["init_timeout"] = INIT_TIMEOUT_S
    return wandb.Settings(**options)


def _reason(exc: BaseException) -> str:
    """An exception in one line; pydantic's (bad settings) need their first three lines to say anything."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = "; ".join(lines[:3] if type(exc).__name__ == "ValidationError" else lines[:1])
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def start_run(*, run_id: str, project: str, config: dict[str, Any], run_dir: Path, quiet: bool) -> Run | None:
    """A new (or resumed) W&B run with our run id, or None after one line saying why W&B is off."""
    wandb = import_wandb()
    reason = unavailable_reason()
    if reason is not None:
        warn(f"logging off: {reason}")
        return None
    wandb_dir = Path(os.environ.get("WANDB_DIR") or run_dir)
    try:
        wandb_dir.mkdir(parents=True, exist_ok=True)
        return wandb.init(
            id=run_id,
            name=run_id,
            project=project,
            entity=os.environ.get("WANDB_ENTITY") or None,
            config=config,
            dir=str(wandb_dir),
            resume="allow",
            settings=_settings(wandb, quiet),
        )
    except Exception as exc:  # an unusable WANDB_DIR, or wandb's CommError, AuthenticationError, UsageError, ...
        warn(f"logging off: could not start a run ({_reason(exc)}); training continues without W&B")
        return None


def sweep_overrides(cli_overrides: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """Start the agent's run and merge its parameters (``wandb.config``) over the command line's overrides.

    ``wandb.init`` reads the parameters from the file the agent names in WANDB_SWEEP_PARAM_PATH and takes
    the run id from WANDB_RUN_ID; the returned overrides also turn W&B logging on.
    """
    wandb = import_wandb()
    reason = unavailable_reason()
    if reason is not None:
        raise UserError(f"a W&B sweep run needs W&B: {reason}")
    try:
        run = wandb.init(settings=_settings(wandb, quiet))
    except Exception as exc:
        raise UserError(f"could not start the W&B sweep run ({_reason(exc)})") from None
    return {**merge_sweep_parameters(cli_overrides, dict(run.config)), "wandb": True}


def fail_active_run() -> None:
    """End the W&B run this process started (a sweep's) as failed, when the config or setup is refused."""
    run = active_run()
    if run is not None:
        run.finish(exit_code=2)


def wandb_run_id(config: Config, runs_dir: Path) -> str | None:
    """The id a new run folder must take so that ``runs/<id>/`` and the W&B run match.

    The started sweep run's id, else WANDB_RUN_ID when W&B is on; None (a fresh id) otherwise. Checks the
    wandb extra is installed, before any run folder exists.
    """
    if not config.wandb:
        return None
    import_wandb()
    run = active_run()
    run_id = run.id if run is not None else os.environ.get("WANDB_RUN_ID", "").strip() or None
    if run_id is None:
        return None
    if not _RUN_ID.fullmatch(run_id):
        raise UserError(f"W&B run id {run_id!r} cannot name a run folder: use 1-64 letters, digits, - or _")
    if (Path(runs_dir) / run_id).exists():
        raise UserError(f"run folder {Path(runs_dir) / run_id} already exists; unset WANDB_RUN_ID, or continue "
                        f"that run with --resume {run_id}")
    return run_id


def project_name(config: dict[str, Any]) -> str:
    """The W&B project: the wandb_project field, else $WANDB_PROJECT, else the config's project_id."""
    return config.get("wandb_project") or os.environ.get("WANDB_PROJECT") or config["project_id"]

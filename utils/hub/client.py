"""Talking to the Hugging Face Hub: the extra, the login, repo ids, the one-commit upload, the download,
and one-line messages for everything that can go wrong on the way.

huggingface_hub reads ``HF_ENDPOINT`` (and ``HF_TOKEN``, ``HF_HOME``) when it is imported.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from utils.errors import UserError
from utils.hub.card import ARTIFACTS, VIDEO_NAME
from utils.runs import Run

INSTALL_HINT = 'pip install -e ".[hub]"'
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN to a token with write access"
MAX_NAME_LENGTH = 96
# Hub rules for each half of "namespace/name": word characters, '-' and '.', starting and ending with a
# word character, no '--' or '..', not ending in '.git'.
_PART = re.compile(r"\w(?:[\w.-]*\w)?", re.ASCII)


def require_hub() -> Any:
    """The huggingface_hub module; a missing ``hub`` extra is a UserError saying how to install it."""
    try:
        import huggingface_hub
    except ImportError:
        raise UserError(f"the Hugging Face Hub needs the hub extra: {INSTALL_HINT}") from None
    return huggingface_hub


def endpoint() -> str:
    require_hub()
    from huggingface_hub import constants

    return constants.ENDPOINT


def find_token() -> str | None:
    """HF_TOKEN, else the saved login (huggingface_hub's own look-up)."""
    return require_hub().get_token()


def require_token() -> str:
    token = find_token()
    if not token:
        raise UserError(f"not logged in to the Hugging Face Hub: {LOGIN_HINT}")
    return token


def check_repo_id(repo_id: str, *, need_namespace: bool) -> str:
    """``repo_id`` if it is a valid ``name`` or ``namespace/name`` under the Hub's rules, else a UserError."""
    parts = repo_id.split("/")
    if len(parts) > 2 or (need_namespace and len(parts) != 2):
        form = "user/name" if need_namespace else "name or user/name"
        raise UserError(f"bad Hub repo id {repo_id!r}: expected {form}")
    for part in parts:
        if not _PART.fullmatch(part) or "--" in part or ".." in part or len(part) > MAX_NAME_LENGTH:
            raise UserError(
                f"bad Hub repo id {repo_id!r}: each part is 1-{MAX_NAME_LENGTH} letters, digits, '-', '_' or "
                "'.', starting and ending with a letter or digit, without '--' or '..'"
            )
    if repo_id.endswith(".git"):
        raise UserError(f"bad Hub repo id {repo_id!r}: it cannot end in '.git'")
    return repo_id


def default_repo_name(config_id: str) -> str:
    """A valid repo name from a config id: ``CartPole-v1:ppo`` -> ``CartPole-v1-ppo``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", config_id)
    name = re.sub(r"[-.]{2,}", "-", name).strip("-._")[:MAX_NAME_LENGTH].strip("-._")
    return name or "agent"


def _network_errors() -> tuple[type[BaseException], ...]:
    """Failures to get any answer, from whichever HTTP client this huggingface_hub uses."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                          ("requests", ("ConnectionError", "Timeout"))):
        if module in sys.modules:  # only a client huggingface_hub already imported can have raised
            found += [getattr(sys.modules[module], name) for name in names if hasattr(sys.modules[module], name)]
    return tuple(found)


@contextmanager
def hub_errors(action: str) -> Iterator[None]:
    """Turn huggingface_hub and network exceptions raised while doing ``action`` into one-line UserErrors."""
    require_hub()
    from huggingface_hub import errors

    try:
        yield
    except errors.RepositoryNotFoundError:
        raise UserError(f"{action}: repository not found on {endpoint()} "
                        "(or it is private and your login cannot see it)") from None
    except errors.RevisionNotFoundError:
        raise UserError(f"{action}: no such revision") from None
    except errors.LocalEntryNotFoundError:  # offline, and not in the local cache either
        raise UserError(f"{action}: cannot reach the Hub at {endpoint()} and it is not in the local cache") from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else None
        detail = f": {exc.server_message.splitlines()[0]}" if getattr(exc, "server_message", None) else ""
        if status == 401:
            raise UserError(f"{action}: the Hub rejected the token (HTTP 401); {LOGIN_HINT}") from None
        if status == 403:
            raise UserError(f"{action}: permission denied (HTTP 403){detail}") from None
        raise UserError(f"{action}: the Hub answered HTTP {status}{detail}") from None
    except _network_errors() as exc:
        raise UserError(f"{action}: cannot reach the Hugging Face Hub at {endpoint()} ({type(exc).__name__}); "
                        "check your connection (or HF_ENDPOINT)") from None
    except ValueError as exc:  # e.g. the Hub rejecting the card's metadata
        raise UserError(f"{action}: {' '.join(str(exc).split())}") from None


def whoami(token: str) -> str:
    """The user name the token belongs to."""
    api = require_hub().HfApi(token=token)
    with hub_errors("checking your Hugging Face login"):
        return api.whoami()["name"]


def upload(folder: Path, files: list[str], repo_id: str, token: str, private: bool, message: str) -> str:
    """Create ``repo_id`` if needed and commit ``files`` (paths relative to ``folder``) in one commit,
    removing what an earlier publish left under ``artifacts/`` that this one does not replace.
    Returns the commit's URL."""
    hub = require_hub()
    api = hub.HfApi(token=token)
    with hub_errors(f"creating {repo_id}"):
        api.create_repo(repo_id, private=True if private else None, exist_ok=True)
    with hub_errors(f"uploading to {repo_id}"):
        stale = [name for name in api.list_repo_files(repo_id)
                 if (name.startswith(f"{ARTIFACTS}/") or name == VIDEO_NAME) and name not in files]
        operations = [hub.CommitOperationDelete(path_in_repo=name) for name in stale]
        operations += [hub.CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
        return api.create_commit(repo_id, operations=operations, commit_message=message).commit_url


def download_run(spec: str) -> Run:
    """The run published as ``user/name[@revision]``: its ``artifacts/`` downloaded into the Hugging Face
    cache (a cached copy is used when the Hub cannot be reached)."""
    repo_id, _, revision = spec.partition("@")
    check_repo_id(repo_id, need_namespace=True)
    hub = require_hub()
    with hub_errors(f"downloading hf:{spec}"):
        folder = hub.snapshot_download(repo_id, revision=revision or None,
                                       allow_patterns=[f"{ARTIFACTS}/*", "README.md"])  # not the video
    run_dir = Path(folder) / ARTIFACTS
    if not (run_dir / "config.json").is_file():
        raise UserError(f"hf:{spec} is not a gymnasium-solver agent: it has no {ARTIFACTS}/config.json")
    return Run(f"hf:{spec}", run_dir)

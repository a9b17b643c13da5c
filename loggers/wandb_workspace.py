"""The project's W&B workspace, built with wandb-workspaces from ``config/metrics.yaml``.

Sections: key metrics (the metrics marked ``summary: true``, split into sections of at most N panels),
train, eval and diagnostics (each metric's ``section``, else its namespace), and the eval videos. Every
line plot uses env steps as its x-axis. The workspace is named "<project> View" unless told otherwise and
is found again by that name (it is saved under an internal name derived from it), so pushing it twice
updates one workspace instead of creating two, and an existing one is only replaced when asked.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections import defaultdict
from typing import Any

from utils.errors import UserError

from .metrics_spec import load_metrics_spec
from .wandb_run import ENV_STEPS, VIDEO_KEY, WANDB_EXTRA

DEFAULT_KEY_PANELS_PER_SECTION = 12
SECTION_TITLES = {"train": "Train", "eval": "Eval", "diagnostics": "Diagnostics"}
_ID_ALPHABET = string.ascii_lowercase + string.digits


def _modules() -> tuple[Any, Any]:
    try:
        import wandb_workspaces.reports.v2 as reports
        import wandb_workspaces.workspaces as workspaces
    except ImportError:
        raise ImportError(f"W&B workspaces need the wandb extra (wandb-workspaces): {WANDB_EXTRA}") from None
    return workspaces, reports


def default_name(project: str) -> str:
    return f"{project} View"


def panel_groups(key_panels_per_section: int = DEFAULT_KEY_PANELS_PER_SECTION) -> list[tuple[str, list[str]]]:
    """(section title, metric keys) in workspace order, from config/metrics.yaml; videos come after these."""
    if key_panels_per_section < 1:
        raise ValueError(f"key panels per section must be >= 1, got {key_panels_per_section}")
    spec = load_metrics_spec()
    keys = [key for key in spec.keys() if key != ENV_STEPS]  # the x-axis itself makes no chart
    key_metrics = [key for key in keys if spec[key].summary]
    chunks = [key_metrics[i:i + key_panels_per_section] for i in range(0, len(key_metrics), key_panels_per_section)]
    groups = [(f"Key metrics ({n}/{len(chunks)})" if len(chunks) > 1 else "Key metrics", chunk)
              for n, chunk in enumerate(chunks, start=1)]
    by_section: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_section[spec[key].section_name].append(key)
    order = [*SECTION_TITLES, *sorted(set(by_section) - set(SECTION_TITLES))]
    groups += [(SECTION_TITLES.get(name, name.capitalize()), by_section[name]) for name in order if by_section[name]]
    return groups


def build_workspace(entity: str, project: str, name: str | None = None, *, pinned_run: str | None = None,
                    key_panels_per_section: int = DEFAULT_KEY_PANELS_PER_SECTION) -> Any:
    """The workspace (a ``wandb_workspaces.workspaces.Workspace``); builds offline, saving needs a login."""
    workspaces, reports = _modules()
    sections = [
        workspaces.Section(name=title, is_open=title.startswith("Key"), panels=[
            reports.LinePlot(title=key, x=ENV_STEPS, y=[key]) for key in keys])
        for title, keys in panel_groups(key_panels_per_section)
    ]
    sections.append(workspaces.Section(name="Videos", is_open=True, panels=[
        reports.MediaBrowser(title="eval videos", media_keys=[VIDEO_KEY], gallery_axis="step")]))
    try:
        return workspaces.Workspace(
            entity=entity,
            project=project,
            name=name or default_name(project),
            sections=sections,
            settings=workspaces.WorkspaceSettings(x_axis=ENV_STEPS),
            runset_settings=workspaces.RunsetSettings(pinned_runs=[pinned_run] if pinned_run else []),
        )
    except ValueError as exc:  # pydantic's ValidationError, e.g. a name W&B refuses
        errors = exc.errors() if hasattr(exc, "errors") else [{"msg": str(exc)}]
        raise UserError(f"workspace name {name or default_name(project)!r}: {errors[0]['msg']}") from None


def workspace_json(workspace: Any) -> str:
    """What saving would send: the view with its spec, as indented JSON (no network)."""
    return json.dumps(workspace._to_model().model_dump(by_alias=True, exclude_none=True, mode="json"), indent=2)


def internal_name(entity: str, project: str, name: str) -> str:
    """The view's stable internal name (``nw-<11 chars>-v``, W&B's form) derived from its display name."""
    digest = int.from_bytes(hashlib.sha256(f"{entity}/{project}/{name}".encode()).digest()[:16], "big")
    chars = []
    for _ in range(11):
        digest, index = divmod(digest, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return f"nw-{''.join(chars)}-v"


def load_workspace(entity: str, project: str, name: str) -> Any | None:
    """The saved workspace of that name, or None when there is none."""
    workspaces, _ = _modules()
    from wandb_workspaces.workspaces import internal

    try:
        view = internal.View.from_name(entity, project, internal_name(entity, project, name))
    except ValueError:  # wandb-workspaces' "not found"
        return None
    return workspaces.Workspace._from_model(view)


def save_workspace(workspace: Any, *, overwrite: bool = False) -> tuple[bool, str]:
    """Save under the stable internal name; (saved, url). An existing workspace is kept unless ``overwrite``."""
    existing = load_workspace(workspace.entity, workspace.project, workspace.name)
    workspace._internal_name = internal_name(workspace.entity, workspace.project, workspace.name)
    if existing is not None:
        if not overwrite:
            return False, workspace.url
        workspace._internal_id = existing._internal_id
    workspace.save()
    return True, workspace.url


def select_run_in_workspace(entity: str, project: str, run_id: str) -> str:
    """Create the project's workspace, or update the existing one, so it shows ``run_id`` pinned across
    panels; an existing workspace keeps its (possibly customised) layout. Returns the workspace's URL."""
    name = default_name(project)
    workspace = load_workspace(entity, project, name)
    if workspace is None:
        return save_workspace(build_workspace(entity, project, name, pinned_run=run_id))[1]
    workspace.runset_settings.pinned_runs = [run_id]
    workspace.save()
    return workspace.url

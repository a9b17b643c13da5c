"""The W&B workspace: its sections and panels (dry-run JSON, no network), the setup script's errors, and
saving against a stand-in for the W&B views API (create once, keep unless --overwrite, pin a run)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("wandb_workspaces", reason="needs the wandb extra: pip install -e '.[wandb]'")

import wandb  # noqa: E402
from wandb_workspaces.workspaces import internal  # noqa: E402

from loggers import wandb_logger  # noqa: E402
from loggers.metrics_spec import load_metrics_spec  # noqa: E402
from loggers.wandb_workspace import (  # noqa: E402
    build_workspace,
    internal_name,
    save_workspace,
    select_run_in_workspace,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "setup_wandb_dashboard.py"
sys.path.insert(0, str(SCRIPT.parent))
import setup_wandb_dashboard  # noqa: E402


def sections(view: dict) -> dict[str, list[dict]]:
    return {s["name"]: s["panels"] for s in view["spec"]["section"]["panelBankConfig"]["sections"]}


def plotted(panels: list[dict]) -> list[str]:
    return [metric for panel in panels for metric in panel["config"].get("metrics", [])]


def test_dry_run_prints_the_workspace_without_network_or_login(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("WANDB_")}
    env.update(WANDB_BASE_URL="http://127.0.0.1:9", NETRC=str(tmp_path / "none"))  # nothing to reach, no login
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--project", "CartPole-v1", "--entity", "me"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert (view["entity"], view["project"], view["displayName"]) == ("me", "CartPole-v1", "CartPole-v1 View")
    found = sections(view)
    assert list(found) == ["Key metrics", "Train", "Eval", "Diagnostics", "Videos"]

    spec = load_metrics_spec()
    assert plotted(found["Key metrics"]) == [key for key in spec.keys() if spec[key].summary]
    assert plotted(found["Train"])[:3] == ["train/ep_rew_mean", "train/ep_rew_best", "train/ep_len_mean"]
    assert plotted(found["Eval"]) == [key for key in spec.keys() if key.startswith("eval/")]
    assert {"train/approx_kl", "train/clip_fraction", "train/explained_variance", "train/grad_norm",
            "time/fps"} <= set(plotted(found["Diagnostics"]))
    # every metric of config/metrics.yaml but the x-axis has exactly one home among train, eval, diagnostics
    homes = plotted(found["Train"]) + plotted(found["Eval"]) + plotted(found["Diagnostics"])
    assert sorted(homes) == sorted(key for key in spec.keys() if key != "time/env_steps")
    # every line plot runs on env steps; the videos panel shows the logged eval videos
    line_plots = [p for panels in found.values() for p in panels if p["viewType"] == "Run History Line Plot"]
    assert line_plots and all(p["config"]["xAxis"] == "time/env_steps" for p in line_plots)
    assert view["spec"]["section"]["settings"]["xAxis"] == "time/env_steps"
    (videos,) = found["Videos"]
    assert videos["viewType"] == "Media Browser" and videos["config"]["mediaKeys"] == ["videos/eval"]


def test_key_metrics_split_into_sections_of_at_most_n_panels(capsys):
    assert setup_wandb_dashboard.main(["--dry-run", "--project", "P", "--name", "Mine",
                                       "--key-panels-per-section", "4"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["displayName"] == "Mine"
    found = sections(view)
    assert [len(found["Key metrics (1/2)"]), len(found["Key metrics (2/2)"])] == [4, 2]


@pytest.mark.parametrize("argv, message", [
    (["--dry-run", "--key-panels-per-section", "0"], "error: --key-panels-per-section must be >= 1, got 0"),
    (["--dry-run", "--select-latest"],
     "error: --select-latest asks the W&B server for the latest run; drop it with --dry-run"),
    (["--dry-run", "--name", "run 🚀"], "error: workspace name 'run 🚀': Value error, Emojis are not allowed :("),
    (["--entity", "me"], "error: --project is required (or set WANDB_PROJECT)"),
    (["--project", "P"], "error: pushing a workspace needs a W&B login (`wandb login` or WANDB_API_KEY); "
                         "--dry-run previews it without one"),
    (["--dry-run", "--overwrit"], "error: unknown option --overwrit (did you mean --overwrite?)"),
])
def test_script_errors_are_one_line(argv, message, monkeypatch, tmp_path, capsys):
    for name in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert setup_wandb_dashboard.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


@pytest.fixture
def views(monkeypatch):
    """A stand-in for the W&B views API at wandb-workspaces' network boundary: views by internal name."""
    store: dict[str, dict] = {}
    upserts: list[dict] = []

    def get_view_dict(entity, project, view_name):
        name = internal._url_query_str_to_internal_name(view_name)
        if name not in store:
            raise ValueError(f"Workspace `{view_name}` not found in project `{project}`")
        return store[name]

    def upsert_view2(view):
        upserts.append({"name": view.name, "id": view.id})
        view_id = view.id or f"id{len(store)}"
        store[view.name] = {"id": view_id, "displayName": view.display_name,
                            "spec": view.spec.model_dump_json(by_alias=True, exclude_none=True)}
        return {"upsertView": {"view": {"name": view.name, "id": view_id}}}

    monkeypatch.setattr(internal, "get_view_dict", get_view_dict)
    monkeypatch.setattr(internal, "upsert_view2", upsert_view2)
    monkeypatch.setattr(wandb, "Api", lambda *a, **k: SimpleNamespace(client=SimpleNamespace(app_url="https://w.test")))
    return SimpleNamespace(store=store, upserts=upserts)


def pinned_runs(views, name: str) -> list[str]:
    """The pinned runs' ids (W&B stores them as base64 of 'Run:v1:<id>:<project>:<entity>')."""
    pins = json.loads(views.store[name]["spec"])["section"]["runSets"][0].get("pinnedRunIds", [])
    return [base64.b64decode(pin).decode().split(":")[2] for pin in pins]


def stored_sections(views, name: str) -> list[str]:
    spec = json.loads(views.store[name]["spec"])
    return [s["name"] for s in spec["section"]["panelBankConfig"]["sections"]]


def test_saving_creates_once_and_replaces_only_with_overwrite(views):
    name = internal_name("me", "P", "P View")
    url = f"https://w.test/me/P?nw={name.removeprefix('nw-').removesuffix('-v')}"
    assert save_workspace(build_workspace("me", "P")) == (True, url)
    assert save_workspace(build_workspace("me", "P", key_panels_per_section=4)) == (False, url)
    assert views.upserts == [{"name": name, "id": ""}]
    assert stored_sections(views, name)[0] == "Key metrics"

    assert save_workspace(build_workspace("me", "P", key_panels_per_section=4), overwrite=True) == (True, url)
    assert views.upserts[-1] == {"name": name, "id": "id0"}  # the same view, updated
    assert list(views.store) == [name]
    assert stored_sections(views, name)[:2] == ["Key metrics (1/2)", "Key metrics (2/2)"]


def test_end_of_run_update_pins_the_run_and_keeps_an_existing_layout(views):
    name = internal_name("me", "P", "P View")
    select_run_in_workspace("me", "P", "run00001")  # no workspace yet: created with the run pinned
    assert pinned_runs(views, name) == ["run00001"]

    save_workspace(build_workspace("me", "P", key_panels_per_section=2), overwrite=True)  # a customised layout
    layout = stored_sections(views, name)
    assert pinned_runs(views, name) == []
    url = select_run_in_workspace("me", "P", "run00002")
    assert url.startswith("https://w.test/me/P?nw=")
    assert stored_sections(views, name) == layout
    assert pinned_runs(views, name) == ["run00002"]
    assert len(views.store) == 1


def test_script_pushes_then_leaves_an_existing_workspace_alone(views, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    url = "https://w.test/me/P?nw=" + internal_name("me", "P", "P View").removeprefix("nw-").removesuffix("-v")
    assert setup_wandb_dashboard.main(["--entity", "me", "--project", "P"]) == 0
    assert capsys.readouterr().out.strip() == f"workspace 'P View' saved: {url}"
    assert setup_wandb_dashboard.main(["--entity", "me", "--project", "P"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"workspace 'P View' already exists, left as it is (--overwrite replaces it): {url}")
    assert len(views.upserts) == 1


def test_workspace_update_failure_is_one_line(views, monkeypatch, capsys):
    def unreachable(*_):
        raise ConnectionError("connection refused")

    monkeypatch.setattr(internal, "get_view_dict", unreachable)
    wandb_logger._publish_workspace("me", "P", "run00001")
    assert capsys.readouterr().out.strip() == "W&B workspace not updated (ConnectionError: connection refused)"


class FakeRun(SimpleNamespace):
    def define_metric(self, *args, **kwargs):
        pass

    def finish(self, exit_code=0):
        self.exit_code = exit_code


@pytest.mark.parametrize("status, offline, sweep_id, published", [
    ("success", False, "", True),
    ("success", True, "", False),  # offline: no server to hold a workspace
    ("success", False, "sw1", False),  # sweep runs leave the workspace to the sweep's owner
    ("failed", False, "", False),
])
def test_workspace_is_updated_only_after_a_successful_online_run_outside_sweeps(
        status, offline, sweep_id, published, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(wandb_logger, "_publish_workspace", lambda *args: calls.append(args))
    run = FakeRun(entity="me", project="P", id="run00001", offline=offline, sweep_id=sweep_id)
    wandb_logger.EnvStepWandbLogger(run, tmp_path / "videos").finalize(status)
    assert calls == ([("me", "P", "run00001")] if published else [])
    assert run.exit_code == (0 if status == "success" else 1)

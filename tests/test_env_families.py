"""Env families without their packages: dispatch by id, the missing-extra line, and no heavy import at startup."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import train
from utils.env_families import family_for

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("env_id", "family"), [
    ("Retro/Airstriker-Genesis", "retro"),
    ("VizDoom-Basic-v0", "vizdoom"),
    ("VizdoomBasic-v1", "vizdoom"),
    ("CartPole-v1", "gymnasium"),
    ("RetroFoo-v0", "gymnasium"),  # only the Retro/ prefix is stable-retro's
])
def test_family_is_chosen_by_id(env_id, family):
    assert family_for(env_id).name == family


@pytest.mark.parametrize(("config_id", "module", "extra"), [
    ("Retro-Airstriker-Genesis:ppo", "stable_retro", "retro"),
    ("VizDoom-Basic-v0:ppo", "vizdoom", "vizdoom"),
])
def test_a_missing_extra_is_one_line_naming_the_pip_command(monkeypatch, tmp_path, capsys, config_id, module, extra):
    monkeypatch.chdir(tmp_path)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real_find_spec(name, *a))
    assert train.main([config_id]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"needs the {extra} extra: pip install -e '.[{extra}]'\n") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_startup_imports_no_emulator_package():
    code = ("import sys, train, gym_wrappers, utils.environment, utils.env_families; "
            "heavy = {'stable_retro', 'vizdoom', 'pygame', 'cv2'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)

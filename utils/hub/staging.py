"""Stage the folder that gets uploaded, outside the run folder (which is only read):

```
README.md                         model card (metadata + evaluation + play/reproduce commands)
replay.mp4                        preview video, when the run has one
artifacts/config.json             the run folder's files, secrets scrubbed
artifacts/results.json
artifacts/checkpoints/*.ckpt
artifacts/logs/metrics.csv
artifacts/learning_curve.png
```
``artifacts/`` has a run folder's layout, so a downloaded agent is a run like any other.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from loggers.plots import METRICS_CSV, PLOT_NAME
from utils.errors import UserError
from utils.hub.card import ARTIFACTS, VIDEO_NAME, Evaluation, model_card
from utils.hub.scrub import Secrets
from utils.runs import Run, load_checkpoint


def evaluate_run(run: Run) -> Evaluation:
    """Play the run's best (else last) checkpoint for the config's ``eval_episodes`` from the run's seed,
    deterministic per ``eval_deterministic``: the returns ``play.py --episodes N --seed S`` prints."""
    from utils.evaluation import evaluate_policy
    from utils.playback import load_agent_for_play

    agent = load_agent_for_play(run)
    config = agent.config
    try:
        result = evaluate_policy(agent.policy, agent.envs, config.eval_episodes, config.eval_deterministic,
                                 seed=config.seed)
    finally:
        agent.close()
    return Evaluation(result.returns, result.lengths, config.seed, config.eval_deterministic,
                      agent.checkpoint.stem, agent.env_steps)


def preview_video(run: Run) -> Path | None:
    """``videos/best.mp4``, else the ``videos/step_*.mp4`` of the latest step, else None."""
    best = run.videos / "best.mp4"
    if best.is_file():
        return best

    def step(path: Path) -> tuple[int, float]:
        number = re.search(r"\d+", path.stem)
        return (int(number.group()) if number else -1, path.stat().st_mtime)

    return max((p for p in run.videos.glob("step_*.mp4") if p.is_file()), key=step, default=None)


def _stage_json(src: Path, dst: Path, secrets: Secrets) -> None:
    try:
        data = json.loads(src.read_text(encoding="utf-8"))
    except ValueError:  # not JSON (a results.json cut short): scrubbed as text
        return _stage_text(src, dst, secrets)
    clean = secrets.scrub_data(data)
    if clean == data:
        shutil.copyfile(src, dst)  # byte-identical when there is nothing to scrub
    else:
        dst.write_text(json.dumps(clean, indent=2) + "\n", encoding="utf-8")


def _stage_text(src: Path, dst: Path, secrets: Secrets) -> None:
    try:
        text = src.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # not text after all: copied, and checked with the binary files
        return _copy(src, dst, secrets)
    clean = secrets.scrub_text(text)
    if clean == text:
        shutil.copyfile(src, dst)
    else:
        dst.write_text(clean, encoding="utf-8")


def _stage_checkpoint(src: Path, dst: Path, secrets: Secrets) -> None:
    """A checkpoint embeds its config: scrub it there too (re-saved only when something was redacted)."""
    state = load_checkpoint(src)
    config = state.get("config")
    clean = secrets.scrub_data(config)
    if clean == config:
        shutil.copyfile(src, dst)
        return
    import torch

    torch.save({**state, "config": clean}, dst)


def _copy(src: Path, dst: Path, secrets: Secrets) -> None:
    shutil.copyfile(src, dst)  # binary (the plot): checked for secrets with everything else after staging


def _run_files(run: Run) -> list[tuple[Path, str]]:
    """(source, path in the repo) of the run files that get published."""
    files = [(run.config_path, "config.json")]
    files += [(path, f"checkpoints/{path.name}") for path in sorted(run.checkpoints.glob("*.ckpt"))]
    optional = [(run.results_path, "results.json"), (run.dir / METRICS_CSV, METRICS_CSV.as_posix()),
                (run.dir / PLOT_NAME, PLOT_NAME)]
    files += [(src, name) for src, name in optional if src.is_file()]
    return [(src, f"{ARTIFACTS}/{name}") for src, name in files]


def _read_results(run: Run) -> dict[str, Any] | None:
    try:
        return json.loads(run.results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable or not JSON: the card says there are no results
        return None


def stage_run(run: Run, repo_id: str, evaluation: Evaluation, secrets: Secrets, dest: Path,
              video_url: str) -> list[str]:
    """Fill the empty folder ``dest`` with what gets uploaded; returns its files, repo-relative and sorted.

    ``video_url`` is where the Hub serves the preview video (for the card's player). Every staged file is
    checked for secrets: one that cannot be scrubbed is a UserError, and nothing is published.
    """
    stagers = {".json": _stage_json, ".csv": _stage_text, ".ckpt": _stage_checkpoint}  # anything else: copied
    video = preview_video(run)
    config = secrets.scrub_data(run.load_config_dict())
    card = model_card(repo_id, config, secrets.scrub_data(_read_results(run)), evaluation,
                      video_url if video else None, has_plot=(run.dir / PLOT_NAME).is_file())
    try:
        for src, name in _run_files(run):
            dst = dest / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            stagers.get(src.suffix, _copy)(src, dst, secrets)
        if video:
            shutil.copyfile(video, dest / VIDEO_NAME)
        (dest / "README.md").write_text(secrets.scrub_text(card), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot stage the upload in {dest}: {exc.strerror or exc}") from None
    staged = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    for name in staged:
        source = secrets.found_in((dest / name).read_bytes())
        if source:
            raise UserError(f"{name} contains the value of {source} and cannot be scrubbed: not publishing")
    return staged

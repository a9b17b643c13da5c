#!/usr/bin/env python
"""Browse one episode of a trained agent step by step: ``python inspector.py --run-id @latest-run``.

A Gradio app (the ``inspector`` extra) on http://127.0.0.1:7860 by default. Pick a run, a checkpoint, greedy
or sampled actions and a seed, roll out an episode, then step through it: the rendered frame, the
observation the policy saw, the action and the whole action distribution, the value estimate, rewards,
returns and advantages; all steps as a table (CSV download). Tabs show the run's config, learning curve,
environment and network. The recording itself is :func:`utils.inspection.record_episode`; this file only
builds the UI.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import importlib.util
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils.cli import ArgumentParser, exit_with, run_command, stop_status
from utils.errors import UserError

if TYPE_CHECKING:
    from utils.inspection import EpisodeRecord

MAX_SEED = 2**32 - 1
PLAY_INTERVAL_S = 0.2
MAX_RUN_CHOICES = 200
CSS = "#frame img { object-fit: contain; } #obs-images img { image-rendering: pixelated; }"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="inspector.py",
        description="Browse an episode of a trained agent step by step in the browser (Gradio).",
        epilog="example:\n  python inspector.py --run-id @latest-run --port 7860 --host 127.0.0.1",
    )
    parser.add_argument("--run-id", "--run_id", dest="run_id", default="@latest-run", metavar="RUN_ID",
                        help="the run shown first: run id, a run folder's path, or @latest-run (default)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    return parser


def check_bind(host: str, port: int) -> None:
    """Fail early, in one line, where the server could not start: a bad host or a port in use."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port must be between 1 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"--host {host!r} is not an address of this machine ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "in use (pick another with --port)" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise UserError(f"cannot serve on {host}:{port}: {reason}") from None


def require_gradio() -> None:
    if importlib.util.find_spec("gradio") is None:
        raise UserError('the inspector needs the inspector extra: pip install -e ".[inspector]"')


# -- what the UI shows, from an EpisodeRecord ----------------------------------------------------------------


@dataclass
class EpisodeView:
    """A recorded episode with its images written to a folder Gradio can serve."""

    record: EpisodeRecord
    folder: Path
    frames: list[str | None]
    observations: list[list[str]]
    csv: str

    @classmethod
    def create(cls, record: EpisodeRecord) -> EpisodeView:
        folder = Path(tempfile.mkdtemp(prefix="gs-inspector-"))
        _TEMP_DIRS.append(folder)
        frames = [str(s.frame.save(folder / f"frame_{s.step:05d}.png")) if s.frame else None for s in record.steps]
        observations = [
            [str(image.save(folder / f"obs_{s.step:05d}_{i}.png")) for i, image in enumerate(s.observation_images)]
            for s in record.steps
        ]
        csv = str(record.write_csv(folder / f"episode_{record.run_id}_seed{record.seed}.csv"))
        return cls(record, folder, frames, observations, csv)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


_TEMP_DIRS: list[Path] = []


@atexit.register
def _remove_temp_dirs() -> None:
    for folder in _TEMP_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


def episode_summary(record: EpisodeRecord) -> str:
    config, steps = record.config, record.steps
    last = steps[-1] if steps else None
    ending = "-" if last is None else (
        "terminated" if last.terminated else "truncated (time limit)" if last.truncated else "cut")
    trained = "?" if record.env_steps is None else f"{record.env_steps:,}"
    shaped = record.score is not None and record.score != record.total_reward
    score = f", score {record.score:.2f} before shaping" if shaped else ""
    lines = [
        f"**{config.config_id}**, run `{record.run_id}`, `{record.checkpoint.name}` ({trained} env steps), "
        f"{'deterministic' if record.deterministic else 'stochastic'}, seed {record.seed}",
        f"{len(steps)} steps, return {record.total_reward:.2f}{score}, {ending}; "
        f"gamma {config.gamma}, GAE lambda {config.gae_lambda}",
    ]
    lines += [f"- {note}" for note in record.notes]
    return "\n\n".join(lines)


def step_details(record: EpisodeRecord, t: int) -> str:
    s = record.steps[t]
    index = str(int(s.action)) if record.discrete else s.action_label
    rows = [("step", f"{t} of {len(record.steps) - 1}"),
            ("action", s.action_label if s.action_label == index else f"{s.action_label} ({index})")]
    if record.discrete:
        probability = s.distribution["probs"][record.taken(t).index(True)]
        rows.append(("probability of the action", f"{probability:.4f}"))
    rows += [
        ("value V(s)", f"{s.value:.4f}"),
        ("reward", f"{s.reward:.4f}"),
        ("cumulative return", f"{s.cumulative_return:.4f}"),
        ("discounted return-to-go", f"{s.return_to_go:.4f}"),
        ("GAE advantage", f"{s.advantage:.4f}"),
        ("terminated", "yes" if s.terminated else "no"),
        ("truncated", "yes" if s.truncated else "no"),
    ]
    return "| quantity | value |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def distribution_frame(record: EpisodeRecord, t: int):
    """The bar chart's data (discrete) or the mean/std table (continuous)."""
    import pandas as pd

    s = record.steps[t]
    if record.continuous:
        taken = s.action.ravel()
        return pd.DataFrame({"dimension": record.action_labels, "mean": s.distribution["mean"],
                             "std": s.distribution["std"], "action": taken}).round(4)
    return pd.DataFrame({"action": record.action_labels, "probability": s.distribution["probs"],
                         "taken": ["taken" if taken else "other" for taken in record.taken(t)]})


def observation_frame(record: EpisodeRecord, t: int):
    import pandas as pd

    values = record.steps[t].observation.ravel()
    return pd.DataFrame({"index": range(len(values)), "value": values})


def run_choices(initial: str, initial_id: str) -> list[tuple[str, str]]:
    """(label, value) pairs: the run given on the command line first, then local runs, newest first."""
    from utils.runs import RUNS_DIR, list_runs

    choices = [(_run_label(initial, RUNS_DIR / initial_id), initial)]
    for run_id in list_runs()[:MAX_RUN_CHOICES]:
        if run_id != initial_id:
            choices.append((_run_label(run_id, RUNS_DIR / run_id), run_id))
    return choices


def _run_label(name: str, folder: Path) -> str:
    try:
        results = json.loads((folder / "results.json").read_text())
        best = results.get("best_eval_reward")
        best = "-" if best is None else f"{best:.1f}"
        return f"{name}: {results['config_id']} ({results['status']}, best eval {best})"
    except (OSError, ValueError, KeyError, TypeError):
        return name


# -- the app ---------------------------------------------------------------------------------------------------


def build_app(initial_run: str, initial_id: str):
    import gradio as gr

    from loggers.plots import learning_curve_figure
    from utils.inspection import describe_env, describe_network, load_for_inspection, record_episode
    from utils.runs import resolve_run

    def user_errors(fn):
        def wrapped(*args):
            try:
                return fn(*args)
            except UserError as exc:
                raise gr.Error(str(exc)) from None
        return wrapped

    @user_errors
    def describe_run(run_id: str, checkpoint: str):
        run = resolve_run(run_id)
        config = run.load_config_dict()
        try:
            curve = learning_curve_figure(run.dir)
        except (FileNotFoundError, ValueError, KeyError):
            curve = None
        agent, _ = load_for_inspection(run, checkpoint)
        try:
            env_text, net_text = describe_env(agent), describe_network(agent.policy)
        finally:
            agent.close()
        return json.dumps(config, indent=2), curve, env_text, net_text

    @user_errors
    def roll_out(run_id: str, checkpoint: str, mode: str, seed: float | None, view: EpisodeView | None):
        if seed is None or seed != int(seed) or not 0 <= seed <= MAX_SEED:
            raise UserError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
        record = record_episode(resolve_run(run_id), checkpoint, int(seed), mode == "deterministic")
        if view is not None:
            view.discard()
        view = EpisodeView.create(record)
        import pandas as pd

        last = max(len(record.steps) - 1, 0)
        slider = gr.Slider(minimum=0, maximum=last, value=0, step=1, interactive=last > 0)
        return (view, episode_summary(record), slider,
                pd.DataFrame(record.rows()).round(4), gr.DownloadButton(value=view.csv, interactive=True),
                *show_step(view, 0))

    def show_step(view: EpisodeView | None, t: float | None):
        if view is None or not view.record.steps:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        record, t = view.record, min(int(t or 0), len(view.record.steps) - 1)
        images = bool(view.observations[t])
        return (
            view.frames[t],
            step_details(record, t),
            gr.BarPlot(value=distribution_frame(record, t), sort=record.action_labels, visible=not record.continuous),
            gr.Dataframe(value=distribution_frame(record, t), visible=record.continuous),
            gr.Gallery(value=view.observations[t] if images else None, visible=images),
            gr.Dataframe(value=None if images else observation_frame(record, t), visible=not images),
        )

    def toggle_play(playing: bool, view: EpisodeView | None, t: float):
        playing = not playing and view is not None and len(view.record.steps) > 1
        restart = playing and int(t) >= len(view.record.steps) - 1
        return (playing, gr.Timer(active=playing), gr.Button("Pause" if playing else "▶ Play"),
                0 if restart else gr.skip())

    def tick(view: EpisodeView | None, t: float):
        if view is None or int(t) >= len(view.record.steps) - 1:
            return gr.skip(), False, gr.Timer(active=False), gr.Button("▶ Play")
        return int(t) + 1, True, gr.skip(), gr.skip()

    with gr.Blocks(title="gymnasium-solver inspector", analytics_enabled=False) as app:
        gr.Markdown("## gymnasium-solver inspector")
        with gr.Row():
            run = gr.Dropdown(run_choices(initial_run, initial_id), value=initial_run, label="run",
                              allow_custom_value=True, scale=3)
            checkpoint = gr.Radio(["best", "last"], value="best", label="checkpoint")
            mode = gr.Radio(["deterministic", "stochastic"], value="deterministic", label="actions")
            seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed")
            rollout = gr.Button("Roll out episode", variant="primary", elem_id="rollout-button")
        view, playing = gr.State(None), gr.State(False)
        with gr.Tabs():
            with gr.Tab("Episode"):
                summary = gr.Markdown("Choose a run and roll out an episode.", elem_id="episode-summary")
                with gr.Row():
                    step = gr.Slider(0, 1, value=0, step=1, label="step", interactive=False, elem_id="step-slider",
                                     scale=5)
                    play = gr.Button("▶ Play", elem_id="play-button", scale=1)
                timer = gr.Timer(PLAY_INTERVAL_S, active=False)
                with gr.Row():
                    frame = gr.Image(label="rendered frame", type="filepath", interactive=False, elem_id="frame",
                                     height=360)
                    with gr.Column():
                        details = gr.Markdown(elem_classes="step-details", elem_id="step-details")
                        probs = gr.BarPlot(x="action", y="probability", color="taken", y_lim=[0, 1], height=220,
                                           label="action probabilities (the action taken in orange)",
                                           color_map={"taken": "#e4572e", "other": "#7a8ca3"}, colors_in_legend=[])
                        moments = gr.Dataframe(label="action distribution (mean, std) and the action taken",
                                               visible=False)
                with gr.Row():
                    obs_images = gr.Gallery(label="observation the policy saw (each stacked frame, oldest first)",
                                            visible=False, columns=4, height="auto", object_fit="contain",
                                            allow_preview=False, elem_id="obs-images")
                    obs_values = gr.Dataframe(label="observation the policy saw", max_height=260)
                table = gr.Dataframe(label="all steps", max_height=400, elem_id="steps-table")
                download = gr.DownloadButton("Download CSV", interactive=False, elem_id="csv-download")
            with gr.Tab("Config"):
                config_code = gr.Code(language="json", label="config.json")
            with gr.Tab("Learning curve"):
                curve = gr.Plot(label="episode reward")
            with gr.Tab("Environment"):
                env_code = gr.Code(label="spaces and wrappers")
            with gr.Tab("Network"):
                net_code = gr.Code(label="policy network")

        step_outputs = [frame, details, probs, moments, obs_images, obs_values]
        described = [config_code, curve, env_code, net_code]
        app.load(describe_run, [run, checkpoint], described)
        run.change(describe_run, [run, checkpoint], described)
        checkpoint.change(describe_run, [run, checkpoint], described)
        rollout.click(roll_out, [run, checkpoint, mode, seed, view],
                      [view, summary, step, table, download, *step_outputs], concurrency_limit=1)
        step.change(show_step, [view, step], step_outputs, show_progress="hidden")
        play.click(toggle_play, [playing, view, step], [playing, timer, play, step])
        timer.tick(tick, [view, step], [step, playing, timer, play], show_progress="hidden")
    return app


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: serve(build_parser().parse_strict(argv)))


def serve(args: argparse.Namespace) -> int:
    """Start the server and block until Ctrl-C or SIGTERM (the exit status then says which)."""
    from utils.runs import LATEST, resolve_run

    run = resolve_run(args.run_id)  # the arguments first: none of their checks needs Gradio
    run.best_or_last_checkpoint()
    check_bind(args.host, args.port)
    require_gradio()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    initial = run.run_id if args.run_id == LATEST else args.run_id
    app = build_app(initial, run.run_id)
    try:
        app.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True, ssr_mode=False,
                   quiet=True, show_error=True, theme=gr.themes.Soft(), css=CSS)
    except OSError as exc:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    print(f"inspector: http://{args.host}:{args.port} (run {run.run_id}; Ctrl-C to stop)", flush=True)
    try:
        app.block_thread()  # returns on Ctrl-C or SIGTERM (gradio catches the KeyboardInterrupt)
    finally:
        app.close()
    return stop_status() or 0


if __name__ == "__main__":
    os.environ.setdefault("VIBES_DISABLE_SESSION_LOGS", "1")
    exit_with(main)

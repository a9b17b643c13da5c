"""publish.py and ``play.py --run-id hf:...`` against a local stand-in for the Hugging Face Hub.

The real huggingface_hub client code runs in subprocesses pointed at the stand-in with HF_ENDPOINT (read
when huggingface_hub is imported): what arrives in the commit, what the model card says, what comes back
down, and one clear error line (exit 2, run folder untouched) for every kind of bad input or failure.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from cli_helpers import cli_env, latest_run, one_error_line, run_code, run_script, snapshot
from hub_standin import HubStandIn, Repo  # tests/ is on sys.path (pytest's default import mode)

from utils.errors import UserError

needs_hub = pytest.mark.skipif(importlib.util.find_spec("huggingface_hub") is None,
                               reason="needs the hub extra: pip install -e '.[hub]'")

TOKEN = "hf_" + "Tok3n" * 7  # the shape of a Hugging Face token
USER = "alice"
REPO = f"{USER}/CartPole-v1-ppo"  # the default name for CartPole-v1:ppo
SECRET_NAMES = re.compile(r"TOKEN|KEY|SECRET|PASSW|CREDENTIAL", re.I)


# -- helpers --------------------------------------------------------------------------------------------
def unreachable_endpoint() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def run_cli(script: str, *args: str, cwd: Path, endpoint: str, token: str | None = TOKEN,
            **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in cli_env().items() if not k.startswith("HF_") and not SECRET_NAMES.search(k)}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(cwd / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if token:
        env["HF_TOKEN"] = token
    env.update(extra_env)
    return run_script(script, *args, cwd=cwd, env=env)


def episode_returns(stdout: str) -> list[float]:
    return [float(r) for r in re.findall(r"^episode \d+: return ([-\d.]+)", stdout, flags=re.M)]


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder holding ``runs/<id>/``: a tiny CartPole-v1:ppo run with its evaluation videos."""
    import train  # trained in-process: Lightning's import is paid once per test session

    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("VIBES_DISABLE_SESSION_LOGS", "1")
        assert train.main(["CartPole-v1:ppo", "--max-steps", "1024", "--eval_freq", "1024", "-q"]) == 0
    run = (root / "runs" / "@latest-run").resolve()
    assert (run / "videos" / "best.mp4").is_file()  # training recorded it: the preview
    return root


@pytest.fixture
def workdir(trained, tmp_path) -> Path:
    """A private copy of the trained folder, to run commands in."""
    shutil.copytree(trained / "runs", tmp_path / "runs", symlinks=True)
    return tmp_path


@pytest.fixture(scope="module")
def published(trained, tmp_path_factory):
    """The trained run published (with the default repo name) to a stand-in Hub that stays up."""
    work = tmp_path_factory.mktemp("publish")
    shutil.copytree(trained / "runs", work / "runs", symlinks=True)
    before = snapshot(work / "runs")
    with HubStandIn(user=USER, tokens={TOKEN}) as hub:
        result = run_cli("publish.py", cwd=work, endpoint=hub.url)
        assert result.returncode == 0, result.stderr
        yield hub, work, result, before


# -- publishing -----------------------------------------------------------------------------------------
@needs_hub
def test_publish_uploads_the_run_in_one_commit(published):
    hub, work, result, before = published
    run = latest_run(work)
    repo = hub.repos[REPO]
    assert len(repo.commits) == 1
    assert sorted(repo.commits[0].added) == [
        "README.md",
        "artifacts/checkpoints/best.ckpt",
        "artifacts/checkpoints/last.ckpt",
        "artifacts/config.json",
        "artifacts/logs/metrics.csv",
        "artifacts/results.json",
        "replay.mp4",
    ]
    for name in ("config.json", "results.json", "logs/metrics.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert repo.files[f"artifacts/{name}"] == (run / name).read_bytes(), name  # nothing to scrub: as is
    assert repo.files["replay.mp4"] == (run / "videos" / "best.mp4").read_bytes()
    assert all(TOKEN.encode() not in content for content in repo.files.values())
    assert repo.commits[0].summary == f"Upload CartPole-v1:ppo agent (run {run.name})"
    assert not repo.private
    assert f"published {hub.url}/{REPO}" in result.stdout
    assert f"python play.py --run-id hf:{REPO}" in result.stdout
    assert snapshot(work / "runs") == before  # the run folder is only read
    # the staging folder is removed after the upload
    staged = re.search(r" in (\S+):\n", result.stdout).group(1)
    assert not Path(staged).exists()


@needs_hub
def test_model_card_metadata_and_body(published):
    from huggingface_hub import ModelCard

    hub, work, result, _ = published
    card = ModelCard(hub.repos[REPO].files["README.md"].decode())
    assert card.data.library_name == "gymnasium-solver"
    assert {"CartPole-v1", "reinforcement-learning", "ppo", "gymnasium-solver"} <= set(card.data.tags)
    (evaluation,) = card.data.eval_results
    assert (evaluation.task_type, evaluation.dataset_type, evaluation.dataset_name) == (
        "reinforcement-learning", "CartPole-v1", "CartPole-v1")
    assert evaluation.metric_type == "mean_reward"
    mean, std = (float(x) for x in re.fullmatch(r"([-\d.]+) \+/- ([-\d.]+)", evaluation.metric_value).groups())
    printed = re.search(r"mean reward ([-\d.]+) \+/- ([-\d.]+)", result.stdout).groups()
    assert (mean, std) == tuple(float(x) for x in printed)
    returns = [float(r) for r in re.search(r"Episode returns: (.*)", card.text).group(1).split(", ")]
    assert len(returns) == 10  # CartPole-v1:ppo's eval_episodes
    assert mean == pytest.approx(sum(returns) / 10, abs=0.005)
    assert std == pytest.approx((sum((r - sum(returns) / 10) ** 2 for r in returns) / 10) ** 0.5, abs=0.005)
    assert f"python play.py --run-id hf:{REPO} --checkpoint best --episodes 10 --seed 42" in card.text
    assert "python train.py CartPole-v1:ppo --seed=42 --max_timesteps=1024 --eval_freq=1024" in card.text
    assert f'<video controls autoplay loop muted src="{hub.url}/{REPO}/resolve/main/replay.mp4">' in card.text


@needs_hub
def test_round_trip_plays_the_same_episodes_and_the_cards_numbers(published):
    """Download with play.py --run-id hf:..., play, and get the local run's returns and the card's mean."""
    hub, work, _, _ = published
    remote = run_cli("play.py", "--run-id", f"hf:{REPO}", "--episodes", "10", "--seed", "42", cwd=work,
                     endpoint=hub.url)
    assert remote.returncode == 0, remote.stderr
    local = run_cli("play.py", "--run-id", "@latest-run", "--episodes", "3", "--seed", "42", cwd=work,
                    endpoint=hub.url)
    assert local.returncode == 0, local.stderr
    returns = episode_returns(remote.stdout)
    assert len(returns) == 10 and episode_returns(local.stdout) == returns[:3]
    card = hub.repos[REPO].files["README.md"].decode()
    mean = float(re.search(r"value: ([-\d.]+) \+/-", card).group(1))
    assert mean == pytest.approx(sum(returns) / 10, abs=0.005)
    # downloaded into the Hugging Face cache, the artifacts only (not the video)
    assert "hf-home/hub/models--alice--CartPole-v1-ppo/snapshots/" in remote.stdout
    snapshots = list((work / "hf-home" / "hub" / "models--alice--CartPole-v1-ppo" / "snapshots").iterdir())
    assert len(snapshots) == 1 and not (snapshots[0] / "replay.mp4").exists()
    # offline, the cached agent still plays
    offline = run_cli("play.py", "--run-id", f"hf:{REPO}", "--episodes", "3", "--seed", "42", cwd=work,
                      endpoint=unreachable_endpoint())
    assert offline.returncode == 0, offline.stderr
    assert episode_returns(offline.stdout) == returns[:3]


@needs_hub
def test_republishing_replaces_what_the_last_publish_left(published):
    hub, work, _, _ = published
    for video in (latest_run(work) / "videos").glob("*.mp4"):
        video.unlink()
    result = run_cli("publish.py", "--repo", REPO, cwd=work, endpoint=hub.url)
    assert result.returncode == 0, result.stderr
    repo = hub.repos[REPO]
    assert len(repo.commits) == 2
    assert repo.commits[1].deleted == ["replay.mp4"]
    assert "replay.mp4" not in repo.files and "README.md" in repo.files
    assert "<video" not in repo.files["README.md"].decode()


@needs_hub
def test_private_repo_with_an_explicit_name(workdir):
    with HubStandIn(user=USER, tokens={TOKEN}) as hub:
        result = run_cli("publish.py", "--repo", "my-agent", "--private", cwd=workdir, endpoint=hub.url)
        assert result.returncode == 0, result.stderr
        assert list(hub.repos) == [f"{USER}/my-agent"] and hub.repos[f"{USER}/my-agent"].private


# -- dry run and secrets --------------------------------------------------------------------------------
@needs_hub
def test_dry_run_stages_without_a_login_or_network(workdir):
    """No token, no Hub, a read-only run folder: the staged folder is printed and kept; nothing else changes."""
    run = latest_run(workdir)
    for path in [run, *run.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    before = snapshot(workdir / "runs")
    try:
        result = run_cli("publish.py", "--dry-run", cwd=workdir, endpoint=unreachable_endpoint(), token=None)
    finally:
        for path in [run, *run.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert result.returncode == 0, result.stderr
    staged = Path(re.search(r"staged 7 files for your-username/CartPole-v1-ppo in (\S+):", result.stdout).group(1))
    listed = re.findall(r"^  (\S+) +[\d.]+ k?M?B$", result.stdout, flags=re.M)
    assert listed == sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    assert "replay.mp4" in listed and "README.md" in listed
    assert "nothing uploaded" in result.stdout
    assert snapshot(workdir / "runs") == before
    assert sorted(p.name for p in workdir.iterdir()) == ["runs"]  # nothing written where it ran
    shutil.rmtree(staged)


@needs_hub
def test_no_secret_from_the_environment_reaches_the_staged_folder(workdir):
    import torch

    secrets = {"HF_TOKEN": TOKEN, "WANDB_API_KEY": "0123456789abcdef0123456789abcdef01234567",
               "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "DB_PASSWORD": "hunter2-hunter2"}
    run = latest_run(workdir)
    # a secret pasted into the config (and so into the checkpoints that embed it) and into the metrics
    config = json.loads((run / "config.json").read_text())
    config["description"] = f"trained with key {secrets['WANDB_API_KEY']}"
    (run / "config.json").write_text(json.dumps(config))
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        state["config"]["description"] = config["description"]
        torch.save(state, ckpt)
    with open(run / "logs" / "metrics.csv", "a") as handle:
        handle.write(f"# {secrets['DB_PASSWORD']} {secrets['AWS_SECRET_ACCESS_KEY']}\n")
    result = run_cli("publish.py", "--dry-run", "--repo", REPO, cwd=workdir, endpoint=unreachable_endpoint(),
                     token=None, **secrets)
    assert result.returncode == 0, result.stderr
    staged = Path(re.search(r" in (\S+):\n", result.stdout).group(1))
    files = [p for p in staged.rglob("*") if p.is_file()]
    assert len(files) == 7
    for path in files:
        content = path.read_bytes()
        for name, value in secrets.items():
            assert value.encode() not in content, f"{name} in {path.name}"
    assert json.loads((staged / "artifacts/config.json").read_text())["description"] == "trained with key <redacted>"
    for ckpt in (staged / "artifacts/checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        assert state["config"]["description"] == "trained with key <redacted>"
    assert "# <redacted> <redacted>" in (staged / "artifacts/logs/metrics.csv").read_text()
    shutil.rmtree(staged)


@needs_hub
def test_a_secret_that_cannot_be_scrubbed_stops_the_publish(workdir, tmp_path_factory):
    key = "0123456789abcdef0123456789abcdef01234567"
    (latest_run(workdir) / "videos" / "best.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + key.encode() + b"\x00")
    before = snapshot(workdir / "runs")
    tmp = tmp_path_factory.mktemp("staging-tmp")
    line = one_error_line(run_cli("publish.py", "--dry-run", cwd=workdir, endpoint=unreachable_endpoint(),
                                  WANDB_API_KEY=key, TMPDIR=str(tmp)))
    assert line == "error: replay.mp4 contains the value of WANDB_API_KEY and cannot be scrubbed: not publishing"
    assert list(tmp.iterdir()) == []  # the staged folder is removed
    assert snapshot(workdir / "runs") == before


# -- hostile input: one error line, exit 2, the run folder untouched ------------------------------------------
@pytest.mark.parametrize("repo, expected", [
    ("a/b/c", "expected name or user/name"),
    ("-x", "each part is"),
    ("", "each part is"),
    ("alice/bad name", "each part is"),
    ("alice/two--dashes", "each part is"),
    ("alice/x.git", "'.git'"),
    ("alice/" + "x" * 97, "each part is"),
])
def test_bad_repo_ids(workdir, repo, expected):
    before = snapshot(workdir / "runs")
    line = one_error_line(run_cli("publish.py", f"--repo={repo}", cwd=workdir, endpoint=unreachable_endpoint()))
    assert expected in line and repr(repo) in line
    assert snapshot(workdir / "runs") == before


@needs_hub
def test_errors_before_any_upload(workdir):
    endpoint = unreachable_endpoint()
    before = snapshot(workdir / "runs")
    line = one_error_line(run_cli("publish.py", cwd=workdir, endpoint=endpoint, token=None))
    assert "not logged in" in line and "hf auth login" in line and "HF_TOKEN" in line
    line = one_error_line(run_cli("publish.py", "--run-id", "nope1234", cwd=workdir, endpoint=endpoint))
    assert "nope1234" in line and latest_run(workdir).name in line
    line = one_error_line(run_cli("publish.py", cwd=workdir, endpoint=endpoint))
    assert "cannot reach the Hugging Face Hub" in line and endpoint in line
    line = one_error_line(run_cli("publish.py", "--run-id=", cwd=workdir, endpoint=endpoint))
    assert "a run id is required" in line
    line = one_error_line(run_cli("publish.py", "--bogus", cwd=workdir, endpoint=endpoint))
    assert "--bogus" in line
    assert snapshot(workdir / "runs") == before
    for ckpt in (latest_run(workdir) / "checkpoints").glob("*.ckpt"):
        ckpt.unlink()
    line = one_error_line(run_cli("publish.py", "--dry-run", cwd=workdir, endpoint=endpoint))
    assert "no checkpoint" in line


@needs_hub
def test_a_rejected_token_is_one_line(workdir):
    with HubStandIn(user=USER, tokens={TOKEN}) as hub:
        line = one_error_line(run_cli("publish.py", cwd=workdir, endpoint=hub.url, token="hf_" + "x" * 34))
        assert "rejected the token" in line and "hf auth login" in line
        assert hub.requests == [("GET", "/api/whoami-v2")] and not hub.repos


def test_missing_hub_extra_names_the_install_command(workdir):
    code = "import sys; sys.modules['huggingface_hub'] = None; import publish; sys.exit(publish.main(['--dry-run']))"
    result = run_code(code, cwd=workdir)
    assert 'pip install -e ".[hub]"' in one_error_line(result)


@needs_hub
def test_play_from_the_hub_errors(workdir):
    with HubStandIn(user=USER, tokens={TOKEN}) as hub:
        line = one_error_line(run_cli("play.py", "--run-id", "hf:alice/missing", cwd=workdir, endpoint=hub.url))
        assert "hf:alice/missing" in line and "not found" in line
        line = one_error_line(run_cli("play.py", "--run-id", "hf:missing", cwd=workdir, endpoint=hub.url))
        assert "expected user/name" in line
        hub.repos["alice/not-an-agent"] = Repo(private=False)
        hub.commit("alice/not-an-agent", {"README.md": b"# a model from another library\n"})
        line = one_error_line(run_cli("play.py", "--run-id", "hf:alice/not-an-agent", cwd=workdir, endpoint=hub.url))
        assert "not a gymnasium-solver agent" in line and "artifacts/config.json" in line
        line = one_error_line(run_cli("play.py", "--run-id", f"hf:{REPO}@v9", cwd=workdir, endpoint=hub.url))
        assert "no such revision" in line or "not found" in line
    endpoint = unreachable_endpoint()
    line = one_error_line(run_cli("play.py", "--run-id", "hf:alice/x", cwd=workdir, endpoint=endpoint))
    assert "cannot reach the Hub" in line and "not in the local cache" in line


# -- the parts, in-process --------------------------------------------------------------------------------
def test_secrets_are_found_by_name_and_shape():
    from utils.hub.scrub import REDACTED, Secrets

    secrets = Secrets.from_environment(
        {"WANDB_API_KEY": "k" * 40, "MY_DB_PASSWORD": "correct-horse", "TOKENIZERS_PARALLELISM": "false",
         "HOME": "/home/alice-the-user", "OPENAI_APIKEY": "sk-123456789"},
        extra={"the saved login": "hf_saved_login_token", "no login": None},
    )
    assert set(secrets.sources.values()) == {"WANDB_API_KEY", "MY_DB_PASSWORD", "OPENAI_APIKEY", "the saved login"}
    assert secrets.scrub_text("/home/alice-the-user correct-horse false") == f"/home/alice-the-user {REDACTED} false"
    other_token = "hf_" + "Z" * 34  # not in the environment, but shaped like a Hugging Face token
    assert secrets.scrub_text(f"token={other_token}") == f"token={REDACTED}"
    data = {"env_kwargs": {"apiKey": 12345678, "Password": "x", "mode": "fast", "token_budget": [1, 2]},
            "description": "uses " + "k" * 40, "hidden_dims": (64, 64), "flag": True}
    assert secrets.scrub_data(data) == {
        "env_kwargs": {"apiKey": REDACTED, "Password": REDACTED, "mode": "fast", "token_budget": [1, 2]},
        "description": f"uses {REDACTED}", "hidden_dims": (64, 64), "flag": True}
    assert secrets.found_in(b"\x00\x01" + b"k" * 40) == "WANDB_API_KEY"
    assert secrets.found_in(other_token.encode()) == "a Hugging Face token"
    assert secrets.found_in(b"nothing to see") is None


@pytest.mark.parametrize("repo_id", ["alice/CartPole-v1-ppo", "my-agent", "org_1/a.b_c", "a/b"])
def test_good_repo_ids(repo_id):
    from utils.hub.client import check_repo_id

    assert check_repo_id(repo_id, need_namespace=False) == repo_id


def test_repo_id_rules():
    from utils.hub.client import check_repo_id, default_repo_name

    with pytest.raises(UserError, match="expected user/name"):
        check_repo_id("just-a-name", need_namespace=True)
    for bad in ("/x", "alice/", "alice/.hidden", "alice/x-", "alice/a..b", "alice/é"):
        with pytest.raises(UserError, match="each part is"):
            check_repo_id(bad, need_namespace=False)
    assert default_repo_name("CartPole-v1:ppo") == "CartPole-v1-ppo"
    assert default_repo_name("ALE/Pong-v5:ppo_fast") == "ALE-Pong-v5-ppo_fast"
    assert default_repo_name("VizDoom-Basic-v0::..:x") == "VizDoom-Basic-v0-x"
    assert default_repo_name(":::") == "agent"
    assert len(default_repo_name("x" * 200 + ":ppo")) == 96
    for config_id in ("CartPole-v1:ppo", "ALE/Pong-v5:ppo_fast", "a b:c--d"):
        check_repo_id(default_repo_name(config_id), need_namespace=False)


def test_preview_video_prefers_best_then_the_latest_step(tmp_path):
    from utils.hub.staging import preview_video
    from utils.runs import Run

    run = Run("r", tmp_path)
    (tmp_path / "videos").mkdir()
    assert preview_video(run) is None
    for name in ("step_00000900.mp4", "step_00010000.mp4", "step_00002000.mp4", "notes.txt"):
        (tmp_path / "videos" / name).write_bytes(b"")
    assert preview_video(run).name == "step_00010000.mp4"  # by step, not by name or age
    (tmp_path / "videos" / "best.mp4").write_bytes(b"")
    assert preview_video(run).name == "best.mp4"


@needs_hub
def test_staging_somewhere_unwritable_is_one_line(trained, tmp_path):
    from utils.hub.card import Evaluation
    from utils.hub.scrub import Secrets
    from utils.hub.staging import stage_run
    from utils.runs import resolve_run

    run = resolve_run(str(latest_run(trained)))
    (tmp_path / "a-file").write_text("")
    evaluation = Evaluation([1.0, 3.0], [1, 3], seed=0, deterministic=True, checkpoint="best", env_steps=None)
    with pytest.raises(UserError, match="cannot stage the upload in") as caught:
        stage_run(run, REPO, evaluation, Secrets({}), tmp_path / "a-file" / "stage", "http://x/replay.mp4")
    assert "\n" not in str(caught.value)
    assert (evaluation.mean, evaluation.std, evaluation.metric_value) == (2.0, 1.0, "2.00 +/- 1.00")


def test_reproduce_command_lists_what_differs_from_the_shipped_config():
    from utils.config import load_config
    from utils.hub.card import reproduce_command

    config = load_config("CartPole-v1", "ppo", {"seed": 7, "n_envs": 16, "hidden_dims": [32, 32],
                                                "env_kwargs": {"sutton_barto_reward": True}}).to_dict()
    command = reproduce_command(config)
    assert command.startswith("python train.py CartPole-v1:ppo --seed=7 ")
    assert "--n_envs=16" in command and "'--hidden_dims=[32, 32]'" in command
    assert "'--env_kwargs={\"sutton_barto_reward\": true}'" in command
    assert reproduce_command({**config, "project_id": "NotShipped-v0"}) is None


def test_hub_code_is_imported_lazily(tmp_path):
    code = ("import sys, play, publish, utils.runs, utils.hub.client; "
            "print(sorted(m for m in ('huggingface_hub', 'torch', 'pytorch_lightning') if m in sys.modules))")
    result = run_code(code, cwd=tmp_path)
    assert result.stdout.strip() == "[]", result.stderr


def test_help_lists_the_flags(tmp_path):
    result = run_cli("publish.py", "--help", cwd=tmp_path, endpoint=unreachable_endpoint())
    assert result.returncode == 0 and result.stderr == ""
    for option in ("--run-id", "--repo", "--private", "--dry-run"):
        assert option in result.stdout

"""Plot a run's learning curve: ``python scripts/plot_run.py [RUN_ID|@latest-run|PATH]``.

Writes ``runs/<id>/learning_curve.png`` (train and eval ep_rew_mean against env steps, with the reward
threshold dashed) and prints its path. A bad run id is one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loggers.plots import METRICS_CSV, plot_learning_curve  # noqa: E402
from utils.cli import ArgumentParser, exit_with  # noqa: E402
from utils.errors import UserError  # noqa: E402
from utils.runs import LATEST, resolve_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="plot_run.py",
                            description="Plot a run's learning curve to runs/<id>/learning_curve.png.")
    parser.add_argument("run", nargs="?", default=LATEST, help=f"run id under ./runs, {LATEST} (default) or a run folder")
    try:
        args = parser.parse_strict(argv)
        run = resolve_run(args.run)
        if not (run.dir / METRICS_CSV).is_file():
            raise UserError(f"run '{run.run_id}' has no metrics at {run.dir / METRICS_CSV}")
        try:
            print(plot_learning_curve(run.dir))
        except ValueError as exc:  # a damaged metrics.csv or results.json
            raise UserError(f"cannot plot run '{run.run_id}': {str(exc).splitlines()[0]}") from None
        except OSError as exc:
            raise UserError(f"cannot plot run '{run.run_id}': {exc.strerror or exc}") from None
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    exit_with(main)

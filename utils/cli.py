"""What every entry point's command line shares: argparse errors as one ``error:`` line (exit 2), and
SIGTERM handled like Ctrl-C (exit 143 and 130)."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

from utils.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with errors raised as :class:`UserError` (printed as one line by the entry point) and no
    prefix matching of option names (``--n`` must not silently mean ``--n_envs``). ``renamed`` maps options of
    earlier versions to their new names, which an unknown option's message then suggests."""

    def __init__(self, *args, renamed: dict[str, str] | None = None, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def error(self, message: str) -> NoReturn:
        missing = re.fullmatch(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        if missing:
            option = missing.group(1)
            message = f"{option} needs a value: {option} VALUE or {option}=VALUE"
        raise UserError(message)

    def parse_strict(self, argv: list[str] | None) -> argparse.Namespace:
        """parse_args, with an unknown option reported as one line suggesting the closest known one."""
        args, rest = self.parse_known_args(argv)
        if rest:
            name = rest[0].partition("=")[0].replace("_", "-")
            renamed = next((new for old, new in self.renamed.items() if old.replace("_", "-") == name), None)
            if renamed is not None:
                raise UserError(f"unknown option {rest[0].partition('=')[0]} (renamed: use {renamed})")
            raise UserError(unknown_argument_message(rest[0], self.option_names()))
        return args

    def option_names(self) -> list[str]:
        return [name for action in self._actions for name in action.option_strings if name.startswith("--")]


def unknown_argument_message(arg: str, options: list[str]) -> str:
    if not arg.startswith("-"):
        return f"unexpected argument {arg!r} (options look like --name value or --name=value)"
    name = arg.partition("=")[0]
    match = difflib.get_close_matches(name.replace("-", "_"), [o.replace("-", "_") for o in options], n=1)
    if match:
        shown = next(o for o in options if o.replace("-", "_") == match[0])
        return f"unknown option {name} (did you mean {shown}?)"
    return f"unknown option {name} (see --help)"


_stopped_by: int | None = None


def _stop(signum: int, frame: object) -> None:
    global _stopped_by
    _stopped_by = signum
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_handled() -> Iterator[None]:
    """Within the block, SIGTERM (``kill``, ``timeout``, schedulers, containers) stops the process as Ctrl-C
    does: a KeyboardInterrupt in the main thread, so cleanup runs (temporary files, servers); then
    :func:`stop_status` gives the exit status. The previous handlers are put back after the block.
    Signal handlers can only be set from the main thread: elsewhere this does nothing."""
    global _stopped_by
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stopped_by = None
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_status() -> int | None:
    """The exit status for the stop signal received (143 for SIGTERM, 130 for Ctrl-C), None if none was."""
    return None if _stopped_by is None else 128 + _stopped_by


def run_command(command: Callable[[], int | None], interrupted: str | None = None) -> int:
    """An entry point's work, ended the same way everywhere: a :class:`UserError` is one ``error:`` line and
    status 2; Ctrl-C or SIGTERM (see :func:`stop_signals_handled`) is 130/143 after cleanup, with the line
    ``interrupted`` when given; otherwise the command's status (None: 0)."""
    with stop_signals_handled():
        try:
            return command() or 0
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if interrupted:
                print(interrupted, file=sys.stderr)
            return stop_status() or 130


def exit_with(main: Callable[[], int | None]) -> NoReturn:
    """``sys.exit(main())``, except that a reader of stdout that goes away (``train.py --list | head``) ends
    the process quietly with status 141, as Unix tools do on SIGPIPE, instead of a BrokenPipeError traceback."""
    try:
        try:
            status = main()
        except SystemExit as stop:  # --help, argparse's own exits: their output is still to be flushed
            status = stop.code
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit
        status = 128 + signal.SIGPIPE
    sys.exit(status)

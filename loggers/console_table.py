"""Live console table of the latest metrics, their change and their recent trend, with a progress footer.

On a terminal the table is redrawn in place (rich ``Live``) at most every ``refresh_s`` seconds; anything
printed meanwhile appears above it. Without a terminal (CI, a log file) plain blocks are appended
instead: at most one every ``plain_every_s`` seconds, one per new evaluation result, and a final one.

``log_metrics`` only stores values (and checks bounds); all formatting happens at redraw time, so the
per-update cost stays in the tens of microseconds.
"""

from __future__ import annotations

import atexit
import io
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.file_proxy import FileProxy
from rich.live import Live
from rich.segment import Segment
from rich.style import Style

from .metrics_spec import MetricSpec, MetricsSpec, load_metrics_spec
from .session_log import TeeStream
from .sparkline import sparkline

WIDTH = 100
NAMESPACE_ORDER = ("train", "eval", "time")
OUT_OF_BOUNDS = "bold yellow"
TREND_WIDTH = 32  # at most; narrower terminals get a shorter trend column
BAR_WIDTH = 40
# (header, width, alignment) of the columns before the trend
FIXED_COLUMNS = (("", 5, "<"), ("metric", 20, "<"), ("value", 11, ">"), ("change", 11, ">"))
FIXED_WIDTH = sum(width + 3 for _, width, _ in FIXED_COLUMNS) + 4  # + the trend column's padding and edge
Columns = tuple[tuple[str, int, str], ...]
# Lines around the rows: title, top edge, header, header rule, bottom edge, two footer lines.
_FRAME_LINES = 7


def delta_style(delta: float, higher_is_better: bool | None) -> str:
    """Green when the change goes the good way, red when it goes the bad way, dim when neutral or zero."""
    if higher_is_better is None or delta == 0 or delta != delta:
        return "dim"
    return "green" if (delta > 0) == higher_is_better else "red"


def value_style(spec: MetricSpec, value: float) -> str:
    """Yellow when out of bounds, else the metric's highlight (e.g. blue for the running bests)."""
    if spec.violation(value):
        return OUT_OF_BOUNDS
    return spec.highlight or ""


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _namespace(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else "other"


def _namespace_rank(namespace: str) -> tuple[int, str]:
    rank = NAMESPACE_ORDER.index(namespace) if namespace in NAMESPACE_ORDER else len(NAMESPACE_ORDER)
    return (rank, namespace)


def _markup_to_str(markup: str, colour: bool) -> str:
    """Render rich markup to a string (with ANSI codes when ``colour``), for plain ``write`` calls."""
    console = Console(file=io.StringIO(), width=WIDTH, force_terminal=colour, no_color=not colour, soft_wrap=True)
    console.print(markup)
    return console.file.getvalue()


class ConsoleTableLogger(Logger):
    """Lightning logger that shows metrics as a live table with a progress footer."""

    def __init__(
        self,
        total_env_steps: int | None = None,
        reward_threshold: float | None = None,
        title: str = "",
        *,
        spec: MetricsSpec | None = None,
        live: bool | None = None,
        refresh_s: float = 0.5,
        plain_every_s: float = 30.0,
        history_len: int = 240,
    ):
        """``live=None`` redraws in place when stdout is a terminal and appends plain blocks otherwise."""
        super().__init__()
        self.total_env_steps = total_env_steps
        self.reward_threshold = reward_threshold
        self.title = title
        self.spec = spec or load_metrics_spec()
        self._live_mode = sys.stdout.isatty() if live is None else live
        self._refresh_s = refresh_s
        self._plain_every_s = plain_every_s
        self._history_len = history_len
        self.history: dict[str, deque[float]] = {}
        self._bounded: dict[str, MetricSpec] = {}
        self._warned: set[str] = set()
        self._step = 0
        self._started = time.monotonic()
        self._first_log: tuple[float, int] | None = None
        self._last_draw = self._started
        self._dirty = False
        self._live: Live | None = None
        self._undo: list[Callable[[], None]] = []
        # Reserve the eval rows up front so the table keeps its height when the first evaluation lands.
        for key in self.spec.keys():
            if key.startswith("eval/") and self.spec[key].show:
                self.history[key] = deque(maxlen=history_len)

    # -- Lightning Logger API ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "console"

    @property
    def version(self) -> str:
        return self.title

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The resolved config is in the session log and config.json; nothing to show here."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Store the values, warn once per metric that leaves its bounds, redraw if the rate limit allows."""
        history = self.history
        bounded = self._bounded
        for key, value in metrics.items():
            value = float(value)
            series = history.get(key)
            if series is None:
                series = history[key] = deque(maxlen=self._history_len)
                spec = self.spec[key]
                if spec.min is not None or spec.max is not None:
                    bounded[key] = spec
            series.append(value)
            spec = bounded.get(key)
            if spec is not None and key not in self._warned:
                bound = spec.violation(value)
                if bound is not None:
                    self._warn(spec, value, bound)
        now = time.monotonic()
        self._step = int(metrics.get("time/env_steps", self._step) if step is None else step)
        if self._first_log is None:
            self._first_log = (now, self._step)
        self._dirty = True
        if self._live_mode:
            if now - self._last_draw >= self._refresh_s:
                self._draw_live(now)
        elif now - self._last_draw >= self._plain_every_s or any(k.startswith("eval/") for k in metrics):
            self._print_block(now)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Leave the final table on screen (and in the session log); safe to call more than once."""
        self._stop_live()
        if self._dirty:
            self._print_block(time.monotonic())

    # -- drawing -------------------------------------------------------------------------------------
    def _draw_live(self, now: float) -> None:
        if self._live is None:
            self._start_live()
        width, height = self._live.console.size
        self._live.update(self.render(max_height=height - 1, width=width), refresh=True)
        self._last_draw = now
        self._dirty = False

    def _print_block(self, now: float) -> None:
        # The console follows sys.stdout at print time, so the block also reaches a session log tee.
        console = Console()
        if not console.is_terminal:
            console.width = WIDTH
        console.print(self.render(width=console.width), "")
        sys.stdout.flush()
        self._last_draw = now
        self._dirty = False

    def _start_live(self) -> None:
        terminal = sys.stdout.terminal if isinstance(sys.stdout, TeeStream) else sys.stdout
        console = Console(file=terminal)
        # Redraws go to the terminal only; other terminal output is routed through the live display so it
        # lands above the table, and through a session log tee (if any) so the log still gets it.
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not stream.isatty():
                continue  # output to a file cannot disturb the display
            if isinstance(stream, TeeStream):
                stream.terminal = FileProxy(console, original := stream.terminal)
                self._undo.append(lambda s=stream, o=original: setattr(s, "terminal", o))
            else:
                setattr(sys, name, FileProxy(console, stream))
                self._undo.append(lambda n=name, s=stream: setattr(sys, n, s))
        # A run that dies without finalize would otherwise lose the table (transient) and the cursor; an
        # uncaught exception must also end the display before its traceback is printed, or the final
        # redraw would overwrite it.
        atexit.register(self.finalize, "aborted")
        previous_hook = sys.excepthook

        def excepthook(*exc_info: Any) -> None:
            self.finalize("failed")
            previous_hook(*exc_info)

        sys.excepthook = excepthook
        self._undo.append(lambda: setattr(sys, "excepthook", previous_hook))
        # transient: finalize reprints the last table through sys.stdout, so the session log gets it too.
        self._live = Live(console=console, auto_refresh=False, transient=True, redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def _stop_live(self) -> None:
        if self._live is None:
            return
        self._live.stop()
        self._live = None
        while self._undo:
            self._undo.pop()()
        atexit.unregister(self.finalize)
        self._dirty = True

    def _warn(self, spec: MetricSpec, value: float, bound: str) -> None:
        self._warned.add(spec.key)
        why = f": {spec.why}" if spec.why else ""
        markup = f"[{OUT_OF_BOUNDS}]⚠ {spec.key} = {spec.format(value)} is outside its bound ({bound}){why}[/]"
        # A plain write reaches the live display's proxy and the session log alike.
        sys.stdout.write(_markup_to_str(markup, colour=sys.stdout.isatty()))

    # -- rendering -----------------------------------------------------------------------------------
    def _rows(self) -> list[str]:
        # Only reserved eval rows can be empty; once an evaluation has reported, those it lacks never come.
        evaluated = any(series for key, series in self.history.items() if key.startswith("eval/"))
        keys = [key for key, series in self.history.items() if self.spec[key].show and (series or not evaluated)]
        return sorted(keys, key=lambda k: (_namespace_rank(_namespace(k)), self.spec.sort_key(k)))

    def _is_key_metric(self, key: str) -> bool:
        spec = self.spec[key]
        return spec.summary or spec.highlight is not None

    def render(self, max_height: int | None = None, width: int = WIDTH) -> RenderableType:
        """The table and its progress footer, at most ``width`` columns wide (trend column shortened first);
        rows that would exceed ``max_height`` lines are left out, key metrics last."""
        trend_width = max(8, min(TREND_WIDTH, width - FIXED_WIDTH))
        columns: Columns = (*FIXED_COLUMNS, ("trend", trend_width, "<"))
        keys = self._rows()
        hidden = 0
        if max_height is not None:
            sections = len({_namespace(k) for k in keys})
            room = max(1, max_height - _FRAME_LINES - (sections - 1))
            if len(keys) > room:
                # Keep the key metrics (summary or highlighted ones) first, then the rest in table order.
                ranked = sorted(range(len(keys)), key=lambda i: (not self._is_key_metric(keys[i]), i))
                kept = sorted(ranked[: room - 1])
                hidden = len(keys) - len(kept)
                keys = [keys[i] for i in kept]
        table_width = FIXED_WIDTH + trend_width
        lines = [[Segment(f"{self.title:^{table_width}}".rstrip(), _style("bold"))]] if self.title else []
        lines += [_rule(columns, "╭┬╮"), _row(columns, [(name, "dim") for name, _, _ in columns]), _rule(columns, "├┼┤")]
        for index, key in enumerate(keys):
            namespace = _namespace(key)
            first = index == 0 or namespace != _namespace(keys[index - 1])
            if first and index:
                lines.append(_rule(columns, "├┼┤"))
            lines.append(_row(columns, [(namespace if first else "", "bold"), *self._cells(key, trend_width)]))
        if hidden:
            lines.append(_row(columns, [("", ""), (f"… {hidden} more rows", "dim")]))
        lines.append(_rule(columns, "╰┴╯"))
        return _Lines(lines + self._footer())

    def _cells(self, key: str, trend_width: int) -> list[tuple[str, str]]:
        spec = self.spec[key]
        name = key.split("/", 1)[-1]
        series = self.history[key]
        if not series:
            return [(name, ""), ("—", "dim")]
        value = series[-1]
        style = value_style(spec, value)
        cells = [(name, ""), (spec.format(value) + ("!" if style == OUT_OF_BOUNDS else ""), style)]
        if len(series) > 1:
            delta = value - series[-2]
            arrow = "▲" if delta > 0 else "▼" if delta < 0 else "·"
            cells.append((f"{arrow} {spec.format(abs(delta))}" if delta else arrow, delta_style(delta, spec.higher_is_better)))
        else:
            cells.append(("", ""))
        cells.append((sparkline(list(series), trend_width), "cyan"))
        return cells

    def _footer(self) -> list[list[Segment]]:
        now = time.monotonic()
        total, steps = self.total_env_steps, self._step
        progress = [Segment(f"{steps:,} env steps")]
        if total:
            fraction = min(steps / total, 1.0)
            done = round(BAR_WIDTH * fraction)
            # Both parts of the bar stay visible without colour (plain blocks).
            progress = [
                Segment("━" * done, _style("green")),
                Segment("─" * (BAR_WIDTH - done), _style("dim")),
                Segment(f" {steps:,} / {total:,} env steps ({fraction:.0%})"),
            ]
        rate = 0.0
        if self._first_log is not None and now > self._first_log[0]:
            rate = (steps - self._first_log[1]) / (now - self._first_log[0])
        fps = self.history.get("time/fps")
        parts = [f"{fps[-1] if fps else rate:,.0f} fps", f"elapsed {_clock(now - self._started)}"]
        if total and rate > 0 and steps < total:
            parts.append(f"ETA {_clock((total - steps) / rate)}")
        status = [Segment(" │ ".join(parts))]
        evals = self.history.get("eval/ep_rew_mean")
        if evals:
            last, threshold = evals[-1], self.reward_threshold
            status.append(Segment(" │ last eval "))
            if threshold is None:
                status.append(Segment(f"{last:,.2f}"))
            elif last >= threshold:
                status.append(Segment(f"{last:,.2f} ≥ {threshold:g} ✓ solved", _style("bold green")))
            else:
                status.append(Segment(f"{last:,.2f} (threshold {threshold:g})"))
        return [progress, status]


class _Lines:
    """Lines of styled segments laid out by hand.

    rich's Table needs ~13 ms to lay this table out, which at 2 redraws/s would cost training ~3%;
    fixed-width columns make the layout trivial (~0.5 ms).
    """

    def __init__(self, lines: list[list[Segment]]):
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()


def _style(definition: str) -> Style | None:
    return Style.parse(definition) if definition else None  # Style.parse is lru-cached by rich


def _rule(columns: Columns, corners: str) -> list[Segment]:
    """A horizontal rule; ``corners`` is the left, middle and right junction, e.g. ``"├┼┤"``."""
    left, middle, right = corners
    return [Segment(left + middle.join("─" * (width + 2) for _, width, _ in columns) + right)]


def _row(columns: Columns, cells: list[tuple[str, str]]) -> list[Segment]:
    """One table row; missing trailing cells are blank, long text is cut with an ellipsis."""
    segments = [Segment("│ ")]
    for index, (_, width, align) in enumerate(columns):
        text, style = cells[index] if index < len(cells) else ("", "")
        if len(text) > width:
            text = text[: width - 1] + "…"
        segments += [Segment(f"{text:{align}{width}}", _style(style)), Segment(" │ ")]
    segments[-1] = Segment(" │")
    return segments

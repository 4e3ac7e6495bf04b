"""How the command line talks: rich on a terminal, plain lines in a file or a pipe.

A saved log must stay greppable: rich wraps every line at 80 columns when its
output is not a terminal, and a progress bar redrawn in place leaves its last
frame ("6% 1/16") in a file. So off a terminal, log records are plain lines
(time, level, message), tables keep their natural width, and no bar or spinner
is drawn. A warning that repeats (one line per histogram, per template) is shown
once and counted; the counts close the command, with its total time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

#: width of tables and lines when the output is not a terminal: wide enough never to fold
PLAIN_WIDTH = 400

#: libraries whose INFO records are noise on liberica's console
NOISY = ("numba", "matplotlib", "distributed", "asyncio", "fsspec", "jax", "onnx_ir",
         "onnxscript", "torch")  # fmt: skip

QUIET, NORMAL, VERBOSE = -1, 0, 1


def is_terminal(stream=None) -> bool:
    """Whether ``stream`` (default: standard error) is an interactive terminal."""
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


def make_console(stderr: bool = False) -> Console:
    """A rich console: styled on a terminal; plain, unwrapped lines otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    if is_terminal(stream):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PLAIN_WIDTH, soft_wrap=True, no_color=True)


class _NoCancelledTasks(logging.Filter):
    """Drops log records of cancelled asyncio tasks.

    A local dask scheduler that closes while a progress bar's feed still
    sleeps logs the feed's ``CancelledError`` as an error, with its traceback,
    at the end of every successful run.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


class RepeatedWarnings(logging.Filter):
    """Lets the first warning of each kind through and counts the others.

    A kind is the record's logger and unformatted message: "%d negative bin(s) in
    %s" is one kind whatever the histogram.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] == 1

    def summary(self) -> list[str]:
        """One line per kind that repeated: how many more there were."""
        return [
            f"the warning {template!r} ({name}) repeated {count - 1} more time(s)"
            for (name, template), count in self.counts.items()
            if count > 1
        ]


class Session:
    """The console state of one command: verbosity, progress, repeated warnings, time."""

    def __init__(self) -> None:
        self.verbosity = NORMAL
        self.repeated = RepeatedWarnings()
        self.started = time.perf_counter()
        self.configure(NORMAL)

    @property
    def progress(self) -> bool:
        """Draw progress bars and spinners: on a terminal, unless --quiet."""
        return self.verbosity > QUIET and is_terminal()

    def configure(self, verbosity: int) -> None:
        """(Re)configure logging for ``verbosity``: QUIET warnings only, VERBOSE debug."""
        self.verbosity = verbosity
        verbose = verbosity >= VERBOSE
        # distributed sets its loggers to INFO as it is imported (here and in the workers
        # this process starts), from dask's config, which reads the environment
        os.environ["DASK_LOGGING__DISTRIBUTED"] = "info" if verbose else "warning"
        if is_terminal():
            handler: logging.Handler = RichHandler(console=make_console(True), show_path=False)
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
            )
        handler.addFilter(_NoCancelledTasks())
        if not verbose:
            handler.addFilter(self.repeated)
        level = {QUIET: logging.WARNING, NORMAL: logging.INFO}.get(verbosity, logging.DEBUG)
        logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
        for noisy in NOISY:
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if not verbose:
            # cabinetry logs every parameter, and warns once per template with an empty
            # bin (hundreds of lines for the sparse ttbar templates); -v shows them
            logging.getLogger("cabinetry").setLevel(logging.ERROR)
            logging.getLogger("pyhf").setLevel(logging.WARNING)

    @contextlib.contextmanager
    def status(self, console: Console, text: str) -> Iterator[None]:
        """A spinner with ``text`` on a terminal; one log line otherwise."""
        if self.progress:
            with console.status(text):
                yield
        else:
            logging.getLogger("liberica").info("%s ...", text)
            yield

    def closing_lines(self) -> list[str]:
        """The repeated warnings' counts and the command's total time."""
        return [*self.repeated.summary(), f"total time {time.perf_counter() - self.started:.1f} s"]


class StepProgress:
    """A line for the whole work (``title``), and one bar per step of many fits
    (``Likelihood.progress``): the ranking with its total, the CLs scan counting its
    points. Off a terminal (``enabled`` false) the title is one log line and no bar is
    drawn (rich shows one live display at a time, so this replaces a spinner)."""

    def __init__(self, console: Console, enabled: bool, title: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self._tasks: dict[str, Any] = {}
        self._title = title

    def __enter__(self) -> StepProgress:
        self._progress.__enter__()
        if self._progress.disable:
            logging.getLogger("liberica").info("%s ...", self._title)
        else:
            self._progress.add_task(self._title, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if step not in self._tasks:
            self._tasks[step] = self._progress.add_task(step, total=total)
        self._progress.update(self._tasks[step], completed=done, total=total)

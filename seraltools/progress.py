"""Progress bars on stderr: rate and ETA, hidden when stderr is not a terminal or with --quiet."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator


def log(message: str) -> None:
    """A line for the user on stderr (stdout is for data)."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(total: int, description: str, *, quiet: bool = False, unit: str = "utt") -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a bar on stderr when it is a terminal and not ``quiet``."""
    if quiet or not sys.stderr.isatty():
        def skip(n: int = 1) -> None:
            return None

        skip.resize = lambda total: None
        yield skip
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[progress.data.speed]{task.fields[rate]}"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int = 1) -> None:
            bar.advance(task, n)
            speed = bar.tasks[task].speed
            if speed:
                bar.update(task, rate=f"{speed:.1f} {unit}/s")

        advance.resize = lambda new_total: bar.update(task, total=new_total)  # work found to be more or less
        yield advance

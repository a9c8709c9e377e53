"""The ``seral`` command: one Typer app (:mod:`seraltools.cli._app`), one small module of
commands per tool, each parse -> read -> call its :mod:`seraltools.tools` function -> write.

Importing this module must stay cheap: no torch, no heavy imports at the top of any
command module, so ``seral --help`` and shell completion are fast.
"""

from __future__ import annotations

import os
import signal
import sys

from seraltools.cli._app import app  # noqa: E402

from seraltools.cli import annotate, evaluate, extract, info, mal_select, predict, pretrain, reduce, segment, speakers, synth, train_cpc  # noqa: E402,F401  (registers the commands)
from seraltools.cli import labels  # noqa: E402,F401  (seral labels)


def main() -> None:
    """Console entry point (``seral`` and ``python -m seraltools``).

    Usage errors (unknown option, bad choice, missing argument) become one line on
    stderr and exit status 2, like every other error of the user's.
    """
    from seraltools.cli._common import ClickException, UsageError, err

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `seral info t | head` ends quietly
    import shutil

    from seraltools.cli._app import NARROW

    if shutil.get_terminal_size().columns < NARROW:  # `seral --help` too (subcommands: cli._app._root)
        app.rich_markup_mode = None
    try:
        code = app(prog_name="seral", standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except UsageError as e:
        message = e.format_message().replace("Value error, ", "")
        where = e.ctx.command_path if e.ctx else "seral"
        if message:  # an empty one follows the help shown for a bare `seral`
            err(f"{where}: error: {message} (see '{where} --help')")
        code = 2
    except ClickException as e:
        err(f"seral: error: {e.format_message()}")
        code = e.exit_code
    _exit(code)


def _exit(code: int) -> None:
    """Exit without the interpreter's teardown of native thread pools.

    Every output is written (atomically) and closed by now. Arrow's thread pools can
    abort the process while Python finalises (``terminate called without an active
    exception``, apache/arrow#34314), seen here intermittently on `seral info -`.
    So this does what Python does first at exit -- threading's shutdown (joins
    threads, shuts down executors such as joblib's) and the atexit handlers -- then
    flushes and leaves with os._exit, skipping only the final module teardown.
    """
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # a Python without the hook: take the ordinary way out
        sys.exit(code)
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)

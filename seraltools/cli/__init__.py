"""The ``seral`` command: one Typer app, one small module of commands per tool.

Importing this module must stay cheap: no torch, no heavy imports at the top of any
command module, so ``seral --help`` and shell completion are fast.
"""

from __future__ import annotations

import signal

import typer

from seraltools import __version__

app = typer.Typer(
    name="seral",
    help="Speech emotion recognition with scarce labels: composable tools over Parquet tables.\n\n"
    "Pipe them: seral extract --feat logmel corpus/ - | seral info -",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"seral {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Speech emotion recognition with scarce labels."""


from seraltools.cli import extract, info, pending, synth  # noqa: E402,F401  (registers the commands)


def main() -> None:
    """Console entry point (``seral`` and ``python -m seraltools``)."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `seral info t | head` ends quietly
    app(prog_name="seral")

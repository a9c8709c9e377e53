"""The Typer app and its ``evaluate`` group, which every command module registers with."""

from __future__ import annotations

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


evaluate = typer.Typer(help="Evaluate: active-learning simulation, cluster quality, SER fine-tuning.",
                       no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(evaluate, name="evaluate")

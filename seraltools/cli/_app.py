"""The Typer app and its ``evaluate`` group, which every command module registers with."""

from __future__ import annotations

import typer
import typer.core

from seraltools import __version__

_display_type = getattr(typer.core.TyperOption, "display_type_rich", None)  # (typer >= 0.16)


def _flag_type(self, ctx):
    """Flags take no value: no type in the help (rich would print <bool> on each)."""
    return None if self.is_flag else _display_type(self, ctx)


if _display_type is not None:
    typer.core.TyperOption.display_type_rich = _flag_type  # help presentation only

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
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Speech emotion recognition with scarce labels."""
    import shutil

    if shutil.get_terminal_size().columns < NARROW:  # rich's tables would cut words there: plain help
        _plain_help(ctx.command)


#: Below this many columns help is plain text (every word kept) instead of rich's panels.
NARROW = 80


def _plain_help(command) -> None:
    command.rich_markup_mode = None
    for sub in (getattr(command, "commands", None) or {}).values():
        _plain_help(sub)


evaluate = typer.Typer(help="Evaluate: active-learning simulation, cluster quality, SER fine-tuning.",
                       no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(evaluate, name="evaluate")

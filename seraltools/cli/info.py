"""seral info: what a table holds and how it was made."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from seraltools.cli._app import app
from seraltools.cli._common import InputTable, tool


@tool(app, "info")
def info_cmd(
    table: InputTable,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Show rows, columns, feature name and dimension, label counts and history of a table.

    Example: seral info emodb-logmel.parquet
    """
    from seraltools.tools.info import format_summary, summarize
    from seraltools.table import read_table

    summary = summarize(read_table(table))
    print(json.dumps(summary, indent=2) if as_json else format_summary(summary, "<stdin>" if table == "-" else table))

"""seral labels: what a labels file holds, and its labels as one row per id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Aggregate, Quiet, tool


@tool(app, "labels")
def labels_cmd(
    labels: Annotated[Path, typer.Argument(help="Labels: seral annotate's answers (CSV), a Label Studio export, or a CSV/TSV/Parquet table with id and label columns.", metavar="LABELS")],
    output: Annotated[Optional[str], typer.Argument(help="Also write the labels, one row per id, as a table (Parquet); - for stdout.", metavar="OUTPUT")] = None,
    aggregate: Aggregate = "auto",
    binary: Annotated[Optional[list[str]], typer.Option("--binary", help="Write scale column(s) of OUTPUT as binary 0/1 split at the midpoint (COLUMN or COLUMN=MID; at the midpoint: no label), e.g. --binary valence.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Quiet = False,
) -> None:
    """Report a labels file: answers per class and annotator, conflicts, agreement.

    Counts per class and per annotator (answers, unsure, skips), the ids annotators
    answered differently, Krippendorff's alpha (nominal for categories, interval for
    --scale ratings) and Fleiss' kappa over the ids answered by two or more. The report
    goes to stdout, or to stderr when OUTPUT is given: the labels as readers take them
    (one row per id by --aggregate, with raters and, for soft, the share of each answer).

    Example: seral labels labels.csv labelled.parquet --aggregate majority
    """
    from seraltools.labels import read_answers
    from seraltools.progress import log
    from seraltools.table import write_table
    from seraltools.tools.labels import format_report, labels_report

    answers, scales, skips = read_answers(labels, with_skips=True)
    table, report = labels_report(answers, scales, skips=skips, how=aggregate, source=str(labels))
    from seraltools.cli._common import listed
    from seraltools.errors import BadInput
    from seraltools.labels import binary_from_scale

    for spec in listed(binary) or []:
        col, _, mid = spec.partition("=")
        try:
            midpoint = float(mid) if mid else None
        except ValueError:
            raise BadInput(f"--binary {spec}: give COLUMN or COLUMN=MIDPOINT (a number)") from None
        table = binary_from_scale(table, col, midpoint, scales, str(labels))
    if binary and output is None:
        raise BadInput("--binary changes the labels written to OUTPUT: give OUTPUT")
    if output is not None:
        write_table(table, output)
    text = json.dumps(report, indent=2) if as_json else format_report(report)
    if output is None:
        print(text)
    elif not quiet:
        log(text)
        log(f"seral labels: {table.num_rows} ids -> {output}")

"""seral mal-select and seral cluster-labels: the annotation queue and its labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli._app import app
from seraltools.cli._common import Aggregate, InputTable, NoStandardize, Output, Quiet, Seed, Standardize, listed, standardize_option, tool

Metric = Literal["auto", "cosine", "euclidean"]


@tool(app, "mal-select")
def mal_select_cmd(
    table: InputTable,
    output: Output,
    method: Annotated[Literal["mal", "random", "kcenter", "typiclust", "probcover", "stratified", "mal-random", "typiclust-random", "margin", "entropy", "cluster-margin"], typer.Option("--method", help="mal: medoid-based active learning; random: the baseline; mal-random, typiclust-random: that selector for the first 2 % of the rows, then random; kcenter (core-set), typiclust, probcover, stratified: other cold-start selectors (README: 'Other selectors'); margin, entropy, cluster-margin: later rounds, an SVM trained on the --labelled answers asks about the rows it is least sure of (README: 'Later rounds'). The default was chosen on three corpora (README: 'Which queue by default').")] = "typiclust-random",
    k: Annotated[Optional[int], typer.Option("--k", min=1, help="Number of clusters (default: N/3, as the paper); queries past the k medoids come from clusterings of the rows left, each with k = a third of them.")] = None,
    metric: Annotated[Metric, typer.Option("--metric", help="Distance of the affinity matrix; auto: Euclidean on standardised (or 2-D) features, cosine on raw ones above 2 dims (the paper's best for raw features).")] = "auto",
    standardize: Standardize = "corpus",
    no_standardize: NoStandardize = False,
    budget: Annotated[Optional[str], typer.Option("--budget", help="Queries to rank: a count (50), a fraction (0.1) or a percentage (10%). Default: k (every medoid).")] = None,
    only_queries: Annotated[bool, typer.Option("--only-queries", help="Write only the ranked rows, in query order.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Say what the first queries are (speakers, duration, labels the table has) against random sampling, the cluster sizes and what drives the distances.")] = False,
    labelled: Annotated[Optional[Path], typer.Option("--labelled", help="A next round: ids already asked about (a labels CSV/TSV/Parquet with an id column, seral annotate's answers or a Label Studio export). They are not queued again; --budget counts new queries. margin, entropy and cluster-margin learn from its label columns.", dir_okay=False)] = None,
    column: Annotated[Optional[list[str]], typer.Option("--column", "-c", help="margin, entropy, cluster-margin: the label column(s) to learn (default: emotion, valence, arousal where present, else every column that is not bookkeeping); with several, the mean of their per-column uncertainty ranks; repeat the option or comma-separate.")] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Rank utterances for annotation: medoids of k-medoids clusters, largest cluster first.

    Distances are measured on the features z-scored at the corpus level (as the
    paper's classifier sees them); --standardize speaker z-scores within each speaker, none measures them on the raw values.

    Adds cluster (int32, 0 = largest), cluster_size (int32), is_medoid (bool) and rank
    (int32, 1 = ask first; null for rows outside the budget). The other methods fill
    rank with their order and leave cluster and cluster_size null.

    Later rounds (--method margin, entropy or cluster-margin with --labelled): an RBF
    SVM trained on the answers picks the rows it is least sure of; labelled rows and,
    when TABLE is a queue, its rows still waiting are never queued again, and the new
    batch is ranked after TABLE's ranks. With too few labels (fewer than two classes
    or than two answers per class) the batch continues the MAL queue, said on stderr.

    Example: seral mal-select --budget 5% logmel.parquet queue.parquet
    """
    import pyarrow as pa

    from seraltools.tools.mal_select import mal_select
    from seraltools.progress import log
    from seraltools.table import read_table, write_table

    from seraltools.errors import BadInput

    if method not in ("mal", "mal-random") and (k is not None or metric != "auto"):
        raise BadInput(f"--method {method} takes no {'--k' if k is not None else '--metric'} (MAL's options; "
                       "the other selectors measure Euclidean distance on the (standardised) features)")
    from seraltools.uncertainty import LATER

    if column and method not in LATER:
        raise BadInput(f"--method {method} takes no --column (it reads no labels; margin, entropy and "
                       "cluster-margin learn from them)")
    if method in LATER and not labelled:
        raise BadInput(f"--method {method} learns from the answers so far: give --labelled LABELS")
    done = answers = None
    if labelled:
        from seraltools.labels import read_labels

        answers = read_labels(labelled)
        done = set(answers.column("id").cast(pa.string()).to_pylist())
    result, summary = mal_select(read_table(table, need_features=True), method=method, k=k, metric=metric,
                             standardize=standardize_option(standardize, no_standardize, "mal-select"), budget=budget, only_queries=only_queries, seed=seed,
                             source="<stdin>" if table == "-" else table, labelled=done, explain=explain and not quiet,
                             labels=answers if method in LATER else None, columns=listed(column),
                             labels_name=str(labelled),
                             warn=None if quiet else lambda m: log(f"seral mal-select: warning: {m}"))
    write_table(result, output)
    if not quiet:
        first, *explained = summary.split("\n")  # --explain's report follows the summary line
        log(f"seral mal-select: {first} -> {output}")
        for line in explained:
            log(line)


@tool(app, "cluster-labels")
def cluster_labels_cmd(
    table: Annotated[str, typer.Argument(help="Queue from mal-select (Parquet); - for stdin.", metavar="QUEUE")],
    labels: Annotated[Path, typer.Argument(help="The annotators' labels: CSV, TSV or Parquet with id and label columns, seral annotate's answers, or a Label Studio export (JSON or CSV) of seral export-tasks' tasks.", metavar="LABELS")],
    output: Output,
    column: Annotated[Optional[list[str]], typer.Option("--column", "-c", help="Label column(s) to propagate (default: emotion, valence, arousal where present, else every column that is not bookkeeping such as annotator or time); repeat the option or comma-separate.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite label columns the queue already has.")] = False,
    aggregate: Aggregate = "auto",
    quiet: Quiet = False,
) -> None:
    """Propagate each medoid's label to its whole cluster (the paper's "cluster labels").

    Rows of a cluster whose medoid is labelled get that label; label_source says
    "annotated" (the medoid), "propagated" (a member) or null (no label).

    Example: seral cluster-labels queue.parquet annotations.csv labelled.parquet
    """
    from seraltools.labels import read_labels
    from seraltools.tools.mal_select import cluster_labels
    from seraltools.progress import log
    from seraltools.table import read_table, write_table

    queue = read_table(table)
    notes: list[str] = []
    result, summary = cluster_labels(queue, read_labels(labels, aggregate, notes), columns=listed(column),
                                     replace=replace, source="<stdin>" if table == "-" else table,
                                     labels_name=str(labels))
    write_table(result, output)
    if not quiet:
        for note in notes:
            log(f"seral cluster-labels: note: {note}")
        log(f"seral cluster-labels: {summary} -> {output}")

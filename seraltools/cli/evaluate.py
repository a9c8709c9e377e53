"""seral evaluate: al (the active-learning simulation); clusters and ser come with their issues."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli import app
from seraltools.cli._common import Address, Engine, Output, Quiet, Standardize, Workers, cpu_workers, tool

evaluate = typer.Typer(help="Evaluate: active-learning simulation, cluster quality, SER fine-tuning.",
                       no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(evaluate, name="evaluate")


def _seeds(text: str) -> tuple[int, ...]:
    from seraltools.errors import BadInput

    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BadInput(f"--seed {text!r}: give a seed (0) or comma-separated seeds (0,1,2)") from None
    if not values or min(values) < 0 or max(values) >= 10**6 or len(set(values)) < len(values):
        raise BadInput(f"--seed {text!r}: give distinct integers from 0 to 999999")
    return values


def _floats(text: str, option: str, scale: float = 1.0, most: float | None = None) -> tuple[float, ...]:
    from seraltools.errors import BadInput

    try:
        values = tuple(float(v) * scale for v in text.split(",") if v.strip())
    except ValueError:
        raise BadInput(f"{option} {text!r}: give comma-separated numbers") from None
    if not values or not all(0 < v < float("inf") for v in values):
        raise BadInput(f"{option} {text!r}: give positive numbers")
    if most is not None and max(values) > most:
        raise BadInput(f"{option} {text!r}: give numbers up to {most / scale:g}")
    return values


@tool(evaluate, "al", label="evaluate al")
def al_cmd(
    output: Output,
    select: Annotated[list[Path], typer.Option("--select", "-s", help="Selection features (repeat to compare feature sets in one run); a table or a directory of parts.")],
    classify: Annotated[Path, typer.Option("--classify", "-c", help="Classification features for the SVM (the paper: 600-dim log-mel) with the label columns.")],
    task: Annotated[Optional[list[str]], typer.Option("--task", "-t", help="Label column(s) to classify (default: valence and arousal).")] = None,
    budgets: Annotated[str, typer.Option("--budgets", help="Labelling budgets in % of the training fold.")] = "1,2,5,10,20,50,100",
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Repeats of the CV with different seeds.")] = 5,
    metric: Annotated[Literal["auto", "cosine", "euclidean"], typer.Option("--metric", help="MAL's distance; auto: Euclidean on standardised (or 2-D) features, cosine on raw ones above 2 dims.")] = "auto",
    standardize: Standardize = True,
    labels: Annotated[Literal["medoid", "cluster", "both"], typer.Option("--labels", help="Train on the queried medoids (medoid), give each medoid's label to its whole cluster (cluster), or report both.")] = "medoid",
    method: Annotated[str, typer.Option("--method", "-m", help="Selectors to compare with random sampling, comma-separated: mal, kcenter, typiclust, probcover, stratified (random is always run; --metric and --labels cluster are MAL's, the others use Euclidean distance and their queries' own labels).")] = "mal",
    c_grid: Annotated[str, typer.Option("--c-grid", help="SVM box constraints C to search.")] = "0.1,1,10,100",
    gamma_grid: Annotated[str, typer.Option("--gamma-grid", help="SVM kernel gammas to search, in multiples of 1/D.")] = "0.1,0.3,1,3",
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw mean MCC against budget (the paper's Fig. 4/5) to this PNG.", dir_okay=False)] = None,
    seed: Annotated[str, typer.Option("--seed", help="Seed of every random step, or comma-separated seeds (0,1,2): each runs the whole grid; the paired tests pool them.")] = "0",
    workers: Workers = 0,
    engine: Engine = "local",
    address: Address = None,
    quiet: Quiet = False,
) -> None:
    """Simulate active learning: MAL (and other selectors) against random sampling across budgets.

    Stratified k-fold CV x repeats (x seeds); MAL (or each --method) on each training fold with each
    --select table (z-scored at the corpus level unless --no-standardize); an RBF SVM
    on the --classify features of the queried samples (--labels medoid) or of their
    whole clusters (--labels cluster); MCC, UAR and accuracy on the test fold. Writes
    one row per feature set, selector, label mode, task, budget, seed, repeat and
    fold, and prints the mean MCC with the paired t-test of each selector against random
    (and against MAL) per budget (pairs: the seed x repeat x fold cells, MCC averaged
    over tasks). Selectors other than MAL train on the queried rows' own labels.

    Example: seral evaluate al --select logmel.parquet --classify logmel.parquet --plot fig.png al.parquet
    """
    from seraltools.evaluate_al import run_al
    from seraltools.progress import log
    from seraltools.simulate import SimulationConfig

    from seraltools.selectors import check_method

    methods = tuple(dict.fromkeys(check_method(m.strip()) for m in method.split(",") if m.strip()))
    if not [m for m in methods if m != "random"]:
        from seraltools.errors import BadInput

        raise BadInput("--method: name a selector to compare with random sampling (random is always run)")
    cfg = SimulationConfig(budgets=_floats(budgets, "--budgets", 0.01, most=1.0), folds=folds, repeats=repeats,
                           seeds=_seeds(seed), metric=metric, standardize=standardize, labels=labels,
                           c_grid=_floats(c_grid, "--c-grid"), gamma_grid=_floats(gamma_grid, "--gamma-grid"),
                           methods=methods or ("mal",))
    report = run_al([str(p) for p in select], str(classify), output, tasks=task, cfg=cfg,
                    workers=cpu_workers(workers), figure=str(plot) if plot else None, quiet=quiet,
                    engine=engine, address=address)
    if not quiet:  # the report goes to stderr: stdout may be the results table (OUTPUT -)
        log(report)
        log(f"seral evaluate al: results -> {output}" + (f", figure -> {plot}" if plot else ""))

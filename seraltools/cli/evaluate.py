"""seral evaluate al (the active-learning simulation), evaluate clusters (intra-speaker
clusters against emotion) and evaluate ser (SER fine-tuning after pretraining)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from seraltools.cli._app import evaluate
from seraltools.cli._common import (Address, ConvChannels, CorpusName, Device, Engine, Heads, InputTable, Layers,
                                    Output, Quiet, Seed, Standardize, NoStandardize, standardize_option, Threads, Width, Workers, cpu_workers,
                                    deprecated, encoder_options, joined, listed, tool)


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


def _shares(text: str) -> tuple[float, ...]:
    """--budgets: percentages of the training fold, written with % (5%). A bare number was
    a percentage before and still is, with a warning: mal-select's --budget 5 is five
    queries, so a budget without its unit is ambiguous."""
    from seraltools.errors import BadInput

    values, bare = [], False
    for v in (v.strip() for v in text.split(",") if v.strip()):
        try:
            x = float(v[:-1] if v.endswith("%") else v) * 0.01  # as before: the same float, the same budgets
        except ValueError:
            raise BadInput(f"--budgets {text!r}: give percentages of the training fold, e.g. 1%,5%,10%") from None
        bare |= not v.endswith("%")
        if not 0 < x <= 1:
            raise BadInput(f"--budgets {text!r}: each budget is above 0% and at most 100% of the training fold")
        values.append(x)
    if not values:
        raise BadInput(f"--budgets {text!r}: give percentages of the training fold, e.g. 1%,5%,10%")
    if bare:
        from seraltools.progress import log

        log(f"seral evaluate al: warning: --budgets {text}: write the percentages with % (5%); bare numbers are "
            "read as percentages for one more release")
    return tuple(values)


@tool(evaluate, "al", label="evaluate al")
def al_cmd(
    output: Output,
    select: Annotated[list[Path], typer.Option("--select", "-s", help="Selection features (repeat to compare feature sets in one run); a table or a directory of parts.")],
    classify: Annotated[Optional[Path], typer.Option("--classify", help="Classification features for the SVM (the paper: 600-dim log-mel) with the label columns.")] = None,
    task: Annotated[Optional[list[str]], typer.Option("--task", "-t", help="Label column(s) to classify (default: valence and arousal); repeat the option or comma-separate.")] = None,
    budgets: Annotated[list[str], typer.Option("--budgets", help="Labelling budgets in % of the training fold; repeat the option or comma-separate.")] = ["1%,2%,5%,10%,20%,50%,100%"],
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Repeats of the CV with different seeds.")] = 5,
    metric: Annotated[Literal["auto", "cosine", "euclidean"], typer.Option("--metric", help="MAL's distance; auto: Euclidean on standardised (or 2-D) features, cosine on raw ones above 2 dims.")] = "auto",
    standardize: Standardize = "corpus",
    no_standardize: NoStandardize = False,
    labels: Annotated[Literal["medoid", "cluster", "both"], typer.Option("--labels", help="Train on the queried medoids (medoid), give each medoid's label to its whole cluster (cluster), or report both.")] = "medoid",
    method: Annotated[list[str], typer.Option("--method", "-m", help="Selectors to compare with random sampling (repeat the option or comma-separate): typiclust-random (the default queue), mal (the paper's), mal-random, kcenter, typiclust, probcover, stratified (random is always run; --metric and --labels cluster are MAL's, the others use Euclidean distance and their queries' own labels).")] = ["typiclust-random"],
    c_grid: Annotated[list[str], typer.Option("--c-grid", help="SVM box constraints C to search; repeat the option or comma-separate.")] = ["0.1,1,10,100"],
    gamma_grid: Annotated[list[str], typer.Option("--gamma-grid", help="SVM kernel gammas to search, in multiples of 1/D; repeat the option or comma-separate.")] = ["0.1,0.3,1,3"],
    grid_rows: Annotated[int, typer.Option("--grid-rows", min=0, help="Search C and gamma on every labelled row up to this many (the paper's exact search), on a stratified subsample of this many above it; 0: always exact.")] = 2000,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw mean MCC against budget (the paper's Fig. 4/5) to this PNG.", dir_okay=False)] = None,
    seed: Annotated[list[str], typer.Option("--seed", help="Seed of every random step, or several (repeat the option or comma-separate: 0,1,2): each runs the whole grid; the paired tests pool them.")] = ["0"],
    workers: Workers = 0,
    engine: Engine = "local",
    address: Address = None,
    classify_short: Annotated[Optional[Path], typer.Option("-c", hidden=True, help="Deprecated: --classify.")] = None,
    rounds: Annotated[bool, typer.Option("--rounds", help="Simulate a campaign in rounds: --budgets are cumulative (default 2%,4%,...,50%); round 1 asks the --method queue (one cold-start selector, default mal, or random) up to the first budget, each later round a --later selector trained on the answers so far up to the next; compared with random and with the cold-start queue continued (README: 'Later rounds').")] = False,
    later: Annotated[list[str], typer.Option("--later", help="--rounds: the later-round selectors (repeat the option or comma-separate): margin, entropy, cluster-margin.")] = ["margin,entropy,cluster-margin"],
    retune: Annotated[bool, typer.Option("--retune", help="--rounds: grid-search the selecting SVM's C and gamma on the labelled rows every round, as mal-select does (slow); default: the scoring SVM's corpus-level C and gamma.")] = False,
    quiet: Quiet = False,
) -> None:
    """Simulate active learning: MAL (and other selectors) against random sampling across budgets.

    Stratified k-fold CV x repeats (x seeds); MAL (or each --method) on each training fold with each
    --select table (z-scored over the corpus; --standardize speaker or none); an RBF SVM
    on the --classify features of the queried samples (--labels medoid) or of their
    whole clusters (--labels cluster); MCC, UAR and accuracy on the test fold. Writes
    one row per feature set, selector, label mode, task, budget, seed, repeat and
    fold, and prints the mean MCC with the paired t-test of each selector against random
    (and against MAL) per budget (pairs: the seed x repeat x fold cells, MCC averaged
    over tasks). Selectors other than MAL train on the queried rows' own labels.

    With --rounds: the campaign in rounds (cumulative --budgets; round 1 by --method,
    later rounds by each --later selector, the SVM retrained each round), paired against
    random and against the cold-start queue continued at every budget.

    Example: seral evaluate al --select logmel.parquet --classify logmel.parquet --plot fig.png al.parquet
    """
    from seraltools.errors import BadInput
    from seraltools.progress import log, progress
    from seraltools.selectors import check_method
    from seraltools.simulate import SimulationConfig, plot as draw
    from seraltools.table import read_table, write_table
    from seraltools.tools.evaluate import evaluate_al, table_names

    if rounds and budgets == ["1%,2%,5%,10%,20%,50%,100%"]:
        budgets = [",".join(f"{2 * i}%" for i in range(1, 26))]  # the rounds' default schedule: 2 %, 4 %, ..., 50 %
    method, budgets, c_grid, gamma_grid, seed = (joined(v) or "" for v in (method, budgets, c_grid, gamma_grid, seed))
    task = listed(task)
    if classify_short is not None:  # -c is --column in cluster-labels, predict and annotate
        deprecated("evaluate al", "-c")
        classify = classify if classify is not None else classify_short
    if classify is None:
        raise BadInput("give --classify TABLE: the SVM's features and the label columns")
    methods = tuple(dict.fromkeys(check_method(m.strip()) for m in method.split(",") if m.strip()))
    if rounds:  # round 1's one selector; random too (then every strategy starts from the random baseline's queries)
        if len(methods) > 1:
            raise BadInput(f"--rounds: --method names round 1's one cold-start selector, not {', '.join(methods)}")
        if labels != "medoid":
            raise BadInput("--rounds: every round trains on the queried rows' own labels; --labels medoid only")
    elif not [m for m in methods if m != "random"]:
        raise BadInput("--method: name a selector to compare with random sampling (random is always run)")
    cfg = SimulationConfig(budgets=_shares(budgets), folds=folds, repeats=repeats,
                           seeds=_seeds(seed), metric=metric, labels=labels,
                           standardize=standardize_option(standardize, no_standardize, "evaluate al"),
                           c_grid=_floats(c_grid, "--c-grid"), gamma_grid=_floats(gamma_grid, "--gamma-grid"),
                           grid_rows=grid_rows, methods=methods)
    paths = [str(p) for p in select]
    if paths.count("-") + (str(classify) == "-") > 1:
        raise BadInput("only one input can come from stdin (-)")
    cls = read_table(str(classify), need_features=True)
    name = "<stdin>" if str(classify) == "-" else str(classify)
    sets = {n: (cls if p == str(classify) else read_table(p, need_features=True), "<stdin>" if p == "-" else p)
            for n, p in zip(table_names(paths), paths)}
    if rounds:
        from seraltools.tools.evaluate import evaluate_rounds
        from seraltools.uncertainty import check_later

        later_methods = tuple(check_later(m.strip()) for m in (joined(later) or "").split(",") if m.strip())
        with progress(len(cfg.seeds) * cfg.repeats * cfg.folds, "evaluate al", quiet=quiet, unit="fold") as advance:
            table, rows, report = evaluate_rounds(sets, cls, classify_name=name, tasks=task, cfg=cfg,
                                                  later=later_methods, retune=retune, workers=cpu_workers(workers),
                                                  engine=engine, address=address, progress=advance,
                                                  warn=None if quiet else lambda m: log(f"seral evaluate al: {m}"))
        write_table(table, output)
        if plot:
            from seraltools.rounds import plot_rounds

            plot_rounds(rows, str(plot), cfg.methods[0])
        if not quiet:
            log(report)
            log(f"seral evaluate al: results -> {output}" + (f", figure -> {plot}" if plot else ""))
        return
    with progress(len(cfg.seeds) * cfg.repeats * cfg.folds, "evaluate al", quiet=quiet, unit="fold") as advance:
        table, rows, report = evaluate_al(sets, cls, classify_name=name, tasks=task, cfg=cfg,
                                          workers=cpu_workers(workers), engine=engine, address=address,
                                          progress=advance, warn=None if quiet else lambda m: log(f"seral evaluate al: {m}"))
    write_table(table, output)
    if plot:
        draw(rows, str(plot))
    if not quiet:  # the report goes to stderr: stdout may be the results table (OUTPUT -)
        log(report)
        log(f"seral evaluate al: results -> {output}" + (f", figure -> {plot}" if plot else ""))


@tool(evaluate, "clusters", label="evaluate clusters")
def evaluate_clusters_cmd(
    table: InputTable,
    output: Annotated[Optional[str], typer.Argument(help="Optional Parquet of the per-speaker metrics; - for stdout.", metavar="OUTPUT")] = None,
    emotions: Annotated[Optional[list[str]], typer.Option("--emotions", help="Emotions to keep, e.g. neutral,happiness,sadness,anger; repeat the option or comma-separate.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw the paper's Fig. 1: a t-SNE map coloured by speaker, marked by emotion (PNG).", dir_okay=False)] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """NMI, ARI, purity and silhouette of intra-speaker clusters against emotion (Table 1).

    Per speaker and averaged over speakers; needs the cluster column of
    cluster-speakers and an emotion column.

    Example: seral evaluate clusters --emotions neutral,happiness,sadness,anger clusters.parquet
    """
    from seraltools.progress import log
    from seraltools.speaker_clusters import plot_map
    from seraltools.table import feature_matrix, read_table, write_table
    from seraltools.tools.evaluate import evaluate_clusters

    emotions = joined(emotions)
    source = "<stdin>" if table == "-" else table
    result, rows, scored = evaluate_clusters(read_table(table, need_features=True), emotions=emotions, source=source)
    if not quiet:  # the report goes to stderr: stdout is for the table (OUTPUT -)
        log(f"{'speaker':<10} {'n':>5} {'NMI':>6} {'ARI':>6} {'purity':>7} {'silhouette':>11}")
        for r in rows:
            log(f"{r['speaker']:<10} {r['n']:>5} {r['nmi']:>6.3f} {r['ari']:>6.3f} {r['purity']:>7.3f} {r['silhouette']:>11.3f}")
    if plot:
        plot_map(feature_matrix(scored, source), scored.column("speaker").to_pylist(),
                 scored.column("emotion").to_pylist(), str(plot), seed=seed)
    if output:
        write_table(result, output)


@tool(evaluate, "ser", label="evaluate ser")
def evaluate_ser_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Labelled audio: files, directories or manifests with speaker and emotion (as for extract).", metavar="IN")],
    output: Annotated[str, typer.Argument(help="Per-run results table (Parquet); - for stdout.", metavar="OUTPUT")],
    encoder: Annotated[Optional[list[str]], typer.Option("--encoder", help="Pretrained encoder, NAME=PATH or PATH: a file from seral pretrain, or a local wav2vec 2.0 / HuBERT / WavLM checkpoint directory (fine-tuned as it is: the paper's Table 3 baseline); repeat for several conditions.")] = None,
    no_pretrain: Annotated[bool, typer.Option("--no-pretrain", help="Also a randomly initialised encoder (the paper's no-pretraining baseline; size from the options below).")] = False,
    emotions: Annotated[Optional[list[str]], typer.Option("--emotions", help="Keep these emotions (the paper: anger,happiness,neutral,sadness); repeat the option or comma-separate.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Speaker-independent folds.")] = 5,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Repetitions with different initialisation seeds (the paper: 5): --seed, --seed + 1, ...")] = 5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="The first repetition's seed (each run's seed is in the table).")] = 0,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Fine-tuning epochs; the best validation UAR is kept (the paper: 30).")] = 30,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate (the paper: 1e-5).")] = 1e-5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Utterances per step.")] = 8,
    segment: Annotated[float, typer.Option("--segment", help="Training crop in seconds.")] = 4.0,
    init_layers: Annotated[Optional[int], typer.Option("--init-layers", min=1, help="Checkpoint directories given to --encoder: keep their first N transformer layers (as pretrain --init-layers; the paper: 6); default all.")] = None,
    freeze_cnn: Annotated[bool, typer.Option("--freeze-cnn/--train-cnn", help="Encoders around an SSL checkpoint (--encoder DIR, files of pretrain --init): keep the convolutional feature encoder's weights while fine-tuning (the usual practice), or train it too.")] = True,
    folds_out: Annotated[Optional[str], typer.Option("--folds-out", help="Write the folds (fold, speaker, role) as a table.")] = None,
    conv_channels: ConvChannels = 64,
    width: Width = 128,
    layers: Layers = 2,
    heads: Heads = 4,
    corpus: Annotated[CorpusName, typer.Option("--corpus", help="File-name labels of audio inputs, as for extract.")] = "auto",
    device: Device = "auto",
    threads: Threads = 0,
    quiet: Quiet = False,
) -> None:
    """Fine-tune encoders for SER on speaker-independent folds and report UAR (Table 2).

    Each condition (every --encoder, and --no-pretrain) is fine-tuned with a new head
    on every fold and seed; the table has one row per run, the printed summary the UAR
    mean and standard deviation over seeds.

    Example: seral evaluate ser emodb/wav --emotions anger,happiness,neutral,sadness --no-pretrain --encoder mtl=mtl.safetensors ser.parquet
    """
    from seraltools.compute import prepare_torch
    from seraltools.corpora import collect_inputs
    from seraltools.errors import BadInput
    from seraltools.progress import log, progress
    from seraltools.ser import FinetuneConfig
    from seraltools.table import write_table
    from seraltools.tools.evaluate import evaluate_ser

    emotions = joined(emotions)
    conditions = [("no pretraining", None)] if no_pretrain else []
    for spec in encoder or []:
        name, _, path = spec.rpartition("=")
        conditions.append((name or Path(path).stem, path))
    if not conditions:
        raise BadInput("nothing to evaluate: give --encoder FILE and/or --no-pretrain")
    for _, path in conditions:
        if path and not Path(path).is_file():  # a checkpoint directory (or a hub id, said to download it)
            from seraltools.ssl_backbone import check_checkpoint

            check_checkpoint(path, "--encoder")
    utterances, _ = collect_inputs(inputs, corpus, warn=log)
    cfg = FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, segment_s=segment, init_layers=init_layers,
                         freeze_cnn=freeze_cnn)
    dev = prepare_torch(device, threads, "evaluate ser")
    with progress(len(conditions) * folds * seeds, "evaluate ser", quiet=quiet, unit="run") as advance:
        results, folds_plan, summary = evaluate_ser(
            utterances, conditions, emotions=emotions, folds=folds, seeds=seeds, seed=seed, cfg=cfg,
            enc_cfg=encoder_options(conv_channels, width, layers, heads), device=dev, progress=lambda r: advance(1),
            inputs_meta={"inputs": inputs})
    if not quiet:  # the report goes to stderr: stdout is for the table (OUTPUT -)
        log(f"{'condition':<28} {'UAR mean':>9} {'std':>7} {'runs':>5} {'time (s)':>9}")
        for s in summary:
            log(f"{s['condition']:<28} {100 * s['uar_mean']:>9.2f} {100 * s['uar_std']:>7.2f} {s['runs']:>5} {s['seconds']:>9.0f}")
    write_table(results, output)
    if folds_out:
        write_table(folds_plan, folds_out)

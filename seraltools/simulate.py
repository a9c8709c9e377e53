"""The active-learning simulation of the paper (Sec. 3.4): ``seral evaluate al``.

For each seed and repeat the labelled corpus is split by stratified k-fold
cross-validation (5 folds; stratified on the joint labels of all tasks, so that
every task and selector sees the same splits). On each training fold, every
selection feature set is run through MAL (:mod:`seraltools.mal`, on that fold
only) and a seeded random order is drawn as the baseline. For each labelling
budget (a fraction of the training fold; at least one sample) the first queries
are "annotated" with the corpus's ground truth and an RBF SVM is trained on them
and tested on the test fold. With ``labels="medoid"`` the SVM trains on the queried
medoids only (the paper's "medoid labels"); with ``"cluster"`` each queried
medoid's label is given to every member of its cluster (the paper's "cluster
labels"); ``"both"`` runs the two. Random sampling has no clusters: it always
trains on its queries. The rows of a training set are put in one canonical order
(ascending row), so two selectors that query the same set (every selector at a
100 % budget) train the identical SVM.

Selection features are z-scored at the corpus level by default
(``standardize="corpus"``; or within each speaker, ``"speaker"``; or ``"none"``;
:mod:`seraltools.standardize`), like the classification
features: raw log-mel functionals put 86 % of their squared norm in the min and
range dimensions, so distances on them measure dynamic range, not emotion. MAL then
measures Euclidean distance (:func:`seraltools.mal.resolve_metric`).

The SVM always uses the classification features (600-dim log-mel functionals in
the paper), z-scored at the corpus level; its C and gamma are chosen per corpus
and task by a 5-fold CV grid search on all labelled data, as the paper does
(:mod:`seraltools.classifier`; one search per task shared by every seed, its folds
seeded by ``grid_seed``; a stratified subsample above ``grid_rows`` labelled rows;
note that this lets the test folds inform two hyper-parameters). gamma is given
as multiples of 1/D, sklearn's "scale" for z-scored features. A training set that
holds a single class predicts that class (MCC 0) and is counted in
``single_class``. Metrics: Matthews correlation (primary), unweighted average
recall (UAR) and accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from seraltools.classifier import C_GRID, GAMMA_GRID, GRID_FOLDS, GRID_ROWS, GridSearch, route_text
from seraltools.errors import BadInput

BUDGETS = (0.01, 0.02, 0.05, 0.10, 0.20, 0.50, 1.00)
SELECTOR_NAMES = {"mal": "MAL", "kcenter": "k-center", "typiclust": "TypiClust", "probcover": "ProbCover",
                  "mal-random": "MAL then random", "typiclust-random": "TypiClust then random",
                  "stratified": "stratified"}
TASKS = ("valence", "arousal")


@dataclass
class SimulationConfig:
    budgets: tuple[float, ...] = BUDGETS
    folds: int = 5
    repeats: int = 5
    seeds: tuple[int, ...] = (0,)  # each seed runs the whole repeats x folds grid
    metric: str = "auto"  # MAL's distance (auto: Euclidean when standardised or 2-D, else cosine)
    standardize: str = "corpus"  # z-score the selection features over the corpus, within each speaker, or none
    labels: str = "medoid"  # medoid | cluster | both (the paper's medoid and cluster labels)
    k_fraction: float = 1 / 3  # MAL's k as a fraction of the training fold (paper: N/3)
    kmedoids: str = "fasterpam"  # the k-medoids algorithm after farthest-first initialisation
    methods: tuple[str, ...] = ("typiclust-random",)  # compared with random sampling (selectors.DEFAULT)
    c_grid: tuple[float, ...] = C_GRID
    gamma_grid: tuple[float, ...] = GAMMA_GRID  # multiples of 1/D
    grid_folds: int = GRID_FOLDS
    grid_seed: int = 0  # the grid search's CV split (one search per task, as in the paper)
    grid_rows: int = GRID_ROWS  # exact search up to this many labelled rows, a stratified subsample beyond (0: always)

    def grid(self, seed: int | None = None) -> GridSearch:
        """The classifier's grid search of this configuration (seeded by ``grid_seed``)."""
        return GridSearch(tuple(self.c_grid), tuple(self.gamma_grid), self.grid_folds,
                          self.grid_seed if seed is None else seed, self.grid_rows)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Simulation:
    rows: list[dict]
    hyper: dict[str, dict]  # task -> {"C", "gamma", "cv_mcc", "route", "search_rows"}
    config: SimulationConfig
    feature_sets: list[str] = field(default_factory=list)


LABEL_MODES = ("medoid", "cluster", "both")


def label_modes(labels: str) -> tuple[str, ...]:
    if labels not in LABEL_MODES:
        raise BadInput(f"--labels {labels!r}: choose medoid, cluster or both")
    return ("medoid", "cluster") if labels == "both" else (labels,)


def tune_svm(x: np.ndarray, y: np.ndarray, cfg: SimulationConfig, seed: int) -> dict:
    """C and gamma of the RBF SVM by a stratified k-fold grid search on the labelled data
    (MCC), its CV split seeded by ``seed`` (:func:`seraltools.classifier.tune`)."""
    from seraltools.classifier import tune

    return tune(x, y, cfg.grid(seed))


def _scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, matthews_corrcoef

    return {"mcc": float(matthews_corrcoef(y_true, y_pred)), "uar": float(balanced_accuracy_score(y_true, y_pred)),
            "accuracy": float(accuracy_score(y_true, y_pred))}


def _training_sets(train: np.ndarray, select_sets: dict, budget_n: dict, modes: tuple, cfg: SimulationConfig,
                   seed: list[int]) -> dict:
    """Each selector's training rows per budget: (selector, feature set, labels) ->
    budget -> (rows of the training set, row whose label each one gets)."""
    from seraltools.mal import mal_queue, random_queue, resolve_metric
    from seraltools.seeds import sub_seed
    from seraltools.selectors import HYBRIDS, UNSTABLE, queue
    from seraltools.standardize import standardize_mode

    n_train = len(train)
    perm = train[random_queue(n_train, None, sub_seed(*seed, 0))]
    sets = {("random", None, None): {p: (perm[:b], perm[:b]) for p, b in budget_n.items()}}
    k = max(1, round(n_train * cfg.k_fraction))
    mal_seed = sub_seed(*seed, 1)
    for name, xs in select_sets.items():
        for method in cfg.methods:
            if method == "random":
                continue
            if method != "mal":  # the other selectors: the queried rows with their own labels
                stable = method not in UNSTABLE  # TypiClust is not prefix-stable: its k grows with the budget
                opts = ({"metric": resolve_metric(cfg.metric, xs.shape[1], standardize_mode(cfg.standardize) != "none"),
                         "algorithm": cfg.kmedoids, "k": max(1, round(n_train * cfg.k_fraction))}
                        if HYBRIDS.get(method) == "mal" else {})  # MAL's own settings for the hybrid's opening
                longest = queue(method, xs[train], max(budget_n.values()), seed=mal_seed, **opts) if stable else None
                sets[(method, name, "queried")] = by_budget = {}
                for p, b in budget_n.items():
                    q = longest[:b] if stable else queue(method, xs[train], b, seed=mal_seed, **opts)
                    by_budget[p] = (train[q], train[q])
                continue
            metric = resolve_metric(cfg.metric, xs.shape[1], standardize_mode(cfg.standardize) != "none")
            order, base = mal_queue(xs[train], max(budget_n.values()), k, metric=metric, seed=mal_seed,
                                    algorithm=cfg.kmedoids)
            for mode in modes:
                sets[("mal", name, mode)] = {}
            for p, b in budget_n.items():
                queries = order[:b]  # prefix-stable: above k, medoids of clusterings of the rows not yet queued
                if "medoid" in modes:
                    sets[("mal", name, "medoid")][p] = (train[queries], train[queries])
                if "cluster" in modes:  # clusters are numbered in query order: the first b were asked
                    members = np.flatnonzero(base.cluster < b)
                    source = base.medoids[base.cluster[members]]
                    own = np.isin(members, queries)  # a queried row beyond the medoids keeps its own label
                    source[own] = members[own]
                    sets[("mal", name, "cluster")][p] = (train[members], train[source])
    return sets


def _cell(seed: int, repeat: int, fold: int, train: np.ndarray, test: np.ndarray, select_sets: dict,
          x_cls: np.ndarray, labels: dict, hyper: dict, cfg: SimulationConfig) -> list[dict]:
    """One (seed, repeat, fold): every selector, label mode, budget and task."""
    import warnings

    from sklearn.svm import SVC

    n_train = len(train)
    budget_n = {p: max(1, int(round(p * n_train))) for p in cfg.budgets}
    sets = _training_sets(train, select_sets, budget_n, label_modes(cfg.labels), cfg, [seed, repeat, fold])
    rows = []
    fitted: dict = {}  # (task, rows, labels) -> predictions: a set two selectors share is fitted once
    for (selector, name, mode), by_budget in sets.items():
        for p in cfg.budgets:
            rows_, source = by_budget[p]
            order = np.argsort(rows_, kind="stable")  # one canonical order: the same set, the same SVM
            rows_, source = rows_[order], source[order]
            for task, y in labels.items():
                yt = y[source]
                single = len(np.unique(yt)) < 2
                if single:
                    pred = np.full(len(test), yt[0])
                else:
                    key = (task, rows_.tobytes(), source.tobytes())
                    if key not in fitted:
                        svm = SVC(kernel="rbf", C=hyper[task]["C"], gamma=hyper[task]["gamma"])
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            fitted[key] = svm.fit(x_cls[rows_], yt).predict(x_cls[test])
                    pred = fitted[key]
                rows.append({"feature_set": name, "selector": selector, "labels": mode, "task": task, "budget": p,
                             "budget_n": budget_n[p], "n_labelled": len(rows_), "seed": seed, "repeat": repeat,
                             "fold": fold, **_scores(y[test], pred), "single_class": single, "n_train": n_train,
                             "n_test": len(test)})
    return rows


def simulate(select_sets: dict[str, np.ndarray], x_classify: np.ndarray, labels: dict[str, np.ndarray],
             cfg: SimulationConfig | None = None, *, workers: int = 1, progress=None, engine: str = "local",
             address: str | None = None, groups=None, warn=None) -> Simulation:
    """Run the grid. ``select_sets``: name -> (N, D) selection features, rows aligned with
    ``x_classify`` (N, D) and each label array in ``labels`` (task -> (N,)); ``groups``:
    each row's speaker, for ``standardize="speaker"``. The cells run in ``workers``
    local processes, or as Ray tasks with ``engine="ray"``."""
    cfg = cfg or SimulationConfig()
    label_modes(cfg.labels)
    x_cls, select_sets = prepare(select_sets, x_classify, labels, cfg, groups, warn)
    cells = folds(len(x_cls), labels, cfg)
    from seraltools.classifier import search_jobs, tune_many

    run = _runner(workers, engine, address)
    resize = getattr(progress, "resize", None)  # the bar counts the search's jobs and then the cells
    if resize:
        resize(search_jobs(labels, cfg.grid()) + len(cells))
    hyper = tune_many(x_cls, labels, cfg.grid(), run, progress)  # one search per task, every seed's (the paper's)
    rows: list[dict] = []
    for cell_rows in run(_cell, [(s, r, f, tr, te, select_sets, x_cls, labels, hyper, cfg)
                                 for s, r, f, tr, te in cells]):
        rows += cell_rows
        if progress:
            progress(1)
    return Simulation(rows, hyper, cfg, list(select_sets))


def prepare(select_sets: dict, x_classify: np.ndarray, labels: dict, cfg: SimulationConfig, groups=None,
            warn=None) -> tuple[np.ndarray, dict]:
    """The inputs of a simulation checked (every task two classes, each with a row per
    fold) and standardised: (classification features z-scored over the corpus, selection
    features as ``cfg.standardize`` asks)."""
    from seraltools.standardize import standardize, zscore

    for task, y in labels.items():
        if len(np.unique(y)) < 2:
            raise BadInput(f"task {task!r} has a single class in the data; nothing to classify")
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() < cfg.folds:
            raise BadInput(f"task {task!r}: a class has {counts.min()} rows, fewer than the {cfg.folds} folds")
    return zscore(x_classify), {name: standardize(xs, cfg.standardize, groups, warn=warn, source=name)
                                for name, xs in select_sets.items()}


def folds(n: int, labels: dict, cfg: SimulationConfig) -> list[tuple]:
    """The cells (seed, repeat, fold, train rows, test rows): stratified k-fold on the joint
    labels of all tasks (on the first task's where a joint class is rarer than the folds),
    the same for every selector and task."""
    from sklearn.model_selection import StratifiedKFold

    joint = np.array(["|".join(str(labels[t][i]) for t in labels) for i in range(n)])
    if np.unique(joint, return_counts=True)[1].min() < cfg.folds:
        joint = labels[next(iter(labels))]
    cells = []
    for seed in cfg.seeds:
        for r in range(cfg.repeats):
            skf = StratifiedKFold(cfg.folds, shuffle=True, random_state=seed * 1000 + r)
            for f, (train, test) in enumerate(skf.split(np.zeros(n), joint)):
                cells.append((seed, r, f, train, test))
    return cells


def _runner(workers: int, engine: str = "local", address: str | None = None):
    """Map calls in order: Ray tasks, ``workers`` processes (:func:`seraltools.compute.process_map`)
    or this one."""
    if engine == "ray":
        from seraltools.engines import ray_map

        return lambda fn, args: ray_map(fn, args, address, workers)
    from seraltools.compute import process_map

    return lambda fn, args: process_map(fn, args, workers)


# --------------------------------------------------------------------------- reporting


def _cell_means(rows: list[dict]) -> dict:
    """Mean MCC over tasks per (seed, repeat, fold) cell."""
    acc: dict = {}
    for r in rows:
        acc.setdefault((r.get("seed", 0), r["repeat"], r["fold"]), []).append(r["mcc"])
    return {key: float(np.mean(v)) for key, v in acc.items()}


def summarize(rows: list[dict]) -> list[dict]:
    """Each selector against random sampling per feature set, label mode and budget, as in
    the paper's Sec. 4: mean MCC over tasks, folds, repeats and seeds, and the paired
    t-test over the (seed, repeat, fold) cells (each cell's MCC averaged over the
    tasks); selectors other than MAL also against MAL (medoid labels, same features)."""
    def key(r):
        return r["selector"], r["feature_set"], r.get("labels") or "medoid"

    budgets = sorted({r["budget"] for r in rows})
    order = {"mal": 0}
    groups = sorted({key(r) for r in rows if r["selector"] != "random"},
                    key=lambda g: (order.get(g[0], 1), g[0], str(g[1]), g[2]))
    cells = {(g, b): _cell_means([r for r in rows if key(r) == g and r["budget"] == b])
             for g in groups for b in budgets}
    random = {b: _cell_means([r for r in rows if r["selector"] == "random" and r["budget"] == b]) for b in budgets}
    out = []
    for g in groups:
        selector, name, mode = g
        for b in budgets:
            own = cells[(g, b)]
            sel_rows = [r for r in rows if key(r) == g and r["budget"] == b]
            diff, t, p, a, c = _paired(own, random[b])
            row = {"selector": selector, "feature_set": name, "labels": mode, "budget": b,
                   "budget_n": int(round(np.mean([r["budget_n"] for r in sel_rows]))),
                   "selector_mcc": float(a.mean()), "random_mcc": float(c.mean()), "diff": diff,
                   "t": t, "p": p, "df": len(a) - 1,
                   "selector_single_class": int(sum(r["single_class"] for r in sel_rows)),
                   "random_single_class": int(sum(r["single_class"] for r in rows if r["selector"] == "random"
                                                  and r["budget"] == b and (r.get("seed", 0), r["repeat"],
                                                                            r["fold"]) in own))}
            mal = cells.get((("mal", name, "medoid"), b))
            if selector != "mal" and mal:
                row["mal_mcc"] = float(np.mean([mal[cell] for cell in own]))
                row["diff_mal"], row["t_mal"], row["p_mal"] = _paired(own, mal)[:3]
            out.append(row)
    return out


def _paired(a_cells: dict, b_cells: dict):
    """(mean difference, t, p, a, b) of a paired t-test over the cells of ``a_cells``."""
    from scipy import stats

    a = np.array(list(a_cells.values()))
    b = np.array([b_cells[cell] for cell in a_cells])
    diff = a - b
    if np.allclose(diff, 0):
        return float(diff.mean()), 0.0, 1.0, a, b
    t, p = stats.ttest_rel(a, b)
    return float(diff.mean()), float(t), float(p), a, b


def format_summary(summary: list[dict], hyper: dict) -> str:
    lines = []
    lines.append("SVM (RBF), one grid search per task: " + ", ".join(
        f"{t}: C={h['C']:g} gamma={h['gamma']:.3g} (CV MCC {h['cv_mcc']:.3f}, {route_text(h)})"
        for t, h in hyper.items()))
    cells = summary[0]["df"] + 1 if summary else 0
    others = any(s["selector"] != "mal" for s in summary)
    head = (f"{'selector':<16} {'feature set':<20} {'labels':<7} {'budget':>6} {'n':>5} {'MCC':>6} {'random':>7} "
            f"{'diff':>7} {'t':>6} {'p':>8}") + (f" {'vs MAL':>7} {'p':>8}" if others else "")
    lines += ["", f"mean MCC over tasks, folds, repeats and seeds; paired t-tests over {cells} cells",
              head, "-" * len(head)]
    for s in summary:
        star = " *" if s["p"] < 0.05 and s["diff"] > 0 else (" -" if s["p"] < 0.05 else "  ")
        line = (f"{s['selector'][:16]:<16} {s['feature_set'][:20]:<20} {s['labels']:<7} {s['budget'] * 100:>5g}% "
                f"{s['budget_n']:>5} {s['selector_mcc']:>6.3f} {s['random_mcc']:>7.3f} {s['diff']:>+7.3f} "
                f"{s['t']:>6.2f} {s['p']:>8.2g}{star}")
        if "diff_mal" in s:
            line += f" {s['diff_mal']:>+7.3f} {s['p_mal']:>8.2g}"
        lines.append(line)
    lines.append("* above random at p < 0.05; - below" + ("; vs MAL: the selector's MCC minus MAL's (medoid labels, "
                                                          "same features), paired" if others else ""))
    return "\n".join(lines)


def plot(rows: list[dict], path: str, title: str | None = None) -> None:
    """Fig. 4/5 of the paper: mean MCC (over the tasks, folds, repeats and seeds) against
    the budget in % of the training fold (log x), a line per selector, feature set and
    label mode; the band is one standard error over the (seed, repeat, fold) cells; a
    filled marker is a budget where the selector differs from random sampling (paired
    t-test over the cells, p < 0.05), a hollow one where it does not."""
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend is left alone

    from seraltools.table import atomic_path

    fig = Figure(figsize=(7, 4.8))
    ax = fig.subplots()

    def group(r):
        return r["selector"], r["feature_set"], r.get("labels")

    groups = sorted({group(r) for r in rows}, key=lambda g: (g[0] == "random", str(g[1]), str(g[2])))
    budgets = sorted({r["budget"] for r in rows})
    modes = {g[2] for g in groups if g[0] == "mal"}
    random = {b: _cell_means([r for r in rows if r["selector"] == "random" and r["budget"] == b]) for b in budgets}
    tasks = sorted({r["task"] for r in rows})
    for selector, name, mode in groups:
        means, errs, differs = [], [], []
        for b in budgets:
            cells = _cell_means([r for r in rows if group(r) == (selector, name, mode) and r["budget"] == b])
            v = np.array(list(cells.values()))
            means.append(v.mean())
            errs.append(v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0)
            differs.append(selector != "random" and bool(random[b]) and _paired(cells, random[b])[2] < 0.05)
        means, errs = np.array(means), np.array(errs)
        label = "Random sampling" if selector == "random" else f"{SELECTOR_NAMES.get(selector, selector)}: {name}" + (
            f", {mode} labels" if selector == "mal" and (len(modes) > 1 or mode != "medoid") else "")
        style = {"color": "black", "linestyle": "--"} if selector == "random" else {}
        x = np.array(budgets) * 100
        line, = ax.plot(x, means, label=label, **style)
        ax.fill_between(x, means - errs, means + errs, alpha=0.2, color=line.get_color())
        hit = np.array(differs, dtype=bool)
        ax.plot(x[hit], means[hit], "o", color=line.get_color())
        ax.plot(x[~hit], means[~hit], "o", color=line.get_color(), markerfacecolor="white")
    ax.set_xscale("log")
    ax.set_xticks([b * 100 for b in budgets], [f"{b * 100:g}%" for b in budgets])
    ax.set_xlabel("Labelling budget (% of the training fold)")
    ax.set_ylabel(f"MCC (mean of {' and '.join(tasks)})")
    n_cells = len(next(iter(random.values()), {}))
    ax.set_title((title + "\n" if title else "") + f"Active learning against random sampling ({n_cells} cells); "
                 "band: 1 standard error;\nfilled marker: differs from random (paired t-test, p < 0.05)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")

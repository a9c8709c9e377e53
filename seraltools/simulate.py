"""The active-learning simulation of the paper (Sec. 3.4): ``seral evaluate al``.

For each repeat (seed) the labelled corpus is split by stratified k-fold
cross-validation (5 folds; stratified on the joint labels of all tasks, so that
every task and selector sees the same splits). On each training fold, every
selection feature set is run through MAL (:mod:`seraltools.mal`, on that fold
only) and a seeded random order is drawn as the baseline. For each labelling
budget (a fraction of the training fold; at least one sample) the first queries
are "annotated" with the corpus's ground truth and an RBF SVM is trained on them
and tested on the test fold.

The SVM always uses the classification features (600-dim log-mel functionals in
the paper), z-scored at the corpus level; its C and gamma are chosen once per
corpus and task by a 5-fold CV grid search on all labelled data, as the paper does
(note that this lets the test folds inform two hyper-parameters). gamma is given
as multiples of 1/D, sklearn's "scale" for z-scored features. A training set that
holds a single class predicts that class (MCC 0) and is counted in
``single_class``. Metrics: Matthews correlation (primary), unweighted average
recall (UAR) and accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from seraltools.errors import BadInput

BUDGETS = (0.01, 0.02, 0.05, 0.10, 0.20, 0.50, 1.00)
TASKS = ("valence", "arousal")


@dataclass
class SimulationConfig:
    budgets: tuple[float, ...] = BUDGETS
    folds: int = 5
    repeats: int = 5
    seed: int = 0
    metric: str = "auto"  # MAL's distance (auto: cosine above 2 dims, Euclidean for 2-D)
    k_fraction: float = 1 / 3  # MAL's k as a fraction of the training fold (paper: N/3)
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
    gamma_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)  # multiples of 1/D
    grid_folds: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Simulation:
    rows: list[dict]
    hyper: dict[str, dict]  # task -> {"C", "gamma", "cv_mcc"}
    config: SimulationConfig
    feature_sets: list[str] = field(default_factory=list)


def zscore(x: np.ndarray) -> np.ndarray:
    """Corpus-level z-score per dimension (constant dimensions become 0)."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    return ((x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def tune_svm(x: np.ndarray, y: np.ndarray, cfg: SimulationConfig) -> dict:
    """C and gamma of the RBF SVM by a stratified k-fold grid search on all labelled data (MCC)."""
    from sklearn.metrics import make_scorer, matthews_corrcoef
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    grid = {"C": list(cfg.c_grid), "gamma": [g / x.shape[1] for g in cfg.gamma_grid]}
    cv = StratifiedKFold(cfg.grid_folds, shuffle=True, random_state=cfg.seed)
    search = GridSearchCV(SVC(kernel="rbf"), grid, scoring=make_scorer(matthews_corrcoef), cv=cv, n_jobs=1)
    search.fit(x, y)
    return {"C": float(search.best_params_["C"]), "gamma": float(search.best_params_["gamma"]),
            "cv_mcc": float(search.best_score_)}


def _scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, matthews_corrcoef

    return {"mcc": float(matthews_corrcoef(y_true, y_pred)), "uar": float(balanced_accuracy_score(y_true, y_pred)),
            "accuracy": float(accuracy_score(y_true, y_pred))}


def _cell(repeat: int, fold: int, train: np.ndarray, test: np.ndarray, select_sets: dict, x_cls: np.ndarray,
          labels: dict, hyper: dict, cfg: SimulationConfig) -> list[dict]:
    """One (repeat, fold): every selector, budget and task."""
    import warnings

    from sklearn.svm import SVC

    from seraltools.mal import mal, random_queue

    n_train = len(train)
    seed = [cfg.seed, repeat, fold]
    budget_n = {p: max(1, int(round(p * n_train))) for p in cfg.budgets}
    perm = train[random_queue(n_train, None, int(np.random.default_rng(seed + [0]).integers(2**31)))]
    orders = {("random", None): {p: perm[:b] for p, b in budget_n.items()}}  # selector -> budget -> rows
    k = max(1, round(n_train * cfg.k_fraction))
    mal_seed = int(np.random.default_rng(seed + [1]).integers(2**31))
    for name, xs in select_sets.items():
        base = mal(xs[train], k, metric=cfg.metric, seed=mal_seed)
        # budgets up to k take the largest clusters' medoids; a larger budget clusters with k = budget
        orders[("mal", name)] = {p: train[base.queue(b) if b <= k else
                                          mal(xs[train], b, metric=cfg.metric, seed=mal_seed).queue(b)]
                                 for p, b in budget_n.items()}
    rows = []
    for (selector, name), order in orders.items():
        for p in cfg.budgets:
            b = budget_n[p]
            chosen = order[p]
            for task, y in labels.items():
                yt = y[chosen]
                single = len(np.unique(yt)) < 2
                if single:
                    pred = np.full(len(test), yt[0])
                else:
                    svm = SVC(kernel="rbf", C=hyper[task]["C"], gamma=hyper[task]["gamma"])
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pred = svm.fit(x_cls[chosen], yt).predict(x_cls[test])
                rows.append({"feature_set": name, "selector": selector, "task": task, "budget": p, "budget_n": b,
                             "repeat": repeat, "fold": fold, **_scores(y[test], pred), "single_class": single,
                             "n_train": n_train, "n_test": len(test)})
    return rows


def simulate(select_sets: dict[str, np.ndarray], x_classify: np.ndarray, labels: dict[str, np.ndarray],
             cfg: SimulationConfig | None = None, *, workers: int = 1, progress=None, engine: str = "local",
             address: str | None = None) -> Simulation:
    """Run the grid. ``select_sets``: name -> (N, D) selection features, rows aligned with
    ``x_classify`` (N, D) and each label array in ``labels`` (task -> (N,)). The cells
    run in ``workers`` local processes, or as Ray tasks with ``engine="ray"``."""
    from sklearn.model_selection import StratifiedKFold

    cfg = cfg or SimulationConfig()
    n = len(x_classify)
    for task, y in labels.items():
        if len(np.unique(y)) < 2:
            raise BadInput(f"task {task!r} has a single class in the data; nothing to classify")
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() < cfg.folds:
            raise BadInput(f"task {task!r}: a class has {counts.min()} rows, fewer than the {cfg.folds} folds")
    x_cls = zscore(x_classify)
    hyper = {task: tune_svm(x_cls, y, cfg) for task, y in labels.items()}
    joint = np.array(["|".join(str(labels[t][i]) for t in labels) for i in range(n)])
    if np.unique(joint, return_counts=True)[1].min() < cfg.folds:
        joint = labels[next(iter(labels))]
    cells = []
    for r in range(cfg.repeats):
        skf = StratifiedKFold(cfg.folds, shuffle=True, random_state=cfg.seed * 1000 + r)
        for f, (train, test) in enumerate(skf.split(np.zeros(n), joint)):
            cells.append((r, f, train, test))
    run = _runner(workers, engine, address)
    rows: list[dict] = []
    for cell_rows in run(_cell, [(r, f, tr, te, select_sets, x_cls, labels, hyper, cfg) for r, f, tr, te in cells]):
        rows += cell_rows
        if progress:
            progress(1)
    return Simulation(rows, hyper, cfg, list(select_sets))


def _runner(workers: int, engine: str = "local", address: str | None = None):
    """Map cells in order: Ray tasks, ``workers`` processes (joblib's loky) or this one."""
    if engine == "ray":
        from seraltools.engines import ray_map

        return lambda fn, args: ray_map(fn, args, address, workers)
    if workers <= 1:
        return lambda fn, args: (fn(*a) for a in args)
    from joblib import Parallel, delayed

    def run(fn, args):
        return Parallel(n_jobs=workers, return_as="generator")(delayed(fn)(*a) for a in args)

    return run


# --------------------------------------------------------------------------- reporting


def summarize(rows: list[dict]) -> list[dict]:
    """Mean MCC over tasks, folds and repeats per feature set and budget, MAL against random,
    with the paired t-test (pairs: task x fold x repeat), as in the paper's Sec. 4."""
    from scipy import stats

    random = {(r["task"], r["budget"], r["repeat"], r["fold"]): r["mcc"] for r in rows if r["selector"] == "random"}
    sets = sorted({r["feature_set"] for r in rows if r["selector"] == "mal"})
    out = []
    for name in sets:
        for b in sorted({r["budget"] for r in rows}):
            mal_rows = [r for r in rows if r["selector"] == "mal" and r["feature_set"] == name and r["budget"] == b]
            a = np.array([r["mcc"] for r in mal_rows])
            c = np.array([random[(r["task"], r["budget"], r["repeat"], r["fold"])] for r in mal_rows])
            diff = a - c
            if np.allclose(diff, 0):
                t, p = 0.0, 1.0
            else:
                t, p = stats.ttest_rel(a, c)
            out.append({"feature_set": name, "budget": b, "budget_n": int(np.mean([r["budget_n"] for r in mal_rows])),
                        "mal_mcc": float(a.mean()), "random_mcc": float(c.mean()), "diff": float(diff.mean()),
                        "t": float(t), "p": float(p), "df": len(a) - 1,
                        "mal_single_class": int(sum(r["single_class"] for r in mal_rows))})
    return out


def format_summary(summary: list[dict], hyper: dict) -> str:
    lines = ["SVM (RBF) per task: " + ", ".join(f"{t}: C={h['C']:g} gamma={h['gamma']:.3g} (CV MCC {h['cv_mcc']:.3f})"
                                                 for t, h in hyper.items())]
    head = f"{'feature set':<24} {'budget':>7} {'n':>5} {'MAL MCC':>8} {'random':>8} {'diff':>7} {'t':>6} {'p':>8}"
    lines += ["", "mean MCC over tasks, folds and repeats; paired t-test MAL vs random", head, "-" * len(head)]
    for s in summary:
        star = " *" if s["p"] < 0.05 and s["diff"] > 0 else ("  (-)" if s["p"] < 0.05 else "")
        lines.append(f"{s['feature_set'][:24]:<24} {s['budget'] * 100:>6.0f}% {s['budget_n']:>5} {s['mal_mcc']:>8.3f} "
                     f"{s['random_mcc']:>8.3f} {s['diff']:>+7.3f} {s['t']:>6.2f} {s['p']:>8.2g}{star}")
    lines.append("* MAL above random at p < 0.05; (-) below")
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    """Fig. 4/5 of the paper: mean MCC against budget (log x), a line per selector and
    feature set, standard error shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seraltools.table import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = sorted({(r["selector"], r["feature_set"]) for r in rows}, key=lambda g: (g[0] == "random", str(g[1])))
    budgets = sorted({r["budget"] for r in rows})
    for selector, name in groups:
        means, errs = [], []
        for b in budgets:
            v = np.array([r["mcc"] for r in rows if r["selector"] == selector and r["feature_set"] == name
                          and r["budget"] == b])
            means.append(v.mean())
            errs.append(v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0)
        means, errs = np.array(means), np.array(errs)
        label = "Random sampling" if selector == "random" else f"MAL: {name}"
        style = {"color": "black", "linestyle": "--"} if selector == "random" else {}
        line, = ax.plot(np.array(budgets) * 100, means, marker="o", label=label, **style)
        ax.fill_between(np.array(budgets) * 100, means - errs, means + errs, alpha=0.2, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xticks([b * 100 for b in budgets], [f"{b * 100:g}%" for b in budgets])
    ax.set_xlabel("Labelling budget")
    ax.set_ylabel("MCC")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)

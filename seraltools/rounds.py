"""The multi-round simulation: ``seral evaluate al --rounds``.

A real campaign: round 1 asks the cold-start selector's queue (``cfg.methods[0]``,
default MAL) up to the first budget; every later round trains the RBF SVM on the
answers so far and asks the next rows by a later-round selector
(:mod:`seraltools.uncertainty`: margin, entropy, cluster-margin) up to the next
cumulative budget (``cfg.budgets``: the schedule, default 2 %, 4 %, ..., 50 % of the
training fold). After every round the scoring SVM is trained on the labelled rows and
tested on the test fold (MCC, UAR, accuracy), exactly as in :mod:`seraltools.simulate`.

Same seeds, folds and pairing as the one-round simulation: the hyper-parameters,
the outer folds (StratifiedKFold, ``random_state = seed * 1000 + repeat``, on the joint
labels) and, per cell, random sampling and the cold-start ranking continued
(``simulate._cell``, the one-round simulation's own cell at the same budgets) are the
simulation's; the rows of these two strategies are identical to ``seral evaluate al``'s
at the same budgets. The later-round strategies are paired with both over the
(seed, repeat, fold) cells.

The selecting SVM: with ``retune=False`` (default) it uses the corpus-level C and gamma
of the scoring SVM (so it *is* the scoring SVM of the previous round); ``retune=True``
grid-searches them on the labelled rows every round, as ``seral mal-select --method
margin`` does in a real campaign (16 grid points x 5 folds per task and round: about
25 times slower). Selection features for cluster-margin's k-means: the --select table
(z-scored when ``cfg.standardize``). Each cell's later rounds draw their seed from
``sub_seed(seed, repeat, fold, 2)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from seraltools.errors import BadInput
from seraltools.simulate import SimulationConfig, _cell, _paired, _runner, _training_sets, folds, prepare

SCHEDULE = tuple(round(0.02 * i, 2) for i in range(1, 26))  # 2 %, 4 %, ..., 50 %
NAMES = {"mal": "MAL", "random": "random"}


@dataclass
class Rounds:
    rows: list[dict]
    hyper: dict[str, dict]  # task -> {"C", "gamma", "cv_mcc", ...}: one search per task, as simulate
    config: SimulationConfig
    later: tuple[str, ...]
    feature_sets: list[str]


def _score(rows_: np.ndarray, x_cls, labels: dict, test, hyper: dict, seed: int) -> list[tuple[str, dict, bool]]:
    """simulate._cell's scoring of one training set: (task, scores, single class)."""
    from sklearn.svm import SVC

    from seraltools.simulate import _scores

    rows_ = np.sort(rows_, kind="stable")  # the canonical order: the same set, the same SVM
    out = []
    for task, y in labels.items():
        yt = y[rows_]
        single = len(np.unique(yt)) < 2
        if single:
            pred = np.full(len(test), yt[0])
        else:
            svm = SVC(kernel="rbf", C=hyper[task]["C"], gamma=hyper[task]["gamma"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = svm.fit(x_cls[rows_], yt).predict(x_cls[test])
        out.append((task, _scores(y[test], pred), single))
    return out


def _round_cell(seed: int, repeat: int, fold: int, train: np.ndarray, test: np.ndarray, select_sets: dict,
                x_cls: np.ndarray, labels: dict, hyper: dict, cfg: SimulationConfig, later: tuple,
                retune: bool) -> list[dict]:
    """One (seed, repeat, fold): random and the cold start continued (simulate's own cell),
    then every later-round selector on every feature set, round by round."""
    from seraltools.seeds import sub_seed
    from seraltools.uncertainty import later_queue

    rows = _cell(seed, repeat, fold, train, test, select_sets, x_cls, labels, hyper, cfg)
    for r in rows:
        r["fallback"] = False
    n_train = len(train)
    budget_n = {p: max(1, int(round(p * n_train))) for p in cfg.budgets}
    cold = cfg.methods[0]
    mode = "medoid" if cold == "mal" else "queried"
    sets = _training_sets(train, select_sets, budget_n, ("medoid",), cfg, [seed, repeat, fold])
    if cold == "random":  # round 1 at random: the random baseline's own order, for every feature set
        sets.update({("random", name, mode): sets[("random", None, None)] for name in select_sets})
    position = {r: i for i, r in enumerate(train)}
    x_train = x_cls[train]
    budgets = sorted(cfg.budgets)
    local_hyper = None if retune else {task: hyper[task] for task in labels}
    later_seed = sub_seed(seed, repeat, fold, 2)
    for name, xs in select_sets.items():
        order = np.array([position[r] for r in sets[(cold, name, mode)][budgets[-1]][0]], dtype=np.int64)
        first = np.array([position[r] for r in sets[(cold, name, mode)][budgets[0]][0]], dtype=np.int64)
        for method in later:
            asked = np.zeros(n_train, dtype=bool)
            asked[first] = True
            for i, p in enumerate(budgets):
                fell_back = False
                if i:
                    need = budget_n[p] - int(asked.sum())
                    known = {task: np.where(asked, y[train], None) for task, y in labels.items()}
                    batch = later_queue(method, x_train, need, known, seed=sub_seed(later_seed, i), hyper=local_hyper,
                                        x_select=xs[train], fallback=order, cfg=cfg)
                    assert not asked[batch.rows].any()
                    asked[batch.rows] = True
                    fell_back = batch.fallback
                chosen = train[np.flatnonzero(asked)]
                for task, scores, single in _score(chosen, x_cls, labels, test, hyper, seed):
                    rows.append({"feature_set": name, "selector": method, "labels": "medoid", "task": task,
                                 "budget": p, "budget_n": budget_n[p], "n_labelled": len(chosen), "seed": seed,
                                 "repeat": repeat, "fold": fold, **scores, "single_class": single,
                                 "n_train": n_train, "n_test": len(test), "fallback": fell_back})
    return rows


def simulate_rounds(select_sets: dict[str, np.ndarray], x_classify: np.ndarray, labels: dict[str, np.ndarray],
                    cfg: SimulationConfig | None = None, later: tuple[str, ...] = ("margin", "entropy", "cluster-margin"),
                    *, retune: bool = False, workers: int = 1, progress=None, engine: str = "local",
                    address: str | None = None, groups=None, warn=None) -> Rounds:
    """The grid of the one-round simulation (:func:`seraltools.simulate.simulate`), with
    ``cfg.budgets`` as the cumulative schedule, ``cfg.methods[0]`` as round 1's selector
    and every ``later`` selector for the rounds after it."""
    from dataclasses import replace

    from seraltools.classifier import search_jobs, tune_many
    from seraltools.uncertainty import check_later

    cfg = replace(cfg or SimulationConfig(), labels="medoid")
    if cfg.budgets == SimulationConfig().budgets:
        cfg = replace(cfg, budgets=SCHEDULE)
    cfg = replace(cfg, budgets=tuple(sorted(cfg.budgets)), methods=(cfg.methods[0],))
    later = tuple(dict.fromkeys(check_later(m) for m in later))
    if not later:
        raise BadInput("--rounds: name a later-round selector (margin, entropy, cluster-margin)")
    x_cls, select_sets = prepare(select_sets, x_classify, labels, cfg, groups, warn)
    cells = folds(len(x_cls), labels, cfg)
    run = _runner(workers, engine, address)
    resize = getattr(progress, "resize", None)  # the bar counts the search's jobs and then the cells
    if resize:
        resize(search_jobs(labels, cfg.grid()) + len(cells))
    hyper = tune_many(x_cls, labels, cfg.grid(), run, progress)  # one search per task, every seed's (as simulate)
    rows: list[dict] = []
    for cell_rows in run(_round_cell, [(s, r, f, tr, te, select_sets, x_cls, labels, hyper, cfg, later, retune)
                                       for s, r, f, tr, te in cells]):
        rows += cell_rows
        if progress:
            progress(1)
    return Rounds(rows, hyper, cfg, later, list(select_sets))


# --------------------------------------------------------------------------- reporting


def _cells(rows: list[dict], selector: str, name, budget: float) -> dict:
    acc: dict = {}
    for r in rows:
        if r["selector"] == selector and r["budget"] == budget and (selector == "random" or r["feature_set"] == name):
            acc.setdefault((r["seed"], r["repeat"], r["fold"]), []).append(r["mcc"])
    return {c: float(np.mean(v)) for c, v in acc.items()}


def summarize_rounds(rows: list[dict], cold: str = "mal") -> list[dict]:
    """Per feature set, strategy and cumulative budget: mean MCC (over tasks, then cells),
    the paired t-test against random at the same budget and, for the later-round
    selectors, against the cold-start ranking continued."""
    budgets = sorted({r["budget"] for r in rows})
    names = list(dict.fromkeys(r["feature_set"] for r in rows if r["selector"] != "random"))
    strategies = list(dict.fromkeys(r["selector"] for r in rows if r["selector"] not in ("random", cold)))
    out = []
    for name in names:
        for strategy in ([cold] if cold != "random" else []) + strategies:
            for b in budgets:
                own = _cells(rows, strategy, name, b)
                diff, t, p, a, c = _paired(own, _cells(rows, "random", None, b))
                row = {"feature_set": name, "selector": strategy, "budget": b, "mcc": float(a.mean()),
                       "random_mcc": float(c.mean()), "diff": diff, "t": t, "p": p, "df": len(a) - 1,
                       "fallback": int(sum(r.get("fallback", False) for r in rows if r["selector"] == strategy
                                           and r["feature_set"] == name and r["budget"] == b))}
                if strategy != cold:
                    d2, t2, p2, _, c2 = _paired(own, _cells(rows, cold, name, b))
                    row.update(cold_mcc=float(c2.mean()), diff_cold=d2, t_cold=t2, p_cold=p2)
                out.append(row)
    return out


def format_rounds(summary: list[dict], hyper: dict, cold: str = "mal") -> str:
    from seraltools.classifier import route_text

    lines = ["SVM (RBF), one grid search per task: " + ", ".join(
        f"{t}: C={h['C']:g} gamma={h['gamma']:.3g} (CV MCC {h['cv_mcc']:.3f}, {route_text(h)})"
        for t, h in hyper.items())]
    cells = summary[0]["df"] + 1 if summary else 0
    cold_name = NAMES.get(cold, cold)
    head = (f"{'strategy':<16} {'feature set':<16} {'budget':>6} {'MCC':>6} {'random':>7} {'diff':>7} {'p':>8} "
            f"{'vs ' + cold_name:>9} {'p':>8}")
    lines += ["", f"cumulative budgets; round 1: {cold_name}; mean MCC over tasks, folds, repeats and seeds; paired "
              f"t-tests over {cells} cells", head, "-" * len(head)]
    for s in summary:
        star = " *" if s["p"] < 0.05 and s["diff"] > 0 else (" -" if s["p"] < 0.05 else "  ")
        label = f"{cold_name} continued" if s["selector"] == cold else f"{cold_name} > {s['selector']}"
        line = (f"{label[:16]:<16} {str(s['feature_set'])[:16]:<16} {s['budget'] * 100:>5g}% {s['mcc']:>6.3f} "
                f"{s['random_mcc']:>7.3f} {s['diff']:>+7.3f} {s['p']:>8.2g}{star}")
        if "diff_cold" in s:
            line += f" {s['diff_cold']:>+7.3f} {s['p_cold']:>8.2g}"
        lines.append(line)
    lines.append(f"* above random at p < 0.05; - below; vs {cold_name}: the strategy's MCC minus the cold-start "
                 "ranking continued (same features), paired")
    return "\n".join(lines)


def plot_rounds(rows: list[dict], path: str, cold: str = "mal") -> None:
    """Mean MCC against the cumulative budget (linear x), one line per strategy and feature
    set, standard error over the (seed, repeat, fold) cells shaded."""
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend is left alone

    from seraltools.table import atomic_path

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    budgets = sorted({r["budget"] for r in rows})
    names = list(dict.fromkeys(r["feature_set"] for r in rows if r["selector"] != "random"))
    strategies = list(dict.fromkeys(r["selector"] for r in rows if r["selector"] not in ("random", cold)))
    cold_name = NAMES.get(cold, cold)
    lines = [("random", None, "Random sampling")]
    for name in names:
        suffix = f" ({name})" if len(names) > 1 else ""
        if cold != "random":
            lines.append((cold, name, f"{cold_name} continued{suffix}"))
        lines += [(s, name, f"{cold_name}, then {s}{suffix}") for s in strategies]
    x = np.array(budgets) * 100
    for selector, name, label in lines:
        means, errs = [], []
        for b in budgets:
            v = np.array(list(_cells(rows, selector, name, b).values()))
            means.append(v.mean())
            errs.append(v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0)
        means, errs = np.array(means), np.array(errs)
        style = {"color": "black", "linestyle": "--"} if selector == "random" else {}
        line, = ax.plot(x, means, marker="o", markersize=3, label=label, **style)
        ax.fill_between(x, means - errs, means + errs, alpha=0.2, color=line.get_color())
    ax.set_xlabel("Cumulative labelling budget (% of the training fold)")
    ax.set_ylabel("MCC")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")

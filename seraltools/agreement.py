"""Agreement between annotators: Krippendorff's alpha (nominal and interval) and Fleiss'
kappa, on a units x raters table of answers (None where a rater gave none).

Krippendorff's alpha follows Krippendorff (2011), "Computing Krippendorff's alpha-
reliability" (the coincidence-matrix form): units with fewer than two answers are left
out (they are not pairable); alpha = 1 - D_o / D_e with the observed and expected
disagreement from the coincidences, delta^2 = 0 / 1 for nominal data and (c - k)^2 for
interval data. Checked against the worked example of that paper (nominal 0.743,
interval 0.849) in tests/test_labels.py, and against the `krippendorff` package where
it is installed (benchmarks/raters.py).

Fleiss' kappa (Fleiss 1971) is defined for a fixed number of raters per unit; units
with another number of answers than the most common one (of two or more) are left out,
and how many are used is returned beside it.
"""

from __future__ import annotations

from collections import Counter


def _pairable(units: list[list]) -> list[list]:
    """Each unit's answers (None dropped), units with two or more."""
    out = []
    for u in units:
        values = [v for v in u if v is not None and not (isinstance(v, float) and v != v)]
        if len(values) >= 2:
            out.append(values)
    return out


def krippendorff_alpha(units: list[list], level: str = "nominal") -> float | None:
    """Krippendorff's alpha of ``units`` (each a list of the raters' answers, None for
    none); ``level`` nominal or interval (numbers). None when no unit has two answers or
    every answer is the same value (no variation: alpha is undefined)."""
    if level not in ("nominal", "interval"):
        raise ValueError(f"level {level!r}: nominal or interval")
    pairable = _pairable(units)
    if not pairable:
        return None
    coincidence: Counter = Counter()  # o_ck
    for values in pairable:
        m = len(values)
        counts = Counter(float(v) if level == "interval" else v for v in values)
        for c, nc in counts.items():
            for k, nk in counts.items():
                coincidence[(c, k)] += nc * (nk - (1 if c == k else 0)) / (m - 1)
    n_c: Counter = Counter()
    for (c, _), o in coincidence.items():
        n_c[c] += o
    n = sum(n_c.values())
    if len(n_c) < 2 or n <= 1:
        return None

    def delta(c, k) -> float:
        if level == "nominal":
            return 0.0 if c == k else 1.0
        return (c - k) ** 2

    d_o = sum(o * delta(c, k) for (c, k), o in coincidence.items())
    values = list(n_c)
    d_e = sum(n_c[c] * n_c[k] * delta(c, k) for c in values for k in values) / (n - 1)
    if d_e == 0:
        return None
    return 1.0 - d_o / d_e


def fleiss_kappa(units: list[list]) -> tuple[float | None, int]:
    """(Fleiss' kappa, units used): the units with the most common number (>= 2) of
    answers. None when fewer than two such units or no variation."""
    pairable = _pairable(units)
    if not pairable:
        return None, 0
    sizes = Counter(len(u) for u in pairable)
    n = max(sizes, key=lambda s: (sizes[s], s))
    used = [u for u in pairable if len(u) == n]
    if len(used) < 2:
        return None, len(used)
    totals: Counter = Counter()
    p_i = []
    for u in used:
        counts = Counter(u)
        totals.update(counts)
        p_i.append((sum(c * c for c in counts.values()) - n) / (n * (n - 1)))
    p_bar = sum(p_i) / len(used)
    grand = len(used) * n
    p_e = sum((t / grand) ** 2 for t in totals.values())
    if p_e >= 1.0:
        return None, len(used)
    return (p_bar - p_e) / (1.0 - p_e), len(used)


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient (the SER challenges' measure for
    dimensional labels): 2 cov / (var_t + var_p + (mean_t - mean_p)^2), population moments."""
    import numpy as np

    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if len(t) < 2:
        return float("nan")
    mt, mp = t.mean(), p.mean()
    cov = ((t - mt) * (p - mp)).mean()
    den = t.var() + p.var() + (mt - mp) ** 2
    return float(2 * cov / den) if den > 0 else float("nan")

"""``seral labels``: what a labels file holds -- answers per class and per annotator,
conflicts between annotators, their agreement -- and the labels as one row per id.

Works on every labels file the readers take (:mod:`seraltools.labels`): seral annotate's
answer log, Label Studio's exports, a table. Agreement (:mod:`seraltools.agreement`) is
measured on each annotator's last answer per id, over the ids with two or more."""

from __future__ import annotations

from seraltools.labels import aggregate, bookkeeping


def labels_report(answers, scales: list[str], *, skips: dict[str, int] | None = None, how: str = "auto",
                  source: str = "labels"):
    """(one row per id (:func:`~seraltools.labels.aggregate` ``how``), the report as a dict)."""
    from seraltools.agreement import fleiss_kappa, krippendorff_alpha

    notes: list[str] = []
    table = aggregate(answers, how, scales=scales, name=source, notes=notes) if (
        "annotator" in answers.column_names or "time" in answers.column_names) else answers
    ids = answers.column("id").to_pylist()
    who = ([str(v) if v is not None else "?" for v in answers.column("annotator").to_pylist()]
           if "annotator" in answers.column_names else ["?"] * len(ids))
    status = answers.column("status").to_pylist() if "status" in answers.column_names else [None] * len(ids)
    last = {}
    for i, (u, w) in enumerate(zip(ids, who)):
        last[(u, w)] = i
    annotators = sorted(set(who))
    report = {
        "source": source, "answers": len(ids), "ids": table.num_rows, "aggregate": how, "notes": notes,
        "annotators": {w: {"ids": sum(1 for (_, x) in last if x == w),
                           "unsure": sum(1 for (u, x), i in last.items() if x == w and status[i] == "unsure"),
                           "skips": (skips or {}).get(w, 0)} for w in annotators},
        "columns": {},
    }
    raters: dict = {}
    for (u, w), i in last.items():
        raters.setdefault(u, []).append(i)
    for c in [c for c in table.column_names if c != "id" and not bookkeeping(c)]:
        values = answers.column(c).to_pylist() if c in answers.column_names else []
        scale = c in scales
        units = [[values[i] for i in rows] for rows in raters.values()]
        entry: dict = {"kind": "scale" if scale else "categories"}
        agg = [v for v in table.column(c).to_pylist() if v is not None]
        if scale:
            entry["mean"] = sum(agg) / len(agg) if agg else None
            entry["labelled"] = len(agg)
        else:
            counts: dict = {}
            for v in agg:
                counts[str(v)] = counts.get(str(v), 0) + 1
            entry["counts"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            per: dict = {}
            for (u, w), i in last.items():
                v = values[i]
                if v is not None and not (isinstance(v, str) and not v.strip()):
                    per.setdefault(w, {}).setdefault(str(v), 0)
                    per[w][str(v)] += 1
            entry["per_annotator"] = per
        multi = [[v for v in u if v is not None] for u in units]
        multi = [u for u in multi if len(u) >= 2]
        entry["rated_twice"] = len(multi)
        if scale:
            entry["conflicts"] = sum(1 for u in multi if max(u) - min(u) >= 2)  # two steps apart or more
        else:
            conflict_ids = [u for u, rows in raters.items()
                            if len({str(values[i]) for i in rows if values[i] is not None}) > 1]
            entry["conflicts"] = len(conflict_ids)
            entry["conflict_examples"] = conflict_ids[:5]
        entry["alpha_nominal"] = krippendorff_alpha(units, "nominal")
        if scale:
            entry["alpha_interval"] = krippendorff_alpha(units, "interval")
        else:
            kappa, used = fleiss_kappa(units)
            entry["fleiss_kappa"], entry["fleiss_units"] = kappa, used
        report["columns"][c] = entry
    return table, report


def format_report(r: dict) -> str:
    def f(x):
        return "n/a" if x is None else f"{x:.3f}"

    lines = [f"{r['source']}: {r['answers']} answers, {r['ids']} ids, {len(r['annotators'])} annotators "
             f"(--aggregate {r['aggregate']})"]
    for w, a in r["annotators"].items():
        lines.append(f"  annotator {w}: {a['ids']} ids answered, {a['unsure']} unsure, {a['skips']} skipped")
    for c, e in r["columns"].items():
        if e["kind"] == "scale":
            lines.append(f"{c} (scale): mean {f(e['mean'])} over {e['labelled']} ids; {e['rated_twice']} rated by 2+, "
                         f"{e['conflicts']} two or more steps apart; Krippendorff's alpha interval "
                         f"{f(e['alpha_interval'])}, nominal {f(e['alpha_nominal'])}")
            continue
        lines.append(f"{c}: " + ", ".join(f"{k} {n}" for k, n in e["counts"].items()))
        for w, counts in e["per_annotator"].items():
            lines.append(f"  {w}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
        lines.append(f"  {e['rated_twice']} ids answered by 2+ annotators, {e['conflicts']} with different answers"
                     + (f" (e.g. {', '.join(e['conflict_examples'])})" if e["conflicts"] else "")
                     + f"; Krippendorff's alpha (nominal) {f(e['alpha_nominal'])}, Fleiss' kappa "
                     f"{f(e['fleiss_kappa'])} ({e['fleiss_units']} ids)")
    lines += r["notes"]
    return "\n".join(lines)

"""The report's numbers: records grouped by variant, mean ± std over seeds, significance of a
table's rows, and the planned variants a run has no result for yet."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from semid.experiment.records import ResultRecord, as_records

__all__ = ["VARIANT_KEYS", "METRICS", "mean_std", "span", "aggregate", "significance", "missing_variants"]

VARIANT_KEYS = ("dataset", "row", "quantizer", "collisions")
METRICS = ("search_recall@30", "rec_recall@30", "rec_head_recall@30", "rec_torso_recall@30")

Groups = dict[tuple, list[ResultRecord]]


def mean_std(values: list[float], fmt: str = "{:.3f}") -> str:
    """``mean ± std`` (sample std) of the values that are not None or NaN; one value alone; "–" for none."""
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "–"
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(float(np.mean(vals)))} ± {fmt.format(float(np.std(vals, ddof=1)))}"


def span(values: list[Any], fmt: str = "{:,}") -> str:
    """One value, ``a–b`` for several, "–" for none."""
    vals = sorted({v for v in values if v is not None})
    if not vals:
        return "–"
    return fmt.format(vals[0]) if len(vals) == 1 else f"{fmt.format(vals[0])}–{fmt.format(vals[-1])}"


def aggregate(records: list[ResultRecord | dict[str, Any]]) -> Groups:
    """Group generative records by variant (``VARIANT_KEYS``: everything but the seed)."""
    groups: Groups = defaultdict(list)
    for r in as_records(records):
        if r.kind == "generative":
            groups[r.variant].append(r)
    return groups


def significance(rows: list[tuple[tuple, list[ResultRecord]]]) -> dict[tuple[str, str], float]:
    """Bonferroni-corrected p-values of every row against the first, per R@30 metric.

    Uses :func:`semid.evaluate.significance.compare` (paired by seed with >= 3 shared seeds,
    else by example) over all pairs of rows in the table; rows without saved hits are skipped.
    """
    from semid.evaluate.generative import load_eval
    from semid.evaluate.significance import EvalRecord, compare

    records = []
    for key, recs in rows:
        for r in recs:
            if r.eval_dir is None:
                continue
            try:
                ev = load_eval(r.eval_dir)
            except (FileNotFoundError, ValueError):
                continue
            records.append(EvalRecord("|".join(str(k) for k in key), int(r.get("seed", 0)), ev.metrics, ev.hits))
    if len({r.variant for r in records}) < 2:
        return {}
    tests = compare(records).tests
    ref = "|".join(str(k) for k in rows[0][0])
    out = {}
    for t in tests.itertuples():
        if ref in (t.a, t.b):
            other = t.b if t.a == ref else t.a
            out[(other, t.metric)] = float(t.p_bonferroni)
    return out


def missing_variants(records: list[ResultRecord | dict[str, Any]], config: dict[str, Any]) -> list[str]:
    """``dataset/row/quantizer/collisions/seed`` of every variant ``config`` plans that has no
    generative record (an interrupted or still running ``semid run``); [] when the config cannot
    be read (a run made by an older semid)."""
    from semid.config import from_dict
    from semid.experiment import ExperimentConfig, plan_variants

    try:
        cfg = from_dict(ExperimentConfig, config, where="config.resolved.json")
    except (ValueError, TypeError):
        return []
    have = {(*r.variant, r.seed) for r in as_records(records) if r.kind == "generative"}
    return [f"{v.dataset.name}/{v.slug}" for v in plan_variants(cfg)
            if (v.dataset.name, v.row.name, v.quantizer.label, v.collisions, v.seed) not in have]

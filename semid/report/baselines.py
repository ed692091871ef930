"""The report's "Against the baselines" table: does each generative variant beat random valid
IDs and popularity, and how close does it come to the dense retriever of its own embedding?

For every variant (all its seeds), per-example hits are averaged over seeds and paired by
test example with the baseline's (two-sided ``scipy.stats.ttest_rel``), with Bonferroni
correction over every test in the table:

- search R@30 vs random valid IDs (same sampled queries);
- rec R@30 vs random valid IDs and vs popularity (same test users).

The dense retriever samples its own queries, so it is compared as a ratio of means only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from semid.experiment.records import ResultRecord, as_records

logger = logging.getLogger(__name__)

__all__ = ["baseline_table"]


def _hits(paths: list[str]) -> list[pd.DataFrame]:
    from semid.evaluate.generative import load_eval

    out = []
    for p in paths:
        try:
            out.append(load_eval(p).hits)
        except (FileNotFoundError, ValueError, KeyError):
            continue
    return out


def _mean_values(hits: list[pd.DataFrame], metric: str) -> pd.Series | None:
    from semid.evaluate.significance import per_example_values

    if not hits:
        return None
    return pd.concat([per_example_values(h, metric) for h in hits], axis=1).mean(axis=1)


def _test(a: pd.Series | None, b: pd.Series | None) -> tuple[float, float] | None:
    from semid.evaluate.significance import _ttest

    if a is None or b is None:
        return None
    idx = a.index.intersection(b.index)
    if len(idx) < 2:
        return None
    _, p = _ttest(a.loc[idx].to_numpy(), b.loc[idx].to_numpy())
    return float(a.loc[idx].mean() - b.loc[idx].mean()), p


def _cell(value: float | None, test: tuple[float, float] | None, n_tests: int) -> str:
    if value is None or test is None:
        return "–"
    diff, p = test
    pb = min(p * n_tests, 1.0) if np.isfinite(p) else float("nan")
    mark = ("▲" if diff > 0 else "▼") if pb < 0.05 else "n.s."
    return f"{value:.3f} {mark} (p {pb:.1g})"


def baseline_table(groups: dict[tuple, list[ResultRecord]], records: list[ResultRecord | dict[str, Any]]) -> list[str]:
    """Markdown lines of the table (module docstring); empty when there are no baselines."""
    records = as_records(records)
    rand: dict[str, list[str]] = {}
    for r in records:
        if r.kind == "random" and r.eval_dir:
            rand.setdefault(r.dataset, []).append(r.eval_dir)
    pop = {r.dataset: r.eval_dir for r in records if r.kind == "popularity" and r.eval_dir}
    dense = {(r.dataset, r.embedding): r for r in records if r.kind == "dense"}
    if not rand and not pop:
        return []
    base_vals: dict[tuple[str, str, str], pd.Series | None] = {}
    for ds in set(rand) | set(pop):
        rh, ph = _hits(rand.get(ds, [])), _hits([pop[ds]] if ds in pop else [])
        for m in ("search_recall@30", "rec_recall@30"):
            base_vals[(ds, "random", m)] = _mean_values(rh, m)
        base_vals[(ds, "popularity", "rec_recall@30")] = _mean_values(ph, "rec_recall@30")
    rows = []
    for key, recs in groups.items():
        ds = key[0]
        hits = _hits([r.eval_dir for r in recs if r.eval_dir])
        s = _mean_values(hits, "search_recall@30")
        rc = _mean_values(hits, "rec_recall@30")
        emb = str(recs[0].embedding or "")
        d = dense.get((ds, emb)) or dense.get((ds, emb.split("+")[0]), {})  # separate / prefix-share: the search side
        rows.append((key, recs, s, rc, d,
                     _test(s, base_vals.get((ds, "random", "search_recall@30"))),
                     _test(rc, base_vals.get((ds, "random", "rec_recall@30"))),
                     _test(rc, base_vals.get((ds, "popularity", "rec_recall@30")))))
    n_tests = max(1, sum(t is not None for row in rows for t in row[5:]))
    lines = ["### Against the baselines", "",
             "Each variant's per-example hits, averaged over its seeds, paired by test example with the baseline's "
             "(t-tests, Bonferroni over all "
             f"{n_tests} tests of this table): ▲ significantly above, ▼ significantly below, n.s. not significant. "
             "The dense retriever of the same embedding samples its own test queries, so it is shown as a ratio of means.", "",
             "| dataset | IDs | quantizer | collisions | search R@30 vs random IDs | search / dense | rec R@30 vs random IDs "
             "| rec R@30 vs popularity | rec / popularity |", "|---|---|---|---|---|---|---|---|---|"]
    for key, _recs, s, rc, d, ts, tr, tp in rows:
        ds = key[0]
        sm = float(s.mean()) if s is not None else None
        rm = float(rc.mean()) if rc is not None else None
        dn = d.get("search_recall@30")
        pv = base_vals.get((ds, "popularity", "rec_recall@30"))
        ratio_s = f"{sm / dn:.2f}x" if sm is not None and dn else "–"
        ratio_p = f"{rm / float(pv.mean()):.2f}x" if rm is not None and pv is not None and pv.mean() > 0 else "–"
        lines.append(f"| {ds} | {key[1]} | {key[2]} | {key[3]} | {_cell(sm, ts, n_tests)} | {ratio_s} | "
                     f"{_cell(rm, tr, n_tests)} | {_cell(rm, tp, n_tests)} | {ratio_p} |")
    for ds in sorted(set(rand) | set(pop)):
        parts = []
        for kind, m in (("random", "search_recall@30"), ("random", "rec_recall@30"), ("popularity", "rec_recall@30")):
            v = base_vals.get((ds, kind, m))
            if v is not None:
                parts.append(f"{kind} {m.split('_')[0]} R@30 {v.mean():.3f}")
        lines.append("")
        lines.append(f"Baselines on {ds}: " + ", ".join(parts) + ".")
    lines.append("")
    return lines

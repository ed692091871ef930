"""Mean ± std over seeds and paired t-tests with Bonferroni correction between variants.

DESIGN.md step 5 (the paper: 5 seeds, paired t-tests, Bonferroni). A *record* is one
evaluation of one variant with one seed. For each metric and each pair of variants,
:func:`compare` runs ``scipy.stats.ttest_rel`` paired

- by **seed** (``pair_by="seed"``): the per-seed metric values of seeds both variants have;
- by **example** (``pair_by="example"``): the per-example value (e.g. hit@30 or NDCG@10)
  averaged over each variant's seeds, over the (task, example) pairs both evaluated;
- ``"auto"`` (default): by seed where both variants share at least ``min_seeds`` seeds
  (default 3), else by example.

The p-values are multiplied by the number of tests run (Bonferroni) and capped at 1.
"""

from __future__ import annotations

import itertools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semid.evaluate.metrics import ndcg_at, recall_at

logger = logging.getLogger(__name__)

__all__ = ["EvalRecord", "CompareResult", "compare", "load_records", "per_example_values"]

PAIR_BY = ("auto", "seed", "example")
DEFAULT_METRICS = ("search_recall@30", "rec_recall@30")


@dataclass
class EvalRecord:
    """variant: name; seed: int; metrics: dict; hits: DataFrame (task, example, rank) or None."""

    variant: str
    seed: int
    metrics: dict[str, Any]
    hits: pd.DataFrame | None = None


@dataclass
class CompareResult:
    """summary: (variant, metric, mean, std, n_seeds); tests: (a, b, metric, pair_by, n,
    mean_a, mean_b, diff, t, p, p_bonferroni, significant)."""

    summary: pd.DataFrame
    tests: pd.DataFrame
    alpha: float

    def to_markdown(self) -> str:
        lines = ["| variant | metric | mean ± std | seeds |", "| --- | --- | --- | --- |"]
        for r in self.summary.itertuples():
            lines.append(f"| {r.variant} | {r.metric} | {r.mean:.4f} ± {r.std:.4f} | {r.n_seeds} |")
        lines += ["", f"Paired t-tests (scipy.stats.ttest_rel), Bonferroni over {len(self.tests)} tests, alpha {self.alpha}:", "",
                  "| a | b | metric | paired by | n | mean a | mean b | t | p | p (Bonferroni) | significant |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in self.tests.itertuples():
            lines.append(f"| {r.a} | {r.b} | {r.metric} | {r.pair_by} | {r.n} | {r.mean_a:.4f} | {r.mean_b:.4f} | "
                         f"{r.t:.3f} | {r.p:.3g} | {r.p_bonferroni:.3g} | {'yes' if r.significant else 'no'} |")
        return "\n".join(lines) + "\n"


def per_example_values(hits: pd.DataFrame, metric: str) -> pd.Series:
    """Per-example value of ``metric`` (``<task>_recall@K``, ``<task>_ndcg@K``,
    ``rec_head_recall@K``, ``rec_torso_recall@K`` need a ``head`` column), indexed by example."""
    m = re.fullmatch(r"(search|rec)_(?:(head|torso)_)?(recall|ndcg)@(\d+)", metric)
    if not m:
        raise ValueError(f"metric {metric!r} has no per-example form; use e.g. search_recall@30 or rec_ndcg@10")
    task, part, kind, k = m.group(1), m.group(2), m.group(3), int(m.group(4))
    h = hits[hits["task"] == task]
    if part is not None:
        if "head" not in h.columns:
            raise ValueError(f"{metric} needs a 'head' column in the hits")
        h = h[h["head"] == (part == "head")]
    ranks = h["rank"].to_numpy()
    vals = recall_at(ranks, k) if kind == "recall" else ndcg_at(ranks, k)
    return pd.Series(vals, index=h["example"].to_numpy())


def _ttest(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ttest_rel

    if len(a) < 2:
        return float("nan"), float("nan")
    d = a - b
    if np.allclose(d, d[0]):  # constant difference: the t statistic is undefined
        return (float("inf") * np.sign(d[0]) if d[0] != 0 else 0.0), (0.0 if d[0] != 0 else 1.0)
    res = ttest_rel(a, b)
    return float(res.statistic), float(res.pvalue)


def compare(records: list[EvalRecord], metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS,
            pair_by: str = "auto", alpha: float = 0.05, min_seeds: int = 3) -> CompareResult:
    """Summaries per variant and paired t-tests between every pair of variants (module docstring)."""
    if pair_by not in PAIR_BY:
        raise ValueError(f"pair_by must be one of {list(PAIR_BY)}, got {pair_by!r}")
    if not records:
        raise ValueError("compare needs at least one evaluation record")
    by_var: dict[str, list[EvalRecord]] = {}
    for r in records:
        by_var.setdefault(r.variant, []).append(r)
    for v, rs in by_var.items():
        seeds = [r.seed for r in rs]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"variant {v!r} has several records with the same seed {seeds}; give each run its own seed")
    rows = []
    for v, rs in by_var.items():
        for m in metrics:
            vals = np.array([r.metrics[m] for r in rs if r.metrics.get(m) is not None], dtype=float)
            rows.append({"variant": v, "metric": m, "mean": float(vals.mean()) if len(vals) else float("nan"),
                         "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, "n_seeds": len(vals)})
    summary = pd.DataFrame(rows)
    tests = []
    for a, b in itertools.combinations(by_var, 2):
        ra = {r.seed: r for r in by_var[a]}
        rb = {r.seed: r for r in by_var[b]}
        common = sorted(set(ra) & set(rb))
        mode = pair_by if pair_by != "auto" else ("seed" if len(common) >= min_seeds else "example")
        for m in metrics:
            if mode == "seed":
                pairs = [(ra[s].metrics.get(m), rb[s].metrics.get(m)) for s in common]
                pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
                xa = np.array([x for x, _ in pairs], dtype=float)
                xb = np.array([y for _, y in pairs], dtype=float)
            else:
                if any(r.hits is None for r in by_var[a] + by_var[b]):
                    raise ValueError(f"pairing by example needs per-example hits for {a!r} and {b!r}")
                va = pd.concat([per_example_values(r.hits, m) for r in by_var[a]], axis=1).mean(axis=1)
                vb = pd.concat([per_example_values(r.hits, m) for r in by_var[b]], axis=1).mean(axis=1)
                idx = va.index.intersection(vb.index)
                if len(idx) < min(len(va), len(vb)):
                    logger.warning("%s vs %s on %s: only %d of %d/%d examples are shared (different samples?)",
                                   a, b, m, len(idx), len(va), len(vb))
                xa, xb = va.loc[idx].to_numpy(), vb.loc[idx].to_numpy()
            t, p = _ttest(xa, xb)
            tests.append({"a": a, "b": b, "metric": m, "pair_by": mode, "n": len(xa),
                          "mean_a": float(xa.mean()) if len(xa) else float("nan"),
                          "mean_b": float(xb.mean()) if len(xb) else float("nan"),
                          "diff": float((xa - xb).mean()) if len(xa) else float("nan"), "t": t, "p": p})
    tdf = pd.DataFrame(tests, columns=["a", "b", "metric", "pair_by", "n", "mean_a", "mean_b", "diff", "t", "p"])
    n_tests = max(len(tdf), 1)
    tdf["p_bonferroni"] = np.minimum(tdf["p"].to_numpy(dtype=float) * n_tests, 1.0)
    tdf["significant"] = tdf["p_bonferroni"] < alpha
    return CompareResult(summary, tdf, alpha)


def load_records(paths: list[str | Path]) -> list[EvalRecord]:
    """Evaluation outputs (directories with metrics.json + hits.parquet, or .json files) as records.

    The variant is ``metrics["variant"]`` if set, else the name with a trailing
    ``-seedN``/``_seedN``/``.seedN`` removed; the seed is ``metrics["seed"]`` if set, else N, else 0.
    """
    from semid.evaluate.generative import load_eval

    out = []
    for p in paths:
        p = Path(p)
        ev = load_eval(p)
        name = p.name if p.is_dir() else p.stem
        m = re.search(r"[-_.]seed(\d+)$", name)
        variant = ev.metrics.get("variant") or (name[:m.start()] if m else name)
        seed = ev.metrics.get("seed")
        seed = int(seed) if seed is not None else (int(m.group(1)) if m else 0)
        out.append(EvalRecord(variant, seed, ev.metrics, ev.hits))
    return out

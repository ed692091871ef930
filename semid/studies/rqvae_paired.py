"""The downstream table's paired tests: one Bonferroni family per dataset (issue 13).

For one dataset of a ``semid run``, on search and rec Recall@k, with and without the collision
suffix: every quantizer vs RQ-KMeans and robust vs naive RQ-VAE (same collisions mode), and the
random-ID and popularity baselines vs RQ-KMeans without the suffix. Each test pairs by example as
the run report's by-example mode does (:func:`semid.evaluate.significance.compare` with
``pair_by="example"``: each example's hit@k averaged over a variant's seeds, over the examples both
evaluated), and its p-value is multiplied by the number of tests in the family (Bonferroni), so
every p-value the dataset's table and answer state is corrected for all of them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from semid.evaluate.significance import EvalRecord, compare
from semid.generative.config import DEFAULT_K

logger = logging.getLogger(__name__)

__all__ = ["REFERENCE", "NAIVE", "ROBUST", "RANDOM", "POPULARITY", "BASELINE", "quantizer_order", "family_specs",
           "paired_family", "find_family_test", "resolve"]

REFERENCE, NAIVE, ROBUST = "rq-kmeans", "rq-vae-naive", "rq-vae-robust"
RANDOM, POPULARITY = "random-ids", "popularity"
#: the collisions mode of a baseline row (it has none); baselines are tested against RQ-KMeans without the suffix
BASELINE = "–"
TASKS = ("search", "rec")


def family_specs(variants: set[tuple[str, str]], k: int = DEFAULT_K) -> list[dict[str, Any]]:
    """The tests of one dataset's family, among the ``(quantizer, collisions)`` variants that exist
    (baselines as ``(RANDOM, BASELINE)`` / ``(POPULARITY, BASELINE)``); a test whose side is absent is left out."""
    specs = []
    collisions = sorted({c for q, c in variants if c != BASELINE}, key=lambda c: (c != "none", c))
    quantizers = sorted({q for q, c in variants if c != BASELINE}, key=quantizer_order)
    for c in collisions:
        for task in TASKS:
            metric = f"{task}_recall@{k}"
            specs += [{"a": (q, c), "b": (REFERENCE, c), "metric": metric, "role": "vs_reference"}
                      for q in quantizers if q != REFERENCE]
            specs.append({"a": (ROBUST, c), "b": (NAIVE, c), "metric": metric, "role": "robust_vs_naive"})
    for base, tasks in ((RANDOM, TASKS), (POPULARITY, ("rec",))):
        specs += [{"a": (base, BASELINE), "b": (REFERENCE, "none"), "metric": f"{t}_recall@{k}", "role": "baseline"}
                  for t in tasks]
    return [s for s in specs if s["a"] in variants and s["b"] in variants]


def quantizer_order(q: str) -> tuple[int, str]:
    lead = (REFERENCE, NAIVE, ROBUST)
    return (lead.index(q) if q in lead else len(lead), q)


def paired_family(records: list[dict[str, Any]], k: int = DEFAULT_K, alpha: float = 0.05) -> dict[str, Any]:
    """The family of one dataset from its result records (dicts; generative, random and popularity
    records with ``eval_dir`` holding ``metrics.json`` + ``hits.parquet``).

    Returns ``tests``: one dict per test (``a``, ``a_collisions``, ``b``, ``b_collisions``, ``metric``,
    ``role``, ``n`` examples, ``mean_a``, ``mean_b``, ``p``, ``p_bonferroni``, ``significant``),
    ``n_tests`` and ``untested``: variants without per-example hits (their tests are left out).
    """
    from semid.evaluate.generative import load_eval

    evals: dict[tuple[str, str], list[EvalRecord]] = {}
    untested = set()
    for r in records:
        key = _variant(r)
        if key is None:
            continue
        eval_dir = r.get("eval_dir")
        try:
            ev = load_eval(eval_dir) if eval_dir else None
        except FileNotFoundError:
            ev = None
        if ev is None:
            untested.add(f"{key[0]} ({key[1]})")
            continue
        evals.setdefault(key, []).append(EvalRecord("|".join(key), int(r.get("seed") or 0), ev.metrics, ev.hits))
    tests = []
    for s in family_specs(set(evals), k):
        res = compare(evals[s["a"]] + evals[s["b"]], [s["metric"]], pair_by="example").tests.iloc[0]
        flip = res["a"] != "|".join(s["a"])  # compare orders the pair as it met the variants
        tests.append({"a": s["a"][0], "a_collisions": s["a"][1], "b": s["b"][0], "b_collisions": s["b"][1],
                      "metric": s["metric"], "role": s["role"], "n": int(res["n"]),
                      "mean_a": float(res["mean_b"] if flip else res["mean_a"]),
                      "mean_b": float(res["mean_a"] if flip else res["mean_b"]),
                      "p": None if res["p"] != res["p"] else float(res["p"])})
    for t in tests:
        t["p_bonferroni"] = None if t["p"] is None else min(1.0, t["p"] * len(tests))
        t["significant"] = t["p_bonferroni"] is not None and t["p_bonferroni"] < alpha
    return {"tests": tests, "n_tests": len(tests), "untested": sorted(untested)}


def _variant(r: dict[str, Any]) -> tuple[str, str] | None:
    if r.get("kind") == "generative":
        return (str(r["quantizer"]), str(r["collisions"]))
    if r.get("kind") == "random":
        return (RANDOM, BASELINE)
    if r.get("kind") == "popularity":
        return (POPULARITY, BASELINE)
    return None


def find_family_test(family: dict[str, Any] | None, a: str, b: str, metric: str,
                     collisions: str | None = None) -> dict[str, Any] | None:
    """The family's test of ``a`` vs ``b`` on ``metric`` (``a``'s collisions mode ``collisions`` when
    given), in the order asked: ``mean_a`` is ``a``'s. None when the family has no such test."""
    for t in (family or {}).get("tests") or []:
        if t["metric"] != metric:
            continue
        if (t["a"], t["b"]) == (a, b) and collisions in (None, t["a_collisions"]):
            return t
        if (t["b"], t["a"]) == (a, b) and collisions in (None, t["b_collisions"]):
            return {**t, "a": t["b"], "b": t["a"], "a_collisions": t["b_collisions"], "b_collisions": t["a_collisions"],
                    "mean_a": t["mean_b"], "mean_b": t["mean_a"]}
    return None


def resolve(run_dir: Path, path: str | None) -> str | None:
    """A record's artifact folder (``eval_dir``, ``ids_dir``) in the run being read: the same
    ``<dataset>/<stage>/<name>`` under ``run_dir`` when it exists there (records hold the path as the
    run was started, e.g. relative to another working directory), else as written."""
    if not path or len(Path(path).parts) < 3:
        return path
    inside = Path(run_dir) / Path(*Path(path).parts[-3:])
    return str(inside) if inside.exists() else path

"""The numbers the RQ-VAE report states, computed once from the study, ablation and downstream dicts.

Inputs are the JSON-ready dicts of :func:`semid.studies.rqvae.run_quantizer_study`,
:func:`semid.studies.rqvae_downstream.downstream_results` and :func:`semid.studies.rqvae_ablation.run_ablation`;
nothing is typed in by hand except the paper's published Table 3.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from semid.generative.config import DEFAULT_K
from semid.studies.rqvae_ablation import deciding_factors, summarize_ablation
from semid.studies.rqvae_paired import NAIVE, REFERENCE, ROBUST, find_family_test

logger = logging.getLogger(__name__)

__all__ = ["PAPER_TABLE3", "by", "mean", "summary", "downstream_means", "gap_closed", "downstream_datasets", "answer_rows", "ablation_findings", "has_signature", "paper_signature"]

# Penha et al., RecSys 2025, Table 3 (multi-task embeddings, 2 x 256): Recall@30 search / rec
PAPER_TABLE3 = {"rq-kmeans": (0.046, 0.049), "dict": (0.019, 0.029), "rlfq": (0.018, 0.023), "rq-vae": (0.002, 0.024)}


def by(records: list[dict[str, Any]], set_name: str, label: str) -> list[dict[str, Any]]:
    """The records of one (embedding set, quantizer label)."""
    return [r for r in records if r["set"] == set_name and r["label"] == label]


def mean(rs: list[dict[str, Any]], get) -> float:
    """Mean of ``get(record)`` over records (NaN when empty)."""
    return float(np.mean([get(r) for r in rs])) if rs else float("nan")


def summary(study: dict[str, Any], name: str, label: str) -> dict[str, float] | None:
    """Seed means of one (set, quantizer): codes used per level, distinct IDs, buckets, ceilings, quality."""
    rs = by(study["records"], name, label)
    if not rs:
        return None
    return {"n": len(rs), "used1": mean(rs, lambda r: r["codes_used"][0]), "used2": mean(rs, lambda r: r["codes_used"][-1]),
            "distinct": mean(rs, lambda r: r["distinct_ids"]), "max_bucket": mean(rs, lambda r: r["max_bucket"]),
            "over_k": mean(rs, lambda r: r["items_in_buckets_over_k"]),
            "cs": mean(rs, lambda r: r["ceiling"]["search"]), "cr": mean(rs, lambda r: r["ceiling"]["rec"]),
            "fs": mean(rs, lambda r: r["ceiling"]["search_first"]), "fr": mean(rs, lambda r: r["ceiling"]["rec_first"]),
            "np": mean(rs, lambda r: r["neighbour_preservation"]), "err": mean(rs, lambda r: r["rel_sq_error"])}


def gap_closed(naive: float, robust: float, reference: float, min_gap: float = 0.02) -> float | None:
    """Share of the naive → reference gap that robust closes (None when the gap is under ``min_gap``)."""
    gap = reference - naive
    return None if gap < min_gap else (robust - naive) / gap


# ------------------------------------------------------------------ downstream
def downstream_means(g: dict[str, Any], quantizer: str, k: int = DEFAULT_K) -> dict[str, float]:
    """Seed means of one quantizer's generative recall in a (dataset, collisions) group."""
    rows = [r for r in g["records"] if r["quantizer"] == quantizer]
    out = {}
    for key in (f"search_recall@{k}", f"rec_recall@{k}", f"rec_head_recall@{k}", f"rec_torso_recall@{k}"):
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    out["n"] = len(rows)
    return out


def downstream_datasets(down: dict[str, Any]) -> list[str]:
    """The datasets of a merged downstream dict (:func:`semid.studies.rqvae_downstream.downstream_runs`), in
    the order of its runs."""
    out = [ds for r in down.get("runs") or [] for ds in r.get("datasets") or []]
    return out + sorted({g["dataset"] for g in down.get("groups") or []} - set(out))


def answer_rows(down: dict[str, Any], dataset: str, k: int = DEFAULT_K) -> list[dict[str, Any]]:
    """The downstream answer of one dataset, per (collisions, task): RQ-KMeans, naive and robust Recall@k
    (seed means), the naive vs RQ-KMeans test (``gap_test``: is naive below?), the robust vs naive test
    (``robust_test``) of the dataset's family, and ``closed`` = (robust - naive) / (RQ-KMeans - naive),
    the share of the gap robust closes (None when naive is not below RQ-KMeans or a quantizer is absent).
    ``absent``: the three quantizers without records in this group."""
    family = (down.get("families") or {}).get(dataset)
    groups = sorted((g for g in down.get("groups") or [] if g["dataset"] == dataset),
                    key=lambda g: (g["collisions"] != "none", g["collisions"]))
    rows = []
    for g in groups:
        for task in ("search", "rec"):
            key, c = f"{task}_recall@{k}", g["collisions"]
            km, nv, rb = (downstream_means(g, q, k)[key] for q in (REFERENCE, NAIVE, ROBUST))
            absent = [q for q, v in ((REFERENCE, km), (NAIVE, nv), (ROBUST, rb)) if v != v]
            rows.append({"dataset": dataset, "collisions": c, "task": task, "metric": key, "reference": km,
                         "naive": nv, "robust": rb, "absent": absent,
                         "gap_test": find_family_test(family, NAIVE, REFERENCE, key, c),
                         "robust_test": find_family_test(family, ROBUST, NAIVE, key, c),
                         "closed": (rb - nv) / (km - nv) if not absent and km > nv else None})
    return rows


# ------------------------------------------------------------------ ablation
def ablation_findings(ablation: dict[str, Any]) -> list[dict[str, Any]]:
    """Per embedding set: the deciding factors plus each arm's search / rec ceilings and L1 codes (seed means)."""
    rows = summarize_ablation(ablation)
    out = []
    for s in ablation["sets"]:
        d = deciding_factors(rows, s["name"])
        d["arms"] = {r["label"]: {"search": r["search"]["mean"], "rec": r["rec"]["mean"], "codes_l1": r["codes_l1"]["mean"],
                                  "distinct": r["distinct_ids"]["mean"], "collapsed": r["collapsed_share"],
                                  "delta": r["search_delta"]} for r in rows if r["set"] == s["name"]}
        out.append(d)
    return out


# the paper's signature in ceilings: search capped at a tenth of a perfect model while rec keeps twice as much
SIGNATURE_MAX_SEARCH = 0.10
SIGNATURE_REC_OVER_SEARCH = 2.0


def has_signature(search: float, rec: float) -> bool:
    """Table 3's signature in oracle ceilings: search ceiling <= 0.10 (RQ-VAE kept 4% of RQ-KMeans's search
    recall) while the rec ceiling is at least twice the search ceiling (rec kept 49%)."""
    return search <= SIGNATURE_MAX_SEARCH and rec >= SIGNATURE_REC_OVER_SEARCH * search


def paper_signature(ablation: dict[str, Any]) -> list[dict[str, Any]]:
    """Per set: the arms with Table 3's signature (:func:`has_signature`, on seed means), and how far each
    remedy added alone to naive moves the search and rec ceilings."""
    out = []
    for f in ablation_findings(ablation):
        arms = f["arms"]
        naive = arms.get("naive", {})
        moves = {lab.split(" + ", 1)[1]: {"search": a["search"] - naive.get("search", float("nan")),
                                          "rec": a["rec"] - naive.get("rec", float("nan"))}
                 for lab, a in arms.items() if lab.startswith("naive + ")}
        out.append({"set": f["set"], "naive": naive, "moves": moves,
                    "signature": [lab for lab, a in arms.items() if has_signature(a["search"], a["rec"])]})
    return out

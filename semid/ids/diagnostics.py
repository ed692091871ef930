"""Diagnostics of a Semantic ID assignment, as written to ``diagnostics.json``.

For one task's ID (:func:`id_diagnostics`):

- ``n_items``; ``levels`` (quantizer level names, suffix excluded); ``codebook_size`` per level;
- ``codes_used`` and ``utilization`` (= codes_used / codebook_size) per level;
- ``perplexity`` per level: exp of the entropy of the code distribution (K = all codes equally used);
- ``distinct_ids`` and ``collision_rate``: on the *final* IDs (after collision handling),
  the fraction of items that share their ID with another item;
- ``quantizer_distinct_ids`` and ``quantizer_collision_rate``: the same on the quantizer's codes;
- ``max_bucket``, ``mean_bucket``: largest and mean number of items per quantizer ID;
- ``rel_sq_error``: sum ||x - decode(encode(x))||^2 / sum ||x||^2;
- ``neighbour_preservation``: for sampled query items, the fraction of their 10 nearest
  neighbours (cosine, self excluded, exact FAISS inner-product search on l2-normalised
  vectors) that share the query's first code; ``neighbour_preservation_queries`` says how
  many queries were sampled (at most ``max_queries``, seeded).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from semid.ids.collisions import collision_stats

logger = logging.getLogger(__name__)

__all__ = ["id_diagnostics", "level_usage", "neighbour_preservation", "format_diagnostics"]


def level_usage(codes: np.ndarray, level_sizes: list[int]) -> tuple[list[int], list[float]]:
    """Codes used and perplexity per level for ``codes: int (n, L)``."""
    used, perp = [], []
    for j, k in enumerate(level_sizes):
        counts = np.bincount(codes[:, j], minlength=k).astype(np.float64)
        used.append(int((counts > 0).sum()))
        p = counts[counts > 0] / counts.sum()
        perp.append(float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0)
    return used, perp


def neighbour_preservation(
    X: np.ndarray, first_code: np.ndarray, k: int = 10, max_queries: int = 10_000, seed: int = 0
) -> tuple[float, int]:
    """Mean fraction of each query's ``k`` cosine neighbours sharing its first code.

    X: float32 (n, d); first_code: int (n,). Returns (fraction, number of queries).
    """
    import faiss

    n = len(X)
    if n < 2:
        return float("nan"), 0
    k = min(k, n - 1)
    Xn = np.ascontiguousarray(X, dtype=np.float32).copy()
    faiss.normalize_L2(Xn)
    rng = np.random.default_rng(seed)
    q = np.sort(rng.choice(n, size=min(max_queries, n), replace=False))
    index = faiss.IndexFlatIP(Xn.shape[1])
    index.add(Xn)
    _, nn = index.search(Xn[q], k + 1)
    not_self = nn != q[:, None]
    # keep the first k neighbours that are not the query itself
    keep = np.cumsum(not_self, axis=1) <= k
    mask = not_self & keep & (nn >= 0)
    same = (first_code[np.where(nn >= 0, nn, 0)] == first_code[q][:, None]) & mask
    return float((same.sum(axis=1) / np.maximum(mask.sum(axis=1), 1)).mean()), int(len(q))


def id_diagnostics(
    X: np.ndarray,
    quantizer_codes: np.ndarray,
    final_codes: np.ndarray,
    recon: np.ndarray,
    level_names: list[str],
    level_sizes: list[int],
    n_neighbours: int = 10,
    max_queries: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Diagnostics of one task's ID (keys in the module docstring).

    X: float32 (n, d) the task's vectors; quantizer_codes: int (n, L) before any suffix;
    final_codes: int (n, L or L+1) the task's final ID; recon: float32 (n, d).
    """
    used, perp = level_usage(quantizer_codes, level_sizes)
    q_stats = collision_stats(quantizer_codes)
    f_stats = collision_stats(final_codes)
    err = float(((X.astype(np.float64) - recon) ** 2).sum() / max(float((X.astype(np.float64) ** 2).sum()), 1e-30))
    np_frac, n_q = neighbour_preservation(X, quantizer_codes[:, 0], n_neighbours, max_queries, seed)
    return {
        "n_items": int(len(X)),
        "levels": list(level_names),
        "codebook_size": dict(zip(level_names, [int(s) for s in level_sizes], strict=True)),
        "codes_used": dict(zip(level_names, used, strict=True)),
        "utilization": {n: u / s for n, u, s in zip(level_names, used, level_sizes, strict=True)},
        "perplexity": dict(zip(level_names, perp, strict=True)),
        "distinct_ids": f_stats["distinct_ids"],
        "collision_rate": f_stats["collision_rate"],
        "quantizer_distinct_ids": q_stats["distinct_ids"],
        "quantizer_collision_rate": q_stats["collision_rate"],
        "max_bucket": q_stats["max_bucket"],
        "mean_bucket": q_stats["mean_bucket"],
        "rel_sq_error": err,
        "neighbour_preservation": np_frac,
        "neighbour_preservation_k": int(n_neighbours),
        "neighbour_preservation_queries": n_q,
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def format_diagnostics(diag: dict[str, Any]) -> str:
    """Human-readable multi-line text of a ``diagnostics.json`` dict."""
    lines = []
    skip = {"per_task", "training_curve"}
    width = max((len(k) for k in diag if k not in skip), default=10)
    for key, value in diag.items():
        if key not in skip:
            lines.append(f"{key:<{width}}  {_fmt(value)}")
    for task, sub in (diag.get("per_task") or {}).items():
        lines.append(f"\n[{task}]")
        w = max(len(k) for k in sub)
        lines.extend(f"  {k:<{w}}  {_fmt(v)}" for k, v in sub.items())
    for name, curve in (diag.get("training_curve") or {}).items():
        if not curve.get("epoch"):
            continue
        lines.append(f"\n[training curve: {name}] epochs={curve['epoch'][-1]}")
        for i in sorted({0, len(curve["epoch"]) // 2, len(curve["epoch"]) - 1}):
            lines.append(
                f"  epoch {curve['epoch'][i]:>4}: loss={curve['loss'][i]:.4g} recon={curve['recon_loss'][i]:.4g} "
                f"quant={curve['quant_loss'][i]:.4g} codes_in_use={curve['codes_in_use'][i]}"
            )
    return "\n".join(lines)

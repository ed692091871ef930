"""Neighbour coherence of Semantic IDs: does an ID's prefix group items that the embedding calls
similar?

For each item, its ``k`` nearest neighbours by cosine in the embedding the IDs were built from;
``l1``: the share of them that have the item's first-level code, ``id``: the share that have its
whole quantizer ID (every quantizer level, no collision suffix). A generative retriever that
reads a query must predict the first code from the text: when neighbours scatter across codes,
similar items get unrelated IDs and what the model learns for one item does not carry to its
neighbours. A collapsed quantizer scores 1.0 on ``l1`` trivially (one code), so read it with the
number of codes used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semid.experiment import RunLayout
from semid.experiment.layout import variant_slug

__all__ = ["neighbour_coherence", "run_coherence"]


def _neighbours(vectors: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """int64 (n, k): each row's k nearest other rows by cosine (exact, in chunks)."""
    X = np.asarray(vectors, dtype=np.float32)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    n = len(X)
    if n <= k:
        raise ValueError(f"neighbour coherence needs more than k={k} items, got {n}")
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, chunk):
        sim = X[s:s + chunk] @ X.T
        sim[np.arange(len(sim)), np.arange(s, s + len(sim))] = -np.inf  # not its own neighbour
        out[s:s + chunk] = np.argpartition(-sim, k, axis=1)[:, :k]
    return out


def neighbour_coherence(vectors: np.ndarray, codes: np.ndarray, k: int = 10,
                        neighbours: np.ndarray | None = None) -> dict[str, float]:
    """``{"l1", "id", "l1_codes"}`` of quantizer ``codes`` (int (n, levels)) on ``vectors`` (module docstring)."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) != len(vectors):
        raise ValueError(f"codes of shape {codes.shape} do not match {len(vectors)} vectors")
    nn = _neighbours(vectors, k) if neighbours is None else neighbours
    same = codes[nn] == codes[:, None, :]
    return {"l1": float(same[:, :, 0].mean()), "id": float(same.all(-1).mean()),
            "l1_codes": int(len(np.unique(codes[:, 0])))}


def run_coherence(run_dir: str | Path, dataset: str, records: list[dict[str, Any]], k: int = 10) -> dict[str, Any]:
    """Per quantizer, the mean over seeds of :func:`neighbour_coherence` of the IDs of ``records``
    (generative records of ``dataset`` without the collision suffix, so that the IDs are the
    quantizer's own), on the embedding each was built from. Records whose files are missing are
    skipped."""
    layout = RunLayout(Path(run_dir))
    by_q: dict[str, list[dict[str, float]]] = {}
    loaded: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # embedding -> (vectors, neighbours), once each
    for r in records:
        if r.get("dataset") != dataset or r.get("collisions") != "none" or not r.get("embedding"):
            continue
        emb = layout.embeddings(dataset, r["embedding"]) / "embeddings.npy"
        ids_dir = layout.ids(dataset, variant_slug(r["row"], r["quantizer"], r["collisions"], r["seed"]))
        if not emb.exists() or not (ids_dir / "codes.npy").exists():
            continue
        if r["embedding"] not in loaded:
            vectors = np.load(emb)
            loaded[r["embedding"]] = (vectors, _neighbours(vectors, k))
        vectors, nn = loaded[r["embedding"]]
        by_q.setdefault(r["quantizer"], []).append(neighbour_coherence(vectors, np.load(ids_dir / "codes.npy"), k, nn))
    return {q: {key: float(np.mean([v[key] for v in vs])) for key in ("l1", "id", "l1_codes")} | {"n_seeds": len(vs)}
            for q, vs in by_q.items()}

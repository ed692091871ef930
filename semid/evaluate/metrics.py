"""Ranking metrics shared by the dense baselines and the generative evaluation.

Every evaluator produces, per example, a ranked list of item indices; these helpers turn
them into per-example hits (kept for significance tests) and averaged metrics with the
keys that ``metrics.json`` uses everywhere::

    search_recall@5, search_recall@10, search_recall@30, search_ndcg@5, search_ndcg@10,
    rec_recall@5, rec_recall@10, rec_recall@30, rec_ndcg@5, rec_ndcg@10,
    rec_head_recall@30, rec_torso_recall@30, n_search, n_rec

Recall@5/10 and NDCG@5/10 are the cutoffs of the Amazon Beauty benchmark (TIGER and its
reimplementations), R@30 the paper's. With one relevant item per example, Recall@k is whether it
is in the top k and NDCG@k is ``1 / log2(rank + 1)`` for its 1-based rank within the top k (the
ideal DCG is 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["hit_ranks", "recall_at", "ndcg_at", "task_metrics", "METRIC_KEYS", "RECALL_CUTOFFS", "NDCG_CUTOFFS"]

#: the cutoffs every task reports: recall at each of RECALL_CUTOFFS, NDCG at each of NDCG_CUTOFFS
RECALL_CUTOFFS = (5, 10, 30)
NDCG_CUTOFFS = (5, 10)

METRIC_KEYS = (
    "search_recall@5",
    "search_recall@10",
    "search_recall@30",
    "search_ndcg@5",
    "search_ndcg@10",
    "rec_recall@5",
    "rec_recall@10",
    "rec_recall@30",
    "rec_ndcg@5",
    "rec_ndcg@10",
    "rec_head_recall@30",
    "rec_torso_recall@30",
)


def hit_ranks(ranked: Sequence[Sequence[int]] | np.ndarray, targets: Sequence[int] | np.ndarray) -> np.ndarray:
    """0-based rank of each target in its ranked list, or -1 when absent.

    ranked: per example, item indices best first (lists may differ in length).
    targets: int (n,) one relevant item per example.
    """
    out = np.full(len(targets), -1, dtype=np.int64)
    for i, (lst, t) in enumerate(zip(ranked, targets, strict=False)):
        lst = np.asarray(lst)
        pos = np.flatnonzero(lst == t)
        if len(pos):
            out[i] = int(pos[0])
    return out


def recall_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """float (n,): 1.0 where the single relevant item is in the top k."""
    ranks = np.asarray(ranks)
    return ((ranks >= 0) & (ranks < k)).astype(np.float64)


def ndcg_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """float (n,): NDCG@k with one relevant item: 1/log2(rank+2) for the 0-based ``ranks`` inside
    the top k (1/log2(r+1) for the 1-based rank r), 0 outside it or when absent (-1)."""
    ranks = np.asarray(ranks)
    hit = (ranks >= 0) & (ranks < k)
    return np.where(hit, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)


def task_metrics(task: str, ranks: np.ndarray, head: np.ndarray | None = None) -> dict[str, float]:
    """Average metrics for one task (``search`` or ``rec``) from per-example ranks.

    head: bool (n,) for ``rec``: whether each example's target is a head item.
    """
    ranks = np.asarray(ranks)
    out: dict[str, float] = {}
    for k in RECALL_CUTOFFS:
        out[f"{task}_recall@{k}"] = float(recall_at(ranks, k).mean()) if len(ranks) else 0.0
    for k in NDCG_CUTOFFS:
        out[f"{task}_ndcg@{k}"] = float(ndcg_at(ranks, k).mean()) if len(ranks) else 0.0
    out[f"n_{task}"] = int(len(ranks))
    if task == "rec" and head is not None:
        head = np.asarray(head, dtype=bool)
        r30 = recall_at(ranks, 30)
        out["rec_head_recall@30"] = float(r30[head].mean()) if head.any() else 0.0
        out["rec_torso_recall@30"] = float(r30[~head].mean()) if (~head).any() else 0.0
        out["n_rec_head"] = int(head.sum())
    return out

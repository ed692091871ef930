"""Explicit handling of items that receive the same code tuple ("collisions").

Two modes (``COLLISION_MODES``):

- ``none``: items sharing an ID form one *bucket*. Decoding the ID returns the bucket's
  items in a recorded order (``bucket_order`` in config.json; the rank of every item
  inside its bucket is saved with the IDs, see :func:`bucket_members`).
- ``suffix``: one extra level numbers the items inside a bucket, as TIGER does
  (Rajput et al., NeurIPS 2023, section 3.1); its size is the largest bucket. The suffix
  is the same rank, so the first item of a bucket gets suffix 0.

Bucket order rules (``BUCKET_ORDERS``): ``popularity`` (descending; needs popularity),
``centroid`` (ascending distance between the item's vector and the reconstruction of its
ID: the most typical item first), ``index`` (item row order). Ties always go to the lower
item index. Everything here is vectorised (one sort), so it stays fast at millions of items.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = [
    "COLLISION_MODES",
    "BUCKET_ORDERS",
    "group_ids",
    "bucket_rank",
    "add_suffix",
    "collision_stats",
    "bucket_members",
]

COLLISION_MODES = ("none", "suffix")
BUCKET_ORDERS = ("popularity", "centroid", "index")


def group_ids(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """``codes: int (n, L)`` -> (``int64 (n,)`` dense ID of each row's tuple, number of distinct tuples).

    Rows are packed into one int64 key when the code ranges allow it (mixed radix),
    otherwise grouped by a lexicographic sort.
    """
    codes = np.asarray(codes)
    n = codes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    codes = codes.astype(np.int64, copy=False)
    if codes.min() < 0:
        raise ValueError("codes must be non-negative")
    radix = codes.max(axis=0) + 1
    if float(np.prod(radix.astype(np.float64))) < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for j in range(codes.shape[1]):
            key = key * radix[j] + codes[:, j]
        _, inverse = np.unique(key, return_inverse=True)
        return inverse.astype(np.int64).ravel(), int(inverse.max()) + 1
    order = np.lexsort(codes.T[::-1])
    s = codes[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (s[1:] != s[:-1]).any(axis=1)
    gid_sorted = np.cumsum(new) - 1
    gid = np.empty(n, dtype=np.int64)
    gid[order] = gid_sorted
    return gid, int(gid_sorted[-1]) + 1


def _bucket_order(codes: np.ndarray, order_scores: np.ndarray | None) -> tuple[np.ndarray, int, np.ndarray]:
    """Group ids, the number of groups, and item indices sorted by group, then by score
    (higher first; ties and ``None`` by item index)."""
    n = len(codes)
    gid, n_groups = group_ids(codes)
    if order_scores is None:
        return gid, n_groups, np.argsort(gid, kind="stable")
    scores = np.asarray(order_scores, dtype=np.float64)
    if scores.shape != (n,):
        raise ValueError(f"order_scores must have shape ({n},), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("order_scores contain NaN or inf")
    return gid, n_groups, np.lexsort((np.arange(n), -scores, gid))


def bucket_rank(codes: np.ndarray, order_scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Position of each item inside its bucket and the bucket's size.

    codes: int (n, L); order_scores: float (n,) or None; higher scores come first,
    ties (and ``None``) by item index. Returns ``(rank int64 (n,), bucket_size int64 (n,))``.
    """
    n = len(codes)
    gid, n_groups, order = _bucket_order(codes, order_scores)
    counts = np.bincount(gid, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - starts[gid[order]]
    return rank, counts[gid].astype(np.int64)


def add_suffix(codes: np.ndarray, order_scores: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Append the within-bucket rank as a last column.

    Returns ``(codes int64 (n, L+1), suffix_size)``; ``suffix_size`` = largest bucket
    (1 when no two items collide), so the result has no two equal rows.
    """
    rank, size = bucket_rank(codes, order_scores)
    out = np.concatenate([np.asarray(codes, dtype=np.int64), rank[:, None]], axis=1)
    return out, int(size.max()) if len(size) else 1


def collision_stats(codes: np.ndarray) -> dict[str, Any]:
    """ID-level collision figures for ``codes: int (n, L)``.

    ``distinct_ids``; ``collision_rate``: fraction of items whose ID is shared with at
    least one other item; ``max_bucket``; ``mean_bucket``: items per distinct ID.
    """
    n = len(codes)
    if n == 0:
        return {"distinct_ids": 0, "collision_rate": 0.0, "max_bucket": 0, "mean_bucket": 0.0}
    gid, g = group_ids(codes)
    counts = np.bincount(gid, minlength=g)
    return {
        "distinct_ids": int(g),
        "collision_rate": float((counts[gid] > 1).mean()),
        "max_bucket": int(counts.max()),
        "mean_bucket": float(n / g),
    }


def bucket_members(
    ids: SemanticIDs, task: str, order_scores: np.ndarray | None = None
) -> dict[tuple[int, ...], np.ndarray]:
    """Map each distinct ID of ``task`` to its items (int64 row indices), in bucket order.

    The order is, in priority: ``order_scores`` (float (n_items,), higher first) when given;
    else the ranks saved with the IDs (``ids.bucket_rank[task]``, the rule named by
    ``ids.config["bucket_order"]``); else item index. Ties go to the lower item index.
    With ``collisions="suffix"`` every bucket holds exactly one item.
    """
    codes = ids.task_codes(task)
    if order_scores is None:
        saved = getattr(ids, "bucket_rank", None) or {}
        if task in saved:
            order_scores = -np.asarray(saved[task], dtype=np.float64)
    gid, g, order = _bucket_order(codes, order_scores)
    counts = np.bincount(gid, minlength=g)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    out: dict[tuple[int, ...], np.ndarray] = {}
    for k in range(g):
        members = order[bounds[k] : bounds[k + 1]]
        out[tuple(int(c) for c in codes[members[0]])] = members.astype(np.int64)
    return out

"""Explicit handling of items that receive the same code tuple ("collisions").

Two modes, the handlers registered in :data:`COLLISION_MODES`:

- ``none``: items sharing an ID form one *bucket*. Decoding the ID returns the bucket's
  items in a recorded order (``bucket_order`` in config.json; the rank of every item
  inside its bucket is saved with the IDs, see :func:`bucket_members`).
- ``suffix``: one extra level numbers the items inside a bucket, as TIGER does
  (Rajput et al., NeurIPS 2023, section 3.1); its size is the largest bucket. The suffix
  is the same rank, so the first item of a bucket gets suffix 0.

Bucket order rules (:data:`BUCKET_ORDERS`, each a function giving the order scores):
``popularity`` (descending; needs popularity), ``centroid`` (ascending distance between the
item's vector and the reconstruction of its ID: the most typical item first), ``index`` (item
row order); ``auto`` resolves to popularity when it is given, else centroid. Ties always go
to the lower item index. Everything here is vectorised (one sort), so it stays fast at
millions of items. Adding a mode or an order is its class or function plus one line here.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from semid.registry import Registry, check_name_attribute

if TYPE_CHECKING:
    from semid.ids.types import SemanticIDs

logger = logging.getLogger(__name__)

__all__ = [
    "COLLISION_MODES",
    "BUCKET_ORDERS",
    "DEFAULT_COLLISIONS",
    "DEFAULT_BUCKET_ORDER",
    "Buckets",
    "CollisionHandler",
    "get_collision_handler",
    "resolve_bucket_order",
    "order_scores",
    "group_ids",
    "bucket_rank",
    "add_suffix",
    "collision_stats",
    "bucket_members",
]

COLLISION_MODES: Registry[type[CollisionHandler]] = Registry("collision mode", check=check_name_attribute)
COLLISION_MODES.add("none", "semid.ids.collisions:NoHandling",
                    "items that share an ID form a bucket, decoded in bucket order")
COLLISION_MODES.add("suffix", "semid.ids.collisions:Suffix",
                    "an extra level numbers the items of a bucket (TIGER), so every ID is unique")

BUCKET_ORDERS: Registry[Any] = Registry("bucket order")
BUCKET_ORDERS.add("popularity", "semid.ids.collisions:_popularity_scores", "the most popular item first")
BUCKET_ORDERS.add("centroid", "semid.ids.collisions:_centroid_scores",
                  "the item nearest its ID's reconstruction first")
BUCKET_ORDERS.add("index", "semid.ids.collisions:_index_scores", "item row order")

#: The collision mode when none is given (``semid ids build``, :func:`semid.ids.build_ids`, a config's ``collisions``).
DEFAULT_COLLISIONS = "suffix"
#: The bucket order when none is given: popularity when it is given, else centroid.
DEFAULT_BUCKET_ORDER = "auto"


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
    """Append the within-bucket rank as a last column (the ``suffix`` handler on all of ``codes``).

    Returns ``(codes int64 (n, L+1), suffix_size)``; ``suffix_size`` = largest bucket
    (1 when no two items collide), so the result has no two equal rows.
    """
    b = Suffix().apply(codes, order_scores)
    return np.concatenate([np.asarray(codes, dtype=np.int64), b.extra], axis=1), b.extra_sizes[0]


@dataclass(frozen=True)
class Buckets:
    """What a collision handler made of one task's codes ``int (n, L)``.

    ``rank``: int64 (n,) each item's position inside its bucket, in bucket order;
    ``extra``: int64 (n, m) the columns the handler appends to the ID (none: m = 0; suffix: 1);
    ``extra_sizes``: the size of each appended level.
    """

    rank: np.ndarray
    extra: np.ndarray
    extra_sizes: list[int]


class CollisionHandler(ABC):
    """A collision mode: ranks each bucket's items and says which levels, if any, it appends."""

    name: ClassVar[str]

    @abstractmethod
    def apply(self, codes: np.ndarray, order_scores: np.ndarray | None = None) -> Buckets:
        """codes: int (n, L) one task's IDs; order_scores: float (n,) or None (see :func:`bucket_rank`)."""


class NoHandling(CollisionHandler):
    """``none``: IDs stay as the quantizer gave them; only the bucket ranks are recorded."""

    name = "none"

    def apply(self, codes: np.ndarray, order_scores: np.ndarray | None = None) -> Buckets:
        rank, _ = bucket_rank(codes, order_scores)
        return Buckets(rank, np.zeros((len(rank), 0), dtype=np.int64), [])


class Suffix(CollisionHandler):
    """``suffix``: the within-bucket rank as one extra level, sized by the largest bucket (TIGER)."""

    name = "suffix"

    def apply(self, codes: np.ndarray, order_scores: np.ndarray | None = None) -> Buckets:
        rank, size = bucket_rank(codes, order_scores)
        return Buckets(rank, rank[:, None], [int(size.max()) if len(size) else 1])


def get_collision_handler(mode: str) -> CollisionHandler:
    """The handler registered under exactly ``mode``; a ValueError lists the valid modes."""
    return COLLISION_MODES.get_factory(mode)()


def _popularity_scores(vectors: np.ndarray, recon: np.ndarray, popularity: np.ndarray | None) -> np.ndarray | None:
    return popularity


def _centroid_scores(vectors: np.ndarray, recon: np.ndarray, popularity: np.ndarray | None) -> np.ndarray | None:
    return -((vectors - recon) ** 2).sum(axis=1)


def _index_scores(vectors: np.ndarray, recon: np.ndarray, popularity: np.ndarray | None) -> np.ndarray | None:
    return None


def resolve_bucket_order(bucket_order: str, popularity: np.ndarray | None,
                         n: int) -> tuple[str, np.ndarray | None]:
    """``"auto"`` resolved (popularity when given, else centroid), and popularity checked: float64 (n,)."""
    if bucket_order == "auto":
        bucket_order = "popularity" if popularity is not None else "centroid"
    if bucket_order not in BUCKET_ORDERS:
        raise ValueError(f"bucket_order={bucket_order!r} is not valid; choose one of {['auto', *BUCKET_ORDERS]}")
    if bucket_order == "popularity":
        if popularity is None:
            raise ValueError("bucket_order='popularity' needs popularity (float array, one value per item)")
        popularity = np.asarray(popularity, dtype=np.float64)
        if popularity.shape != (n,) or not np.isfinite(popularity).all():
            raise ValueError(f"popularity must be finite with shape ({n},), got shape {popularity.shape}")
    return bucket_order, popularity


def order_scores(bucket_order: str, vectors: np.ndarray, recon: np.ndarray,
                 popularity: np.ndarray | None = None) -> np.ndarray | None:
    """The scores that order a bucket (higher first; None: item index) under a resolved ``bucket_order``.

    vectors, recon: float32 (n, d) the task's embeddings and their reconstruction from the IDs;
    popularity: float64 (n,) (for ``popularity``).
    """
    return BUCKET_ORDERS[bucket_order](vectors, recon, popularity)


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

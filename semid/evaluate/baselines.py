"""Non-learned baselines for the recommendation task.

``popularity``: every user gets the same list, items by descending number of *training*
interactions (ties by item order). Nothing is filtered (seen items stay in the list), as in
the dense and generative evaluations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from semid.evaluate.metrics import task_metrics
from semid.generative.config import DEFAULT_K

logger = logging.getLogger(__name__)

__all__ = ["popularity_order", "popularity_ranks", "popularity_metrics"]


def popularity_order(dataset: Any) -> np.ndarray:
    """int64 (n_items,): item indices by descending training count, ties by item order."""
    return np.argsort(-dataset.train_counts, kind="stable").astype(np.int64)


def popularity_ranks(dataset: Any, examples: Sequence[Any], k: int = DEFAULT_K) -> np.ndarray:
    """int64 (n,): 0-based rank of each example's target in the popularity list, -1 when not in the top ``k``.

    examples: objects with a ``target`` item index (e.g. ``Dataset.rec_examples("test")``).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pos = np.empty(dataset.n_items, dtype=np.int64)
    pos[popularity_order(dataset)] = np.arange(dataset.n_items)
    targets = np.array([e.target for e in examples], dtype=np.int64)
    r = pos[targets] if len(targets) else np.zeros(0, np.int64)
    return np.where(r < k, r, -1)


def popularity_metrics(dataset: Any, split: str = "test", k: int = DEFAULT_K) -> dict[str, float]:
    """``task_metrics("rec", ...)`` of the popularity baseline on ``dataset.rec_examples(split)``."""
    ex = dataset.rec_examples(split)
    ranks = popularity_ranks(dataset, ex, k)
    head = dataset.head_mask[[e.target for e in ex]] if ex else np.zeros(0, bool)
    return task_metrics("rec", ranks, head)

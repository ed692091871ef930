"""Recommendation splits and head/torso marking (DESIGN.md steps 1 and 5).

- Chronological leave-last-out per user: the last interaction is ``test``, the one before
  it ``valid``, the rest ``train`` (ties in time keep the input order).
- Users with fewer than ``min_history + 2`` interactions are dropped, so every kept user
  has at least ``min_history`` training interactions.
- Exact duplicate interaction rows are dropped (count logged and kept in ``meta.json`` as
  ``duplicates_dropped``); string user ids become dense integers (see :mod:`semid.data.schema`).
- ``head``: the top ``head_fraction`` (1%) of items by training popularity; ``torso``: the rest.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from semid.data.schema import (
    Dataset,
    SchemaError,
    dense_user_ids,
    drop_duplicate_interactions,
    validate_interactions,
    validate_items,
    validate_queries,
)

logger = logging.getLogger(__name__)

__all__ = ["leave_last_out", "mark_head", "head_mask_of", "make_dataset"]


def leave_last_out(interactions: pd.DataFrame, min_history: int = 1) -> pd.DataFrame:
    """Add a ``split`` column: per user, last -> test, second last -> valid, rest -> train.

    Users with fewer than ``min_history + 2`` interactions are dropped (logged).
    """
    if min_history < 1:
        raise ValueError(f"min_history must be >= 1, got {min_history}")
    df = interactions.reset_index(drop=True)
    order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), df["user_id"].to_numpy()))
    df = df.iloc[order].reset_index(drop=True)
    counts = df.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    keep = counts >= min_history + 2
    n_drop = int(df.loc[~keep, "user_id"].nunique())
    if n_drop:
        logger.info("dropping %d user(s) with fewer than %d interactions", n_drop, min_history + 2)
    df = df[keep].reset_index(drop=True)
    if df.empty:
        raise SchemaError(
            f"no user has at least {min_history + 2} interactions (min_history={min_history}); "
            f"every user needs a history plus a validation and a test item. Lower --min-history."
        )
    rank_from_end = df.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    split = np.where(rank_from_end == 0, "test", np.where(rank_from_end == 1, "valid", "train"))
    df["split"] = split
    return df


def mark_head(items: pd.DataFrame, interactions: pd.DataFrame, head_fraction: float = 0.01) -> pd.DataFrame:
    """Add ``train_count`` and ``head`` to ``items`` from the training interactions."""
    if not 0 < head_fraction < 1:
        raise ValueError(f"head_fraction must be in (0, 1), got {head_fraction}")
    train = interactions[interactions["split"] == "train"]
    counts = train["item_id"].value_counts()
    items = items.copy()
    items["train_count"] = items["item_id"].map(counts).fillna(0).astype("int64")
    items["head"] = head_mask_of(items["train_count"].to_numpy(), head_fraction)
    return items


def head_mask_of(counts: np.ndarray, head_fraction: float = 0.01) -> np.ndarray:
    """bool (n,): the ``head_fraction`` most popular items by ``counts`` (at least one; ties by item order)."""
    n_head = max(1, int(round(head_fraction * len(counts))))
    order = np.argsort(-np.asarray(counts), kind="stable")
    head = np.zeros(len(counts), dtype=bool)
    head[order[:n_head]] = True
    return head


def make_dataset(items: pd.DataFrame, interactions: pd.DataFrame, queries: pd.DataFrame,
                 meta: dict[str, Any] | None = None, min_history: int = 1,
                 head_fraction: float = 0.01) -> Dataset:
    """Validate raw tables, split interactions and mark head items: a ready :class:`Dataset`."""
    items = validate_items(items)
    interactions = validate_interactions(interactions.drop(columns=["split"], errors="ignore"), items["item_id"])
    interactions, n_dup = drop_duplicate_interactions(interactions)
    interactions = dense_user_ids(interactions)
    queries = validate_queries(queries, items["item_id"])
    interactions = leave_last_out(interactions, min_history=min_history)
    items = mark_head(items, interactions, head_fraction)
    meta = dict(meta or {})
    meta["duplicates_dropped"] = n_dup
    meta.setdefault("split", {"kind": "leave-last-out", "min_history": min_history, "head_fraction": head_fraction})
    return Dataset(items, interactions, queries, meta)

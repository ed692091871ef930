"""The dataset schema: items, interactions and queries, stored as Parquet plus ``meta.json``.

A prepared dataset directory looks like::

    data/
      items.parquet         item_id:int64 or str, title:str, year:Int64, genres:str, tags:str,
                            description:str, text:str, train_count:int64, head:bool
      interactions.parquet  user_id:int64, item_id (as in items), timestamp:int64, rating:float32,
                            split:str in {"train", "valid", "test"}[, original_user_id:str]
      queries.parquet       item_id (as in items), text:str, split:str in {"train", "test"}
      meta.json             source, sizes, config, schema_version

Conventions used by every later stage:

- **item order**: the row order of ``items.parquet`` is *the* item order. Embedding rows,
  Semantic ID rows and model outputs are all indexed by this position ("item index").
- **ids**: ``item_id`` keeps the source's own ids (integers, or strings such as ASINs or
  SKUs; a column of canonical integers is int64); every artifact a person reads names
  them, while arrays use the item index. String user ids become dense int64 ``user_id``
  (sorted order of the ids) with the source's ids in ``original_user_id``.
- **timestamps** are int64 (integers as given, or seconds since 1970 for dates); they
  order each user's history.
- ``genres`` and ``tags`` are ``|``-separated strings (empty string when absent).
- ``text`` is the metadata text that embedders read.
- ``train_count`` is the item's number of *training* interactions; ``head`` marks the
  top 1% of items by ``train_count`` (DESIGN.md step 5), the rest is the torso.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

# the column specs, the validators and the id/timestamp normalisers live in their own modules;
# they are re-exported here, where callers have always imported them from
from semid.data.columns import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    ORIGINAL_USER_ID,
    QUERY_COLUMNS,
    QUERY_SPLITS,
    REC_SPLITS,
    SCHEMA_VERSION,
    SchemaError,
    _short,
)
from semid.data.normalize import _is_int_ids, normalize_ids, normalize_timestamps
from semid.data.validate import (
    dense_user_ids,
    drop_duplicate_interactions,
    validate_interactions,
    validate_items,
    validate_queries,
)
from semid.io import atomic_dir, read_json, write_json

logger = logging.getLogger(__name__)

__all__ = [
    "Dataset",
    "SchemaError",
    "RecExample",
    "validate_items",
    "validate_interactions",
    "validate_queries",
    "normalize_ids",
    "normalize_timestamps",
    "drop_duplicate_interactions",
    "dense_user_ids",
    "ITEM_COLUMNS",
    "INTERACTION_COLUMNS",
    "QUERY_COLUMNS",
    "ORIGINAL_USER_ID",
    "REC_SPLITS",
    "QUERY_SPLITS",
    "SCHEMA_VERSION",
]


class RecExample(NamedTuple):
    """One next-item example: ``history`` are item indices (chronological), ``target`` an item index."""

    user_id: int
    history: np.ndarray
    target: int


@dataclass
class Dataset:
    """A prepared catalogue: items, interactions (with their split) and queries.

    Build one with :func:`semid.data.splits.make_dataset` or load one with :meth:`load`.
    """

    items: pd.DataFrame
    interactions: pd.DataFrame
    queries: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index: dict[int, int] | None = None

    # ----------------------------------------------------------------- basics
    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def item_index(self) -> dict[Any, int]:
        """Map item_id (the source's own id: int or str) -> row position (the item index used by every array)."""
        if self._index is None:
            self._index = {i: k for k, i in enumerate(self.items["item_id"].tolist())}
        return self._index

    def to_index(self, item_ids: Iterable[Any]) -> np.ndarray:
        """Item ids -> int64 item indices; KeyError names the ids that are not in the catalogue."""
        ids = item_ids.to_numpy() if isinstance(item_ids, pd.Series) else np.asarray(list(item_ids), dtype=object)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        pos = pd.Index(self.items["item_id"]).get_indexer(ids)
        if (pos < 0).any():
            missing = pd.unique(np.asarray(ids, dtype=object)[pos < 0])
            raise KeyError(f"{len(missing)} item id(s) are not in the catalogue: {_short(missing)}")
        return pos.astype(np.int64)

    @property
    def texts(self) -> list[str]:
        """Metadata text per item, in item order."""
        return self.items["text"].tolist()

    @property
    def head_mask(self) -> np.ndarray:
        """bool (n_items,): True for head items (top 1% by training popularity)."""
        return self.items["head"].to_numpy(dtype=bool)

    @property
    def train_counts(self) -> np.ndarray:
        """int64 (n_items,): training interactions per item."""
        return self.items["train_count"].to_numpy(dtype=np.int64)

    def queries_for(self, split: str) -> pd.DataFrame:
        """Queries of one split (``train`` or ``test``) with an ``item_index`` column."""
        if split not in QUERY_SPLITS:
            raise ValueError(f"unknown query split {split!r}; choose one of {list(QUERY_SPLITS)}")
        q = self.queries[self.queries["split"] == split].copy()
        q["item_index"] = self.to_index(q["item_id"])
        return q.reset_index(drop=True)

    # ----------------------------------------------------------- histories
    def _sorted_interactions(self) -> pd.DataFrame:
        df = self.interactions
        order = np.lexsort((df.index.to_numpy(), df["timestamp"].to_numpy(), df["user_id"].to_numpy()))
        return df.iloc[order]

    def user_histories(self, splits: Iterable[str] = ("train",)) -> dict[int, np.ndarray]:
        """user_id -> chronological int64 item indices of the interactions in ``splits``."""
        df = self._sorted_interactions()
        df = df[df["split"].isin(list(splits))]
        idx = self.to_index(df["item_id"])
        users = df["user_id"].to_numpy()
        out: dict[int, np.ndarray] = {}
        if len(users) == 0:
            return out
        bounds = np.flatnonzero(np.diff(users)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(users)]])
        for s, e in zip(starts, ends, strict=False):
            out[int(users[s])] = idx[s:e]
        return out

    def rec_examples(self, split: str = "test") -> list[RecExample]:
        """Evaluation examples: for each user, all earlier interactions -> the ``split`` item.

        For ``test`` the history is train + valid; for ``valid`` it is train only.
        """
        if split not in ("valid", "test"):
            raise ValueError(f"rec_examples takes split 'valid' or 'test', not {split!r}")
        hist_splits = ("train",) if split == "valid" else ("train", "valid")
        hist = self.user_histories(hist_splits)
        tgt = self.interactions[self.interactions["split"] == split]
        out = []
        targets = self.to_index(tgt["item_id"])
        for u, t in zip(tgt["user_id"].to_numpy(), targets, strict=True):
            h = hist.get(int(u))
            if h is None or len(h) == 0:
                continue
            out.append(RecExample(int(u), h, int(t)))
        out.sort(key=lambda e: e.user_id)
        return out

    # --------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> Path:
        """Atomically write the dataset to directory ``path`` (replacing what was there)."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            self.items.to_parquet(tmp / "items.parquet", index=False)
            self.interactions.to_parquet(tmp / "interactions.parquet", index=False)
            self.queries.to_parquet(tmp / "queries.parquet", index=False)
            meta = dict(self.meta)
            meta.setdefault("schema_version", SCHEMA_VERSION)
            meta.update(self.sizes())
            write_json(tmp / "meta.json", meta)
        logger.info("wrote dataset to %s", path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Dataset:
        """Load and validate a dataset directory written by :meth:`save`."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(
                f"dataset directory {path} does not exist; create it with `semid data prepare --out {path}`"
            )
        frames = {}
        for name in ("items", "interactions", "queries"):
            f = path / f"{name}.parquet"
            if not f.exists():
                raise SchemaError(f"{f} is missing; rerun `semid data prepare --out {path}`")
            try:
                frames[name] = pd.read_parquet(f)
            except Exception as exc:  # pyarrow raises several types for corrupt files
                raise SchemaError(f"{f} is not a readable Parquet file ({exc}); rerun `semid data prepare`") from None
        items = validate_items(frames["items"], str(path / "items.parquet"))
        for col in ("train_count", "head"):
            if col not in items.columns:
                raise SchemaError(f"{path / 'items.parquet'}: missing column '{col}'; rerun `semid data prepare`")
        inter = validate_interactions(frames["interactions"], items["item_id"], str(path / "interactions.parquet"))
        if not _is_int_ids(inter["user_id"]):
            raise SchemaError(f"{path / 'interactions.parquet'}: user_id must be dense integers in a prepared dataset; "
                              f"rerun `semid data prepare --out {path}`")
        if "split" not in inter.columns:
            raise SchemaError(f"{path / 'interactions.parquet'}: missing column 'split'; rerun `semid data prepare`")
        queries = validate_queries(frames["queries"], items["item_id"], str(path / "queries.parquet"))
        meta = read_json(path / "meta.json") if (path / "meta.json").exists() else {}
        return cls(items, inter, queries, meta)

    def sizes(self) -> dict[str, int]:
        """The counts that ``semid data stats --json`` prints."""
        q = self.queries["split"].value_counts()
        head = int(self.items["head"].sum()) if "head" in self.items else 0
        return {
            "n_items": int(len(self.items)),
            "n_users": int(self.interactions["user_id"].nunique()),
            "n_interactions": int(len(self.interactions)),
            "n_queries_train": int(q.get("train", 0)),
            "n_queries_test": int(q.get("test", 0)),
            "n_head": head,
            "n_torso": int(len(self.items)) - head,
        }

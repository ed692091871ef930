"""The dataset schema: items, interactions and queries, stored as Parquet plus ``meta.json``.

A prepared dataset directory looks like::

    data/
      items.parquet         item_id:int64, title:str, year:Int64, genres:str, tags:str,
                            description:str, text:str, train_count:int64, head:bool
      interactions.parquet  user_id:int64, item_id:int64, timestamp:int64, rating:float32,
                            split:str in {"train", "valid", "test"}
      queries.parquet       item_id:int64, text:str, split:str in {"train", "test"}
      meta.json             source, sizes, config, schema_version

Conventions used by every later stage:

- **item order**: the row order of ``items.parquet`` is *the* item order. Embedding rows,
  Semantic ID rows and model outputs are all indexed by this position ("item index").
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

from semid.io import atomic_dir, read_json, write_json

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

ITEM_COLUMNS: dict[str, str] = {
    "item_id": "int",
    "title": "str",
    "year": "int?",
    "genres": "str",
    "tags": "str",
    "description": "str",
    "text": "str",
}
INTERACTION_COLUMNS: dict[str, str] = {
    "user_id": "int",
    "item_id": "int",
    "timestamp": "int",
    "rating": "float",
}
QUERY_COLUMNS: dict[str, str] = {"item_id": "int", "text": "str", "split": "str"}
REC_SPLITS = ("train", "valid", "test")
QUERY_SPLITS = ("train", "test")

__all__ = [
    "Dataset",
    "SchemaError",
    "RecExample",
    "validate_items",
    "validate_interactions",
    "validate_queries",
    "ITEM_COLUMNS",
    "INTERACTION_COLUMNS",
    "QUERY_COLUMNS",
]


class SchemaError(ValueError):
    """A data file does not follow the semid schema. The message names the file, the
    column or row, and the fix."""


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _check_columns(df: pd.DataFrame, spec: dict[str, str], source: str | None, optional: Iterable[str] = ()) -> None:
    missing = [c for c in spec if c not in df.columns and c not in optional]
    if missing:
        raise SchemaError(
            f"{_where(source)}missing column(s) {missing}; found {list(df.columns)}. "
            f"The file needs the columns {list(spec)}."
        )
    for col, kind in spec.items():
        if col not in df.columns:
            continue
        s = df[col]
        if kind in ("int", "int?"):
            if kind == "int" and s.isna().any():
                row = int(np.flatnonzero(s.isna().to_numpy())[0])
                raise SchemaError(f"{_where(source)}column '{col}' has an empty value at row {row}; every row needs an integer {col}.")
            if not (pd.api.types.is_integer_dtype(s) or (kind == "int?" and pd.api.types.is_float_dtype(s) and
                                                         np.all(np.isnan(s.to_numpy(dtype=float)) | (np.mod(s.to_numpy(dtype=float), 1) == 0)))):
                bad = _first_non_int(s)
                raise SchemaError(
                    f"{_where(source)}column '{col}' must hold integers, but row {bad[0]} holds {bad[1]!r}. "
                    f"Convert it to integer ids (e.g. with pandas.factorize) before loading."
                )
        elif kind == "float":
            if not pd.api.types.is_numeric_dtype(s):
                raise SchemaError(f"{_where(source)}column '{col}' must be numeric, got dtype {s.dtype}.")
        elif kind == "str":
            if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
                raise SchemaError(f"{_where(source)}column '{col}' must hold text, got dtype {s.dtype}.")


def _first_non_int(s: pd.Series) -> tuple[int, Any]:
    for i, v in enumerate(s.tolist()):
        try:
            if v is None or (isinstance(v, float) and np.isnan(v)) or int(v) != v:
                return i, v
        except (TypeError, ValueError):
            return i, v
    return 0, s.iloc[0] if len(s) else None


def validate_items(items: pd.DataFrame, source: str | None = "items") -> pd.DataFrame:
    """Check the item table and return it with normalised dtypes.

    Raises :class:`SchemaError` for missing columns, wrong dtypes, duplicate item ids or
    items without text.
    """
    _check_columns(items, ITEM_COLUMNS, source, optional=("year", "genres", "tags", "description"))
    items = items.copy()
    for col in ("genres", "tags", "description"):
        if col not in items.columns:
            items[col] = ""
    if "year" not in items.columns:
        items["year"] = pd.array([pd.NA] * len(items), dtype="Int64")
    dup = items["item_id"].duplicated(keep=False)
    if dup.any():
        ids = items.loc[dup, "item_id"].unique()[:5].tolist()
        rows = np.flatnonzero(dup.to_numpy())[:5].tolist()
        raise SchemaError(f"{_where(source)}duplicate item_id {ids} at rows {rows}; each item must appear exactly once.")
    for col in ("title", "genres", "tags", "description", "text"):
        items[col] = items[col].fillna("").astype(str)
    empty = items["text"].str.strip() == ""
    if empty.any():
        rows = np.flatnonzero(empty.to_numpy())[:5].tolist()
        ids = items.loc[empty, "item_id"].tolist()[:5]
        raise SchemaError(
            f"{_where(source)}{int(empty.sum())} item(s) have no text (item_id {ids}, rows {rows}); "
            f"every item needs metadata text for the embedders: fill 'text' (e.g. title + genres) or drop them."
        )
    items["item_id"] = items["item_id"].astype("int64")
    items["year"] = pd.to_numeric(items["year"], errors="coerce").astype("Int64")
    return items.reset_index(drop=True)


def validate_interactions(interactions: pd.DataFrame, item_ids: Iterable[int] | None = None,
                          source: str | None = "interactions") -> pd.DataFrame:
    """Check the interaction table; with ``item_ids``, also check that every item is known."""
    _check_columns(interactions, INTERACTION_COLUMNS, source, optional=("rating",))
    df = interactions.copy()
    if "rating" not in df.columns:
        df["rating"] = 1.0
    df["user_id"] = df["user_id"].astype("int64")
    df["item_id"] = df["item_id"].astype("int64")
    df["timestamp"] = df["timestamp"].astype("int64")
    df["rating"] = df["rating"].astype("float32")
    if item_ids is not None:
        known = pd.Index(item_ids)
        unknown = ~df["item_id"].isin(known)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise SchemaError(
                f"{_where(source)}{int(unknown.sum())} interaction(s) point at unknown items, the first at row {row} "
                f"(item_id {int(df['item_id'].iloc[row])}); every item_id must appear in the items table. "
                f"Add the missing items or drop those interactions."
            )
    if "split" in df.columns:
        bad = ~df["split"].isin(REC_SPLITS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(f"{_where(source)}column 'split' holds {df['split'].iloc[row]!r} at row {row}; allowed: {list(REC_SPLITS)}.")
        has_train = set(df.loc[df["split"] == "train", "user_id"].unique())
        evaluated = set(df.loc[df["split"] != "train", "user_id"].unique())
        orphans = sorted(evaluated - has_train)
        if orphans:
            raise SchemaError(
                f"{_where(source)}{len(orphans)} user(s) have valid/test interactions but no training history "
                f"(user_id {orphans[:5]}); drop them or raise the minimum history length."
            )
    return df.reset_index(drop=True)


def validate_queries(queries: pd.DataFrame, item_ids: Iterable[int] | None = None,
                     source: str | None = "queries") -> pd.DataFrame:
    _check_columns(queries, QUERY_COLUMNS, source)
    df = queries.copy()
    df["item_id"] = df["item_id"].astype("int64")
    df["text"] = df["text"].fillna("").astype(str)
    bad = ~df["split"].isin(QUERY_SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"{_where(source)}column 'split' holds {df['split'].iloc[row]!r} at row {row}; allowed: {list(QUERY_SPLITS)}.")
    empty = df["text"].str.strip() == ""
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise SchemaError(f"{_where(source)}query at row {row} is empty; remove empty queries.")
    if item_ids is not None:
        unknown = ~df["item_id"].isin(pd.Index(item_ids))
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise SchemaError(f"{_where(source)}query at row {row} points at unknown item_id {int(df['item_id'].iloc[row])}.")
    return df.reset_index(drop=True)


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
    def item_index(self) -> dict[int, int]:
        """Map item_id -> row position (the item index used by every array)."""
        if self._index is None:
            self._index = {int(i): k for k, i in enumerate(self.items["item_id"].to_numpy())}
        return self._index

    def to_index(self, item_ids: Iterable[int]) -> np.ndarray:
        """Item ids -> int64 item indices."""
        idx = self.item_index
        return np.fromiter((idx[int(i)] for i in item_ids), dtype=np.int64)

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
        for u, item in zip(tgt["user_id"].to_numpy(), tgt["item_id"].to_numpy(), strict=False):
            h = hist.get(int(u))
            if h is None or len(h) == 0:
                continue
            out.append(RecExample(int(u), h, self.item_index[int(item)]))
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

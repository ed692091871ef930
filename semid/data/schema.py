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
import re
import warnings
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
    "item_id": "id",
    "title": "str",
    "year": "int?",
    "genres": "str",
    "tags": "str",
    "description": "str",
    "text": "str",
}
INTERACTION_COLUMNS: dict[str, str] = {
    "user_id": "id",
    "item_id": "id",
    "timestamp": "time",
    "rating": "float",
}
QUERY_COLUMNS: dict[str, str] = {"item_id": "id", "text": "str", "split": "str"}
REC_SPLITS = ("train", "valid", "test")
QUERY_SPLITS = ("train", "test")
# interactions.parquet keeps the source's user ids here when they were not integers (user_id is
# then a dense int64 index, 0..n_users-1 in the sorted order of these ids).
ORIGINAL_USER_ID = "original_user_id"

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
]


class SchemaError(ValueError):
    """A data file does not follow the semid schema. The message names the file, the
    column or row, and the fix."""


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _short(values: Iterable[Any], n: int = 5) -> str:
    """A few values for a message: ['B00A', 'B00B', ...]."""
    vals = list(values)
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in vals[:n])
    return f"[{shown}{', ...' if len(vals) > n else ''}]"


# Canonical decimal integers that fit int64 ("42", "-7"; not "042", "4.0" or "1e3").
_CANONICAL_INT = re.compile(r"-?(?:0|[1-9]\d{0,17})")


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float | np.floating) and np.isnan(v))


def normalize_ids(s: pd.Series, col: str, source: str | None = None) -> pd.Series:
    """Item or user ids as given by a source: int64 when every id is an integer, else str.

    Integer columns stay integers; floats are accepted when they are whole numbers (ids that
    went through a float column, e.g. Parquet with gaps); strings are kept as they are
    (surrounding spaces stripped), except that a column of canonical decimal integers
    ("42", not "042") becomes int64, so a CSV and a Parquet copy of one table agree.
    Raises :class:`SchemaError` for empty values, booleans and non-integral numbers.
    """
    def bad(row: int, v: Any, why: str) -> SchemaError:
        return SchemaError(f"{_where(source)}column '{col}' {why} at row {row} ({v!r}); ids must be integers "
                           f"or strings, one per row: fill or drop that row.")

    if len(s) == 0:
        return s.astype("int64")
    if pd.api.types.is_bool_dtype(s):
        raise bad(0, s.iloc[0], "holds booleans")
    na = s.isna().to_numpy()
    if na.any():
        row = int(np.flatnonzero(na)[0])
        raise bad(row, s.iloc[row], "has an empty value")
    if pd.api.types.is_integer_dtype(s):
        return s.astype("int64")
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype=float)
        off = (np.mod(v, 1) != 0) | (np.abs(v) > 2**62)
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise bad(row, float(v[row]), "holds a number that is not a whole number")
        return s.astype("int64")
    if pd.api.types.is_datetime64_any_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        raise bad(0, s.iloc[0], f"has dtype {s.dtype}")
    out: list[str] = []
    for i, v in enumerate(s.tolist()):
        if isinstance(v, bool | np.bool_):
            raise bad(i, v, "holds a boolean")
        if isinstance(v, int | np.integer):
            out.append(str(int(v)))
        elif isinstance(v, float | np.floating):
            if not float(v).is_integer() or abs(v) > 2**62:
                raise bad(i, v, "holds a number that is not a whole number")
            out.append(str(int(v)))
        elif isinstance(v, str):
            t = v.strip()
            if not t:
                raise bad(i, v, "has an empty value")
            out.append(t)
        else:
            raise bad(i, v, f"holds a {type(v).__name__}")
    if all(_CANONICAL_INT.fullmatch(x) for x in out):
        return pd.Series(np.array([int(x) for x in out], dtype=np.int64), index=s.index, name=s.name)
    return pd.Series(out, index=s.index, name=s.name, dtype=object)


def _is_int_ids(s: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(s)


def _align_ids(s: pd.Series, known: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``s`` in the id type of ``known`` (int64 or str) and a bool mask of the ids not in ``known``."""
    if _is_int_ids(s) == _is_int_ids(known):
        return s, ~s.isin(pd.Index(known)).to_numpy()
    s_str = s.astype(str).astype(object)
    unknown = ~s_str.isin(pd.Index(known.astype(str))).to_numpy()
    if _is_int_ids(known) and not unknown.any():
        return s_str.astype("int64"), unknown
    return (s_str if not _is_int_ids(known) else s), unknown


def normalize_timestamps(s: pd.Series, col: str = "timestamp", source: str | None = None
                         ) -> tuple[pd.Series, np.ndarray | None]:
    """Timestamps -> int64 seconds, and (when rounding lost sub-second order) a float key that orders them exactly.

    Accepted: integers (any unit, kept as they are: they only order each user's history),
    whole or fractional numbers (floored), datetimes (naive ones read as UTC) and ISO 8601
    strings ("2014-01-31", "2014-01-31T12:00:00Z", "2014-01-31 12:00:00+02:00"). Strings
    of canonical integers count as integers. Raises :class:`SchemaError` naming the first
    value that is none of these.
    """
    hint = ("timestamps must be integers (e.g. Unix seconds) or ISO 8601 dates such as 2014-01-31 "
            "or 2014-01-31T12:00:00Z")

    def bad(row: int, v: Any, why: str = "holds") -> SchemaError:
        return SchemaError(f"{_where(source)}column '{col}' {why} {v!r} at row {row}; {hint}.")

    if len(s) == 0:
        return s.astype("int64"), None
    na = s.isna().to_numpy()
    if na.any():
        row = int(np.flatnonzero(na)[0])
        raise bad(row, s.iloc[row], "has an empty value")
    if pd.api.types.is_bool_dtype(s):
        raise bad(0, s.iloc[0])
    if pd.api.types.is_integer_dtype(s):
        return s.astype("int64"), None
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype=float)
        off = ~np.isfinite(v) | (np.abs(v) > 2**62)
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise bad(row, float(v[row]))
        floor = np.floor(v)
        return pd.Series(floor.astype(np.int64), index=s.index, name=s.name), (v if (floor != v).any() else None)
    if not pd.api.types.is_datetime64_any_dtype(s):
        values = s.tolist()
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in values):
            return pd.Series(np.array(values, dtype=np.int64), index=s.index, name=s.name), None
        numeric = [isinstance(v, int | np.integer | float | np.floating) and not isinstance(v, bool | np.bool_)
                   or (isinstance(v, str) and _CANONICAL_INT.fullmatch(v.strip()) is not None) for v in values]
        if all(numeric) and all(isinstance(v, str) for v in values):
            return pd.Series(np.array([int(v) for v in values], dtype=np.int64), index=s.index, name=s.name), None
        if any(numeric):  # "141" beside "2014-01-31": a year? seconds? refuse to guess
            i, j = numeric.index(True), numeric.index(False)
            raise SchemaError(f"{_where(source)}column '{col}' mixes numbers (row {i}: {values[i]!r}) with other "
                              f"values (row {j}: {values[j]!r}); use one kind in the whole column: {hint}.")
        for i, v in enumerate(values):
            if not isinstance(v, str | pd.Timestamp | np.datetime64) and not hasattr(v, "isoformat"):
                raise bad(i, v)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError) as exc:
        raise SchemaError(f"{_where(source)}column '{col}' cannot be read as dates ({str(exc).splitlines()[0]}); "
                          f"{hint}.") from None
    nat = dt.isna().to_numpy()
    if nat.any():
        row = int(np.flatnonzero(nat)[0])
        raise bad(row, s.iloc[row])
    us = dt.dt.tz_convert(None).astype("datetime64[us]").astype("int64").to_numpy()  # microseconds since 1970
    secs = np.floor_divide(us, 1_000_000)
    exact = us.astype(np.float64) / 1e6 if (us % 1_000_000 != 0).any() else None
    return pd.Series(secs, index=s.index, name=s.name), exact


def _check_columns(df: pd.DataFrame, spec: dict[str, str], source: str | None, optional: Iterable[str] = ()) -> None:
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{_where(source)}expected a table (pandas DataFrame), got {type(df).__name__}.")
    missing = [c for c in spec if c not in df.columns and c not in optional]
    if missing:
        raise SchemaError(
            f"{_where(source)}missing column(s) {missing}; found {[str(c) for c in df.columns]}. "
            f"The file needs the columns {list(spec)}."
        )
    dup = sorted({str(c) for c in df.columns if list(df.columns).count(c) > 1})
    if dup:
        raise SchemaError(f"{_where(source)}column(s) {dup} appear more than once; keep one of each.")
    for col, kind in spec.items():
        if col not in df.columns:
            continue
        s = df[col]
        if kind == "int?":
            if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_integer_dtype(s) or (
                    pd.api.types.is_float_dtype(s) and np.all(np.isnan(s.to_numpy(dtype=float)) |
                                                              (np.mod(s.to_numpy(dtype=float), 1) == 0)))):
                if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
                    bad = _first_non_int(s)
                    raise SchemaError(
                        f"{_where(source)}column '{col}' must hold integers, but row {bad[0]} holds {bad[1]!r}; "
                        f"fix or empty that value.")
        elif kind == "float":
            if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
                raise SchemaError(f"{_where(source)}column '{col}' must be numeric, got dtype {s.dtype}; "
                                  f"fix the values or drop the column.")


def _first_non_int(s: pd.Series) -> tuple[int, Any]:
    for i, v in enumerate(s.tolist()):
        try:
            if v is None or (isinstance(v, float) and np.isnan(v)) or int(v) != v:
                return i, v
        except (TypeError, ValueError, OverflowError):
            return i, v
    return 0, s.iloc[0] if len(s) else None


def _text_column(s: pd.Series) -> pd.Series:
    """Any column as text: missing values become ""."""
    return pd.Series(["" if _is_missing(v) else str(v) for v in s.tolist()], index=s.index, dtype=object)


def _year_column(s: pd.Series) -> pd.Series:
    y = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_bool_dtype(s) else pd.Series(np.nan, index=s.index)
    y = y.where((y % 1 == 0) & (y.abs() < 10_000))
    return y.astype("Int64")


def validate_items(items: pd.DataFrame, source: str | None = "items") -> pd.DataFrame:
    """Check the item table and return it with normalised dtypes.

    ``item_id`` may hold integers or strings (see :func:`normalize_ids`); it keeps the
    source's own ids. Raises :class:`SchemaError` for an empty table, missing columns, wrong
    dtypes, duplicate item ids or items without text.
    """
    _check_columns(items, ITEM_COLUMNS, source, optional=("year", "genres", "tags", "description"))
    if len(items) == 0:
        raise SchemaError(f"{_where(source)}no items: the table has no rows; it needs one row per item.")
    items = items.copy()
    for col in ("genres", "tags", "description"):
        if col not in items.columns:
            items[col] = ""
    if "year" not in items.columns:
        items["year"] = pd.array([pd.NA] * len(items), dtype="Int64")
    items["item_id"] = normalize_ids(items["item_id"], "item_id", source)
    dup = items["item_id"].duplicated(keep=False)
    if dup.any():
        ids = items.loc[dup, "item_id"].unique()
        rows = np.flatnonzero(dup.to_numpy())[:5].tolist()
        raise SchemaError(f"{_where(source)}{len(ids)} item_id(s) appear more than once, e.g. {_short(ids)} at rows "
                          f"{rows}; each item must appear exactly once: merge or drop the duplicates.")
    for col in ("title", "genres", "tags", "description", "text"):
        items[col] = _text_column(items[col])
    empty = items["text"].str.strip() == ""
    if empty.any():
        rows = np.flatnonzero(empty.to_numpy())[:5].tolist()
        ids = items.loc[empty, "item_id"].tolist()
        raise SchemaError(
            f"{_where(source)}{int(empty.sum())} item(s) have no text (item_id {_short(ids)}, rows {rows}); "
            f"every item needs metadata text for the embedders: fill 'text' (e.g. title + genres) or drop them."
        )
    items["year"] = _year_column(items["year"])
    return items.reset_index(drop=True)


def validate_interactions(interactions: pd.DataFrame, item_ids: Iterable[Any] | None = None,
                          source: str | None = "interactions") -> pd.DataFrame:
    """Check the interaction table and normalise it; with ``item_ids``, also check that every item is known.

    ``user_id`` and ``item_id`` may be integers or strings (with ``item_ids`` the item ids
    take the items' id type); ``timestamp`` becomes int64 seconds (see
    :func:`normalize_timestamps`; when whole seconds tie, rows are ordered by the exact time).
    """
    _check_columns(interactions, INTERACTION_COLUMNS, source, optional=("rating",))
    if len(interactions) == 0:
        raise SchemaError(f"{_where(source)}no interactions: the table has no rows; it needs one row per "
                          f"(user_id, item_id, timestamp) event.")
    df = interactions.copy()
    if "rating" not in df.columns:
        df["rating"] = 1.0
    df["user_id"] = normalize_ids(df["user_id"], "user_id", source)
    df["item_id"] = normalize_ids(df["item_id"], "item_id", source)
    df["timestamp"], exact = normalize_timestamps(df["timestamp"], "timestamp", source)
    df["rating"] = df["rating"].astype("float32")
    if item_ids is not None:
        known = item_ids if isinstance(item_ids, pd.Series) else pd.Series(list(item_ids))
        df["item_id"], unknown = _align_ids(df["item_id"], known)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            missing = pd.unique(df["item_id"].to_numpy()[unknown])
            raise SchemaError(
                f"{_where(source)}{int(unknown.sum())} interaction(s) point at {len(missing)} unknown item(s) "
                f"{_short(missing)}, the first at row {row}; every item_id must appear in the items table. "
                f"Add the missing items or drop those interactions."
            )
    if exact is not None:  # whole seconds tie: keep the exact order of the source's times
        order = np.argsort(exact, kind="stable")
        df = df.iloc[order]
    if "split" in df.columns:
        bad = ~df["split"].isin(REC_SPLITS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(f"{_where(source)}column 'split' holds {df['split'].iloc[row]!r} at row {row}; allowed: {list(REC_SPLITS)}.")
        has_train = set(df.loc[df["split"] == "train", "user_id"].unique())
        evaluated = set(df.loc[df["split"] != "train", "user_id"].unique())
        orphans = sorted(evaluated - has_train, key=str)
        if orphans:
            raise SchemaError(
                f"{_where(source)}{len(orphans)} user(s) have valid/test interactions but no training history "
                f"(user_id {orphans[:5]}); drop them or raise the minimum history length."
            )
    return df.reset_index(drop=True)


def drop_duplicate_interactions(interactions: pd.DataFrame, source: str | None = "interactions"
                                ) -> tuple[pd.DataFrame, int]:
    """Policy for exact duplicate rows (same user, item, timestamp and rating): keep the first, drop the rest.

    Returns the table and the number of rows dropped (logged as a warning). Repeated
    interactions at *different* times are kept: they are real repeat consumption.
    """
    cols = [c for c in ("user_id", "item_id", "timestamp", "rating") if c in interactions.columns]
    dup = interactions.duplicated(subset=cols, keep="first").to_numpy()
    n = int(dup.sum())
    if n:
        logger.warning("%sdropped %d exact duplicate interaction row(s) (same %s)", _where(source), n, ", ".join(cols))
        interactions = interactions[~dup].reset_index(drop=True)
    return interactions, n


def dense_user_ids(interactions: pd.DataFrame) -> pd.DataFrame:
    """Integer user ids stay; string ids become dense int64 indices (sorted order of the ids), the
    source's ids kept in the ``original_user_id`` column."""
    if _is_int_ids(interactions["user_id"]):
        return interactions
    df = interactions.copy()
    codes, uniques = pd.factorize(df["user_id"].astype(str), sort=True)
    df[ORIGINAL_USER_ID] = df["user_id"].astype(str).astype(object)
    df["user_id"] = codes.astype(np.int64)
    logger.info("mapped %d string user ids to dense integers (kept in column %r)", len(uniques), ORIGINAL_USER_ID)
    return df


def validate_queries(queries: pd.DataFrame, item_ids: Iterable[Any] | None = None,
                     source: str | None = "queries") -> pd.DataFrame:
    _check_columns(queries, QUERY_COLUMNS, source)
    df = queries.copy()
    df["item_id"] = normalize_ids(df["item_id"], "item_id", source)
    df["text"] = _text_column(df["text"])
    df["split"] = _text_column(df["split"])
    bad = ~df["split"].isin(QUERY_SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"{_where(source)}column 'split' holds {df['split'].iloc[row]!r} at row {row}; allowed: {list(QUERY_SPLITS)}.")
    empty = df["text"].str.strip() == ""
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise SchemaError(f"{_where(source)}query at row {row} is empty; remove empty queries.")
    if item_ids is not None and len(df):
        known = item_ids if isinstance(item_ids, pd.Series) else pd.Series(list(item_ids))
        df["item_id"], unknown = _align_ids(df["item_id"], known)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            missing = pd.unique(df["item_id"].to_numpy()[unknown])
            raise SchemaError(f"{_where(source)}{int(unknown.sum())} query(ies) point at {len(missing)} unknown item(s) "
                              f"{_short(missing)}, the first at row {row}; drop them or add the items.")
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

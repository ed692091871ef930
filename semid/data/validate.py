"""Validators of the item, interaction and query tables, the duplicate-row policy and dense user ids.

Each validator checks one table against :mod:`semid.data.columns` and returns it with the
schema's dtypes; a problem raises :class:`~semid.data.columns.SchemaError` naming the file,
the column or row, and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from semid.data.columns import (
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    ORIGINAL_USER_ID,
    QUERY_COLUMNS,
    QUERY_SPLITS,
    REC_SPLITS,
    SchemaError,
    _short,
    _where,
)
from semid.data.normalize import (
    _align_ids,
    _is_int_ids,
    _is_missing,
    normalize_ids,
    normalize_timestamps,
)

logger = logging.getLogger(__name__)

__all__ = ["validate_items", "validate_interactions", "validate_queries", "drop_duplicate_interactions",
           "dense_user_ids"]


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

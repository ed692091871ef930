"""Ids and timestamps as sources give them -> the schema's types (int64 or str ids, int64 seconds)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from semid.data.columns import SchemaError, _where

__all__ = ["normalize_ids", "normalize_timestamps"]


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

"""The schema's column specs, split names and :class:`SchemaError` (see :mod:`semid.data.schema`).

The lowest module of the data layer: the validators, the readers and :class:`~semid.data.schema.Dataset`
all import from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["SchemaError", "SCHEMA_VERSION", "ITEM_COLUMNS", "INTERACTION_COLUMNS", "QUERY_COLUMNS",
           "REC_SPLITS", "QUERY_SPLITS", "ORIGINAL_USER_ID"]

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

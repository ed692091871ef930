"""Data layer: schema, readers, synthetic world, query generation and splits.

The public names below are imported on first access (PEP 562), so that importing a light module
of this package (``semid.data.sources``, the registry of data sources that config validation
reads) does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semid.data.schema import Dataset, RecExample, SchemaError
    from semid.data.splits import leave_last_out, make_dataset, mark_head

__all__ = ["Dataset", "RecExample", "SchemaError", "leave_last_out", "make_dataset", "mark_head"]

_MODULE_OF = {"Dataset": "semid.data.schema", "RecExample": "semid.data.schema", "SchemaError": "semid.data.schema",
              "leave_last_out": "semid.data.splits", "make_dataset": "semid.data.splits",
              "mark_head": "semid.data.splits"}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

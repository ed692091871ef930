"""Data layer: schema, readers, synthetic world, query generation and splits."""

from semid.data.schema import Dataset, RecExample, SchemaError
from semid.data.splits import leave_last_out, make_dataset, mark_head

__all__ = ["Dataset", "RecExample", "SchemaError", "leave_last_out", "make_dataset", "mark_head"]

"""Your own catalogue: items, interactions and (optionally) queries from CSV, Parquet or JSON Lines.

Columns (see semid/data/schema.py):

- items: ``item_id`` (int) and ``text`` (the metadata text), or ``title`` (+ optional
  ``genres``, ``tags`` as ``|``-separated strings, ``description``, ``year``) from which
  ``text`` is built;
- interactions: ``user_id``, ``item_id``, ``timestamp`` (int), optional ``rating``;
- queries (optional): ``item_id``, ``text``, ``split`` ("train" or "test").

Errors name the file and the column or row, and say how to fix it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from semid.data.schema import SchemaError

logger = logging.getLogger(__name__)

__all__ = ["read_table", "read_items"]

READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV / TSV / Parquet / JSON Lines file with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use one of {sorted(READERS)}")
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        return pd.read_csv(path, sep="\t" if kind == "tsv" else ",", encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text (byte offset {exc.start}); re-save the file as UTF-8") from None
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise SchemaError(f"{path}: cannot be read as {kind}: {str(exc).splitlines()[0]}") from None


def read_items(path: str | os.PathLike) -> pd.DataFrame:
    """Items with a ``text`` column (built from title/genres/tags/description when absent)."""
    from semid.data.movielens import movie_text

    items = read_table(path)
    if "item_id" not in items.columns:
        raise SchemaError(f"{path}: missing column 'item_id'; found {list(items.columns)}")
    if "text" not in items.columns:
        if "title" not in items.columns:
            raise SchemaError(f"{path}: needs a 'text' column or a 'title' column to build it from; found {list(items.columns)}")
        for col in ("genres", "tags", "description"):
            if col not in items.columns:
                items[col] = ""
        items[["genres", "tags", "description"]] = items[["genres", "tags", "description"]].fillna("").astype(str)

        def split(s: str) -> list[str]:
            return [x.strip() for x in s.split("|") if x.strip()]

        items["text"] = [
            (movie_text(str(t), split(g), split(tg)) + (f" {d}" if d else "")).strip()
            for t, g, tg, d in zip(items["title"].fillna(""), items["genres"], items["tags"], items["description"], strict=True)
        ]
    if "title" not in items.columns:
        items["title"] = items["text"].astype(str).str.slice(0, 60)
    return items

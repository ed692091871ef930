"""Your own catalogue: items, interactions and (optionally) queries from CSV, Parquet or JSON Lines.

Columns (see semid/data/schema.py):

- items: ``item_id`` (integers or strings: ASINs, SKUs, URIs are kept as they are) and ``text`` (the metadata text), or ``title`` (+ optional
  ``genres``, ``tags`` as ``|``-separated strings, ``description``, ``year``) from which
  ``text`` is built;
- interactions: ``user_id`` (integers or strings), ``item_id``, ``timestamp`` (integers, ISO 8601
  strings or datetimes), optional ``rating``; exact duplicate rows are dropped (counted);
- queries (optional): ``item_id``, ``text``, ``split`` ("train" or "test").

Errors name the file and the column or row, and say how to fix it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from semid.data.schema import SchemaError

logger = logging.getLogger(__name__)

__all__ = ["read_table", "read_items", "fill_missing_text"]

READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


# Id columns are read as text so that ids keep their exact spelling ("0205616461" keeps its
# leading zero); semid.data.schema.normalize_ids turns a column of plain integers into int64.
_ID_COLUMNS = ("item_id", "user_id")


def read_table(path: str | os.PathLike, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV / TSV / Parquet / JSON Lines file with errors that name the file.

    An empty file or a file with a header but no rows is an error (one line naming the file).
    columns: semid's column name -> the name the file uses (``{"item_id": "asin"}``); such
    columns are renamed to semid's names (the others are kept as they are).
    """
    columns = dict(columns or {})
    id_cols = [*_ID_COLUMNS, *(columns[c] for c in _ID_COLUMNS if c in columns)]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use one of {sorted(READERS)}")
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: the file is empty; it needs a header row with the column names and one row per record")
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        elif kind == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False)
        else:
            df = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", encoding="utf-8",
                             dtype=dict.fromkeys(id_cols, str))
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text (byte offset {exc.start}); re-save the file as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{path}: the file has no content (not even a header row); it needs a header row with "
                          f"the column names and one row per record") from None
    except Exception as exc:  # pyarrow, json and the CSV parser raise many types for damaged files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchemaError(f"{path}: cannot be read as {kind}: {first}") from None
    if not isinstance(df, pd.DataFrame):  # a JSON file holding one scalar
        raise SchemaError(f"{path}: does not hold a table; {kind} files need one record per row")
    if len(df) == 0:
        cols = ", ".join(map(str, df.columns)) or "none"
        raise SchemaError(f"{path}: has a header (columns: {cols}) but no rows; add one row per record")
    df.columns = [str(c).strip() for c in df.columns]
    if columns:
        clash = [c for c, theirs in columns.items() if theirs in df.columns and c in df.columns and c != theirs]
        if clash:
            raise SchemaError(f"{path}: has both column {clash[0]!r} and {columns[clash[0]]!r}, which columns maps to "
                              f"it; drop one of them or the mapping")
        df = df.rename(columns={theirs: ours for ours, theirs in columns.items()})
    return df


def fill_missing_text(items: pd.DataFrame, source: str | os.PathLike, noun: str = "item") -> pd.DataFrame:
    """Items with no text at all get "<noun> <item_id>" as their text, with a warning.

    Policy for real catalogues with a few untitled items (the Amazon Beauty copy has 7): they
    stay in the catalogue, since interactions point at them, and embedders get their id.
    """
    empty = ~items["text"].fillna("").astype(str).str.contains(r"[^\W_]", regex=True)  # no letter or digit
    if empty.any():
        ids = items.loc[empty, "item_id"].tolist()
        logger.warning("%s: %d item(s) have no title or text (e.g. %s); their text is '%s <item_id>'",
                       source, len(ids), ids[:5], noun)
        items = items.copy()
        items["text"] = items["text"].fillna("").astype(str)
        items.loc[empty, "text"] = [f"{noun} {i}" for i in ids]
    return items


def read_items(path: str | os.PathLike, noun: str = "item", columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Items with a ``text`` column (built from title/genres/tags/description when absent);
    ``columns`` as in :func:`read_table`."""
    from semid.data.movielens import movie_text

    items = read_table(path, columns)
    if "item_id" not in items.columns:
        raise SchemaError(f"{path}: missing column 'item_id'; found {list(items.columns)}")
    if "text" not in items.columns:
        if "title" not in items.columns:
            raise SchemaError(f"{path}: needs a 'text' column or a 'title' column to build it from; found {list(items.columns)}")
        for col in ("genres", "tags", "description"):
            if col not in items.columns:
                items[col] = ""
        for col in ("title", "genres", "tags", "description"):
            items[col] = items[col].map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v))

        def split(s: str) -> list[str]:
            return [x.strip() for x in s.split("|") if x.strip()]

        items["text"] = [
            (movie_text(str(t), split(g), split(tg)) + (f" {d}" if d else "")).strip()
            for t, g, tg, d in zip(items["title"], items["genres"], items["tags"], items["description"], strict=True)
        ]
    if "title" not in items.columns:
        items["title"] = items["text"].map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v)[:60])
    return fill_missing_text(items, path, noun)

"""Amazon review data (McAuley et al.) in the files users download: ``--source amazon``.

Three releases are read, told apart by their fields:

- **2014** (the Semantic-ID benchmark release: TIGER, P5 and LC-Rec use its Beauty, Sports
  and Toys 5-cores): ``reviews_<Category>_5.json(.gz)``, one JSON object per line
  (``reviewerID``, ``asin``, ``unixReviewTime``, ``overall``, ...), and
  ``meta_<Category>.json(.gz)``, one *Python literal* per line (``{'asin': ..., 'title':
  ..., 'brand': ..., 'categories': [[...]], 'description': ..., 'price': ...}``), read with
  :func:`ast.literal_eval` because they are not JSON;
- **2018**: ``<Category>_5.json(.gz)`` with the same review fields and a strict-JSON
  ``meta_<Category>.json(.gz)`` whose ``category`` is a flat list and ``description`` a list;
- **2023**: ``<Category>.jsonl(.gz)`` (``user_id``, ``parent_asin``, ``timestamp`` in
  milliseconds, ``rating``) and ``meta_<Category>.jsonl(.gz)`` (``parent_asin``, ``title``,
  ``store``, ``categories``, ``description``). Items are the ``parent_asin``.

Items are the reviewed products (ASINs kept as they are), with ``title``, ``genres`` (the
categories below the top level, ``|``-separated), ``tags`` (the brand or store),
``description`` and the embedders' ``text``. Interactions are the reviews: reviewer ids (strings,
made dense by :func:`semid.data.splits.make_dataset`), ASIN, time in seconds, star rating.
Products without metadata get ``product <asin>`` as text (see
:func:`semid.data.files.fill_missing_text`).
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from semid.data.schema import SchemaError

logger = logging.getLogger(__name__)

__all__ = ["read_amazon", "AmazonTables", "find_amazon_files"]

# How long a description may be in the embedders' text (the encoders truncate anyway).
MAX_DESCRIPTION_CHARS = 500


class AmazonTables(NamedTuple):
    items: pd.DataFrame  # item_id (ASIN, str), title, genres, tags, description, text
    interactions: pd.DataFrame  # user_id (str), item_id, timestamp (int64 s), rating
    name: str  # the category, e.g. "Beauty"
    release: str  # "2014", "2018" or "2023"
    reviews_path: Path
    meta_path: Path | None


# ----------------------------------------------------------------------------- files
_REVIEW_PATTERNS = (
    (re.compile(r"^reviews_(?P<cat>.+)_5\.json(\.gz)?$"), "2014"),
    (re.compile(r"^(?!meta_)(?P<cat>.+)_5\.json(\.gz)?$"), "2018"),
    (re.compile(r"^(?!meta_)(?P<cat>.+)\.jsonl(\.gz)?$"), "2023"),
)


def _category(path: Path) -> str | None:
    for pattern, _ in _REVIEW_PATTERNS:
        m = pattern.match(path.name)
        if m:
            return m.group("cat")
    return None


def find_amazon_files(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """(reviews file, meta file or None) for a directory holding one category, or a reviews file.

    The meta file is ``meta_<Category>.json(.gz)`` / ``.jsonl(.gz)`` beside the reviews file.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and _category(p) is not None)
        if not found:
            raise FileNotFoundError(
                f"{path}: no Amazon reviews file found; expected reviews_<Category>_5.json(.gz) (2014), "
                f"<Category>_5.json(.gz) (2018) or <Category>.jsonl(.gz) (2023)")
        if len(found) > 1:
            raise ValueError(f"{path}: holds several reviews files ({', '.join(p.name for p in found)}); "
                             f"pass the one you want as --path {path}/<file>")
        reviews = found[0]
    elif path.is_file():
        reviews = path
    else:
        raise FileNotFoundError(f"{path} does not exist; pass a directory holding reviews_<Category>_5.json.gz "
                                f"and meta_<Category>.json.gz, or the reviews file itself")
    cat = _category(reviews)
    if cat is None:
        raise ValueError(f"{reviews}: not an Amazon reviews file name; expected reviews_<Category>_5.json(.gz), "
                         f"<Category>_5.json(.gz) or <Category>.jsonl(.gz)")
    for ext in (".json.gz", ".json", ".jsonl.gz", ".jsonl"):
        meta = reviews.parent / f"meta_{cat}{ext}"
        if meta.is_file():
            return reviews, meta
    return reviews, None


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # noqa: SIM115


def _records(path: Path, keep: re.Pattern[str] | None = None, wanted: set[str] | None = None
             ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-empty line: JSON, or a Python literal (2014 meta files).

    With ``keep`` and ``wanted``, lines whose ``keep`` match is not in ``wanted`` are skipped
    before parsing (most of a category's meta lines describe products without 5-core reviews).
    """
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                if keep is not None and wanted is not None:
                    m = keep.search(line)
                    if m is None or m.group(1) not in wanted:
                        continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    try:
                        rec = ast.literal_eval(line)
                    except (ValueError, SyntaxError, MemoryError, RecursionError):
                        raise SchemaError(f"{path}, line {lineno}: not a JSON object or Python literal: "
                                          f"{line[:80]!r}; the file is damaged or not an Amazon review file") from None
                if not isinstance(rec, dict):
                    raise SchemaError(f"{path}, line {lineno}: holds a {type(rec).__name__}, not a record "
                                      f"({{...}}); the file is damaged or not an Amazon review file")
                yield lineno, rec
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); download the file again") from None


# ----------------------------------------------------------------------------- reviews
def _read_reviews(path: Path) -> tuple[pd.DataFrame, str]:
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    ratings: list[float] = []
    release = ""
    fields: tuple[str, str, str, str] = ("", "", "", "")
    for lineno, rec in _records(path):
        if not release:
            if "reviewerID" in rec:
                release, fields = "2014", ("reviewerID", "asin", "unixReviewTime", "overall")
            elif "user_id" in rec and ("parent_asin" in rec or "asin" in rec):
                release = "2023"
                fields = ("user_id", "parent_asin" if "parent_asin" in rec else "asin", "timestamp", "rating")
            else:
                raise SchemaError(f"{path}, line {lineno}: a record with fields {sorted(rec)[:8]}; an Amazon review "
                                  f"needs reviewerID, asin, unixReviewTime (2014/2018) or user_id, parent_asin, "
                                  f"timestamp (2023)")
        u, i, t, r = (rec.get(f) for f in fields)
        for name, value in zip(fields[:3], (u, i, t), strict=True):
            if value is None or value == "":
                raise SchemaError(f"{path}, line {lineno}: the review has no '{name}'; every review needs "
                                  f"{', '.join(fields[:3])}")
        try:
            times.append(float(t))
        except (TypeError, ValueError):
            raise SchemaError(f"{path}, line {lineno}: '{fields[2]}' is {t!r}, not a number") from None
        try:
            ratings.append(float(r) if r is not None else 1.0)
        except (TypeError, ValueError):
            raise SchemaError(f"{path}, line {lineno}: '{fields[3]}' is {r!r}, not a number") from None
        users.append(str(u))
        items.append(str(i))
    if not users:
        raise SchemaError(f"{path}: holds no reviews (the file is empty); download it again")
    t = np.asarray(times, dtype=np.float64)
    if release == "2023":  # milliseconds -> seconds, ordered by the exact time first so ties keep it
        order = np.argsort(t, kind="stable")
        users, items = [users[k] for k in order], [items[k] for k in order]
        ratings = [ratings[k] for k in order]
        t = np.floor(t[order] / 1000.0)
    df = pd.DataFrame({"user_id": pd.Series(users, dtype=object), "item_id": pd.Series(items, dtype=object),
                       "timestamp": t.astype(np.int64), "rating": np.asarray(ratings, dtype=np.float32)})
    return df, release


# ----------------------------------------------------------------------------- metadata
def _strings(value: Any) -> list[str]:
    """Flatten a metadata field (str, list, nested lists) into stripped non-empty strings."""
    if value is None:
        return []
    if isinstance(value, str):
        v = re.sub(r"<[^>]+>", " ", value)  # 2018 fields carry HTML fragments
        v = re.sub(r"\s+", " ", v).strip()
        return [v] if v else []
    if isinstance(value, list | tuple):
        return [s for x in value for s in _strings(x)]
    return []


def _categories(rec: dict[str, Any]) -> list[str]:
    """Category names below the top level, in order, without repeats."""
    out: dict[str, None] = {}
    cats = rec.get("categories")
    if isinstance(cats, list) and cats and all(isinstance(c, list) for c in cats):  # 2014: list of paths
        for p in cats:
            for c in _strings(p)[1:]:
                out.setdefault(c, None)
    else:  # 2018 "category", 2023 "categories": one flat path
        flat = _strings(rec.get("category")) or _strings(cats)
        for c in flat[1:] if len(flat) > 1 else flat:
            out.setdefault(c, None)
    return [c.replace("|", "/") for c in out]


def _item_row(rec: dict[str, Any]) -> dict[str, str]:
    title = " ".join(_strings(rec.get("title")))
    brand = " ".join(_strings(rec.get("brand") or rec.get("store")))
    cats = _categories(rec)
    desc = " ".join(_strings(rec.get("description")))[:MAX_DESCRIPTION_CHARS]
    parts = [title.rstrip(".")]
    if brand:
        parts.append(f"Brand: {brand}")
    if cats:
        parts.append("Categories: " + ", ".join(cats))
    text = ". ".join(p for p in parts if p)
    text = (text + "." if text else "") + (f" {desc}" if desc else "")
    return {"title": title, "genres": "|".join(cats), "tags": brand.replace("|", "/"), "description": desc,
            "text": text.strip()}


def _read_meta(path: Path, wanted: set[str]) -> dict[str, dict[str, str]]:
    key = re.compile(r"""["']parent_asin["']\s*:\s*["']([^"']+)["']""")
    with _open_text(path) as fh:
        head = fh.readline()
    if not key.search(head):
        key = re.compile(r"""["']asin["']\s*:\s*["']([^"']+)["']""")
    field = "parent_asin" if "parent_asin" in key.pattern else "asin"
    out: dict[str, dict[str, str]] = {}
    for _, rec in _records(path, keep=key, wanted=wanted):
        asin = str(rec.get(field, ""))
        if asin in wanted and asin not in out:
            out[asin] = _item_row(rec)
    return out


def read_amazon(path: str | os.PathLike, meta_path: str | os.PathLike | None = None) -> AmazonTables:
    """Read one category of the Amazon review data (module docstring): items and interactions.

    ``path`` is a directory holding one reviews file (and its meta file) or the reviews file;
    ``meta_path`` overrides the meta file found beside it.
    """
    from semid.data.files import fill_missing_text

    reviews, meta = find_amazon_files(path)
    if meta_path is not None:
        meta = Path(meta_path)
        if not meta.is_file():
            raise FileNotFoundError(f"{meta} does not exist")
    inter, release = _read_reviews(reviews)
    if release == "2014" and not reviews.name.startswith("reviews_"):
        release = "2018"
    asins = list(dict.fromkeys(inter["item_id"].tolist()))  # first-review order
    rows: dict[str, dict[str, str]] = {}
    if meta is None:
        logger.warning("%s: no meta_<Category> file beside it; products get their ASIN as text", reviews)
    else:
        rows = _read_meta(meta, set(asins))
        missing = len(asins) - len(rows)
        if missing:
            logger.warning("%s: %d of %d reviewed products have no metadata record", meta, missing, len(asins))
    empty = {"title": "", "genres": "", "tags": "", "description": "", "text": ""}
    items = pd.DataFrame([{"item_id": a, **rows.get(a, empty)} for a in asins])
    items["item_id"] = items["item_id"].astype(object)
    items = fill_missing_text(items, meta or reviews, noun="product")
    name = _category(reviews) or reviews.stem
    logger.info("read Amazon %s (%s release): %d products, %d reviews", name, release, len(items), len(inter))
    return AmazonTables(items, inter, name, release, reviews, meta)

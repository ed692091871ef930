"""Readers for the MovieLens datasets (GroupLens), into semid's item and interaction tables.

Two file families are supported, detected from the files present in the directory:

- **csv** (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): ``movies.csv``,
  ``ratings.csv``, optional ``tags.csv`` and, where present, ``genome-tags.csv`` +
  ``genome-scores.csv``. These files are UTF-8; any other encoding is an error.
- **dat**: ml-100k (``u.data`` tab-separated, ``u.item`` pipe-separated with genre flags)
  and ml-1m / ml-10m (``ratings.dat``, ``movies.dat``, optional ``tags.dat``, ``::``-separated).
  Their documented encoding is ISO-8859-1 (latin-1); they are read as UTF-8 when they
  decode as such (ml-10m) and as latin-1 otherwise.

As in Penha et al. (RecSys 2025, arXiv 2508.10478) each movie's metadata is its title, year, genres and
tags; the tags are the most frequent user tags plus the most relevant Tag Genome tags.

Every format problem raises a ``ValueError`` (or ``FileNotFoundError``) whose message names
the file, the line or column, and the fix; no pandas traceback reaches the user.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from semid.data.movielens_csv import _read_csv_family
from semid.data.movielens_dat import ML100K_GENRES, _read_dat, _read_ml100k
from semid.data.movielens_items import _MISSING_HINT, movie_text, parse_year
from semid.data.schema import validate_interactions, validate_items

logger = logging.getLogger(__name__)

__all__ = ["MovieLensTables", "read_movielens", "detect_family", "ratings_file", "movie_text", "parse_year",
           "ML100K_GENRES"]


class MovieLensTables(NamedTuple):
    """Raw MovieLens tables in semid's schema, before splitting.

    ``items``: item_id, title, year, genres, tags, description, text (one row per movie, file
    order). ``interactions``: user_id, item_id, timestamp (unix seconds), rating.
    ``name``: the directory name (e.g. ``"ml-latest-small"``); ``family``: ``"csv"``,
    ``"ml-100k"`` or ``"dat"``; ``ratings_path``: the file the interactions came from.
    """

    items: pd.DataFrame
    interactions: pd.DataFrame
    name: str
    family: str
    ratings_path: Path


# ----------------------------------------------------------------------------- families
def detect_family(path: Path) -> str:
    """``"csv"``, ``"ml-100k"`` or ``"dat"`` from the files in ``path``; FileNotFoundError otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a directory; {_MISSING_HINT}")
    if (path / "movies.csv").exists() or (path / "ratings.csv").exists():
        return "csv"
    if (path / "u.data").exists():
        return "ml-100k"
    if (path / "ratings.dat").exists():
        return "dat"
    subs = [p.name for p in path.iterdir() if p.is_dir() and p.name.startswith("ml-")]
    hint = f" (did you mean {path / subs[0]}?)" if subs else ""
    raise FileNotFoundError(f"{path}/ratings.csv is missing; {_MISSING_HINT}{hint}")


_RATINGS_FILE = {"csv": "ratings.csv", "ml-100k": "u.data", "dat": "ratings.dat"}


def ratings_file(path: str | os.PathLike) -> Path:
    """The file that holds the interactions of the MovieLens directory ``path``."""
    try:
        return Path(path) / _RATINGS_FILE[detect_family(Path(path))]
    except FileNotFoundError:
        return Path(path) / "ratings.csv"


def read_movielens(path: str | os.PathLike, n_genome_tags: int = 10, min_genome_relevance: float = 0.5,
                   n_user_tags: int = 5) -> MovieLensTables:
    """Read a local MovieLens directory (any GroupLens release) into semid tables.

    Args:
        path: the unzipped directory, e.g. ``ml-latest-small/`` (holding ``movies.csv``).
        n_genome_tags: how many Tag Genome tags (highest relevance first) join each movie's
            tags, where ``genome-scores.csv`` exists (ml-20m, ml-25m, ml-32m). 0 disables them.
        min_genome_relevance: genome tags below this relevance (0..1) are ignored.
        n_user_tags: how many of the most frequent user tags (``tags.csv``) each movie keeps.

    Returns:
        :class:`MovieLensTables` with ``items`` (file order) and ``interactions``.

    Raises:
        FileNotFoundError: the directory or a required file is missing.
        ValueError: a malformed file, wrong columns, non-UTF-8 CSV text, duplicate movie ids or
            ratings of unknown movies; the message names the file, line or column and the fix.
    """
    if n_genome_tags < 0 or n_user_tags < 0:
        raise ValueError(f"n_genome_tags and n_user_tags must be >= 0, got {n_genome_tags} and {n_user_tags}")
    if not 0.0 <= min_genome_relevance <= 1.0:
        raise ValueError(f"min_genome_relevance must be in [0, 1], got {min_genome_relevance}")
    path = Path(path).expanduser()
    family = detect_family(path)
    if family == "csv":
        items, inter, rpath = _read_csv_family(path, n_genome_tags, min_genome_relevance, n_user_tags)
    elif family == "ml-100k":
        items, inter, rpath = _read_ml100k(path)
    else:
        items, inter, rpath = _read_dat(path, n_user_tags)
    items = validate_items(items, source=str(path))
    inter = validate_interactions(inter, items["item_id"], source=str(rpath))
    logger.info("%s: %d movies, %d users, %d ratings", path.name, len(items),
                inter["user_id"].nunique(), len(inter))
    return MovieLensTables(items, inter, path.resolve().name, family, rpath)

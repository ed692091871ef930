"""The MovieLens CSV family (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): UTF-8 files
``movies.csv``, ``ratings.csv``, optional ``tags.csv`` and Tag Genome files (see :mod:`semid.data.movielens`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from semid.data.movielens_items import (
    _MISSING_HINT,
    _check_duplicates,
    _check_known,
    _clean_tag,
    _finish_items,
    _first_bad_number,
    _top_user_tags,
)

logger = logging.getLogger(__name__)


def _locate_bad_utf8(path: Path) -> tuple[int, int, bytes]:
    """First invalid UTF-8 sequence in ``path``: (line number, byte offset, offending bytes)."""
    offset = 0
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return lineno, offset + exc.start, line[exc.start: exc.end]
            offset += len(line)
    return 0, 0, b""


def _utf8_error(path: Path) -> ValueError:
    line, off, bad = _locate_bad_utf8(path)
    return ValueError(
        f"{path} is not UTF-8: invalid byte(s) {bad!r} on line {line} (byte offset {off}). "
        f"MovieLens CSV files are UTF-8; re-encode the file (e.g. `iconv -f latin1 -t utf-8`) "
        f"or re-download it."
    )


def _header(path: Path, sep: str = ",") -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _utf8_error(path) from None
    return [c.strip().strip('"') for c in text.rstrip("\r\n").split(sep)]


def _read_csv(path: Path, columns: dict[str, str], required: bool = True) -> pd.DataFrame | None:
    """Read a MovieLens CSV with the expected ``columns`` ({name: dtype}); errors name file and line."""
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} is missing; {_MISSING_HINT}")
        return None
    found = _header(path)
    missing = [c for c in columns if c not in found]
    if missing:
        raise ValueError(
            f"{path}: wrong columns: expected {list(columns)} but found {found} (missing {missing}). "
            f"The first line must be the MovieLens header '{','.join(columns)}'."
        )
    text_cols = [c for c, t in columns.items() if t == "str"]
    num_cols = [c for c, t in columns.items() if t != "str"]
    # no usecols: with it pandas silently drops the extra fields of a malformed row
    kw = dict(encoding="utf-8", keep_default_na=False, na_values=[""])
    try:
        try:
            df = pd.read_csv(path, dtype=columns, **kw)
        except (UnicodeDecodeError, pd.errors.ParserError):
            raise
        except (ValueError, TypeError):  # a non-numeric value: find it on the slow path
            df = pd.read_csv(path, dtype=str, **kw)
            bad = _first_bad_number(df, num_cols)
            if bad is None:
                raise
            col, row, val = bad
            raise ValueError(
                f"{path} line {row + 2}: column '{col}' holds {val!r} where a number is expected; "
                f"fix or delete that line."
            ) from None
    except UnicodeDecodeError:
        raise _utf8_error(path) from None
    except pd.errors.ParserError as exc:
        raise ValueError(
            f"{path} is malformed: {str(exc).strip()}. Fix that line (quote fields that contain "
            f"commas) or re-download the file."
        ) from None
    for col in num_cols:
        if df[col].isna().any():
            row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise ValueError(f"{path} line {row + 2}: column '{col}' is empty; fix or delete that line.")
    df = df[list(columns)]
    for col in text_cols:
        df[col] = df[col].fillna("").astype(str)
    return df


def _read_csv_family(path: Path, n_genome_tags: int, min_rel: float, n_user_tags: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    mpath, rpath = path / "movies.csv", path / "ratings.csv"
    movies = _read_csv(mpath, {"movieId": "int64", "title": "str", "genres": "str"})
    ratings = _read_csv(rpath, {"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"})
    movies = movies.rename(columns={"movieId": "item_id"})
    _check_duplicates(movies["item_id"], mpath, first_line=2)
    empty = movies["title"].str.strip() == ""
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise ValueError(f"{mpath} line {row + 2}: movie {int(movies['item_id'].iloc[row])} has an empty title; fill it or delete the line.")
    inter = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})[["user_id", "item_id", "timestamp", "rating"]]
    _check_known(inter, movies, rpath, mpath, first_line=2)

    tags = _read_csv(path / "tags.csv", {"userId": "int64", "movieId": "int64", "tag": "str"}, required=False)
    user_tags = _top_user_tags(tags.rename(columns={"movieId": "item_id"}), n_user_tags) if tags is not None else {}
    genome: dict[int, list[str]] = {}
    gt, gs = path / "genome-tags.csv", path / "genome-scores.csv"
    if n_genome_tags > 0 and gt.exists() and gs.exists():
        names = _read_csv(gt, {"tagId": "int64", "tag": "str"})
        scores = _read_csv(gs, {"movieId": "int64", "tagId": "int64", "relevance": "float32"})
        tag_name = dict(zip(names["tagId"].tolist(), _clean_tag(names["tag"]).tolist(), strict=True))
        s = scores[scores["relevance"] >= min_rel]
        s = s.sort_values(["movieId", "relevance", "tagId"], ascending=[True, False, True], kind="stable")
        s = s.groupby("movieId", sort=False).head(n_genome_tags)
        unknown = ~s["tagId"].isin(list(tag_name))
        if unknown.any():
            raise ValueError(f"{gs}: tagId {int(s['tagId'][unknown].iloc[0])} is not in {gt}; use the genome files of the same release.")
        for mid, tids in s.groupby("movieId", sort=False)["tagId"]:
            genome[int(mid)] = [tag_name[int(t)] for t in tids]
        logger.info("genome tags for %d movies (relevance >= %.2f, top %d)", len(genome), min_rel, n_genome_tags)
    elif gt.exists() != gs.exists():
        logger.warning("%s: only one of genome-tags.csv / genome-scores.csv is present; genome tags are skipped", path)
    return _finish_items(movies, user_tags, genome), inter, rpath

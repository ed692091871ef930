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

import io
import logging
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from semid.data.schema import validate_interactions, validate_items

logger = logging.getLogger(__name__)

__all__ = ["MovieLensTables", "read_movielens", "detect_family", "ratings_file", "movie_text", "parse_year"]

_YEAR = re.compile(r"\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
_MISSING_HINT = (
    "expected a MovieLens directory with movies.csv and ratings.csv (ml-latest-small, ml-25m, ...) "
    "or u.data (ml-100k) or ratings.dat (ml-1m)"
)


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


# ----------------------------------------------------------------------------- helpers
def parse_year(title: str) -> int | None:
    """'Toy Story (1995)' -> 1995; 'Babylon 5' -> None."""
    m = _YEAR.search(title)
    return int(m.group(1)) if m else None


def movie_text(title: str, genres: list[str], tags: list[str]) -> str:
    """The metadata text embedders read, e.g. 'Toy Story (1995). Genres: Animation, Comedy. Tags: pixar.'"""
    parts = [title.strip()]
    if genres:
        parts.append("Genres: " + ", ".join(genres))
    if tags:
        parts.append("Tags: " + ", ".join(tags))
    return ". ".join(p.rstrip(".") for p in parts if p) + "."


def _split_genres(g: str) -> list[str]:
    if not g or g == "(no genres listed)":
        return []
    return [x.strip() for x in g.split("|") if x.strip() and x.strip() != "(no genres listed)"]


def _clean_tag(t: pd.Series) -> pd.Series:
    t = t.fillna("").astype(str).str.lower().str.replace("|", "/", regex=False)
    return t.str.replace(r"\s+", " ", regex=True).str.strip()


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


def _first_bad_number(df: pd.DataFrame, cols: list[str]) -> tuple[str, int, object] | None:
    for col in cols:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            return col, row, df[col].iloc[row]
    return None


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


def _check_duplicates(ids: pd.Series, path: Path, first_line: int) -> None:
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first_id = ids.iloc[rows[0]]
        lines = [int(r) + first_line for r in rows[ids.iloc[rows].to_numpy() == first_id]][:5]
        raise ValueError(
            f"{path}: duplicate movie id {first_id} on lines {lines} ({int(dup.sum())} duplicated rows in all); "
            f"each movie must be listed once: remove the duplicate rows."
        )


def _check_known(inter: pd.DataFrame, items: pd.DataFrame, path: Path, items_path: Path,
                 first_line: int) -> None:
    unknown = ~inter["item_id"].isin(items["item_id"])
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ValueError(
            f"{path} line {row + first_line}: movie id {int(inter['item_id'].iloc[row])} is not in "
            f"{items_path.name} ({int(unknown.sum())} such rating(s)); add the movie to {items_path} "
            f"or delete those ratings."
        )


def _top_user_tags(tags: pd.DataFrame, n: int) -> dict[int, list[str]]:
    """movie id -> its ``n`` most frequent user tags (lower-cased, ties alphabetical)."""
    if tags is None or tags.empty or n <= 0:
        return {}
    t = pd.DataFrame({"item_id": tags["item_id"].to_numpy(), "tag": _clean_tag(tags["tag"])})
    t = t[t["tag"] != ""]
    counts = t.groupby(["item_id", "tag"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["item_id", "n", "tag"], ascending=[True, False, True], kind="stable")
    top = counts.groupby("item_id", sort=False).head(n)
    return {int(k): list(v) for k, v in top.groupby("item_id", sort=False)["tag"]}


def _finish_items(df: pd.DataFrame, user_tags: dict[int, list[str]], genome: dict[int, list[str]]) -> pd.DataFrame:
    titles = df["title"].astype(str).str.strip().tolist()
    genre_lists = [_split_genres(g) for g in df["genres"].tolist()]
    tag_lists = []
    for mid in df["item_id"].tolist():
        seen: dict[str, None] = {}
        for t in user_tags.get(int(mid), []) + genome.get(int(mid), []):
            seen.setdefault(t, None)
        tag_lists.append(list(seen))
    years = [parse_year(t) for t in titles]
    if "year" in df.columns:  # ml-100k release dates as a fallback
        years = [y if y is not None else (int(f) if pd.notna(f) else None) for y, f in zip(years, df["year"], strict=True)]
    return pd.DataFrame(
        {
            "item_id": df["item_id"].astype("int64").to_numpy(),
            "title": titles,
            "year": pd.array(years, dtype="Int64"),
            "genres": ["|".join(g) for g in genre_lists],
            "tags": ["|".join(t) for t in tag_lists],
            "description": "",
            "text": [movie_text(t, g, tg) for t, g, tg in zip(titles, genre_lists, tag_lists, strict=True)],
        }
    )


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


def _read_lines(path: Path) -> tuple[list[str], str]:
    """Lines of a legacy MovieLens file: UTF-8 when it decodes, else latin-1 (documented encoding)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {_MISSING_HINT}")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").splitlines(), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1").splitlines(), "latin-1"


def _split_fields(path: Path, lines: list[str], sep: str, n: int, names: str) -> list[tuple[int, list[str]]]:
    out = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        f = line.split(sep)
        if len(f) != n:
            raise ValueError(
                f"{path} line {lineno} is malformed: expected {n} '{sep}'-separated fields ({names}), "
                f"found {len(f)}: {line[:80]!r}. Fix or delete that line."
            )
        out.append((lineno, f))
    return out


def _to_int(path: Path, lineno: int, field: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{path} line {lineno}: {field} {value!r} is not an integer; fix or delete that line.") from None


def _read_numeric_table(path: Path, sep: str, names: list[str]) -> pd.DataFrame:
    """A headerless numeric table (u.data, ratings.dat, ...); errors name file and line."""
    lines, _ = _read_lines(path)
    text = "\n".join(lines)
    if sep != "\t":
        text = text.replace(sep, "\t")
    try:
        df = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=names, dtype=str,
                         keep_default_na=False, na_values=[""], skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is malformed: {str(exc).strip()}. Each line needs {len(names)} "
                         f"'{sep}'-separated fields ({', '.join(names)}).") from None
    bad = _first_bad_number(df, names)
    if bad is not None:
        col, row, val = bad
        raise ValueError(f"{path} line {row + 1}: field '{col}' holds {val!r} where a number is expected "
                         f"(each line is {sep.join(names)}); fix or delete that line.")
    return df.astype({"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"})


def _read_ml100k(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    ipath, rpath = path / "u.item", path / "u.data"
    genres = list(ML100K_GENRES)
    if (path / "u.genre").exists():
        glines, _ = _read_lines(path / "u.genre")
        genres = [ln.split("|")[0] for ln in glines if ln.strip()]
    lines, enc = _read_lines(ipath)
    rows = []
    for lineno, f in _split_fields(ipath, lines, "|", 5 + len(genres), "movie id|title|release date|video release date|IMDb URL|genre flags"):
        mid = _to_int(ipath, lineno, "movie id", f[0])
        flags = [g for g, v in zip(genres, f[5:], strict=True) if v.strip() == "1"]
        date = pd.to_datetime(f[2], format="%d-%b-%Y", errors="coerce")
        rows.append((lineno, mid, f[1], "|".join(flags), date.year if pd.notna(date) else None))
    movies = pd.DataFrame(rows, columns=["line", "item_id", "title", "genres", "year"])
    _check_duplicates(movies["item_id"], ipath, first_line=1)
    inter = _read_numeric_table(rpath, "\t", ["user_id", "item_id", "rating", "timestamp"])
    _check_known(inter, movies, rpath, ipath, first_line=1)
    logger.info("read %s (%s)", ipath, enc)
    return _finish_items(movies, {}, {}), inter[["user_id", "item_id", "timestamp", "rating"]], rpath


def _read_dat(path: Path, n_user_tags: int) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    mpath, rpath = path / "movies.dat", path / "ratings.dat"
    lines, enc = _read_lines(mpath)
    rows = [(_to_int(mpath, ln, "MovieID", f[0]), f[1], f[2])
            for ln, f in _split_fields(mpath, lines, "::", 3, "MovieID::Title::Genres")]
    movies = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
    _check_duplicates(movies["item_id"], mpath, first_line=1)
    inter = _read_numeric_table(rpath, "::", ["user_id", "item_id", "rating", "timestamp"])
    _check_known(inter, movies, rpath, mpath, first_line=1)
    user_tags: dict[int, list[str]] = {}
    tpath = path / "tags.dat"
    if tpath.exists() and n_user_tags > 0:  # ml-10m
        tl, _ = _read_lines(tpath)
        trows = []
        for ln, line in enumerate(tl, start=1):
            f = line.split("::")
            if len(f) >= 4:
                trows.append((_to_int(tpath, ln, "MovieID", f[1]), "::".join(f[2:-1])))
        user_tags = _top_user_tags(pd.DataFrame(trows, columns=["item_id", "tag"]), n_user_tags)
    logger.info("read %s (%s)", mpath, enc)
    return _finish_items(movies, user_tags, {}), inter[["user_id", "item_id", "timestamp", "rating"]], rpath


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

"""The legacy MovieLens files: ml-100k (``u.data``, ``u.item``) and ml-1m / ml-10m (``ratings.dat``,
``movies.dat``, ``tags.dat``), ISO-8859-1 as documented or UTF-8 where they decode as such."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pandas as pd

from semid.data.movielens_items import (
    _MISSING_HINT,
    _check_duplicates,
    _check_known,
    _finish_items,
    _first_bad_number,
    _top_user_tags,
)

logger = logging.getLogger(__name__)

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


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

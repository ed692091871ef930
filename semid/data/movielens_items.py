"""MovieLens item metadata -> semid's item table, and the checks both file families share.

Each movie's text is its title, year, genres and tags (Penha et al., RecSys 2025): the most
frequent user tags plus the most relevant Tag Genome tags (see :func:`movie_text`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["parse_year", "movie_text"]

_YEAR = re.compile(r"\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
_MISSING_HINT = (
    "expected a MovieLens directory with movies.csv and ratings.csv (ml-latest-small, ml-25m, ...) "
    "or u.data (ml-100k) or ratings.dat (ml-1m)"
)


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


def _first_bad_number(df: pd.DataFrame, cols: list[str]) -> tuple[str, int, object] | None:
    for col in cols:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            return col, row, df[col].iloc[row]
    return None


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

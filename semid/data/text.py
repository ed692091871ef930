"""Small text helpers shared by the query generators."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "strip_year", "contains_title"]

_YEAR = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ARTICLE_SUFFIX = re.compile(r",\s*(the|a|an|les|la|le|il|el|die|der|das)$", re.IGNORECASE)


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def strip_year(title: str) -> str:
    """'Toy Story (1995)' -> 'Toy Story'; 'Matrix, The (1999)' -> 'The Matrix'."""
    t = _YEAR.sub("", title).strip()
    m = _ARTICLE_SUFFIX.search(t)
    if m:
        t = f"{m.group(1)} {t[: m.start()]}".strip()
    return t


def contains_title(query: str, title: str) -> bool:
    """True when the (normalised) title appears in the query as a whole-word phrase.

    Both the MovieLens form ('Matrix, The (1999)') and the natural form ('The Matrix')
    are checked, as well as the title without a leading article.
    """
    q = f" {normalize(query)} "
    forms = {normalize(strip_year(title)), normalize(_YEAR.sub("", title))}
    extra = set()
    for f in forms:
        for art in ("the ", "a ", "an "):
            if f.startswith(art) and len(f) > len(art) + 2:
                extra.add(f[len(art):])
    forms |= extra
    return any(f and f" {f} " in q for f in forms)

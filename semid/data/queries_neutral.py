"""Domain-neutral offline queries: the catalogue's own noun, categories and keywords.

The MovieLens generator (:mod:`semid.data.queries`) speaks of films and genres. For any other
catalogue (products, parts, papers) this module supplies:

- the **noun** from the dataset (``--item-noun``: "product" for Amazon, "item" for your own
  files) in phrasings that fit any catalogue ("looking for a product with nail lacquer");
- **categories** from the ``genres`` column (Amazon categories below the top level);
- **keywords** from YAKE (Campos et al., "YAKE! Keyword extraction from single documents
  using multiple local features", Information Sciences 2020; PyPI ``yake``) over the title
  and description, after the ``tags`` (brand). YAKE was chosen over KeyBERT on the offline
  MiniLM: it is unsupervised and statistical, needs no model, and takes a few milliseconds
  per item on one core (``benchmarks/bench_queries.py`` measures both throughput and the
  queries' dense R@30); KeyBERT embeds every candidate phrase of every item.

Kept from the movie generator: no query contains its item's title (keywords that contain
the whole title are dropped, and any query that does is regenerated), train and test
phrasings are disjoint template sets, and everything is seeded per item.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from semid.data.queries import STOP_WORDS, ItemAspects, Phrasebook, _decade, _split_bar
from semid.data.text import normalize, strip_year

__all__ = ["NEUTRAL_PHRASES", "NeutralAspects", "plural", "keywords_of", "clean_keywords"]

# Slots as in semid.data.queries, plus {noun} / {nouns}; {genre} holds a category.
NEUTRAL_TRAIN: tuple[str, ...] = (
    "{kw} {noun}",
    "{noun} with {kw}",
    "{genre} {noun} with {kw}",
    "{kw} and {kw2}",
    "{nouns} with {kw}",
    "{genre} {nouns}",
    "a {genre} {noun}",
    "{kw} {kw2} {noun}",
    "{genre} {noun} featuring {kw} and {kw2}",
    "{noun} featuring {kw}",
    "{genre} {kw}",
    "{kw} {nouns}",
)
NEUTRAL_TEST: tuple[str, ...] = (
    "looking for a {noun} with {kw}",
    "i need something with {kw} and {kw2}",
    "any good {kw} options?",
    "which {noun} has {kw}?",
    "show me {genre} {nouns} with {kw}",
    "recommend a {genre} {noun}",
    "where can i find {kw}",
    "searching for {kw} {kw2}",
    "something in {genre} with {kw}",
    "help me find a good {genre} pick",
    "i want {kw}",
    "what is a good choice for {kw}?",
)
NEUTRAL_PHRASES = Phrasebook(
    NEUTRAL_TRAIN,
    NEUTRAL_TEST,
    ("a {noun}", "popular {nouns}", "a good {noun}", "{noun} recommendation", "a {noun} to try",
     "top {nouns}", "a well-liked {noun}", "best {nouns}", "a {noun} worth having", "an interesting {noun}"),
    ("recommend me a {noun}", "what should i get", "any {noun} worth trying", "suggest a good {noun}",
     "something worth getting", "help me pick a {noun}", "show me something good", "anything popular",
     "a great pick", "what do people like"),
    ("recommend something", "suggest anything", "pick something", "show me anything", "what is popular"),
)

# Words that make poor keywords in any catalogue: English stop words (the movie generator's
# list without its movie words), catalogue nouns, and units of size that YAKE picks up from
# product titles ("0.5-Fluid Ounce"). Written here because YAKE's own list covers only the first.
_MOVIE_ONLY = {"movie", "movies", "film", "films", "story", "stories", "tale", "tales"}
NEUTRAL_STOP = frozenset(STOP_WORDS - _MOVIE_ONLY) | frozenset(
    """item items product products thing things set pack packs count piece pieces size sizes
    oz ounce ounces fl fluid ml mg lb lbs kg inch inches cm mm gram grams pound pounds liter litre
    new best quality great good brand""".split())
MAX_KEYWORDS = 6
_HAS_LETTER = re.compile(r"[^\W\d_]")


def plural(noun: str) -> str:
    """English plural of a catalogue noun: product -> products, accessory -> accessories, box -> boxes.

    A few rules, not a morphology library: catalogue nouns are regular (the user can pick another).
    """
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


@functools.cache
def _extractor() -> Any:
    import yake

    # n <= 2: short phrases read naturally inside the templates; dedup 0.7 drops near-repeats.
    return yake.KeywordExtractor(lan="en", n=2, dedupLim=0.7, top=3 * MAX_KEYWORDS)


def keywords_of(text: str, title: str = "", stop: frozenset[str] = NEUTRAL_STOP) -> list[str]:
    """YAKE keywords of ``text``, best first, lower-cased; none that contains the whole title,
    is a stop word or unit, or has no letter."""
    if not text.strip():
        return []
    return clean_keywords([kw for kw, _score in _extractor().extract_keywords(text)], title, stop)


def clean_keywords(raw: list[str], title: str = "", stop: frozenset[str] = NEUTRAL_STOP) -> list[str]:
    """The filter :func:`keywords_of` applies to an extractor's keywords (best first), kept apart
    so that other extractors (the benchmark's KeyBERT) get the same treatment."""
    t = normalize(strip_year(title)) if title else ""
    out: list[str] = []
    for kw in raw:
        k = re.sub(r"\s+", " ", kw.lower()).strip(" -'.,")
        words = normalize(k).split()
        if not words or not _HAS_LETTER.search(k) or all(w in stop for w in words):
            continue
        if words[0] in stop or words[-1] in stop or any(len(w) < 2 for w in words):
            continue
        if t and (" ".join(words) == t or f" {t} " in f" {' '.join(words)} "):
            continue
        if k not in out:
            out.append(k)
        if len(out) == MAX_KEYWORDS:
            break
    return out


class NeutralAspects:
    """Item -> :class:`~semid.data.queries.ItemAspects` for the neutral phrasings (callable like
    :func:`semid.data.queries.item_aspects`)."""

    def __init__(self, noun: str) -> None:
        self.stop = NEUTRAL_STOP | {noun, plural(noun)}

    def __call__(self, title: str, genres: str = "", tags: str = "", description: str = "",
                 year: object = None) -> ItemAspects:
        t = normalize(strip_year(title))
        cats: list[tuple[str, ...]] = []
        for c in _split_bar(genres):
            c = re.sub(r"\s+", " ", c.lower())
            if c and normalize(c) != t and (c,) not in cats:
                cats.append((c,))
        seen: dict[str, None] = {}
        for tag in _split_bar(tags):
            k = re.sub(r"\s+", " ", tag.lower())
            if k and normalize(k) != t and normalize(k) not in self.stop:
                seen.setdefault(k, None)
        text = ". ".join(p for p in (strip_year(title), description) if p)
        for k in keywords_of(text, title, self.stop):
            seen.setdefault(k, None)
        return ItemAspects(cats, list(seen)[:MAX_KEYWORDS], _decade(year))

"""Offline (template) query generator: natural-language queries per item without an LLM.

The paper (Penha et al., RecSys 2025, DESIGN.md step 1) asks an LLM for 10 queries per
movie plus 10 paraphrases, built from the title, year, description and tags, never
naming the title. This module imitates that offline and deterministically:

- the *aspects* of an item are its genres (with synonyms: sci-fi <-> science fiction,
  comedy <-> funny), its keywords (``tags`` plus content words of ``description``, minus
  stop words and title words) and its decade ("90s", "the 1990s");
- training queries and test queries come from two *disjoint template sets*, the way the
  paper's test queries are paraphrases of its training queries;
- the queries of one item rotate through its templates, genres and keywords, so they
  cover different aspects;
- a query that contains the title (:func:`semid.data.text.contains_title`) is dropped and
  regenerated; items with little metadata fall back to genre/decade phrasings, and items
  with only a title to generic phrasings.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import string
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
from tqdm.auto import tqdm

from semid.data.text import contains_title, normalize, strip_year

logger = logging.getLogger(__name__)

__all__ = [
    "generate_offline_queries",
    "item_aspects",
    "ItemAspects",
    "GENRE_SYNONYMS",
    "TRAIN_TEMPLATES",
    "TEST_TEMPLATES",
    "STOP_WORDS",
    "Phrasebook",
    "MOVIE_PHRASES",
]

# Genre (lower-cased MovieLens name) -> phrasings usable before "movie"/"film".
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "action": ("action", "action-packed", "high-octane"),
    "adventure": ("adventure", "adventurous", "swashbuckling"),
    "animation": ("animated", "animation", "cartoon"),
    "children": ("kids", "family", "children's"),
    "comedy": ("comedy", "funny", "comedic", "lighthearted"),
    "crime": ("crime", "criminal", "gangster"),
    "documentary": ("documentary", "nonfiction", "real-life"),
    "drama": ("drama", "dramatic", "serious"),
    "fantasy": ("fantasy", "magical", "fantastical"),
    "film-noir": ("film noir", "noir", "hardboiled"),
    "horror": ("horror", "scary", "terrifying"),
    "musical": ("musical", "song-and-dance", "music-filled"),
    "mystery": ("mystery", "whodunit", "mysterious"),
    "romance": ("romance", "romantic", "love"),
    "sci-fi": ("sci-fi", "science fiction", "futuristic"),
    "thriller": ("thriller", "suspenseful", "tense"),
    "war": ("war", "wartime", "military"),
    "western": ("western", "cowboy", "wild west"),
    "imax": ("imax", "big-screen"),
}
_NO_GENRE = {"", "(no genres listed)"}
_GENRE_WORDS = {w for forms in GENRE_SYNONYMS.values() for f in forms for w in normalize(f).split()}

# Slots: {genre} {genre2} (distinct genres), {kw} {kw2} (distinct keywords),
# {decade} ("90s", "2000s") and {decades} ("1990s").
TRAIN_TEMPLATES: tuple[str, ...] = (
    "{genre} movie about {kw}",
    "{genre} film with {kw}",
    "movies about {kw}",
    "{kw} {genre} movie",
    "{decade} {genre} movie",
    "{genre} movie from the {decades}",
    "movie about {kw} and {kw2}",
    "{genre} {genre2} movie",
    "{genre} movie about {kw} and {kw2}",
    "{decade} movie about {kw}",
    "film featuring {kw}",
    "a {genre} movie",
    "{genre} movies",
    "movie with {kw} from the {decades}",
    "{genre} movie set around {kw}",
)
TEST_TEMPLATES: tuple[str, ...] = (
    "looking for a {decade} film with {kw} and {kw2}",
    "i want to watch something {genre} involving {kw}",
    "any good {genre} pictures dealing with {kw}?",
    "what is that {genre} flick with {kw}",
    "something to watch about {kw}",
    "a story centered on {kw} and {kw2}",
    "show me {genre} titles released in the {decades}",
    "{genre} picture released in the {decades} about {kw}",
    "need a film that is both {genre} and {genre2}",
    "find me a {decade} {genre} flick",
    "recommend a {genre} picture",
    "which flick deals with {kw}?",
    "films where {kw} plays a big part",
    "something {genre} to watch tonight",
    "a {genre} story exploring {kw}",
)
# Used when an item has no genre, keyword or decade at all.
_GENERIC = {
    "train": ("a movie", "some film", "movie recommendation", "a film to watch", "good movie",
              "movie night pick", "popular film", "feature film", "a classic movie", "an interesting film"),
    "test": ("looking for something to watch", "recommend me a flick", "what should i see tonight",
             "any picture worth watching", "suggest a good watch", "a flick for the weekend",
             "something worth seeing", "help me pick a picture", "anything good on", "a great watch"),
}
_LAST_RESORT = ("recommend something", "something worth watching", "what should we watch",
                "suggest anything", "pick something")

# English stop words plus words that describe any movie (they make poor keywords).
STOP_WORDS: frozenset[str] = frozenset(
    """a about above across after afterwards again against all almost alone along already also although
    always am among amongst an and another any anyhow anyone anything anyway anywhere are around as at back
    be became because become becomes becoming been before beforehand behind being below beside besides
    between beyond both but by can cannot could did do does doing done down due during each either else
    elsewhere enough etc even ever every everyone everything everywhere except few first for former formerly
    from further get gets getting give given go goes going got had has have having he hence her here hereafter
    hereby herein hers herself him himself his how however i ie if in indeed into is it its itself just keep
    last latter least less made make makes many may me meanwhile might mine more moreover most mostly much
    must my myself namely neither never nevertheless next no nobody none noone nor not nothing now nowhere of
    off often on once one only onto or other others otherwise our ours ourselves out over own per perhaps
    please put rather re same see seem seemed seeming seems several she should since so some somehow someone
    something sometime sometimes somewhere still such take than that the their theirs them themselves then
    thence there thereafter thereby therefore therein thereupon these they this those though through
    throughout thru thus to together too toward towards under until up upon us very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever whether which
    while whither who whoever whole whom whose why will with within without would yet you your yours yourself
    yourselves s t don isn wasn
    movie movies film films story stories tale tales follows follow set sets must face faces caught discovers
    discover themes theme include includes including expect plenty threatens threaten finds find becomes
    two three new young old man woman men women life lives world years year day days time way begins
    tries try learns learn meets meet turns turn takes along amid
    drawn leads lead mysterious""".split()
)

_TOKEN = re.compile(r"[^\W\d_][\w'-]*[^\W\d_]|[^\W\d_]{1,2}", re.UNICODE)
_JUNK_TAG = re.compile(r"netflix|dvd|bd-r|bd-video|clv|tivo|\bseen\b|\bwatched\b|\bowned?\b|to see|^\W*$")
_SLOT = string.Formatter()


def _slots(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in _SLOT.parse(template) if name)


_TEMPLATE_SLOTS = {t: _slots(t) for t in TRAIN_TEMPLATES + TEST_TEMPLATES}
_NEEDS = {"genre": ("genres", 1), "genre2": ("genres", 2), "kw": ("keywords", 1), "kw2": ("keywords", 2),
          "decade": ("decade", 1), "decades": ("decade", 1)}


class ItemAspects(NamedTuple):
    """What queries about one item may mention."""

    genres: list[tuple[str, ...]]  # one tuple of phrasings per genre, e.g. ("sci-fi", "science fiction")
    keywords: list[str]  # tags first, then description content words
    decade: tuple[str, str] | None  # ("90s", "1990s"), or None without a year


def _decade(year: object) -> tuple[str, str] | None:
    try:
        y = int(year)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    if y < 1800 or y > 2100:
        return None
    d = y // 10 * 10
    return (f"{d % 100:02d}s" if d < 2000 else f"{d}s", f"{d}s")


def _split_bar(s: object) -> list[str]:
    if not isinstance(s, str) or not s:
        return []
    return [p.strip() for p in s.split("|") if p.strip()]


def item_aspects(title: str, genres: str = "", tags: str = "", description: str = "",
                 year: object = None) -> ItemAspects:
    """Extract the query aspects of one item (``genres``/``tags`` are ``|``-separated).

    Keywords are the tags, then the description's content words (no stop words, no genre
    words), minus anything that shares a word with the title; duplicates are removed.
    """
    title_words = {w for w in normalize(strip_year(title)).split() if w not in STOP_WORDS}
    genre_forms: list[tuple[str, ...]] = []
    for g in _split_bar(genres):
        key = g.lower()
        if key in _NO_GENRE:
            continue
        forms = GENRE_SYNONYMS.get(key, (key.replace("-", " "),))
        forms = tuple(f for f in forms if not title_words & set(normalize(f).split()))
        if forms and forms not in genre_forms:
            genre_forms.append(forms)
    all_forms = {f for forms in genre_forms for f in forms}
    seen: dict[str, None] = {}
    for t in _split_bar(tags):
        t = re.sub(r"\s+", " ", t.lower())
        words = set(normalize(t).split())
        if not words or _JUNK_TAG.search(t) or t in all_forms or words & title_words:
            continue
        seen.setdefault(t, None)
    if isinstance(description, str) and description:
        for w in _TOKEN.findall(description.lower()):
            w = w.strip("'-")
            if len(w) < 3 or w in STOP_WORDS or w in _GENRE_WORDS or w in title_words or w.endswith("'s"):
                continue
            seen.setdefault(w, None)
    return ItemAspects(genre_forms, list(seen), _decade(year))


def _title_key(title: str) -> str:
    """A word that every phrase :func:`contains_title` looks for contains (its longest
    non-article word); a query without it cannot contain the title. "" when unsure."""
    words = normalize(strip_year(title)).split()
    content = [w for w in words if w not in ("the", "a", "an")] or words
    return max(content, key=len) if content else ""


def _has_title(query: str, title: str, key: str) -> bool:
    """:func:`contains_title`, with a cheap exact pre-check for ASCII queries."""
    if key and query.isascii() and key not in query.lower():
        return False
    return contains_title(query, title)


_A_AN = re.compile(r"\b(a) (?=[aeiou])")


def _fill(template: str, aspects: ItemAspects, rng: random.Random, state: dict[str, int],
          nouns: tuple[str, str] = ("movie", "movies")) -> str:
    """Fill one template, rotating through genres and keywords (``state`` holds the cursors)."""
    values: dict[str, str] = {}
    slots = _TEMPLATE_SLOTS.get(template) or _slots(template)
    if "genre" in slots:
        g = state["genre"]
        values["genre"] = rng.choice(aspects.genres[g % len(aspects.genres)])
        if "genre2" in slots:
            values["genre2"] = rng.choice(aspects.genres[(g + 1) % len(aspects.genres)])
        state["genre"] = g + 1
    if "kw" in slots:
        k, kws = state["kw"], aspects.keywords
        values["kw"] = kws[k % len(kws)]
        if "kw2" in slots:
            values["kw2"] = kws[(k + 1) % len(kws)]
            k += 1
        state["kw"] = k + 1
    if aspects.decade is not None:
        values["decade"], values["decades"] = aspects.decade
    if "noun" in slots or "nouns" in slots:
        values["noun"], values["nouns"] = nouns
    q = template.format(**values)
    return _A_AN.sub("an ", q) if "a " in q else q


class Phrasebook(NamedTuple):
    """The phrasings of one generator: templates per split, generic ones for items without any
    aspect, and last-resort ones for titles that every phrasing contains. Train and test
    templates are disjoint sets (the paper's test queries are paraphrases)."""

    train: tuple[str, ...]
    test: tuple[str, ...]
    generic_train: tuple[str, ...]
    generic_test: tuple[str, ...]
    last_resort: tuple[str, ...]

    def templates(self, split: str) -> tuple[str, ...]:
        return self.train if split == "train" else self.test

    def generic(self, split: str) -> tuple[str, ...]:
        return self.generic_train if split == "train" else self.generic_test


MOVIE_PHRASES = Phrasebook(TRAIN_TEMPLATES, TEST_TEMPLATES, _GENERIC["train"], _GENERIC["test"], _LAST_RESORT)


@functools.cache
def _usable(pool: tuple[str, ...], n_genres: int, n_keywords: int, has_decade: bool) -> list[str]:
    """The templates of ``pool`` whose slots an item with these aspects can fill; keyword
    templates are listed twice (they discriminate items best)."""
    have = {"genres": n_genres, "keywords": n_keywords, "decade": int(has_decade)}
    slots = {t: _TEMPLATE_SLOTS.get(t) or _slots(t) for t in pool}
    usable = [t for t in pool if all(have[_NEEDS[s][0]] >= _NEEDS[s][1] for s in slots[t] if s in _NEEDS)]
    with_kw = [t for t in usable if "kw" in slots[t]]
    return with_kw * 2 + [t for t in usable if t not in with_kw]


def _split_queries(aspects: ItemAspects, title: str, n: int, split: str, rng: random.Random,
                   banned: set[str], book: Phrasebook = MOVIE_PHRASES,
                   nouns: tuple[str, str] = ("movie", "movies")) -> list[str]:
    """``n`` queries of one split for one item; never one in ``banned`` or containing ``title``."""
    if n == 0:
        return []
    usable = _usable(book.templates(split), min(len(aspects.genres), 2), min(len(aspects.keywords), 2),
                     aspects.decade is not None)
    out: list[str] = []
    seen = set(banned)
    key = _title_key(title)
    state = {"genre": rng.randrange(max(1, len(aspects.genres))), "kw": 0}
    for candidates in (usable, list(book.generic(split))):
        if not candidates:
            continue
        order = candidates[:]
        rng.shuffle(order)
        for attempt in range(4 * n + len(order)):
            if len(out) == n:
                break
            q = _fill(order[attempt % len(order)], aspects, rng, state, nouns)
            if q in seen or _has_title(q, title, key):
                continue
            seen.add(q)
            out.append(q)
        if len(out) == n:
            return out
    if not out:  # pathological titles ("Movie") that every phrasing contains
        last = [_fill(t, aspects, rng, state, nouns) for t in book.last_resort]
        out = [q for q in last if q not in banned and not contains_title(q, title)][:1]
        if not out:
            raise ValueError(f"cannot phrase a query that avoids the title {title!r}; give the item "
                             f"genres, tags or a description")
    return [out[i % len(out)] for i in range(n)]  # repeat phrasings when the item has too few


def generate_offline_queries(items: pd.DataFrame, n_train: int = 10, n_test: int = 10, seed: int = 0,
                             show_progress: bool = True, item_noun: str = "movie",
                             style: str | None = None) -> pd.DataFrame:
    """Template queries for every item: ``n_train`` training and ``n_test`` test queries each.

    items: a table with ``item_id`` and ``title`` and optionally ``genres``, ``tags``
    (``|``-separated), ``description`` and ``year`` (see :mod:`semid.data.schema`).
    item_noun: what queries call an item ("movie", "product", "item", "part", ...).
    style: ``movie`` (the MovieLens generator: genre synonyms, movie phrasings, description
    words as keywords) or ``neutral`` (:mod:`semid.data.queries_neutral`: the noun in
    domain-neutral phrasings, categories, and YAKE keywords); default: ``movie`` exactly
    when ``item_noun`` is "movie".
    Returns a table with columns item_id (the items' ids), text (str), split ("train"/"test"),
    ``n_train + n_test`` rows per item in item order. The result depends only on each
    item's own metadata and ``seed``. No query contains its item's title, and no test
    query repeats one of the same item's training queries.
    """
    style = style or ("movie" if item_noun == "movie" else "neutral")
    if style not in ("movie", "neutral"):
        raise ValueError(f"generate_offline_queries: style must be 'movie' or 'neutral', got {style!r}")
    if not isinstance(item_noun, str) or not item_noun.strip():
        raise ValueError(f"generate_offline_queries: item_noun must be a word such as 'product', got {item_noun!r}")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"generate_offline_queries: {name} must be an integer >= 0, got {value!r}")
    if n_train + n_test == 0:
        raise ValueError("generate_offline_queries: n_train + n_test is 0; ask for at least one query per item")
    missing = [c for c in ("item_id", "title") if c not in items.columns]
    if missing:
        raise ValueError(f"generate_offline_queries: items lack column(s) {missing}; found {list(items.columns)}")

    def col(name: str) -> Sequence[object]:
        return items[name].tolist() if name in items.columns else [None] * len(items)

    ids, titles = items["item_id"].tolist(), items["title"].fillna("").astype(str).tolist()
    if style == "movie":
        book, nouns, aspects_of = MOVIE_PHRASES, ("movie", "movies"), item_aspects
    else:
        from semid.data.queries_neutral import NEUTRAL_PHRASES, NeutralAspects, plural

        noun = item_noun.strip().lower()
        book, nouns, aspects_of = NEUTRAL_PHRASES, (noun, plural(noun)), NeutralAspects(noun)
    rows_id: list[object] = []
    rows_text: list[str] = []
    rows_split: list[str] = []
    it = zip(ids, titles, col("genres"), col("tags"), col("description"), col("year"), strict=True)
    for item_id, title, genres, tags, desc, year in tqdm(it, total=len(items), desc="offline queries",
                                                          disable=not show_progress, mininterval=1.0):
        aspects = aspects_of(title, _str(genres), _str(tags), _str(desc), year)
        rng = random.Random(f"{seed}:{item_id}")
        train = _split_queries(aspects, title, n_train, "train", rng, set(), book, nouns)
        test = _split_queries(aspects, title, n_test, "test", rng, set(train), book, nouns)
        rows_id.extend([item_id] * (n_train + n_test))
        rows_text.extend(train + test)
        rows_split.extend(["train"] * n_train + ["test"] * n_test)
    int_ids = pd.api.types.is_integer_dtype(items["item_id"]) or all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids)
    id_col = pd.array(rows_id, dtype="int64") if int_ids else pd.Series(rows_id, dtype=object)
    out = pd.DataFrame({"item_id": id_col, "text": rows_text, "split": rows_split})
    logger.info("generated %d offline queries for %d items (%s phrasings)", len(out), len(items), style)
    return out


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""

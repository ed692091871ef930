"""Offline template query generator: shape, title safety, train/test phrasing, determinism."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from semid.data.queries import (
    TEST_TEMPLATES,
    TRAIN_TEMPLATES,
    generate_offline_queries,
    item_aspects,
)
from semid.data.text import contains_title, normalize


def _items(rows: list[dict]) -> pd.DataFrame:
    base = {"title": "", "year": None, "genres": "", "tags": "", "description": ""}
    df = pd.DataFrame([{**base, "item_id": i + 1, **r} for i, r in enumerate(rows)])
    df["year"] = df["year"].astype("Int64")
    return df


RICH = dict(title="Crimson Harbor (1995)", year=1995, genres="Sci-Fi|Thriller",
            tags="time travel|revenge|lighthouse|twist ending",
            description="A grieving pilot steals a submarine to rescue her brother from Siberian smugglers.")
# Items built to trip a naive generator: title words as tags/genres/description words, a
# title contained in generic phrasings, accents, and items with almost no metadata.
ADVERSARIAL = [
    RICH,
    dict(title="Revenge (1990)", year=1990, genres="Drama", tags="revenge|betrayal|REVENGE", description="Revenge is sweet."),
    dict(title="Comedy, The (2001)", year=2001, genres="Comedy", tags="comedy|office"),
    dict(title="Science Fiction (1987)", year=1987, genres="Sci-Fi", tags="aliens"),
    dict(title="The Movie", genres="Comedy", tags="satire"),
    dict(title="Film (1965)", year=1965, genres="(no genres listed)"),
    dict(title="Amélie (2001)", year=2001, genres="Romance|Comedy", tags="amelie|paris|whimsical"),
    dict(title="Dark Harbor", genres="Thriller", tags="dark|harbor town|fishing", description="Dark secrets in a harbor."),
    dict(title="Untitled Project"),
    dict(title="Up (2009)", year=2009, genres="Animation|Adventure", tags="balloons|old age"),
    dict(title="It (1990)", year=1990, genres="Horror", tags="clown|it"),
    dict(title="Something to Watch", genres="Drama"),
    dict(title="Lost in the 90s", year=1999, genres="Drama"),
]


@pytest.fixture(scope="module")
def adversarial() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = _items(ADVERSARIAL)
    return items, generate_offline_queries(items, n_train=10, n_test=10, seed=0, show_progress=False)


def test_shape_and_order(adversarial):
    items, q = adversarial
    assert list(q.columns) == ["item_id", "text", "split"]
    assert q["item_id"].dtype == np.int64
    assert q["item_id"].drop_duplicates().tolist() == items["item_id"].tolist()
    counts = q.groupby(["item_id", "split"]).size().unstack()
    assert (counts["train"] == 10).all() and (counts["test"] == 10).all()
    assert (q["text"].str.strip() != "").all()


def test_no_query_contains_its_title(adversarial):
    items, q = adversarial
    titles = dict(zip(items["item_id"], items["title"], strict=True))
    leaks = [(titles[i], t) for i, t in zip(q["item_id"], q["text"], strict=True) if contains_title(t, titles[i])]
    assert leaks == []


def test_title_words_are_not_used_as_keywords(adversarial):
    items, q = adversarial
    dark = q.loc[q["item_id"] == 8, "text"].map(normalize)
    assert not dark.str.contains(r"\b(?:dark|harbor)\b").any()
    assert dark.str.contains("fishing").any()  # the remaining tag is used
    assert "revenge" not in item_aspects("Revenge (1990)", tags="revenge|betrayal").keywords


def test_train_and_test_use_different_phrasings(adversarial):
    _, q = adversarial
    for _, g in q.groupby("item_id"):
        train = set(g.loc[g["split"] == "train", "text"])
        test = set(g.loc[g["split"] == "test", "text"])
        assert not train & test
    assert not set(TRAIN_TEMPLATES) & set(TEST_TEMPLATES)


def test_rich_item_queries_cover_several_aspects():
    q = generate_offline_queries(_items([RICH]), n_train=10, n_test=10, seed=3, show_progress=False)
    for split in ("train", "test"):
        texts = q.loc[q["split"] == split, "text"].tolist()
        assert len(set(texts)) == 10, texts  # no repeats when the item has enough metadata
        joined = " ".join(texts)
        kws = ["time travel", "revenge", "lighthouse", "submarine", "pilot", "smugglers", "twist ending"]
        assert sum(k in joined for k in kws) >= 4, texts
        assert any(g in joined for g in ("sci-fi", "science fiction", "futuristic", "thriller", "suspenseful", "tense"))


def test_decade_and_genre_synonyms_appear():
    items = _items([dict(title=f"Space Thing {i}", year=1995, genres="Sci-Fi|Comedy") for i in range(40)])
    q = generate_offline_queries(items, n_train=5, n_test=5, show_progress=False)
    joined = " ".join(q["text"])
    for phrase in ("sci-fi", "science fiction", "futuristic", "comedy", "funny", "90s", "1990s"):
        assert phrase in joined, phrase


def test_description_keywords_skip_stop_words_and_genre_words():
    a = item_aspects("Crimson Harbor", genres="Horror",
                     description="The old man walks into the scary lighthouse with a lantern.", year=1972)
    assert {"walks", "lighthouse", "lantern"} <= set(a.keywords)
    assert not {"the", "into", "with", "man", "old", "scary"} & set(a.keywords)
    assert a.decade == ("70s", "1970s")
    assert item_aspects("X", year=2004).decade == ("2000s", "2000s")
    assert item_aspects("X", year=None).decade is None


def test_title_only_items_still_get_title_free_queries(adversarial):
    items, q = adversarial
    for iid in (6, 9, 12):  # no genres, no tags: generic phrasings
        texts = q.loc[q["item_id"] == iid, "text"]
        assert len(texts) == 20
        title = items.loc[items["item_id"] == iid, "title"].item()
        assert not any(contains_title(t, title) for t in texts)


def test_deterministic_and_per_item():
    items = _items([RICH] + ADVERSARIAL[1:4])
    a = generate_offline_queries(items, seed=7, show_progress=False)
    b = generate_offline_queries(items, seed=7, show_progress=False)
    pd.testing.assert_frame_equal(a, b)
    c = generate_offline_queries(items, seed=8, show_progress=False)
    assert not a["text"].equals(c["text"])
    # an item's queries depend only on its own metadata and the seed
    sub = generate_offline_queries(items.iloc[[2]], seed=7, show_progress=False)
    assert sub["text"].tolist() == a.loc[a["item_id"] == items["item_id"].iloc[2], "text"].tolist()


def test_counts_are_configurable():
    q = generate_offline_queries(_items([RICH, ADVERSARIAL[1]]), n_train=3, n_test=0, show_progress=False)
    assert len(q) == 6 and set(q["split"]) == {"train"}


@pytest.mark.parametrize("kwargs, word", [({"n_train": -1}, "n_train"), ({"n_test": 1.5}, "n_test"),
                                          ({"n_train": 0, "n_test": 0}, "at least one")])
def test_bad_counts_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        generate_offline_queries(_items([RICH]), show_progress=False, **kwargs)


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="title"):
        generate_offline_queries(pd.DataFrame({"item_id": [1]}), show_progress=False)


def test_fast_enough_for_a_large_catalogue():
    rng = np.random.default_rng(0)
    words = [f"word{i}" for i in range(500)]
    genres = ["Drama", "Comedy", "Sci-Fi", "Horror", "Western", "Film-Noir"]
    n = 3000
    items = pd.DataFrame({
        "item_id": np.arange(n), "title": [f"Title {i} ({1950 + i % 70})" for i in range(n)],
        "year": 1950 + np.arange(n) % 70,
        "genres": ["|".join(rng.choice(genres, 2, replace=False)) for _ in range(n)],
        "tags": ["|".join(rng.choice(words, 6, replace=False)) for _ in range(n)],
        "description": "",
    })
    start = time.process_time()
    q = generate_offline_queries(items, show_progress=False)
    elapsed = time.process_time() - start
    assert len(q) == 20 * n
    assert elapsed < 6.0, f"{elapsed:.1f}s CPU for {n} items; expected well under 1s per 1000 items"


def test_movielens_small_has_no_title_leaks(ml_small_dir):
    from semid.data.movielens import read_movielens

    items = read_movielens(ml_small_dir).items
    q = generate_offline_queries(items, n_train=5, n_test=5, show_progress=False)
    assert len(q) == 10 * len(items)
    titles = dict(zip(items["item_id"], items["title"], strict=True))
    assert not any(contains_title(t, titles[i]) for i, t in zip(q["item_id"], q["text"], strict=True))
    assert not set(q.loc[q["split"] == "train", "text"]) & set(q.loc[q["split"] == "test", "text"])


# ---------------------------------------------------------------- domain-neutral phrasings
PRODUCTS = [
    dict(title="OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce", genres="Makeup|Nails", tags="OPI"),
    dict(title="Argan Oil Repair Shampoo", genres="Hair Care", description="Sulfate-free shampoo for dry hair."),
    dict(title="Shampoo"),  # the whole title is one keyword: it must never be a query
    dict(title="Product"),  # a title equal to the noun
    dict(title="Industrial 10uF Ceramic Capacitor 50V", description="Designed for use in power supplies."),
    dict(title=""),
]
MOVIE_WORDS = ("movie", "film", "flick", "picture", "watch")


@pytest.fixture(scope="module")
def products() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = _items(PRODUCTS)
    items["item_id"] = [f"B00{i}" for i in range(len(items))]
    return items, generate_offline_queries(items, seed=0, show_progress=False, item_noun="product")


def test_neutral_queries_use_the_noun_and_no_movie_words(products):
    items, q = products
    assert q["item_id"].drop_duplicates().tolist() == items["item_id"].tolist()  # string ids kept, in order
    assert (q.groupby("item_id").size() == 20).all()
    words = q["text"].str.split()
    assert not any(w.strip("?") in MOVIE_WORDS for ws in words for w in ws)
    assert q["text"].str.contains(r"\bproducts?\b").mean() > 0.2


def test_neutral_queries_never_contain_the_title(products):
    items, q = products
    titles = dict(zip(items["item_id"], items["title"], strict=True))
    leaks = [t for i, t in zip(q["item_id"], q["text"], strict=True) if titles[i] and contains_title(t, titles[i])]
    assert leaks == []


def test_neutral_train_and_test_phrasings_are_disjoint(products):
    from semid.data.queries_neutral import NEUTRAL_TEST, NEUTRAL_TRAIN

    assert not set(NEUTRAL_TRAIN) & set(NEUTRAL_TEST)
    _, q = products
    for _, g in q.groupby("item_id"):
        assert not set(g.loc[g["split"] == "train", "text"]) & set(g.loc[g["split"] == "test", "text"])


def test_neutral_keywords_carry_the_items_topics(products):
    """YAKE keywords: real topics of the title/description, no units or stop words."""
    from semid.data.queries_neutral import NeutralAspects

    a = NeutralAspects("product")(**{k: PRODUCTS[0].get(k, "") for k in ("title", "genres", "tags")})
    assert a.keywords[0] == "opi"  # the brand (tags) first
    assert any("lacquer" in k for k in a.keywords)
    assert not any(w in ("ounce", "fluid", "and", "0.5") for k in a.keywords for w in k.split())
    assert [g[0] for g in a.genres] == ["makeup", "nails"]
    _, q = products
    cap = " ".join(q.loc[q["item_id"] == "B004", "text"])
    assert "capacitor" in cap and "ceramic" in cap


def test_neutral_queries_are_seeded_and_the_noun_is_used():
    items = _items(PRODUCTS[:3])
    a = generate_offline_queries(items, seed=3, show_progress=False, item_noun="part")
    b = generate_offline_queries(items, seed=3, show_progress=False, item_noun="part")
    c = generate_offline_queries(items, seed=4, show_progress=False, item_noun="part")
    assert a.equals(b) and not a.equals(c)
    assert a["text"].str.contains(r"\bparts?\b").any() and not a["text"].str.contains("product").any()


def test_movie_noun_keeps_the_movielens_generator():
    """item_noun='movie' (MovieLens' default) is the movie generator, query for query."""
    items = _items(ADVERSARIAL)
    assert generate_offline_queries(items, show_progress=False).equals(
        generate_offline_queries(items, show_progress=False, item_noun="movie", style="movie"))
    neutral = generate_offline_queries(items, show_progress=False, item_noun="movie", style="neutral")
    assert not neutral.equals(generate_offline_queries(items, show_progress=False))


def test_plural():
    from semid.data.queries_neutral import plural

    assert [plural(w) for w in ("product", "accessory", "box", "day", "dress")] == [
        "products", "accessories", "boxes", "days", "dresses"]


def test_amazon_beauty_queries_have_no_movie_words_and_no_titles():
    """The shared Beauty copy (first 300 products): product queries, no movie words, no title."""
    from conftest import SHARED_DATA

    from semid.data.files import read_items

    path = SHARED_DATA / "amazon-beauty" / "items.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (see ../shared/data/README.md)")
    items = read_items(path, noun="product").head(300)
    q = generate_offline_queries(items, show_progress=False, item_noun="product")
    assert len(q) == 20 * len(items)
    # a movie word may come only from the product's own title ("Inspired by the Movie Dark Shadows")
    movie = re.compile(r"\b(?:movies?|films?|flicks?|pictures?|cinema|watch)\b")
    texts = dict(zip(items["item_id"], items["text"].str.lower(), strict=True))
    foreign = [t for i, t in zip(q["item_id"], q["text"], strict=True)
               if set(movie.findall(t)) - set(movie.findall(texts[i]))]
    assert foreign == []
    titles = dict(zip(items["item_id"], items["title"], strict=True))
    assert not any(titles[i] and contains_title(t, titles[i]) for i, t in zip(q["item_id"], q["text"], strict=True))
    assert q["text"].str.contains(r"\bproducts?\b").mean() > 0.2

"""`--source amazon`: the Amazon review files as users download them (2014, 2018, 2023 releases)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from semid.cli import main
from semid.data import Dataset, SchemaError
from semid.data.amazon import find_amazon_files, read_amazon
from semid.data.prepare import prepare
from semid.data.text import contains_title

MOVIE_WORDS = ("movie", "film", "flick", "picture", "watch")

PRODUCTS = {
    "B0001": dict(title="Velvet Matte Lipstick, Ruby Red", brand="Glamco", cats=["Makeup", "Lips", "Lipstick"],
                  desc="A long-lasting matte lipstick with shea butter.", price=9.5),
    "0912345678": dict(title="Argan Oil Repair Shampoo", brand="HairLab", cats=["Hair Care", "Shampoos"],
                       desc="Sulfate-free shampoo with argan oil for dry hair.", price=12.0),
    "B0003": dict(title="Sea Salt Body Scrub", brand="Oceana", cats=["Bath & Body", "Scrubs"],
                  desc="Exfoliating scrub with Dead Sea salt and coconut oil.", price=None),
    "B0004": dict(title="Quick Dry Nail Polish Top Coat", brand="Glamco", cats=["Makeup", "Nails"],
                  desc="", price=5.0),
}


def _reviews(n_users: int = 6) -> list[tuple[str, str, int, float]]:
    """(reviewer, asin, time, stars): each user reviews 4 products, times out of row order."""
    asins = list(PRODUCTS)
    rows = []
    for u in range(n_users):
        order = [asins[(u + k) % 4] for k in range(4)]
        for k, a in enumerate(order):
            rows.append((f"AR{u:02d}X", a, 1_400_000_000 + 86_400 * (10 - k) * (u + 1), float(1 + (u + k) % 5)))
    return rows[::-1]  # file order is not time order


def _write(path, lines, gz):
    data = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def write_2014(d, gz=True, category="Beauty"):
    ext = ".json.gz" if gz else ".json"
    reviews = [json.dumps({"reviewerID": u, "asin": a, "reviewerName": "X", "helpful": [0, 0], "reviewText": "ok",
                           "overall": r, "summary": "fine", "unixReviewTime": t, "reviewTime": "01 1, 2014"})
               for u, a, t, r in _reviews()]
    # 2014 meta lines are Python literals (single quotes), not JSON; one product nobody reviewed
    meta = [repr({"asin": a, "title": p["title"], "price": p["price"], "brand": p["brand"],
                  "categories": [["Beauty", *p["cats"]]], "description": p["desc"],
                  "related": {"also_bought": ["B0003"]}}) for a, p in PRODUCTS.items()]
    meta.append(repr({"asin": "B9999", "title": "Never reviewed", "categories": [["Beauty"]]}))
    _write(d / f"reviews_{category}_5{ext}", reviews, gz)
    _write(d / f"meta_{category}{ext}", meta, gz)
    return d / f"reviews_{category}_5{ext}"


def write_2018(d):
    reviews = [json.dumps({"overall": r, "verified": True, "reviewerID": u, "asin": a, "unixReviewTime": t})
               for u, a, t, r in _reviews()]
    meta = [json.dumps({"asin": a, "title": p["title"], "brand": p["brand"], "category": ["Beauty", *p["cats"]],
                        "description": [p["desc"]] if p["desc"] else [], "price": "$5.00"})
            for a, p in PRODUCTS.items()]
    _write(d / "Luxury_Beauty_5.json.gz", reviews, True)
    _write(d / "meta_Luxury_Beauty.json.gz", meta, True)
    return d / "Luxury_Beauty_5.json.gz"


def write_2023(d):
    reviews = [json.dumps({"rating": r, "title": "t", "text": "x", "asin": a + "-V", "parent_asin": a,
                           "user_id": u, "timestamp": t * 1000 + 123, "verified_purchase": True})
               for u, a, t, r in _reviews()]
    meta = [json.dumps({"main_category": "All Beauty", "title": p["title"], "store": p["brand"],
                        "categories": ["Beauty & Personal Care", *p["cats"]], "description": [p["desc"]],
                        "price": p["price"], "parent_asin": a}) for a, p in PRODUCTS.items()]
    _write(d / "All_Beauty.jsonl", reviews, False)
    _write(d / "meta_All_Beauty.jsonl", meta, False)
    return d / "All_Beauty.jsonl"


@pytest.mark.parametrize("gz", [True, False])
def test_2014_release_reads_reviews_and_python_literal_meta(tmp_path, gz):
    write_2014(tmp_path, gz=gz)
    t = read_amazon(tmp_path)
    assert t.release == "2014" and t.name == "Beauty"
    assert sorted(t.items["item_id"]) == sorted(PRODUCTS)  # the unreviewed B9999 is left out
    row = t.items.set_index("item_id").loc["0912345678"]  # an all-digit ASIN keeps its leading zero
    assert row["title"] == "Argan Oil Repair Shampoo" and row["tags"] == "HairLab"
    assert row["genres"] == "Hair Care|Shampoos"  # below the top-level "Beauty"
    assert "Brand: HairLab" in row["text"] and "argan oil for dry hair" in row["text"]
    assert len(t.interactions) == 24 and t.interactions["timestamp"].dtype == np.int64


def test_2018_and_2023_releases(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    t18 = read_amazon(write_2018(tmp_path / "a"))
    write_2023(tmp_path / "b")
    t23 = read_amazon(tmp_path / "b")  # found in the directory
    assert (t18.release, t23.release) == ("2018", "2023")
    for t in (t18, t23):
        assert sorted(t.items["item_id"]) == sorted(PRODUCTS)
        assert t.items.set_index("item_id").loc["B0001", "genres"] == "Makeup|Lips|Lipstick"
    assert t23.items.set_index("item_id").loc["B0003", "tags"] == "Oceana"  # 2023 "store"
    # 2023 times are milliseconds: seconds here, same order as the 2014 copy
    t14 = read_amazon(write_2014(tmp_path))
    key = ["user_id", "timestamp"]
    assert t23.interactions.sort_values(key)["timestamp"].tolist() == t14.interactions.sort_values(key)["timestamp"].tolist()


def test_prepare_amazon_end_to_end(tmp_path, capsys):
    write_2014(tmp_path, gz=True)
    out = tmp_path / "data"
    assert main(["data", "prepare", "--source", "amazon", "--path", str(tmp_path), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert ds.meta["source"] == "amazon" and ds.meta["item_noun"] == "product"
    assert ds.interactions["original_user_id"].nunique() == 6
    # leave-last-out by review time, not by file row: each user's latest review is the test item
    raw = read_amazon(tmp_path).interactions
    last = raw.sort_values("timestamp").groupby("user_id").tail(1).set_index("user_id")["item_id"]
    test = ds.interactions[ds.interactions["split"] == "test"].set_index("original_user_id")["item_id"]
    assert test.sort_index().tolist() == last.sort_index().tolist()
    titles = dict(zip(ds.items["item_id"], ds.items["title"], strict=True))
    q = ds.queries
    assert not any(contains_title(t, titles[i]) for i, t in zip(q["item_id"], q["text"], strict=True))
    assert not q["text"].str.contains("|".join(MOVIE_WORDS)).any()
    assert q["text"].str.contains("product").any()


def test_missing_meta_gives_asin_text(tmp_path, caplog):
    write_2014(tmp_path, gz=False)
    (tmp_path / "meta_Beauty.json").unlink()
    t = read_amazon(tmp_path)
    assert t.meta_path is None and t.items["text"].str.startswith("product ").all()
    assert "no meta_<Category> file" in caplog.text


def test_damaged_and_foreign_files_fail_in_one_line(tmp_path, capsys):
    p = write_2014(tmp_path, gz=False)
    lines = p.read_text().splitlines()
    lines[2] = lines[2][:40]  # a truncated line
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=r"reviews_Beauty_5\.json, line 3: not a JSON object"):
        read_amazon(tmp_path)
    p.write_text('{"user": "x", "item": "y"}\n')
    with pytest.raises(SchemaError, match="line 1: a record with fields"):
        read_amazon(tmp_path)
    (tmp_path / "x.gz").write_bytes(b"\x1f\x8b not really gzip")
    bad = tmp_path / "reviews_Toys_5.json.gz"
    (tmp_path / "x.gz").rename(bad)
    rc = main(["data", "prepare", "--source", "amazon", "--path", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "several reviews files" in err and len(err.strip().splitlines()) == 1
    rc = main(["data", "prepare", "--source", "amazon", "--path", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be read" in err and not (tmp_path / "o").exists()


def test_finding_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Amazon reviews file"):
        find_amazon_files(tmp_path)
    p = write_2014(tmp_path, gz=True, category="Toys_and_Games")
    assert find_amazon_files(p) == (p, tmp_path / "meta_Toys_and_Games.json.gz")
    with pytest.raises(ValueError, match="--source amazon needs --path"):
        prepare(source="amazon")


def test_amazon_and_files_give_the_same_catalogue(tmp_path):
    """The same reviews through --source amazon and through --source files agree on ids and splits."""
    write_2014(tmp_path)
    t = read_amazon(tmp_path)
    t.items.to_csv(tmp_path / "items.csv", index=False)
    ev = t.interactions.copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # as ISO strings
    ev.to_csv(tmp_path / "events.csv", index=False)
    a = prepare(source="amazon", path=str(tmp_path), show_progress=False)
    b = prepare(source="files", items_path=str(tmp_path / "items.csv"), interactions_path=str(tmp_path / "events.csv"),
                item_noun="product", show_progress=False)
    assert a.items["item_id"].tolist() == b.items["item_id"].tolist()
    cols = ["user_id", "item_id", "timestamp", "split"]
    assert a.interactions[cols].equals(b.interactions[cols])
    assert a.queries.equals(b.queries)

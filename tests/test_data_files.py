"""`semid data prepare --source files`: the user's own items / interactions / queries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semid.cli import main
from semid.data import Dataset, SchemaError
from semid.data.prepare import prepare


def _write(tmp_path, n_items=30, n_events=400, with_text=False):
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"item_id": range(n_items), "title": [f"Widget {i}" for i in range(n_items)],
                          "genres": ["Tools|Garden"] * n_items, "tags": ["steel|green"] * n_items})
    if with_text:
        items["text"] = [f"a widget for the garden number {i}" for i in range(n_items)]
    items.to_csv(tmp_path / "items.csv", index=False)
    ev = pd.DataFrame({"user_id": rng.integers(0, 15, n_events), "item_id": rng.integers(0, n_items, n_events),
                       "timestamp": np.arange(n_events)})
    ev.to_parquet(tmp_path / "events.parquet")
    return tmp_path / "items.csv", tmp_path / "events.parquet"


def test_files_source_builds_text_and_generates_queries(tmp_path):
    items, events = _write(tmp_path)
    ds = prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False)
    assert ds.n_items == 30
    assert ds.items["text"].str.contains("Genres: Tools, Garden").all()
    assert set(ds.queries["split"]) == {"train", "test"}
    assert (ds.interactions.groupby("user_id")["split"].apply(lambda s: (s == "test").sum()) == 1).all()


def test_files_source_uses_given_queries(tmp_path):
    items, events = _write(tmp_path, with_text=True)
    q = pd.DataFrame({"item_id": [0, 1, 2], "text": ["green tool", "garden thing", "steel widget"],
                      "split": ["train", "train", "test"]})
    q.to_csv(tmp_path / "q.csv", index=False)
    out = tmp_path / "data"
    assert main(["data", "prepare", "--source", "files", "--items", str(items), "--interactions", str(events),
                 "--queries-file", str(tmp_path / "q.csv"), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert sorted(ds.queries["text"]) == sorted(q["text"])


def test_files_source_unknown_item_names_the_file(tmp_path):
    items, events = _write(tmp_path, n_items=10)
    ev = pd.read_parquet(events)
    ev.loc[3, "item_id"] = 999
    ev.to_parquet(events)
    with pytest.raises(SchemaError, match=r"events\.parquet.*unknown item.*999"):
        prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False)


def test_files_source_missing_text_and_title(tmp_path, capsys):
    pd.DataFrame({"item_id": [1, 2]}).to_csv(tmp_path / "items.csv", index=False)
    events = tmp_path / "e.csv"
    pd.DataFrame({"user_id": [1], "item_id": [1], "timestamp": [0]}).to_csv(events, index=False)
    rc = main(["data", "prepare", "--source", "files", "--items", str(tmp_path / "items.csv"),
               "--interactions", str(events), "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "items.csv" in err and "'title'" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- string ids and real-world input
def _string_world(tmp_path, n_items=24, n_users=12):
    """ASIN-like item ids (some all digits with a leading zero), reviewer-like user ids, ISO times."""
    rng = np.random.default_rng(1)
    ids = [f"B00{i:05d}X" if i % 3 else f"0{i:09d}" for i in range(n_items)]
    items = pd.DataFrame({"item_id": ids, "title": [f"Gadget {i} deluxe" for i in range(n_items)]})
    rows = []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, 5, replace=False)):
            rows.append((f"A{u:03d}Z", ids[i], f"2014-03-{1 + t:02d}T08:00:00Z"))
    items.to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(tmp_path / "events.csv", index=False)
    return tmp_path / "items.csv", tmp_path / "events.csv", ids


def test_string_ids_are_kept_as_they_are(tmp_path):
    items, events, ids = _string_world(tmp_path)
    out = tmp_path / "data"
    assert main(["data", "prepare", "--source", "files", "--items", str(items), "--interactions", str(events),
                 "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert ds.items["item_id"].tolist() == ids  # leading zeros kept, order kept
    assert set(ds.interactions["item_id"]) <= set(ids)
    assert set(ds.queries["item_id"]) == set(ids)
    # users: dense ints, the reviewer ids kept beside them, one to one
    inter = ds.interactions
    assert inter["user_id"].dtype == np.int64 and sorted(inter["user_id"].unique()) == list(range(12))
    assert (inter.groupby("user_id")["original_user_id"].nunique() == 1).all()
    assert sorted(inter["original_user_id"].unique()) == [f"A{u:03d}Z" for u in range(12)]
    # histories and targets use item indices that map back to the ids
    ex = ds.rec_examples("test")
    assert len(ex) == 12
    assert all(ds.items["item_id"].iloc[e.target] in ids for e in ex)


def test_integer_looking_strings_and_integers_agree(tmp_path):
    """A CSV of plain integers gives int64 ids, the same as a Parquet copy of the table."""
    items, events = _write(tmp_path)
    a = prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False)
    pd.read_csv(items).to_parquet(tmp_path / "items.parquet")
    b = prepare(source="files", items_path=str(tmp_path / "items.parquet"), interactions_path=str(events),
                show_progress=False)
    assert a.items["item_id"].dtype == np.int64 and a.items["item_id"].equals(b.items["item_id"])


def test_iso_timestamps_keep_time_order(tmp_path):
    """ISO dates (given out of order, with time zones) order each history by time, not by row."""
    pd.DataFrame({"item_id": ["a", "b", "c", "d"], "title": ["Alpha", "Beta", "Gamma", "Delta"]}).to_csv(
        tmp_path / "items.csv", index=False)
    pd.DataFrame({"user_id": ["u1"] * 4, "item_id": ["a", "b", "c", "d"],
                  "timestamp": ["2020-05-01T12:00:00+02:00", "2019-01-01", "2020-05-01T10:30:00Z",
                                "2020-05-01T10:00:01Z"]}).to_csv(tmp_path / "e.csv", index=False)
    ds = prepare(source="files", items_path=str(tmp_path / "items.csv"), interactions_path=str(tmp_path / "e.csv"),
                 show_progress=False)
    # 12:00+02:00 is 10:00:00Z: b (2019) < a (10:00:00Z) < d (10:00:01Z) < c (10:30Z)
    inter = ds.interactions.set_index("item_id")
    assert inter.loc["c", "split"] == "test" and inter.loc["d", "split"] == "valid"
    assert inter.loc["a", "timestamp"] == 1588327200  # 2020-05-01T10:00:00Z in Unix seconds
    assert ds.user_histories()[0].tolist() == ds.to_index(["b", "a"]).tolist()


def test_datetime_column_and_subsecond_ties(tmp_path):
    """Datetimes become seconds; two events in the same second keep their exact order."""
    from semid.data.schema import validate_interactions

    t = pd.to_datetime(["2021-01-01 00:00:00.900", "2021-01-01 00:00:00.100", "2020-12-31 00:00:00.000"])
    df = validate_interactions(pd.DataFrame({"user_id": [1, 1, 1], "item_id": [10, 11, 12], "timestamp": t}))
    assert df["item_id"].tolist() == [12, 11, 10]  # exact time order
    assert df["timestamp"].tolist() == [1609372800, 1609459200, 1609459200]


def test_bad_timestamp_names_the_value(tmp_path):
    items, events, _ = _string_world(tmp_path)
    ev = pd.read_csv(events)
    ev.loc[7, "timestamp"] = "last tuesday"
    ev.to_csv(events, index=False)
    with pytest.raises(SchemaError, match=r"events\.csv.*'timestamp'.*'last tuesday' at row 7.*ISO 8601"):
        prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False)


def test_exact_duplicate_rows_are_dropped_and_counted(tmp_path, capsys):
    items, events, _ = _string_world(tmp_path)
    ev = pd.read_csv(events)
    pd.concat([ev, ev.iloc[[0, 3, 3]]]).to_csv(events, index=False)
    out = tmp_path / "data"
    assert main(["data", "prepare", "--source", "files", "--items", str(items), "--interactions", str(events),
                 "--out", str(out)]) == 0
    assert "dropped 3 exact duplicate" in capsys.readouterr().out
    ds = Dataset.load(out)
    assert len(ds.interactions) == len(ev) and ds.meta["duplicates_dropped"] == 3


def test_duplicate_item_ids_name_them(tmp_path):
    items, events, ids = _string_world(tmp_path)
    it = pd.read_csv(items, dtype=str)
    pd.concat([it, it.iloc[[2, 4]]]).to_csv(items, index=False)
    with pytest.raises(SchemaError, match=rf"2 item_id\(s\) appear more than once.*'{ids[2]}'.*'{ids[4]}'"):
        prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False)


def test_unknown_string_items_are_counted_and_named(tmp_path):
    items, events, _ = _string_world(tmp_path)
    ev = pd.read_csv(events, dtype=str)
    ev.loc[[1, 2, 9], "item_id"] = ["NOPE1", "NOPE2", "NOPE1"]
    ev.to_csv(events, index=False)
    with pytest.raises(SchemaError, match=r"3 interaction\(s\) point at 2 unknown item\(s\) \['NOPE1', 'NOPE2'\]"
                                          r", the first at row 1"):
        prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False)


@pytest.mark.parametrize("content, word", [("", "empty"), ("item_id,title\n", "no rows")])
def test_empty_and_header_only_files(tmp_path, capsys, content, word):
    items, events, _ = _string_world(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    for args in (["--items", str(bad), "--interactions", str(events)], ["--items", str(items), "--interactions", str(bad)]):
        rc = main(["data", "prepare", "--source", "files", *args, "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert rc == 2 and "bad.csv" in err and word in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_untitled_items_get_their_id_as_text(tmp_path, caplog):
    items, events, ids = _string_world(tmp_path)
    it = pd.read_csv(items, dtype=str)
    it.loc[3, "title"] = None
    it.to_csv(items, index=False)
    ds = prepare(source="files", items_path=str(items), interactions_path=str(events), show_progress=False,
                 item_noun="gadget")
    assert ds.items["text"].iloc[3] == f"gadget {ids[3]}"
    assert "have no title or text" in caplog.text


def test_id_space_far_larger_than_the_catalogue_warns_once(caplog):
    from semid.ids.build import build_ids

    x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    build_ids(x, method="rq-kmeans", levels=2, codebook_size=4, show_progress=False)
    assert "far larger than the catalogue" not in caplog.text
    build_ids(x, method="rq-kmeans", levels=7, codebook_size=8, show_progress=False)  # 8^7 = 2.1M IDs for 60 items
    assert caplog.text.count("far larger than the catalogue") == 1 and "fewer --levels" in caplog.text

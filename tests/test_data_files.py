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

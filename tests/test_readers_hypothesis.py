"""Property tests (Hypothesis) for the readers and the schema validation.

Any table a user may hand us, in any supported file format, either loads into a valid dataset
or fails with a one-line ``ValueError`` (``SchemaError``) and writes nothing; never another
exception, never a traceback from the CLI.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from semid.cli import main  # noqa: E402
from semid.data import Dataset  # noqa: E402
from semid.data.prepare import prepare  # noqa: E402
from semid.data.schema import validate_interactions, validate_items  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Values a real id column may hold: ASIN-like and odd strings, integers, whole and broken floats,
# empties, booleans.
ids = st.one_of(
    st.integers(-5, 40),
    st.sampled_from(["B00X1", "B00X2", "0012", "12", " 7 ", "a b", "é", "", "  ", "nan", "None", "1e3", "3.0"]),
    st.text(alphabet="AB0129-_", min_size=1, max_size=4),
    st.sampled_from([1.0, 2.5, float("nan"), None, True]),
)
times = st.one_of(
    st.integers(0, 2_000_000_000),
    st.sampled_from(["2014-01-31", "2014-01-31T12:00:00Z", "2020-05-01 10:00:00+02:00", "yesterday", "",
                     "1400000000", "2014-13-45", None, float("nan"), 1.5e9, 3.25]),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2030, 1, 1)),
)
texts = st.one_of(st.text(max_size=12), st.none(), st.integers(0, 2000), st.sampled_from(["Toy Story (1995)", "Shampoo"]))


good_ids = st.one_of(st.integers(0, 10**6), st.text(alphabet="AB0129xé-_", min_size=1, max_size=6).filter(str.strip))
good_times = st.one_of(st.integers(0, 2_000_000_000), st.sampled_from(["2014-01-31", "2014-02-01T12:00:00Z"]),
                       st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2030, 1, 1)))


def good_times_like(v):
    """A few times of the same kind as ``v``."""
    if isinstance(v, int):
        return [v + k * 997 for k in range(6)]
    if isinstance(v, str):
        return ["2014-01-31", "2014-02-01T12:00:00Z", "2015-06-30T23:59:59+05:00", "2015-06-30T23:59:59.5+05:00",
                "2016-02-29", "2016-02-29T00:00:01Z"]
    return [v + dt.timedelta(seconds=k * 1.25) for k in range(6)]


@st.composite
def clean_tables(draw):
    """Valid tables, then at most one real-world flaw (the result must load or fail cleanly)."""
    item_ids = draw(st.lists(good_ids, min_size=1, max_size=6, unique_by=lambda v: str(v)))
    titles = draw(st.lists(st.text(alphabet="abc XYZ(1995)é", min_size=1, max_size=15), min_size=len(item_ids),
                           max_size=len(item_ids)))
    items = pd.DataFrame({"item_id": pd.Series(item_ids, dtype=object), "title": titles})
    rows = []
    when = draw(good_times)  # one kind of time per file, as in real files
    for u in draw(st.lists(st.sampled_from(["u1", "u2", "AX9", 7]), min_size=1, max_size=4, unique=True)):
        for k in range(draw(st.integers(2, 6))):
            rows.append((u, draw(st.sampled_from(item_ids)), good_times_like(when)[k]))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).astype(object)
    flaw = draw(st.sampled_from(["none", "none", "duplicate row", "unknown item", "empty id", "bad time"]))
    if flaw == "duplicate row":
        inter = pd.concat([inter, inter.iloc[[0]]], ignore_index=True)
    elif flaw == "unknown item":
        inter.loc[0, "item_id"] = "NOT-AN-ITEM"
    elif flaw == "empty id":
        inter.loc[0, "user_id"] = None
    elif flaw == "bad time":
        inter.loc[0, "timestamp"] = "soon"
    return items, inter


@st.composite
def tables(draw):
    if draw(st.booleans()):
        return draw(clean_tables())
    n_items = draw(st.integers(0, 7))
    item_ids = draw(st.lists(ids, min_size=n_items, max_size=n_items))
    items = pd.DataFrame({"item_id": pd.Series(item_ids, dtype=object),
                          "title": pd.Series(draw(st.lists(texts, min_size=n_items, max_size=n_items)), dtype=object)})
    if draw(st.booleans()):
        items = items.drop(columns=["title"])  # no title and no text: must fail cleanly
    n = draw(st.integers(0, 24))
    pool = st.sampled_from(item_ids) if item_ids and draw(st.integers(0, 9)) else ids
    inter = pd.DataFrame({
        "user_id": pd.Series(draw(st.lists(st.one_of(st.sampled_from(["u1", "u2", 3, "u4"]), ids), min_size=n,
                                           max_size=n)), dtype=object),
        "item_id": pd.Series(draw(st.lists(pool, min_size=n, max_size=n)), dtype=object),
        "timestamp": pd.Series(draw(st.lists(times, min_size=n, max_size=n)), dtype=object),
    })
    if draw(st.booleans()):
        inter["rating"] = draw(st.lists(st.one_of(st.floats(0, 5), st.none()), min_size=n, max_size=n))
    return items, inter


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        try:
            df.to_parquet(path)
        except Exception:  # pyarrow refuses mixed-type object columns: not a file a user can have
            assume(False)
    return path


def _check_dataset(ds: Dataset) -> None:
    items, inter = ds.items, ds.interactions
    assert items["item_id"].is_unique and len(items) > 0
    assert inter["item_id"].isin(items["item_id"]).all()
    assert inter["user_id"].dtype == np.int64 and inter["timestamp"].dtype == np.int64
    per_user = inter.groupby("user_id")["split"].value_counts().unstack(fill_value=0)
    assert (per_user["test"] == 1).all() and (per_user["valid"] == 1).all() and (per_user["train"] >= 1).all()
    assert set(ds.queries["item_id"]) == set(items["item_id"])
    assert (items["text"].str.strip() != "").all()


@SETTINGS
@given(tables(), st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_any_table_loads_or_fails_in_one_line(data, ext):
    items, inter = data
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ipath, epath = _write(items, d / f"items{ext}"), _write(inter, d / f"events{ext}")
        out = d / "out"
        try:
            ds = prepare(source="files", items_path=str(ipath), interactions_path=str(epath), show_progress=False)
        except ValueError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg, msg
            assert not out.exists()
            hypothesis.event("refused")
            return
        hypothesis.event("loaded")
        _check_dataset(ds)
        ds.save(out)
        _check_dataset(Dataset.load(out))


@SETTINGS
@given(tables())
def test_the_cli_writes_a_dataset_or_nothing(data):
    items, inter = data
    d = Path(tempfile.mkdtemp())
    try:
        ipath, epath = _write(items, d / "items.csv"), _write(inter, d / "events.csv")
        out = d / "out"
        rc = main(["-q", "data", "prepare", "--source", "files", "--items", str(ipath), "--interactions", str(epath),
                   "--out", str(out)])
        assert rc in (0, 2)
        assert out.exists() == (rc == 0)
        if rc == 0:
            _check_dataset(Dataset.load(out))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@SETTINGS
@given(tables())
def test_schema_validation_in_memory(data):
    """The library entry points: validation returns normalised tables or raises a one-line ValueError."""
    items, inter = data
    try:
        it = validate_items(items.assign(text=items["title"]) if "title" in items else items)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert it["item_id"].is_unique
    assert it["item_id"].dtype == np.int64 or all(isinstance(v, str) and v == v.strip() and v for v in it["item_id"])
    try:
        ev = validate_interactions(inter, it["item_id"])
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert ev["timestamp"].dtype == np.int64 and ev["item_id"].isin(it["item_id"]).all()
    assert not any(isinstance(v, float) and math.isnan(v) for v in ev["user_id"])

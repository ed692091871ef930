"""The benchmark's split: per user, the last item is the test target and the one before it validation
(the protocol of TIGER and its reimplementations on Amazon Beauty), with string ids."""

from __future__ import annotations

import pandas as pd
import pytest

from semid.data.schema import SchemaError
from semid.data.splits import leave_last_out, make_dataset


def _interactions() -> pd.DataFrame:
    # rows out of time order; "u2" has a tie in time (input order decides); "u3" is too short
    rows = [("u1", "B03", 30), ("u1", "B01", 10), ("u1", "B04", 40), ("u1", "B02", 20),
            ("u2", "B02", 5), ("u2", "B05", 7), ("u2", "B01", 7), ("u2", "B03", 1),
            ("u3", "B01", 1), ("u3", "B02", 2)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_last_item_is_test_second_last_is_valid_and_short_users_go():
    df = leave_last_out(_interactions(), min_history=1)
    split = {(u, i): s for u, i, s in df[["user_id", "item_id", "split"]].itertuples(index=False)}
    assert split[("u1", "B04")] == "test" and split[("u1", "B03")] == "valid"
    assert split[("u1", "B01")] == split[("u1", "B02")] == "train"
    # u2: B05 and B01 share time 7; input order puts B01 last
    assert split[("u2", "B01")] == "test" and split[("u2", "B05")] == "valid"
    assert split[("u2", "B03")] == split[("u2", "B02")] == "train"
    assert "u3" not in set(df["user_id"])  # 2 interactions < min_history + 2
    assert (df.groupby("user_id")["split"].apply(lambda s: (s == "test").sum()) == 1).all()


def test_min_history_drops_users_without_enough_training_items():
    df = leave_last_out(_interactions(), min_history=2)
    assert set(df["user_id"]) == {"u1", "u2"}
    assert (leave_last_out(_interactions(), min_history=2)["split"] == "train").sum() == 4
    with pytest.raises(SchemaError, match="Lower --min-history"):  # nobody has 3 + 2 interactions
        leave_last_out(_interactions(), min_history=3)
    with pytest.raises(ValueError, match="min_history"):
        leave_last_out(_interactions(), min_history=0)


def test_rec_examples_test_history_is_train_plus_valid_in_time_order_and_ids_stay_strings():
    items = pd.DataFrame({"item_id": ["B01", "B02", "B03", "B04", "B05"],
                          "title": list("abcde"), "text": list("abcde")})
    queries = pd.DataFrame({"item_id": ["B01"], "text": ["q"], "split": ["test"]})
    ds = make_dataset(items, _interactions(), queries)
    examples = ds.rec_examples("test")
    assert len(examples) == 2
    idx = {iid: i for i, iid in enumerate(ds.items["item_id"])}
    histories = sorted([list(e.history) for e in examples])
    targets = sorted(int(e.target) for e in examples)
    # u1: B01, B02, B03 (valid joins the history) -> B04;  u2: B03, B02, B05 -> B01
    assert histories == sorted([[idx["B01"], idx["B02"], idx["B03"]], [idx["B03"], idx["B02"], idx["B05"]]])
    assert targets == sorted([idx["B04"], idx["B01"]])
    valid = ds.rec_examples("valid")
    assert sorted(int(e.target) for e in valid) == sorted([idx["B03"], idx["B05"]])
    assert list(ds.items["item_id"]) == ["B01", "B02", "B03", "B04", "B05"]  # ASIN-like ids kept as given
    assert ds.meta["split"]["kind"] == "leave-last-out"

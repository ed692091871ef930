"""IDs for new items from the saved quantizer (semid.ids.encode, `semid ids encode`): the free-suffix
rule on hand-made IDs with known answers, every scheme through build_ids, and bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semid.cli import main
from semid.ids import build_ids
from semid.ids.encode import (
    NewItems,
    assign_codes,
    encode_new_items,
    extend_ids,
    ids_fingerprint,
    quantizer_codes,
)
from semid.ids.types import SemanticIDs


def shared_suffix_ids() -> SemanticIDs:
    """Three items: (0,0) holds suffixes 0 and 1 (full: the suffix level has 2 values), (1,0) holds 0."""
    codes = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0]])
    return SemanticIDs(codes, ["a", "b", "c"], [2, 2, 2], {"search": [0, 1, 2], "rec": [0, 1, 2]},
                       config={"collisions": "suffix"}, bucket_rank={"search": np.array([0, 1, 0]),
                                                                       "rec": np.array([0, 1, 0])})


def test_free_suffix_then_sharing_when_the_suffix_level_is_full():
    ids = shared_suffix_ids()
    a = assign_codes(ids, np.array([[0, 0], [1, 0], [1, 1], [1, 0]]))
    # (0,0): both suffixes taken -> shares the last one; (1,0): suffix 1 is free; (1,1): a prefix no item has;
    # the second (1,0) finds both suffixes taken now (the first new item took 1) -> shares suffix 1
    assert a.codes.tolist() == [[0, 0, 1], [1, 0, 1], [1, 1, 0], [1, 0, 1]]
    assert a.shared.tolist() == [True, False, False, True]
    assert a.new_prefix.tolist() == [False, False, True, False]
    assert a.bucket_rank["search"].tolist() == [1, 0, 0, 1] and a.bucket_rank["rec"] is a.bucket_rank["search"]
    assert a.summary() == {"n_new": 4, "own_id": 2, "shared_id": 2, "unseen_quantizer_codes": 1}
    ext = extend_ids(ids, a)
    assert ext.n_items == 7 and ext.bucket_rank["search"].tolist() == [0, 1, 0, 1, 0, 0, 1]


def test_share_policy_puts_a_known_prefix_into_its_first_id():
    a = assign_codes(shared_suffix_ids(), np.array([[0, 0], [1, 0], [1, 1]]), suffix_policy="share")
    assert a.codes.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert a.bucket_rank["search"].tolist() == [1, 1, 0] and a.shared.tolist() == [True, True, False]
    with pytest.raises(ValueError, match=r"suffix_policy 'nearest' is unknown; choose one of \['free', 'share'\]"):
        assign_codes(shared_suffix_ids(), np.array([[0, 0]]), suffix_policy="nearest")


def test_without_suffix_a_new_item_joins_its_bucket_last():
    codes = np.array([[0, 1], [0, 1], [1, 0]])
    ids = SemanticIDs(codes, ["a", "b"], [2, 2], {"search": [0, 1], "rec": [0, 1]}, config={"collisions": "none"})
    a = assign_codes(ids, np.array([[0, 1], [1, 1], [1, 1]]))
    assert a.codes.tolist() == [[0, 1], [1, 1], [1, 1]]
    assert a.bucket_rank["search"].tolist() == [2, 0, 1]
    assert a.shared.tolist() == [True, False, True] and a.new_prefix.tolist() == [False, True, True]


def test_separate_scheme_gets_a_suffix_per_task():
    # columns: s0, r0, s1 (search suffix), r1 (rec suffix)
    codes = np.array([[0, 0, 0, 0], [0, 1, 1, 0]])
    ids = SemanticIDs(codes, ["s0", "r0", "s1", "r1"], [2, 2, 2, 1], {"search": [0, 2], "rec": [1, 3]},
                      scheme="separate", config={"collisions": "suffix"})
    a = assign_codes(ids, np.array([[1, 0]]))
    # search prefix 1 is new -> suffix 0; rec prefix 0 holds suffix 0 of a 1-value level -> shares it
    assert a.codes.tolist() == [[1, 0, 0, 0]]
    assert a.bucket_rank["search"].tolist() == [0] and a.bucket_rank["rec"].tolist() == [1]
    assert a.shared.tolist() == [True]


def test_bad_quantizer_codes_are_refused():
    ids = shared_suffix_ids()
    with pytest.raises(ValueError, match=r"shape \(m, 2\)"):
        assign_codes(ids, np.array([[0, 0, 0]]))
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        assign_codes(ids, np.array([[0, 5]]))


@pytest.fixture(scope="module")
def clustered():
    """60 items in 4 well separated clusters of 16-d vectors, of 30, 15, 10 and 5 items (the last
    cluster's buckets are small, so they have free suffixes)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 5
    label = np.repeat(np.arange(4), [30, 15, 10, 5])
    return (centres[label] + rng.normal(size=(60, 16)) * 0.1).astype(np.float32)


FAISS_RQ_ONE_LEVEL = pytest.mark.xfail(strict=True, reason=(
    "rq-kmeans (faiss-rq backend) with ONE level, prefix-share's shared quantizer: compute_codes depends on the "
    "batch (60 rows: every row code 0; the same rows 2 at a time: the nearest centroids), so the IDs built "
    "for the whole catalogue disagree with the codes of the same vectors encoded later"))


@pytest.mark.parametrize("scheme", ["shared", "separate", pytest.param("prefix-share", marks=FAISS_RQ_ONE_LEVEL)])
def test_a_copy_of_a_known_item_gets_its_quantizer_codes_and_an_id_of_its_own(clustered, scheme, tmp_path):
    x = clustered if scheme == "shared" else {"search": clustered, "rec": -clustered}
    built = build_ids(x, scheme=scheme, levels=2, codebook_size=4, show_progress=False)
    built.save(tmp_path / "ids")
    ids = SemanticIDs.load(tmp_path / "ids")
    rows = [55, 58]  # the small cluster
    new_x = clustered[rows] if scheme == "shared" else {"search": clustered[rows], "rec": -clustered[rows]}
    new = encode_new_items(tmp_path / "ids", new_x, ["n1", "n2"], ["New one", "New two"])
    nq = new.quantizer_codes.shape[1]
    assert new.quantizer_codes.tolist() == ids.codes[rows, :nq].tolist()
    for task in ids.tasks:  # an ID is shared only where the suffix level is full, and then it is counted
        old = {tuple(r) for r in ids.task_codes(task).tolist()}
        mine = [tuple(r) for r in new.codes[:, ids.tasks[task]].tolist()]
        assert sum(m in old for m in mine) <= new.info["shared_id"]
    assert new.info["own_id"] == 2 and new.info["shared_id"] == 0
    assert new.ids_fingerprint == ids_fingerprint(ids)
    new.save(tmp_path / "new")
    back = NewItems.load(tmp_path / "new")
    assert back.item_ids == ["n1", "n2"] and back.titles == ["New one", "New two"]
    assert np.array_equal(back.codes, new.codes) and back.ids_fingerprint == new.ids_fingerprint


def test_ids_encode_command_and_its_errors(clustered, tmp_path, capsys):
    build_ids(clustered, levels=2, codebook_size=4, show_progress=False).save(tmp_path / "ids")
    np.save(tmp_path / "new.npy", clustered[:3])
    pd.DataFrame({"item_id": [900, 901, 902], "title": ["A", "B", "C"]}).to_csv(tmp_path / "new.csv", index=False)
    args = ["ids", "encode", "--ids", str(tmp_path / "ids"), "--embeddings", str(tmp_path / "new.npy"),
            "--items", str(tmp_path / "new.csv"), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert "3 new items" in capsys.readouterr().out
    new = NewItems.load(tmp_path / "out")
    assert new.item_ids == [900, 901, 902] and new.codes.shape == (3, 3) and new.info["suffix_policy"] == "free"
    assert main([*args[:-1], str(tmp_path / "out2"), "--suffix", "share"]) == 0
    shared = NewItems.load(tmp_path / "out2")
    assert shared.info["suffix_policy"] == "share" and shared.info["shared_id"] == 3  # copies of known items

    # a model's ids/ copy has no quantizer
    SemanticIDs.load(tmp_path / "ids").save(tmp_path / "model_ids")
    assert main([*args[:3], str(tmp_path / "model_ids"), *args[4:]]) == 2
    assert "no quantizer/ directory" in capsys.readouterr().err
    # one item row short
    pd.DataFrame({"item_id": [900, 901]}).to_csv(tmp_path / "short.csv", index=False)
    assert main([*args[:7], str(tmp_path / "short.csv"), *args[8:]]) == 2
    assert "lists 2 items but the embeddings have 3 rows" in capsys.readouterr().err
    # vectors of another dimension
    np.save(tmp_path / "wrong.npy", np.zeros((3, 8), np.float32))
    assert main([*args[:5], str(tmp_path / "wrong.npy"), *args[6:]]) == 2
    assert "fitted on dim 16" in capsys.readouterr().err
    # no item_id column
    pd.DataFrame({"id": [1, 2, 3]}).to_csv(tmp_path / "noid.csv", index=False)
    assert main([*args[:7], str(tmp_path / "noid.csv"), *args[8:]]) == 2
    assert "no item_id column" in capsys.readouterr().err


def test_duplicate_new_item_ids_are_refused(clustered, tmp_path):
    build_ids(clustered, levels=2, codebook_size=4, show_progress=False).save(tmp_path / "ids")
    with pytest.raises(ValueError, match=r"item id\(s\) \[7\] more than once"):
        encode_new_items(tmp_path / "ids", clustered[:2], [7, 7])
    assert quantizer_codes(tmp_path / "ids", clustered[:2]).shape == (2, 2)

"""A model refuses IDs and data of another fingerprint, not only of another item count (issue #17)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from semid.evaluate.generative import evaluate_generative, random_id_baseline
from semid.generative import TrainConfig, load_model, train_model
from semid.generative.fingerprint import check_ids_data, data_fingerprint, model_ids_fingerprint
from semid.ids.encode import ids_fingerprint
from semid.ids.types import SemanticIDs
from semid.io import read_json, write_json
from tests.conftest import build_tiny_dataset

TINY = dict(backend="t5", batch_size=16, lr=3e-3, small_vocab_size=120, small_d_model=32, small_d_ff=64, small_layers=1,
            small_decoder_layers=1, small_heads=2, max_history=5, max_steps=2, epochs=1)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ids(dataset, seed: int) -> SemanticIDs:
    rng = np.random.default_rng(seed)
    codes = np.stack([np.arange(dataset.n_items) % 4, rng.integers(0, 5, dataset.n_items)], 1)
    ids = SemanticIDs(codes, ["a", "b"], [4, 5], {"search": [0, 1], "rec": [0, 1]})
    ids.config["data_fingerprint"] = data_fingerprint(dataset)  # as `semid run` writes it
    return ids


@pytest.fixture(scope="module")
def two_worlds(tmp_path_factory):
    """Datasets A and B with the same item count but other items; IDs for each; a model trained on A."""
    a, b = build_tiny_dataset(seed=0), build_tiny_dataset(seed=1)
    assert a.n_items == b.n_items
    ids_a, ids_b = _ids(a, 0), _ids(b, 1)
    model = tmp_path_factory.mktemp("fp") / "model"
    train_model(a, ids_a, TrainConfig(**TINY), model, show_progress=False)
    return a, b, ids_a, ids_b, model


def test_one_ids_fingerprint_and_the_model_records_both(two_worlds):
    a, b, ids_a, _, model = two_worlds
    cfg = read_json(model / "config.json")
    assert cfg["ids_fingerprint"] == ids_fingerprint(ids_a)[:12] == model_ids_fingerprint(ids_a)
    assert cfg["data_fingerprint"] == data_fingerprint(a) != data_fingerprint(b)


def test_same_item_count_other_dataset_is_refused_by_evaluation(two_worlds):
    a, b, _, _, model = two_worlds
    assert evaluate_generative(model, a, k=5, max_examples=4, show_progress=False).metrics  # its own data works
    with pytest.raises(ValueError, match="trained on another dataset.*data fingerprint") as err:
        evaluate_generative(model, b, k=5, max_examples=4, show_progress=False)
    assert "\n" not in str(err.value) and str(model) in str(err.value)


def test_model_refuses_ids_of_the_other_dataset(two_worlds, tmp_path):
    _, _, _, ids_b, model = two_worlds
    swapped = tmp_path / "model"
    shutil.copytree(model, swapped)
    shutil.rmtree(swapped / "ids")
    ids_b.save(swapped / "ids")
    with pytest.raises(ValueError, match="not the ones this model was trained on") as err:
        load_model(swapped)
    assert "\n" not in str(err.value)


def test_training_and_baseline_refuse_ids_built_for_other_data(two_worlds, tmp_path):
    a, b, ids_a, _, _ = two_worlds
    with pytest.raises(ValueError, match="built for another dataset"):
        train_model(b, ids_a, TrainConfig(**TINY), tmp_path / "m", show_progress=False)
    assert not (tmp_path / "m").exists()  # refused before anything is written
    with pytest.raises(ValueError, match="built for another dataset"):
        random_id_baseline(b, ids_a, k=5, max_examples=4)
    check_ids_data(ids_a, a)  # its own data passes
    plain = SemanticIDs(ids_a.codes, ids_a.level_names, ids_a.level_sizes, ids_a.tasks)
    check_ids_data(plain, b)  # IDs that record no dataset (semid ids build) are not refused


def test_finished_model_dir_is_not_reused_for_other_data(two_worlds, tmp_path):
    a, b, ids_a, _, model = two_worlds
    ids_plain = SemanticIDs(ids_a.codes, ids_a.level_names, ids_a.level_sizes, ids_a.tasks)
    assert b.meta["source"] == a.meta["source"]  # same run key: only the fingerprint tells them apart
    out = tmp_path / "model"
    shutil.copytree(model, out)
    with pytest.raises(FileExistsError, match="trained on another dataset"):
        train_model(b, ids_plain, TrainConfig(**TINY), out, show_progress=False)


def test_old_model_without_data_fingerprint_loads_and_warns_once(two_worlds, tmp_path, caplog):
    a, _, _, _, model = two_worlds
    old = tmp_path / "old"
    shutil.copytree(model, old)
    cfg = read_json(old / "config.json")
    del cfg["data_fingerprint"]
    write_json(old / "config.json", cfg)
    with caplog.at_level(logging.WARNING, logger="semid.generative.fingerprint"):
        for _ in range(2):
            evaluate_generative(old, a, k=5, max_examples=4, show_progress=False)
    warned = [r for r in caplog.records if "no data fingerprint" in r.getMessage()]
    assert len(warned) == 1


def test_semid_ids_build_records_the_dataset_of_its_embeddings(two_worlds, tmp_path):
    """`semid ids build` on an embeddings directory writes its dataset's fingerprint into the IDs, so
    training on other data with the same item count is refused (IDs from a plain .npy record none)."""
    from semid.cli import main
    from semid.embed.base import ItemEmbeddings, dataset_hash

    a, b, _, _, _ = two_worlds
    x = np.random.default_rng(0).normal(size=(a.n_items, 8)).astype(np.float32)
    emb = ItemEmbeddings(x, {"method": "toy", "data_hash": dataset_hash(a)}, None, a.items["item_id"].to_numpy())
    emb.save(tmp_path / "emb")
    np.save(tmp_path / "plain.npy", x)
    for src, out in ((tmp_path / "emb", "ids"), (tmp_path / "plain.npy", "ids-plain")):
        assert main(["ids", "build", "--embeddings", str(src), "--levels", "2", "--codebook-size", "4",
                     "--out", str(tmp_path / out), "--no-progress"]) == 0
    ids = SemanticIDs.load(tmp_path / "ids")
    assert ids.config["data_fingerprint"] == data_fingerprint(a)
    check_ids_data(ids, a)
    with pytest.raises(ValueError, match="built for another dataset"):
        check_ids_data(ids, b)
    assert "data_fingerprint" not in SemanticIDs.load(tmp_path / "ids-plain").config

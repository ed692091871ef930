"""ID schemes, collision modes and bucket orders are registries (issue 16): the CLI, build_ids and the
experiment config all read them, so a new entry is one class plus one registration line."""

from __future__ import annotations

import numpy as np
import pytest

from semid.cli import main
from semid.experiment.config import DatasetSpec, ExperimentConfig, SchemeSpec
from semid.ids import build_ids
from semid.ids.collisions import (
    BUCKET_ORDERS,
    COLLISION_MODES,
    DEFAULT_COLLISIONS,
    Buckets,
    CollisionHandler,
    add_suffix,
    bucket_rank,
    order_scores,
    resolve_bucket_order,
)
from semid.ids.schemes import DEFAULT_SCHEME, SCHEMES, SeparateScheme
from semid.registry import Entry


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    centres = 3 * rng.normal(size=(6, 8))
    return (centres[rng.integers(0, 6, 300)] + 0.2 * rng.normal(size=(300, 8))).astype(np.float32)


class _Twice(CollisionHandler):
    """A toy mode: the suffix, then a constant column (two appended levels)."""

    name = "twice"

    def apply(self, codes, order_scores=None):
        rank, size = bucket_rank(codes, order_scores)
        return Buckets(rank, np.stack([rank, np.zeros_like(rank)], axis=1), [int(size.max()), 1])


class _Mirror(SeparateScheme):
    name = "mirror"


def test_every_entry_has_a_help_line_and_loads_under_its_own_name():
    assert list(SCHEMES) == ["shared", "separate", "prefix-share"]
    assert list(COLLISION_MODES) == ["none", "suffix"]
    assert list(BUCKET_ORDERS) == ["popularity", "centroid", "index"]
    for reg in (SCHEMES, COLLISION_MODES):
        for name in reg:
            assert reg.entry(name).help and reg[name].name == name
    assert DEFAULT_SCHEME in SCHEMES and DEFAULT_COLLISIONS in COLLISION_MODES


def test_ids_build_help_lists_each_registered_scheme_and_mode_with_its_help(capsys):
    with pytest.raises(SystemExit):
        main(["ids", "build", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for reg in (SCHEMES, COLLISION_MODES, BUCKET_ORDERS):
        for name in reg:
            assert f"{name}: {' '.join(reg.entry(name).help.split())}" in out, name


def test_ids_build_rejects_an_unregistered_scheme_naming_the_valid_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ids", "build", "--embeddings", "x.npy", "--scheme", "joint", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "'joint'" in capsys.readouterr().err


def test_build_uses_the_same_suffix_as_add_suffix(X):
    built = build_ids(X, codebook_size=4, collisions="suffix", bucket_order="index", show_progress=False)
    quantizer_codes = built.quantizers["shared"].encode(X)
    np.testing.assert_array_equal(built.ids.codes, add_suffix(quantizer_codes)[0])
    assert built.ids.level_sizes[-1] == add_suffix(quantizer_codes)[1]


def test_a_registered_collision_mode_reaches_build_ids_and_the_config(X, monkeypatch):
    monkeypatch.setitem(COLLISION_MODES._entries, "twice", Entry("twice", "toy", _Twice))
    ids = build_ids(X, codebook_size=4, collisions="twice", show_progress=False).ids
    assert ids.level_names == ["a", "b", "c", "d"] and ids.tasks["search"] == [0, 1, 2, 3]
    assert (ids.codes[:, 3] == 0).all()
    ExperimentConfig(datasets=[DatasetSpec("d")], collisions=["twice"])  # accepted: the config reads the registry
    monkeypatch.delitem(COLLISION_MODES._entries, "twice")
    with pytest.raises(ValueError, match=r"collisions 'twice' is not one of \['none', 'suffix'\]"):
        ExperimentConfig(datasets=[DatasetSpec("d")], collisions=["twice"])


def test_a_registered_scheme_reaches_build_ids_and_the_config(X, monkeypatch):
    monkeypatch.setitem(SCHEMES._entries, "mirror", Entry("mirror", "toy", _Mirror))
    ids = build_ids({"search": X, "rec": X[:, ::-1].copy()}, scheme="mirror", codebook_size=4,
                    show_progress=False).ids
    assert ids.scheme == "mirror" and ids.level_names == ["s0", "s1", "r0", "r1", "s2", "r2"]
    row = SchemeSpec(name="m", scheme="mirror", search="a", rec="b")
    assert row.embedding_names() == ["a", "b"]


def test_bucket_orders_known_answers():
    vectors = np.array([[0.0], [3.0], [1.0]], dtype=np.float32)
    recon = np.zeros_like(vectors)
    pop = np.array([5.0, 1.0, 9.0])
    assert order_scores("centroid", vectors, recon).tolist() == [0.0, -9.0, -1.0]  # the nearest first
    assert order_scores("popularity", vectors, recon, pop) is pop
    assert order_scores("index", vectors, recon) is None
    assert resolve_bucket_order("auto", pop, 3)[0] == "popularity"
    assert resolve_bucket_order("auto", None, 3) == ("centroid", None)
    with pytest.raises(ValueError, match="shape"):
        resolve_bucket_order("popularity", pop[:2], 3)

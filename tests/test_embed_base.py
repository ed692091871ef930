"""ItemEmbeddings artifact, load_embeddings, registry and fusion."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semid.embed import (
    EmbeddingError,
    ItemEmbeddings,
    build_embeddings,
    get_embedder,
    load_embeddings,
    make_config,
)
from semid.embed.fusion import fuse_concat, fuse_svd, l2_normalize


def _emb(n=40, d=8, seed=0, ids=None, method="x"):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return ItemEmbeddings(x, {"method": method}, None, ids)


def test_save_load_roundtrip_keeps_vectors_ids_and_meta(tmp_path):
    e = _emb(ids=np.arange(100, 140))
    e.user_vectors = np.ones((3, 8), np.float32)
    e.user_ids = np.array([5, 6, 7])
    e.__post_init__()
    e.save(tmp_path / "emb")
    got = load_embeddings(tmp_path / "emb")
    np.testing.assert_array_equal(got.vectors, e.vectors)
    np.testing.assert_array_equal(got.item_ids, np.arange(100, 140))
    np.testing.assert_array_equal(got.user_ids, [5, 6, 7])
    meta = json.loads((tmp_path / "emb" / "meta.json").read_text())
    assert meta["dim"] == 8 and meta["n_items"] == 40 and meta["method"] == "x" and "item_ids_hash" in meta
    assert got.vectors.dtype == np.float32


def test_load_plain_npy(tmp_path):
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    got = load_embeddings(tmp_path / "x.npy")
    np.testing.assert_array_equal(got.vectors, x)
    assert got.meta == {} and got.item_ids is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_vector_is_rejected_with_row(tmp_path, bad):
    x = np.zeros((4, 3), np.float32)
    x[2, 1] = bad
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(EmbeddingError, match=r"NaN or inf.*\[2\]"):
        load_embeddings(tmp_path / "x.npy")


def test_embeddings_and_quantizers_share_one_vector_validator():
    from semid.embed.base import check_vectors
    from semid.ids.base import validate_embeddings

    big = np.full((3, 2), 1e39)  # float64 beyond float32's range: inf once cast
    for check in (check_vectors, validate_embeddings):
        with pytest.raises(EmbeddingError, match=r"3 row\(s\) hold NaN or inf \(first: row 0"):
            check(big, "v")
        with pytest.raises(TypeError, match="float32"):  # also an EmbeddingError
            check(np.zeros((3, 2), np.int64), "v")
        with pytest.raises(EmbeddingError, match="2-D"):
            check(np.zeros(3, np.float32), "v")
    assert validate_embeddings(np.zeros((0, 2), np.float64), min_items=0).dtype == np.float32
    with pytest.raises(EmbeddingError, match="empty"):
        check_vectors(np.zeros((0, 2), np.float32))


@pytest.mark.parametrize("arr,msg", [(np.zeros(4, np.float32), "2-D"), (np.zeros((4, 3), np.int64), "float32"),
                                     (np.zeros((4, 3), np.float64), "float32")])
def test_wrong_shape_or_dtype_is_rejected(tmp_path, arr, msg):
    np.save(tmp_path / "x.npy", arr)
    with pytest.raises(EmbeddingError, match=msg):
        load_embeddings(tmp_path / "x.npy")


def test_unknown_method_lists_valid_ones(tiny_dataset):
    with pytest.raises(ValueError, match=r"unknown embedding method 'bert'.*content.*fused-svd"):
        build_embeddings(tiny_dataset, "bert")
    with pytest.raises(ValueError, match="unknown embedding method"):
        get_embedder("Content")  # exact names only


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="unknown key"):
        make_config("rec", {"epochz": 3})
    with pytest.raises(ValueError, match="lr"):
        make_config("search", {"lr": -1.0})


def test_paper_defaults():
    s, r = make_config("search"), make_config("rec")
    assert (s.epochs, s.batch_size, s.lr) == (5, 512, 2e-5)
    assert (r.epochs, r.batch_size, r.dim, r.lr) == (30, 512, 256, 1e-3)


def test_fuse_concat_is_normalised_halves():
    a, b = _emb(d=4).vectors, _emb(d=6, seed=1).vectors
    f = fuse_concat(a, b)
    assert f.shape == (40, 10)
    np.testing.assert_allclose(np.linalg.norm(f[:, :4], axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(f[:, 4:], l2_normalize(b), rtol=1e-6)


def test_fuse_svd_reduces_the_wider_input_and_adds():
    a = _emb(d=4).vectors
    b = _emb(d=12, seed=1).vectors
    f = fuse_svd(a, b)
    assert f.shape == (40, 4) and f.dtype == np.float32
    # the residual after removing the small part is the SVD projection of normalise(b): rank <= 4
    # and it preserves normalise(b)'s Gram matrix up to the discarded components.
    resid = f - l2_normalize(a)
    nb = l2_normalize(b)
    s = np.linalg.svd(nb, compute_uv=False)
    np.testing.assert_allclose(np.sort(np.linalg.svd(resid, compute_uv=False))[::-1], s[:4], rtol=1e-3)


def test_fused_inputs_must_match_counts_and_order(tiny_dataset):
    ids = tiny_dataset.items["item_id"].to_numpy()
    a = _emb(ids=ids)
    with pytest.raises(EmbeddingError, match="different item counts"):
        build_embeddings(tiny_dataset, "fused-concat", inputs=[a, _emb(n=39)], show_progress=False)
    with pytest.raises(EmbeddingError, match="different orders"):
        build_embeddings(tiny_dataset, "fused-svd", inputs=[a, _emb(ids=ids[::-1].copy())], show_progress=False)
    with pytest.raises(ValueError, match="two input"):
        build_embeddings(tiny_dataset, "fused-svd", inputs=[a], show_progress=False)
    f = build_embeddings(tiny_dataset, "fused-concat", inputs=[a, _emb(ids=ids, d=3)], show_progress=False)
    assert f.vectors.shape == (40, 11) and f.meta["method"] == "fused-concat" and f.meta["data_hash"]


def test_fuse_svd_with_fewer_items_than_dimensions_keeps_the_gram_matrix():
    # regression: 100 items, 384-d content + 256-d rec made TruncatedSVD fail (k >= n)
    a = _emb(n=5, d=8).vectors
    b = _emb(n=5, d=16, seed=1).vectors
    f = fuse_svd(a, b)
    assert f.shape == (5, 8)
    resid = (f - l2_normalize(a)).astype(np.float64)
    nb = l2_normalize(b).astype(np.float64)
    np.testing.assert_allclose(resid @ resid.T, nb @ nb.T, atol=1e-5)

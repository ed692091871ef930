"""Contract tests run against every registered quantizer, plus per-method bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from semid.ids import QUANTIZERS, Quantizer, load_quantizer, make_quantizer
from semid.ids.base import get_quantizer_class
from semid.ids.dictionary import sparse_codes_to_tokens
from semid.ids.rq_kmeans import unpack_faiss_codes

K = 16
FAST = {"rq-vae": {"epochs": 3, "batch_size": 256, "num_threads": 1},
        "rlfq": {"epochs": 3, "batch_size": 256, "num_threads": 1},
        "dict": {"max_iter": 2}}
# error bound of decode(encode(x)) relative to sum ||x||^2 on the clustered data below.
# The data carry ~20% of their energy in per-item noise (1/(1+0.5^2*32/32)... see _data);
# a quantizer that ignored its input would score ~1.0.
ERR_BOUND = {"rq-kmeans": 0.5, "rq-vae": 0.95, "rlfq": 0.99, "dict": 0.8}


def _data(n: int = 1500, d: int = 24, k: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = 3 * rng.normal(size=(k, d))
    return (centers[rng.integers(0, k, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return _data()


@pytest.fixture(scope="module", params=["rq-kmeans", "rq-vae", "rlfq", "dict"])
def fitted(request, X) -> tuple[str, Quantizer, np.ndarray]:
    method = request.param
    q = make_quantizer(method, levels=2, codebook_size=K, seed=0, show_progress=False, **FAST.get(method, {}))
    q.fit(X)
    return method, q, q.encode(X)


def test_registry_lists_every_method_and_rejects_unknown_names():
    get_quantizer_class("rq-kmeans")
    assert set(QUANTIZERS) == {"rq-kmeans", "rq-vae", "rlfq", "dict"}
    with pytest.raises(ValueError, match="valid methods"):
        get_quantizer_class("rq_kmeans")


def test_codes_are_int64_and_in_range(fitted, X):
    _, q, codes = fitted
    assert codes.dtype == np.int64 and codes.shape == (len(X), 2)
    assert codes.min() >= 0 and codes.max() < K


def test_same_seed_gives_same_codes(fitted, X):
    method, _, codes = fitted
    q2 = make_quantizer(method, levels=2, codebook_size=K, seed=0, show_progress=False, **FAST.get(method, {}))
    np.testing.assert_array_equal(q2.fit(X).encode(X), codes)


def test_reconstruction_error_under_bound(fitted, X):
    method, q, codes = fitted
    recon = q.decode(codes)
    assert recon.shape == X.shape and recon.dtype == np.float32
    err = ((X - recon) ** 2).sum() / (X**2).sum()
    assert err < ERR_BOUND[method], f"{method}: relative error {err:.3f}"


def test_save_load_round_trip(fitted, X, tmp_path):
    method, q, codes = fitted
    q.save(tmp_path / "q")
    q2 = load_quantizer(tmp_path / "q")
    assert type(q2) is type(q) and q2.level_sizes == q.level_sizes
    np.testing.assert_array_equal(q2.encode(X), codes)
    np.testing.assert_allclose(q2.decode(codes), q.decode(codes), rtol=1e-5, atol=1e-5)
    assert type(q).load(tmp_path / "q").dim == X.shape[1]


@pytest.mark.parametrize("method", ["rq-kmeans", "rq-vae", "rlfq", "dict"])
def test_bad_inputs_get_clear_errors(method, X):
    q = make_quantizer(method, levels=2, codebook_size=K, show_progress=False, **FAST.get(method, {}))
    bad = X.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        q.fit(bad)
    bad[5, 3] = np.inf
    with pytest.raises(ValueError, match="row 5"):
        q.fit(bad)
    with pytest.raises(ValueError, match="at least 16"):
        q.fit(X[:10])
    with pytest.raises(TypeError, match="float32"):
        q.fit(X.astype(np.int32))
    with pytest.raises(ValueError, match="2-D"):
        q.fit(X[0])
    with pytest.raises(RuntimeError, match="fit"):
        q.encode(X)


def test_encode_rejects_wrong_dim_and_decode_rejects_out_of_range(fitted, X):
    _, q, codes = fitted
    with pytest.raises(ValueError, match="dim"):
        q.encode(X[:, :5].copy())
    bad = codes.copy()
    bad[0, 1] = K
    with pytest.raises(ValueError, match="outside"):
        q.decode(bad)


def test_sizes_a_method_cannot_take_are_rejected():
    with pytest.raises(ValueError, match="power-of-two"):
        make_quantizer("rlfq", codebook_size=12)
    with pytest.raises(ValueError, match="one codebook size"):
        make_quantizer("rlfq", codebook_size=[16, 8])
    with pytest.raises(ValueError, match="power-of-two"):
        make_quantizer("rq-kmeans", codebook_size=100)
    with pytest.raises(ValueError, match="one codebook size"):
        make_quantizer("dict", codebook_size=[16, 8])
    with pytest.raises(ValueError, match="levels"):
        make_quantizer("rq-kmeans", levels=2, codebook_size=[16, 16, 16])
    with pytest.raises(ValueError, match="unknown preset"):
        make_quantizer("rq-vae", preset="fancy")
    with pytest.raises(ValueError, match="unknown option"):
        make_quantizer("rq-kmeans", epochs=3)


def test_rq_kmeans_takes_per_level_sizes_and_any_size_with_kmeans_backend(X):
    q = make_quantizer("rq-kmeans", levels=2, codebook_size=[16, 4]).fit(X)
    c = q.encode(X)
    assert c[:, 0].max() < 16 and c[:, 1].max() < 4 and c[:, 1].max() >= 2
    q = make_quantizer("rq-kmeans", levels=2, codebook_size=[12, 5], backend="kmeans").fit(X)
    c = q.encode(X)
    assert c[:, 0].max() < 12 and c[:, 1].max() < 5
    # 12 well separated clusters, 12 codes: level 0 recovers them
    assert len(np.unique(c[:, 0])) == 12


def test_faiss_code_unpacking_matches_faiss_decode(X):
    q = make_quantizer("rq-kmeans", levels=3, codebook_size=[8, 4, 16]).fit(X)
    packed = q._rq.compute_codes(X)
    codes = unpack_faiss_codes(packed, [3, 2, 4])
    np.testing.assert_allclose(q.decode(codes), q._rq.decode(packed), atol=1e-5)


def test_dictionary_token_rule_takes_strongest_atoms_in_order():
    coefs = np.array([[0.0, -3.0, 1.0, 2.0], [0.5, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(sparse_codes_to_tokens(coefs, 2), [[1, 3], [0, 1]])


def test_rq_vae_records_training_curve(X):
    q = make_quantizer("rq-vae", levels=2, codebook_size=K, epochs=2, batch_size=256, num_threads=1, show_progress=False)
    q.fit(X)
    curve = q.fit_info["training_curve"]
    assert curve["epoch"] == [1, 2]
    for key in ("loss", "recon_loss", "quant_loss"):
        assert len(curve[key]) == 2 and all(np.isfinite(curve[key]))
    assert all(len(c) == 2 and 1 <= min(c) and max(c) <= K for c in curve["codes_in_use"])

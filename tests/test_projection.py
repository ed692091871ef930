"""The fixed ``pca`` projection of encoder states (semid.generative.backends.projection)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from semid.generative.backends.projection import PCAProjection


def correlated(n: int = 3000, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.linspace(5, 0.1, d)) @ np.linalg.qr(rng.normal(size=(d, d)))[0] + 3.0


def test_components_span_sklearns_principal_subspace():
    x = correlated()
    proj = PCAProjection(16, 4).fit(x)
    ref = PCA(4).fit(x).components_.T
    np.testing.assert_allclose(proj.mean.numpy(), x.mean(0), atol=1e-5)
    # same components up to sign
    np.testing.assert_allclose(np.abs(proj.components.numpy().T @ ref), np.eye(4), atol=1e-4)


def test_output_is_layer_normed_projection_and_batch_path_agrees():
    x = correlated()
    proj = PCAProjection(16, 4).fit(x)
    y = proj(torch.from_numpy(x[:10]).float()).numpy()
    z = (x[:10] - x.mean(0)) @ proj.components.numpy().astype(np.float64)
    z = (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, z, atol=1e-4)
    np.testing.assert_allclose(proj.project_states(x.astype(np.float16), chunk=7)[:10],
                               proj(torch.from_numpy(x[:10].astype(np.float16).astype(np.float32))).numpy(), atol=1e-5)


def test_fit_is_deterministic_in_sign_and_order_of_rows():
    x = correlated()
    a = PCAProjection(16, 4).fit(x).components
    b = PCAProjection(16, 4).fit(-x + 2 * x.mean(0)).components  # the same cloud mirrored: same axes
    assert torch.allclose(a, b, atol=1e-4)
    rows = np.random.default_rng(1).permutation(len(x))
    c = PCAProjection(16, 4).fit(x[rows], max_tokens=len(x)).components
    assert torch.allclose(a, c, atol=1e-4)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="d_model is 32; set d_model <= 16"):
        PCAProjection(16, 32)
    with pytest.raises(ValueError, match="needs encoder states"):
        PCAProjection(16, 4).fit(np.zeros((1, 16)))
    assert not PCAProjection(16, 4).fitted


def test_projection_survives_a_state_dict_round_trip():
    proj = PCAProjection(16, 4).fit(correlated())
    other = PCAProjection(16, 4)
    other.load_state_dict(proj.state_dict())
    assert other.fitted and torch.equal(other.components, proj.components)


def test_fit_on_query_and_item_text_states_gives_each_an_equal_share():
    # a few long item texts must not be drowned by many short queries, nor the reverse
    a, b = correlated(4000, seed=0), correlated(40, seed=1) * 3.0
    got = PCAProjection(16, 4).fit([a, b], max_tokens=80)
    rows_a = np.unique(np.linspace(0, len(a) - 1, 40).astype(np.int64))
    ref = PCAProjection(16, 4).fit(np.concatenate([a[rows_a], b]), max_tokens=10**6)
    assert torch.allclose(got.components, ref.components, atol=1e-5)
    assert torch.allclose(got.mean, ref.mean, atol=1e-5)


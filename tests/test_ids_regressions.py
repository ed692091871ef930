"""Regression tests named after failures seen in real runs."""

from __future__ import annotations

import numpy as np

from semid.ids import build_ids


def test_rq_kmeans_with_fewer_items_than_dimensions():
    """faiss's progressive-dim training failed with 'PCA matrix cannot output 384 dimensions from 384'
    on a 300-item catalogue of 384-d embeddings (the quickstart)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 384)).astype(np.float32)
    built = build_ids(x, method="rq-kmeans", levels=2, codebook_size=32, collisions="suffix", show_progress=False)
    codes = built.ids.codes
    assert codes.shape == (300, 3)
    assert codes[:, :2].max() < 32 and codes.min() >= 0
    assert built.ids.diagnostics["collision_rate"] == 0.0

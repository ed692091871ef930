"""Neighbour coherence of Semantic IDs (semid.studies.rqvae_coherence), on vectors with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from semid.studies.rqvae_coherence import _neighbours, neighbour_coherence


def clusters(n_per: int = 30, n_clusters: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:n_clusters] * 10
    X = np.concatenate([c + rng.normal(scale=0.1, size=(n_per, 8)) for c in centres]).astype(np.float32)
    return X, np.repeat(np.arange(n_clusters), n_per)


def test_ids_that_follow_the_clusters_are_coherent_and_scrambled_ids_are_not():
    X, cluster = clusters()
    # level 1: the cluster; level 2: position inside it (every item its own ID)
    codes = np.stack([cluster, np.arange(len(X)) % 30], 1)
    good = neighbour_coherence(X, codes, k=10)
    assert good["l1"] == 1.0 and good["id"] == 0.0 and good["l1_codes"] == 4
    scrambled = np.random.default_rng(1).permutation(codes)
    bad = neighbour_coherence(X, scrambled, k=10)
    assert bad["l1"] < 0.5  # about 1/4 by chance
    one_code = np.zeros_like(codes)  # a collapsed quantizer: trivially "coherent"
    assert neighbour_coherence(X, one_code, k=10) == {"l1": 1.0, "id": 1.0, "l1_codes": 1}


def test_neighbours_are_exact_and_exclude_the_item_itself():
    X, _ = clusters(n_per=10, n_clusters=3)
    nn = _neighbours(X, 3, chunk=7)  # chunks that do not divide n
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sim = Xn @ Xn.T
    np.fill_diagonal(sim, -np.inf)
    ref = np.argsort(-sim, axis=1)[:, :3]
    assert (np.sort(nn, 1) == np.sort(ref, 1)).all()
    assert not (nn == np.arange(len(X))[:, None]).any()


def test_bad_inputs_name_the_problem():
    X, cluster = clusters(n_per=3, n_clusters=2)
    with pytest.raises(ValueError, match="do not match"):
        neighbour_coherence(X, cluster[:, None][:-1], k=2)
    with pytest.raises(ValueError, match="more than k=10"):
        neighbour_coherence(X, cluster[:, None], k=10)

"""ENMF: the efficient whole-data loss equals the brute-force objective; training learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semid.embed import build_embeddings
from semid.embed.enmf import enmf_loss, enmf_loss_bruteforce


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_efficient_loss_equals_bruteforce_on_tiny_data(seed):
    g = torch.Generator().manual_seed(seed)
    B, n, d, c0 = 5, 9, 4, 0.3
    p = torch.randn(B, d, generator=g, dtype=torch.float64)
    q = torch.randn(n, d, generator=g, dtype=torch.float64)
    h = torch.randn(d, generator=g, dtype=torch.float64)
    r = (torch.rand(B, n, generator=g) < 0.35).double()
    rows, items = torch.nonzero(r, as_tuple=True)
    eff = enmf_loss(p, q, h, rows, items, c0)
    brute = enmf_loss_bruteforce(p, q, h, r, c0)
    torch.testing.assert_close(eff, brute, rtol=1e-10, atol=1e-10)
    # and the gradients agree too
    for t in (p, q, h):
        t.requires_grad_()
    ge = torch.autograd.grad(enmf_loss(p, q, h, rows, items, c0), (p, q, h))
    gb = torch.autograd.grad(enmf_loss_bruteforce(p, q, h, r, c0), (p, q, h))
    for a, b in zip(ge, gb, strict=True):
        torch.testing.assert_close(a, b)


def test_bruteforce_is_the_weighted_squared_error():
    # one user, two items, item 0 observed: c=1 on it, c0 on item 1
    p = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    h = torch.tensor([0.5, 0.25], dtype=torch.float64)
    r = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    # y = [0.5, 0.5]; loss = 1*(1-0.5)^2 + 0.2*(0-0.5)^2 - 1
    got = enmf_loss_bruteforce(p, q, h, r, 0.2)
    assert float(got) == pytest.approx(0.25 + 0.2 * 0.25 - 1.0)


def test_enmf_scores_users_history_genre_above_others(tiny_dataset):
    emb = build_embeddings(tiny_dataset, "rec", {"epochs": 60, "dim": 16, "lr": 0.05, "dropout": 0.0},
                           seed=0, show_progress=False)
    assert emb.vectors.shape == (40, 16)
    assert emb.meta["training"]["loss_last"] < emb.meta["training"]["loss_first"]
    # tiny world: user u likes genre u % 4; items of genre g are rows i with i % 4 == g
    scores = emb.user_vectors @ emb.vectors.T
    for row, u in enumerate(emb.user_ids):
        genre_items = np.arange(40) % 4 == u % 4
        assert scores[row, genre_items].mean() > scores[row, ~genre_items].mean()


def test_enmf_same_seed_same_vectors(tiny_dataset):
    a = build_embeddings(tiny_dataset, "rec", {"epochs": 2, "dim": 8}, seed=3, show_progress=False)
    b = build_embeddings(tiny_dataset, "rec", {"epochs": 2, "dim": 8}, seed=3, show_progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)

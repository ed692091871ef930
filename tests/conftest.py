"""Shared test fixtures. Helpers of one stage keep their own fixtures in their test files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semid.data import Dataset, make_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEMID_SHARED_DATA", REPO.parent / "shared" / "data"))
ML_SMALL = SHARED_DATA / "ml-latest-small"


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (tiny models train faster so on 2 shared cores)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def ml_small_dir() -> Path:
    """The real MovieLens ml-latest-small copy beside the checkout (skips when absent)."""
    if not (ML_SMALL / "movies.csv").exists():
        pytest.skip(f"real-data test skipped: {ML_SMALL} is absent (set SEMID_SHARED_DATA to its parent)")
    return ML_SMALL


def build_tiny_dataset(n_items: int = 40, n_users: int = 30, seed: int = 0) -> Dataset:
    """A tiny hand-made dataset: 4 genres, users who prefer one genre, 2+2 queries per item."""
    rng = np.random.default_rng(seed)
    genres = ["action", "comedy", "drama", "horror"]
    items = pd.DataFrame(
        {
            "item_id": np.arange(100, 100 + n_items),
            "title": [f"Film {i}" for i in range(n_items)],
            "year": 1990 + np.arange(n_items) % 30,
            "genres": [genres[i % 4] for i in range(n_items)],
            "tags": [f"tag{i % 7}|tag{i % 5}" for i in range(n_items)],
            "description": [f"a {genres[i % 4]} story number {i}" for i in range(n_items)],
        }
    )
    items["text"] = items["title"] + ". " + items["genres"] + ". " + items["description"]
    rows = []
    for u in range(n_users):
        g = u % 4
        pool = items.index[items["genres"] == genres[g]].to_numpy()
        for t in range(int(rng.integers(5, 10))):
            rows.append((u, int(items["item_id"].iloc[rng.choice(pool)]), t, 4.0))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    q = []
    for i, row in items.iterrows():
        for s in ("train", "train", "test", "test"):
            q.append((row["item_id"], f"{row['genres']} movie with tag{i % 7}", s))
    queries = pd.DataFrame(q, columns=["item_id", "text", "split"])
    return make_dataset(items, inter, queries, meta={"source": "tiny"})


def separate_ids(n: int):
    """``separate`` IDs for n items: search levels 4 x 3, rec levels 6 x 2, each task its own tokens."""
    from semid.ids.types import SemanticIDs

    rng = np.random.default_rng(1)
    codes = np.stack([np.arange(n) % 4, rng.integers(0, 3, n), rng.integers(0, 6, n), np.arange(n) % 2], 1)
    return SemanticIDs(codes, ["s0", "s1", "r0", "r1"], [4, 3, 6, 2], {"search": [0, 1], "rec": [2, 3]},
                       scheme="separate")


@pytest.fixture(scope="session")
def tiny_dataset() -> Dataset:
    return build_tiny_dataset()
